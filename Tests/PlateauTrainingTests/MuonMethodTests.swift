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

/// Under a rule, the base optimizer's options are the run's too: each goes to the entry that
/// declares it, the resolved configuration records both sets of defaults, and an option of
/// neither is still refused by name.
@Test func aRuleOverMuonTakesMuonsOptions() throws {
    let registry = MethodRegistry.standard
    var c = RunConfiguration()
    (c.optimizer, c.baseOptimizer, c.learningRate) = ("sam", "muon", 0.02)
    #expect(try registry.optionOwnerNames(of: c) == ["sam", "muon"])
    c.methodOptions = try registry.settings(fromArguments: ["--rho", "0.1", "--muon-momentum", "0.9", "--muon-ns-steps", "3"], for: registry.optionOwnerNames(of: c))
    let resolved = try registry.resolvedOptions(for: c)
    #expect(resolved["rho"] == 0.1 && resolved["muon-momentum"] == .float(0.9) && resolved["muon-ns-steps"] == 3)
    #expect(resolved["muon-nesterov"] == true, "the base's defaults are recorded with the run")
    let stepper = try registry.makeStepper(c, context: MethodContext(configuration: c, sampleCount: 10, classCount: 10))
    let minimizer = try #require(stepper as? SharpnessAwareMinimizer<SAM, Muon>)
    #expect(minimizer.base.momentum == 0.9 && minimizer.base.newtonSchulzSteps == 3)

    c.baseOptimizer = "sgd"  // SGD has no Muon options
    do { _ = try registry.settings(fromArguments: ["--muon-momentum", "0.9"], for: registry.optionOwnerNames(of: c)); Issue.record("accepted a Muon option over SGD") } catch {
        #expect(error.description.contains("an option of muon, lanton, not of sam, sgd"))
    }
    c.methodOptions = ["muon-momentum": 0.9]
    do { try c.validate(); Issue.record("validated a Muon option over SGD") } catch let error as ConfigurationError {
        #expect(error.field == "muon-momentum" && error.message.contains("not an option of sam"))
    }
}
