import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

@Test func runConfigurationRoundTripsThroughJSON() throws {
    var c = RunConfiguration()
    c.model = "lenet"
    c.dataset = "fashion-mnist"
    c.dataDirectory = "/data/fm"
    c.trainLimit = 1000
    c.labelNoise = 0.2
    c.labelNoiseKind = "pair"
    c.augment = true
    c.shuffle = false
    c.epochs = 17
    c.batchSize = 33
    c.optimizer = "gsam"
    c.baseOptimizer = "adamw"
    c.learningRate = 0.1
    c.momentum = 0.5
    c.nesterov = true
    c.weightDecay = 5e-4
    c.schedule = "multistep"
    c.warmupEpochs = 2
    c.milestones = [5, 10]
    c.gamma = 0.2
    c.labelSmoothing = 0.1
    c.maxGradientNorm = 1.5
    c.microBatchSize = 8
    c.optimizer = "gsam"
    c.methodOptions = ["rho": 0.07, "rho-min": 0.01, "alpha": 0.3]
    c.mSharpness = 16
    c.seed = 0xDEAD_BEEF_CAFE_F00D  // > 2⁵³: must not pass through a Double
    c.output = "runs/x"
    c.initialWeights = "w.safetensors"
    try c.validate()
    let directory = try temporaryDirectory("config")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("config.json")
    try c.json.write(to: url)
    let loaded = try RunConfiguration.load(from: url)
    #expect(loaded == c)
    #expect(loaded.seed == 0xDEAD_BEEF_CAFE_F00D)
    // Method options sit beside the other keys, spelled as their flags.
    let object = try JSONSerialization.jsonObject(with: c.json) as? [String: Any]
    #expect(object?["rho-min"] as? Double == 0.01)

    // Every option type survives: integers, booleans, floats.
    var saf = RunConfiguration()
    saf.optimizer = "saf"
    saf.methodOptions = ["saf-lambda": 0.25, "saf-tau": 3, "saf-lag": 2, "saf-start": 4, "saf-half": true]
    try saf.validate()
    try saf.json.write(to: url)
    #expect(try RunConfiguration.load(from: url) == saf)

    // Missing fields keep their defaults; explicit nulls clear optional ones.
    try Data(#"{"epochs": 3, "maxGradientNorm": null}"#.utf8).write(to: url)
    var expected = RunConfiguration()
    expected.epochs = 3
    #expect(try RunConfiguration.load(from: url) == expected)
}

private func configurationError(_ body: () throws -> Void) -> ConfigurationError? {
    do { try body() } catch let error as ConfigurationError { return error } catch { return nil }
    return nil
}

@Test func invalidConfigurationsNameTheirField() throws {
    var unknownOptimizer = RunConfiguration()
    unknownOptimizer.optimizer = "sgdd"
    #expect(configurationError { try unknownOptimizer.validate() }?.field == "optimizer")
    #expect(configurationError { try unknownOptimizer.validate() }?.message.contains("sgdd") == true)
    var negativeEpochs = RunConfiguration()
    negativeEpochs.epochs = -1
    #expect(configurationError { try negativeEpochs.validate() }?.field == "epochs")
    var badSchedule = RunConfiguration()
    badSchedule.schedule = "exponential"
    #expect(configurationError { try badSchedule.validate() }?.field == "schedule")
    // A schedule the factory cannot build is also reported under "schedule".
    var zeroStep = RunConfiguration()
    zeroStep.schedule = "step"
    zeroStep.stepEpochs = 0
    #expect(configurationError { _ = try TrainingSchedule.make(zeroStep, stepsPerEpoch: 10) }?.field == "schedule")
    // The trainer refuses them before doing anything.
    #expect(configurationError { _ = try Trainer(configuration: negativeEpochs, train: trainSet, test: testSet, output: nil) }?.field == "epochs")
    // A wrongly typed value in a file names the key.
    let directory = try temporaryDirectory("bad-config")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("config.json")
    try Data(#"{"epochs": "ten"}"#.utf8).write(to: url)
    let typed = configurationError { _ = try RunConfiguration.load(from: url) }
    #expect(typed?.field == url.path, "\(String(describing: typed))")
    #expect(typed?.message == #"key 'epochs': expected an integer, found a string "ten""#, "\(String(describing: typed))")
    try Data("{not json".utf8).write(to: url)
    #expect(configurationError { _ = try RunConfiguration.load(from: url) }?.field == url.path)
}

private func sampleCheckpoint() -> Checkpoint {
    var optimizer = OptimizerState(tensors: ParameterSet([("momentum_buffer.w", Tensor([0.5, -0.25]))]))
    optimizer.scalars["sam_step"] = 12
    optimizer.scalars["rule.generator.0"] = Double(bitPattern: 0x7FF0_0000_0000_0001)  // a NaN pattern
    var c = RunConfiguration()
    c.optimizer = "esam"
    return Checkpoint(
        model: ParameterSet([("w", Tensor([1, 2])), ("bn.running_mean", Tensor([0.1]))]), optimizer: optimizer,
        extras: ParameterSet([("saf.tags", Tensor([-1, 3]))]), epoch: 3, step: 12, bestAccuracy: 0.75,
        configuration: c, normalization: Normalization(mean: [0.5], std: [2]))
}

@Test func checkpointRoundTripsExactly() throws {
    let directory = try temporaryDirectory("checkpoint")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("run.safetensors")
    let original = sampleCheckpoint()
    try original.write(to: url)
    let read = try Checkpoint.read(from: url)
    #expect(read.model == original.model)
    #expect(read.optimizer.tensors == original.optimizer.tensors)
    #expect(read.optimizer.scalars.mapValues(\.bitPattern) == original.optimizer.scalars.mapValues(\.bitPattern))
    #expect(read.extras == original.extras)
    #expect(read.epoch == 3 && read.step == 12 && read.bestAccuracy == 0.75)
    #expect(read.configuration == original.configuration)
    #expect(read.normalization == original.normalization)
}

@Test func checkpointWithABadFormatIsRejectedNamingTheFile() throws {
    let directory = try temporaryDirectory("bad-checkpoint")
    defer { try? FileManager.default.removeItem(at: directory) }
    // A corrupted format tag (same length, so the header stays valid JSON).
    let corrupted = directory.appendingPathComponent("corrupted.safetensors")
    try sampleCheckpoint().write(to: corrupted)
    var bytes = [UInt8](try Data(contentsOf: corrupted))
    let tag = Array(Checkpoint.format.utf8)
    let at = (0...(bytes.count - tag.count)).first { Array(bytes[$0..<($0 + tag.count)]) == tag }!
    bytes[at + tag.count - 1] = UInt8(ascii: "9")
    try Data(bytes).write(to: corrupted)
    do {
        _ = try Checkpoint.read(from: corrupted)
        Issue.record("a checkpoint with format plateau-checkpoint-v9 was accepted")
    } catch {
        let text = "\(error)"
        #expect(text.contains("corrupted.safetensors") && text.contains("__metadata__.format"), "\(text)")
    }
    // No format at all: a plain safetensors file.
    let plain = directory.appendingPathComponent("plain.safetensors")
    try Safetensors.write(ParameterSet([("w", Tensor([1, 2]))]), metadata: ["epoch": "1"], to: plain)
    do {
        _ = try Checkpoint.read(from: plain)
        Issue.record("a file without __metadata__.format was accepted")
    } catch {
        let text = "\(error)"
        #expect(text.contains("plain.safetensors") && text.contains("__metadata__.format"), "\(text)")
    }
    // Truncated bytes.
    let truncated = directory.appendingPathComponent("truncated.safetensors")
    try Data(bytes.prefix(bytes.count - 3)).write(to: truncated)
    #expect(throws: (any Error).self) { _ = try Checkpoint.read(from: truncated) }
    // Resuming from a missing checkpoint fails cleanly.
    #expect(throws: (any Error).self) { try train(configuration("sgd", epochs: 1), output: directory, resume: true) }
}

@Test func nonFiniteConfigurationValuesSurviveTheRoundTrip() throws {
    // `validate` accepts an infinite clipping norm ("no limit"); the
    // written configuration must keep every other field instead of collapsing to "{}".
    var c = RunConfiguration()
    c.optimizer = "sam"
    c.epochs = 3
    c.maxGradientNorm = .infinity
    try c.validate()
    let directory = try temporaryDirectory("inf-config")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("config.json")
    try c.json.write(to: url)
    #expect(try RunConfiguration.load(from: url) == c)
    // And inside a checkpoint.
    let checkpointURL = directory.appendingPathComponent("c.safetensors")
    try Checkpoint(model: ParameterSet([("w", Tensor([1]))]), optimizer: OptimizerState(), extras: ParameterSet(), epoch: 1, step: 1,
                   bestAccuracy: 0, configuration: c, normalization: nil).write(to: checkpointURL)
    #expect(try Checkpoint.read(from: checkpointURL).configuration == c)
}

/// A stored normalization with a std ≤ 0, a non-finite value, mismatched lengths or the
/// wrong channel count used to trap (or divide by zero) when eval, sharpness or landscape
/// applied it; now reading the checkpoint (or loading it onto data) names the file and field.
@Test func checkpointNormalizationIsValidated() throws {
    let directory = try temporaryDirectory("bad-normalization")
    defer { try? FileManager.default.removeItem(at: directory) }
    let valid = directory.appendingPathComponent("valid.safetensors")
    try sampleCheckpoint().write(to: valid)
    let contents = try Safetensors.read(from: valid)
    for (k, stored) in [
        #"{"mean":[0.5],"std":[0]}"#, #"{"mean":[0.5],"std":[-2]}"#, #"{"mean":[0.5,1],"std":[2]}"#,
        #"{"mean":[],"std":[]}"#, #"{"mean":[0.5],"std":[1e39]}"#, #"{"mean":[0.5],"std":["nan"]}"#, #"{"mean":[0.5]"#,
    ].enumerated() {
        var metadata = contents.metadata
        metadata["normalization"] = stored
        let url = directory.appendingPathComponent("bad\(k).safetensors")
        try Safetensors.write(contents.tensors.map { ($0.name, $0.tensor) }, metadata: metadata, to: url)
        let error = #expect(throws: DataError.self, "\(stored)") { _ = try Checkpoint.read(from: url) }
        #expect(error?.file == "bad\(k).safetensors" && error?.field == "__metadata__.normalization", "\(String(describing: error))")
    }
    // Valid statistics for 3 channels, data with 4 features: rejected before the model is built.
    var saved = sampleCheckpoint()
    saved.normalization = Normalization(mean: [0, 0, 0], std: [1, 1, 1])
    let error = #expect(throws: DataError.self) {
        _ = try LoadedCheckpoint(
            checkpoint: saved, configuration: configuration("sgd", epochs: 1), rawTrain: trainSet, rawTest: testSet,
            source: "/runs/x/checkpoint-last.safetensors")
    }
    #expect(error?.kind == .countMismatch && error?.file == "checkpoint-last.safetensors")
    #expect(error?.field == "__metadata__.normalization" && error?.found == "3 channels")
}
