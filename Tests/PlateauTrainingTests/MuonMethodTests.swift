import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

/// `--model mlp3` is the 784-512-512-512-10 MLP of the Muon/LANTON experiment: Muon
/// orthogonalizes its two hidden matrices and leaves the input layer and the head to AdamW.
@Test func mlp3HasTwoHiddenMatricesForMuon() throws {
    var g = SeededGenerator(seed: 0)
    let model = try ModelFactory.make("mlp3", sampleShape: [1, 28, 28], classCount: 10, using: &g)
    let shapes = model.parameters.entries.filter { $0.value.rank == 2 }.map(\.value.shape)
    #expect(shapes == [[512, 784], [512, 512], [512, 512], [10, 512]])
    #expect(Muon.hiddenMatrices(of: model.parameters).count == 2)
}

/// `muon` and `lanton` are base optimizers: alone, and under SAM as `--base-optimizer`.
@Test func muonAndLantonBuildAloneAndUnderSAM() throws {
    let context = { (c: RunConfiguration) in MethodContext(configuration: c, sampleCount: 10, classCount: 10) }
    for (method, base) in [("muon", "sgd"), ("lanton", "sgd"), ("sam", "muon"), ("sam", "lanton")] {
        var c = RunConfiguration()
        (c.optimizer, c.baseOptimizer, c.learningRate) = (method, base, 0.02)
        let stepper = try MethodRegistry.standard.makeStepper(c, context: context(c))
        #expect((stepper as? SharpnessAwareMinimizer<NoPerturbation, Muon>) != nil || (stepper as? SharpnessAwareMinimizer<SAM, Muon>) != nil, "\(method) over \(base)")
    }
    var c = RunConfiguration()
    c.optimizer = "lanton"
    c.methodOptions = ["muon-ns-steps": 0]
    #expect(throws: ConfigurationError.self) { try MethodRegistry.standard.makeStepper(c, context: context(c)) }
}
