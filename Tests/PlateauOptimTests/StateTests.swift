import Testing
import PlateauTensor
@testable import PlateauOptim

/// Runs `steps` updates of the line fit from `parameters`.
func run<O: Optimizer>(_ optimizer: inout O, _ parameters: inout ParameterSet, steps: Int) {
    for _ in 0..<steps {
        optimizer.update(&parameters, along: LineFit.lossAndGradient(at: parameters).gradient)
    }
}

/// 5 steps, save, 5 more; then a fresh optimizer restored from the save, from the saved
/// parameters, runs 5 steps: the parameters must agree bit for bit.
func checkBitIdenticalResume<O: Optimizer>(_ make: () -> O) throws {
    var optimizer = make()
    var parameters = LineFit.initialParameters
    run(&optimizer, &parameters, steps: 5)
    let savedState = optimizer.state
    let savedParameters = parameters
    run(&optimizer, &parameters, steps: 5)

    var resumed = make()
    try resumed.restore(savedState)
    #expect(resumed.state == savedState)
    var resumedParameters = savedParameters
    run(&resumed, &resumedParameters, steps: 5)

    #expect(resumedParameters == parameters)  // Tensor == compares elements exactly
    #expect(resumed.state == optimizer.state)
    #expect(resumedParameters != savedParameters)
}

@Test func sgdResumesBitIdentically() throws {
    try checkBitIdenticalResume { SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3, nesterov: true) }
    try checkBitIdenticalResume { SGD(learningRate: 0.05, momentum: 0.9, dampening: 0.1) }
}

@Test func adamResumesBitIdentically() throws {
    try checkBitIdenticalResume { Adam(learningRate: 0.05, weightDecay: 1e-3) }
}

@Test func adamWResumesBitIdentically() throws {
    try checkBitIdenticalResume { AdamW(learningRate: 0.05) }
}

@Test func withoutRestoreTheRunDiffers() {
    // Sanity check of the test above: a fresh optimizer without the saved state diverges.
    var optimizer = Adam(learningRate: 0.05)
    var parameters = LineFit.initialParameters
    run(&optimizer, &parameters, steps: 5)
    let saved = parameters
    run(&optimizer, &parameters, steps: 5)
    var fresh = Adam(learningRate: 0.05)
    var other = saved
    run(&fresh, &other, steps: 5)
    #expect(other != parameters)
}

@Test func stateKeysFollowPyTorchNames() {
    var sgd = SGD(learningRate: 0.1, momentum: 0.9)
    var adam = Adam()
    var p1 = LineFit.initialParameters, p2 = LineFit.initialParameters
    run(&sgd, &p1, steps: 2)
    run(&adam, &p2, steps: 2)
    #expect(sgd.state.tensors.keys == ["momentum_buffer.weight", "momentum_buffer.bias"])
    #expect(sgd.state.scalars.isEmpty)
    #expect(adam.state.tensors.keys == ["exp_avg.weight", "exp_avg_sq.weight", "exp_avg.bias", "exp_avg_sq.bias"])
    #expect(adam.state.scalars == ["step.weight": 2, "step.bias": 2])
}

/// A saved Adam state after two steps of the line fit.
func savedAdamState() -> OptimizerState {
    var adam = Adam()
    var parameters = LineFit.initialParameters
    run(&adam, &parameters, steps: 2)
    return adam.state
}

@Test func adamRestoreRejectsMissingKeys() {
    var state = savedAdamState()
    state.tensors["exp_avg_sq.bias"] = nil
    var adam = Adam()
    #expect(throws: OptimizerStateError.missingKey("exp_avg_sq.bias")) { try adam.restore(state) }

    state = savedAdamState()
    state.scalars["step.weight"] = nil
    #expect(throws: OptimizerStateError.missingKey("step.weight")) { try adam.restore(state) }

    state = savedAdamState()
    state.tensors["exp_avg.weight"] = nil
    #expect(throws: OptimizerStateError.missingKey("exp_avg.weight")) { try adam.restore(state) }
    #expect("\(OptimizerStateError.missingKey("exp_avg.weight"))".contains("exp_avg.weight"))
}

@Test func adamRestoreRejectsWrongShapesAndSteps() {
    var state = savedAdamState()
    state.tensors["exp_avg_sq.weight"] = Tensor.zeros([2, 1])
    var adamW = AdamW()
    #expect(throws: OptimizerStateError.shapeMismatch(key: "exp_avg_sq.weight", expected: [1], actual: [2, 1])) {
        try adamW.restore(state)
    }
    state = savedAdamState()
    state.scalars["step.bias"] = 1.5
    #expect(throws: OptimizerStateError.invalidScalar(key: "step.bias", value: 1.5)) { try adamW.restore(state) }
    // A failed restore leaves the optimizer as it was.
    #expect(adamW.state == OptimizerState())
}

@Test func restoreRejectsAnotherOptimizersState() {
    var sgd = SGD(learningRate: 0.1, momentum: 0.9)
    #expect(throws: OptimizerStateError.unexpectedKey("exp_avg.weight")) { try sgd.restore(savedAdamState()) }
    var plain = SGD(learningRate: 0.1)  // no momentum: no buffers expected
    let buffers = OptimizerState(tensors: ParameterSet([("momentum_buffer.w", Tensor([Float(1)]))]))
    #expect(throws: OptimizerStateError.unexpectedKey("momentum_buffer.w")) { try plain.restore(buffers) }
    var adam = Adam()
    #expect(throws: OptimizerStateError.unexpectedKey("momentum_buffer.w")) { try adam.restore(buffers) }
}

@Test func stateValidationAgainstTheModel() throws {
    var sgd = SGD(learningRate: 0.1, momentum: 0.9)
    var parameters = LineFit.initialParameters
    run(&sgd, &parameters, steps: 1)
    try sgd.state.validate(against: parameters)
    try savedAdamState().validate(against: parameters)

    var wrongShape = parameters
    wrongShape["weight"] = Tensor.zeros([3])
    #expect(throws: OptimizerStateError.shapeMismatch(key: "momentum_buffer.weight", expected: [3], actual: [1])) {
        try sgd.state.validate(against: wrongShape)
    }
    let missing = parameters.filter { $0 != "bias" }
    #expect(throws: OptimizerStateError.unknownParameter(key: "momentum_buffer.bias", path: "bias")) {
        try sgd.state.validate(against: missing)
    }
    #expect(throws: OptimizerStateError.unknownParameter(key: "exp_avg.bias", path: "bias")) {
        try savedAdamState().validate(against: missing)
    }
}

@Test func restoredBufferOfTheWrongShapeFailsAtTheNextUpdate() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
        var sgd = SGD(learningRate: 0.1, momentum: 0.9)
        try? sgd.restore(OptimizerState(tensors: ParameterSet([("momentum_buffer.w", Tensor([Float(1), 2, 3]))])))
        var parameters = ParameterSet([("w", Tensor([Float(1), 2]))])
        sgd.update(&parameters, along: ParameterSet([("w", Tensor([Float(1), 1]))]))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("\"w\""))
}
