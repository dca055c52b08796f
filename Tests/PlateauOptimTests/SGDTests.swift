import Testing
import PlateauTensor
@testable import PlateauOptim

// Hand-computed first three steps of SGD on the problem of `TestSupport.swift`:
// w₀ = [1, −2], g₁ = [0.5, 1], g₂ = [−1, 0.25], g₃ = [2, −0.5]. Every intermediate value is a
// short binary fraction, so the results are exact in Float and compared with ==.

@Test func sgdPlainFirstThreeSteps() {
    // η = 0.5, w ← w − η·g:
    // w₁ = [1 − 0.25, −2 − 0.5]        = [0.75, −2.5]
    // w₂ = [0.75 + 0.5, −2.5 − 0.125]  = [1.25, −2.625]
    // w₃ = [1.25 − 1, −2.625 + 0.25]   = [0.25, −2.375]
    var sgd = SGD(learningRate: 0.5)
    #expect(threeSteps(&sgd) == [[0.75, -2.5], [1.25, -2.625], [0.25, -2.375]])
    #expect(sgd.state == OptimizerState())  // no momentum, no state
}

@Test func sgdMomentumWithDampeningFirstThreeSteps() {
    // η = 0.5, μ = 0.5, τ = 0.5. First step: b₁ = g₁ (no dampening on the first step, as PyTorch).
    // b₁ = [0.5, 1];                                   w₁ = w₀ − 0.5·b₁ = [0.75, −2.5]
    // b₂ = 0.5·b₁ + 0.5·g₂ = [0.25 − 0.5, 0.5 + 0.125] = [−0.25, 0.625]
    //                                                  w₂ = [0.75 + 0.125, −2.5 − 0.3125] = [0.875, −2.8125]
    // b₃ = 0.5·b₂ + 0.5·g₃ = [−0.125 + 1, 0.3125 − 0.25] = [0.875, 0.0625]
    //                                                  w₃ = [0.875 − 0.4375, −2.8125 − 0.03125] = [0.4375, −2.84375]
    var sgd = SGD(learningRate: 0.5, momentum: 0.5, dampening: 0.5)
    #expect(threeSteps(&sgd) == [[0.75, -2.5], [0.875, -2.8125], [0.4375, -2.84375]])
    #expect(sgd.state.tensors.keys == ["momentum_buffer.w"])
    #expect(sgd.state.tensors["momentum_buffer.w"]! == Tensor([0.875, 0.0625]))
}

@Test func sgdNesterovWithWeightDecayFirstThreeSteps() {
    // η = 0.5, μ = 0.5, λ = 0.25, Nesterov: d = g + λw; b = μb + d (b₁ = d); w ← w − η(d + μb).
    // Step 1: d = [0.5 + 0.25, 1 − 0.5] = [0.75, 0.5]; b₁ = [0.75, 0.5]
    //         d + μb = [1.125, 0.75];  w₁ = [1 − 0.5625, −2 − 0.375] = [0.4375, −2.375]
    // Step 2: d = [−1 + 0.109375, 0.25 − 0.59375] = [−0.890625, −0.34375]
    //         b₂ = [0.375 − 0.890625, 0.25 − 0.34375] = [−0.515625, −0.09375]
    //         d + μb = [−1.1484375, −0.390625];  w₂ = [0.4375 + 0.57421875, −2.375 + 0.1953125]
    //                                                = [1.01171875, −2.1796875]
    // Step 3: d = [2 + 0.2529296875, −0.5 − 0.544921875] = [2.2529296875, −1.044921875]
    //         b₃ = [−0.2578125 + 2.2529296875, −0.046875 − 1.044921875] = [1.9951171875, −1.091796875]
    //         d + μb = [3.25048828125, −1.5908203125]
    //         w₃ = [1.01171875 − 1.625244140625, −2.1796875 + 0.79541015625] = [−0.613525390625, −1.38427734375]
    var sgd = SGD(learningRate: 0.5, momentum: 0.5, weightDecay: 0.25, nesterov: true)
    #expect(threeSteps(&sgd) == [[0.4375, -2.375], [1.01171875, -2.1796875], [-0.613525390625, -1.38427734375]])
    #expect(sgd.state.tensors["momentum_buffer.w"]! == Tensor([1.9951171875, -1.091796875]))
}

@Test func sgdHeavyBallWithWeightDecay() {
    // η = 0.5, μ = 0.5, λ = 0.25, no Nesterov: d = g + λw, b = μb + d, w ← w − ηb.
    // Step 1: d = [0.75, 0.5] = b₁;  w₁ = [1 − 0.375, −2 − 0.25] = [0.625, −2.25]
    // Step 2: d = [−1 + 0.15625, 0.25 − 0.5625] = [−0.84375, −0.3125]
    //         b₂ = [0.375 − 0.84375, 0.25 − 0.3125] = [−0.46875, −0.0625]
    //         w₂ = [0.625 + 0.234375, −2.25 + 0.03125] = [0.859375, −2.21875]
    var sgd = SGD(learningRate: 0.5, momentum: 0.5, weightDecay: 0.25)
    var parameters = vector(initialWeights)
    sgd.update(&parameters, along: vector(gradientSequence[0]))
    #expect(elements(parameters) == [0.625, -2.25])
    sgd.update(&parameters, along: vector(gradientSequence[1]))
    #expect(elements(parameters) == [0.859375, -2.21875])
}

@Test func frozenParametersAreLeftUnchanged() {
    var sgd = SGD(learningRate: 0.5, momentum: 0.9, weightDecay: 0.1)
    var parameters = ParameterSet([("frozen", Tensor([Float(3), 4])), ("w", Tensor(initialWeights))])
    sgd.update(&parameters, along: vector(gradientSequence[0]))
    #expect(parameters.keys == ["frozen", "w"])  // order kept
    #expect(parameters["frozen"]! == Tensor([Float(3), 4]))
    #expect(parameters["w"]! != Tensor(initialWeights))
    #expect(sgd.state.tensors.keys == ["momentum_buffer.w"])
}

@Test func updateLeavesEarlierCopiesOfTheParametersAlone() {
    // The update writes fresh storage (the model usually still shares the old one), so a
    // snapshot taken before it keeps its values: value semantics.
    var sgd = SGD(learningRate: 0.1, momentum: 0.9)
    var parameters = vector([1, 2, 3, 4])
    sgd.update(&parameters, along: vector([1, 1, 1, 1]))
    let snapshot = parameters
    let valuesBefore = elements(parameters)
    sgd.update(&parameters, along: vector([1, 1, 1, 1]))
    #expect(snapshot["w"]!.scalars == valuesBefore)
    #expect(elements(parameters) != valuesBefore)
}

@Test func updatedParametersCarryNoGraph() {
    var sgd = SGD(learningRate: 0.1)
    var parameters = ParameterSet([("w", Tensor([Float(1), 2]).trackingGradients())])
    sgd.update(&parameters, along: vector([1, 1]))
    #expect(!parameters["w"]!.isTracked)
}

@Test func gradientForUnknownParameterIsAPreconditionFailure() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
        var sgd = SGD(learningRate: 0.1)
        var parameters = vector([1, 2])
        sgd.update(&parameters, along: vector([1, 1], key: "not.a.parameter"))
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("not.a.parameter"))
}
