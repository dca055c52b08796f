import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

/// `--norm` (config key `norm`, issue 12): validated, written and read back, refused for
/// models with their own normalization, and absent from older files as `none`.
@Suite("The norm option")
struct NormOptionTests {
    @Test func defaultsToNoneAndRoundTrips() throws {
        #expect(RunConfiguration().norm == "none")
        var c = RunConfiguration()
        c.model = "lenet"
        c.norm = "group"
        try c.validate()
        let json = String(decoding: c.json, as: UTF8.self)
        #expect(json.contains("\"norm\" : \"group\""), "\(json)")
        let back = try RunConfiguration.decode(c.json, source: "config.json")
        #expect(back == c && back.normalizationKind == .group)
    }

    /// A file written before the option has no `norm` key: its run had no normalization.
    @Test func olderFilesReadAsNone() throws {
        let old = try RunConfiguration.decode(Data(#"{"model": "lenet", "dataset": "mnist", "epochs": 3}"#.utf8), source: "config.json")
        #expect(old.norm == "none" && old.normalizationKind == .none)
    }

    @Test func badValuesNameTheField() throws {
        var c = RunConfiguration()
        c.norm = "instance"
        #expect(throws: ConfigurationError.self) { try c.validate() }
        do { try c.validate() } catch let error as ConfigurationError {
            #expect(error.field == "norm" && error.message.contains("none, batch, group, layer") && error.message.contains("'instance'"), "\(error)")
        }
        c.norm = "batch"
        c.model = "resnet20"
        do {
            try c.validate()
            Issue.record("resnet20 with --norm batch was accepted")
        } catch let error as ConfigurationError {
            #expect(error.field == "norm" && error.message.contains("resnet20"), "\(error)")
        }
        let typed = try? RunConfiguration.decode(Data(#"{"norm": 3}"#.utf8), source: "run.json")
        #expect(typed == nil, "a number for norm must be refused")
    }

    @Test func modelFactoryRefusesNormForOtherModels() throws {
        var g = SeededGenerator(seed: 1)
        do {
            _ = try ModelFactory.make("vit", sampleShape: [1, 28, 28], classCount: 10, norm: .layer, using: &g)
            Issue.record("vit with norm layer was built")
        } catch let error as ConfigurationError {
            #expect(error.field == "norm" && error.message.contains("vit") && error.message.contains("mlp and lenet"), "\(error)")
        }
        let lenet = try ModelFactory.make("lenet", sampleShape: [1, 28, 28], classCount: 10, norm: .batch, using: &g)
        #expect(lenet.parameters["norm2.weight"]?.shape == [16])
        let mlp = try ModelFactory.make("mlp", sampleShape: [1, 8, 8], classCount: 10, norm: .group, using: &g)
        #expect(mlp.parameters["norms.1.bias"]?.shape == [512])
    }

    /// A checkpoint as runs wrote it before the option (the historical names only, and a
    /// configuration without `norm`) still loads, into an unnormalized model.
    @Test func checkpointsWrittenBeforeTheOptionStillLoad() throws {
        var configuration = try RunConfiguration.decode(Data(#"{"model": "mlp", "dataset": "digits", "epochs": 1}"#.utf8), source: "config.json")
        configuration.model = "mlp"
        let sizes = [16, 512, 512, 3]
        var weights: [(String, Tensor)] = []
        for (i, (input, output)) in zip(sizes, sizes.dropFirst()).enumerated() {
            weights.append(("layers.\(i).weight", Tensor.ones([output, input]) * 0.01))
            weights.append(("layers.\(i).bias", Tensor.zeros([output])))
        }
        let saved = Checkpoint(model: ParameterSet(weights), optimizer: OptimizerState(), extras: ParameterSet([]), epoch: 0, step: 1,
                               bestAccuracy: 0, configuration: configuration, normalization: nil)
        var g = SeededGenerator(seed: 2)
        let images = Tensor.randomNormal([6, 1, 4, 4], using: &g)
        let split = Dataset(name: "tiny", images: images, labels: [0, 1, 2, 0, 1, 2], classCount: 3)
        let loaded = try LoadedCheckpoint(checkpoint: saved, configuration: configuration, rawTrain: split, rawTest: split, source: "old.safetensors")
        #expect(loaded.model.stateDictionary.keys == weights.map(\.0))
    }
}
