import Testing
import PlateauTensor
@testable import PlateauOptim

// Hand-computed first three steps of Adam and AdamW on the problem of `TestSupport.swift`:
// w₀ = [1, −2], g₁ = [0.5, 1], g₂ = [−1, 0.25], g₃ = [2, −0.5], with η = 0.1, β₁ = 0.9,
// β₂ = 0.999, ε = 1e-8. Update (PyTorch): m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g²,
// w ← w − η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε). Values were double-checked offline in float64
// (numpy); Float arithmetic agrees to ~1e-7.

@Test func adamFirstThreeStepsWithBiasCorrection() {
    // Step 1: m₁ = 0.1·g₁ = [0.05, 0.1], v₁ = 0.001·g₁² = [0.00025, 0.001].
    //   Bias correction 1 − 0.9 = 0.1 and 1 − 0.999 = 0.001 give m̂ = g₁ = [0.5, 1],
    //   v̂ = g₁² = [0.25, 1], so the step is η·m̂/(√v̂ + ε) = η·sign(g₁)·(1 − ε/|g|):
    //   w₁ = [1 − 0.1, −2 − 0.1] = [0.9, −2.1] (to 1e-8).
    // Step 2: m₂ = 0.9·m₁ + 0.1·g₂ = [0.045 − 0.1, 0.09 + 0.025] = [−0.055, 0.115]
    //   v₂ = 0.999·v₁ + 0.001·g₂² = [0.00024975 + 0.001, 0.000999 + 0.0000625] = [0.00124975, 0.0010615]
    //   1 − β₁² = 0.19, 1 − β₂² = 0.001999
    //   m̂ = m₂/0.19 = [−0.28947368, 0.60526316],  √v̂ = √(v₂/0.001999) = [0.79068805, 0.72870809]
    //   step = 0.1·m̂/√v̂ = [−0.03661035, 0.08305975]
    //   w₂ = [0.9 + 0.03661035, −2.1 − 0.08305975] = [0.93661035, −2.18305975]
    // Step 3: m₃ = 0.9·m₂ + 0.1·g₃ = [−0.0495 + 0.2, 0.1035 − 0.05] = [0.1505, 0.0535]
    //   v₃ = 0.999·v₂ + 0.001·g₃² = [0.00124850025 + 0.004, 0.0010604385 + 0.00025] = [0.00524850025, 0.0013104385]
    //   1 − β₁³ = 0.271, 1 − β₂³ = 0.002997001
    //   m̂ = [0.55535055, 0.19741697],  √v̂ = [1.32334871, 0.66124200]
    //   step = [0.04196556, 0.02985517]
    //   w₃ = [0.93661035 − 0.04196556, −2.18305975 − 0.02985517] = [0.89464479, −2.21291493]
    var adam = Adam(learningRate: 0.1)
    let trajectory = threeSteps(&adam)
    #expect(close(trajectory[0], [0.9, -2.1]))
    #expect(close(trajectory[1], [0.93661035, -2.18305975]))
    #expect(close(trajectory[2], [0.89464479, -2.21291493]))
    let state = adam.state
    #expect(state.tensors.keys == ["exp_avg.w", "exp_avg_sq.w"])
    #expect(close(state.tensors["exp_avg.w"]!.scalars, [0.1505, 0.0535]))
    // β₂ is a Float: 1 − Float(0.999) = 0.000999987 rather than 0.001, so v is 1.3e-5 smaller
    // (relative) than the float64 hand value. The bias correction uses the same β₂, so
    // v̂ and the weights are unaffected to ~1e-7.
    #expect(close(state.tensors["exp_avg_sq.w"]!.scalars, [0.00524850025, 0.0013104385], tolerance: 1e-7))
    #expect(state.scalars == ["step.w": 3])
}

@Test func adamL2WeightDecayEntersTheGradient() {
    // λ = 0.5: the gradient becomes g + λw, then a plain Adam step.
    // Step 1: g = [0.5 + 0.5, 1 − 1] = [1, 0]: m₁ = [0.1, 0], v₁ = [0.001, 0];
    //   m̂ = [1, 0], √v̂ = [1, 0]: step = [0.1·1/(1 + ε), 0/(0 + ε)] = [0.1, 0]
    //   w₁ = [0.9, −2]  (the second weight does not move: decay and gradient cancel).
    // Step 2: g = [−1 + 0.45, 0.25 − 1] = [−0.55, −0.75]
    //   m₂ = [0.09 − 0.055, 0 − 0.075] = [0.035, −0.075]
    //   v₂ = [0.000999 + 0.0003025, 0 + 0.0005625] = [0.0013015, 0.0005625]
    //   m̂ = m₂/0.19 = [0.18421053, −0.39473684], √v̂ = √(v₂/0.001999) = [0.80690105, 0.53045944]
    //   step = 0.1·m̂/√v̂ = [0.02282962, −0.07441368]
    //   w₂ = [0.9 − 0.02282962, −2 + 0.07441368] = [0.87717038, −1.92558632]
    var adam = Adam(learningRate: 0.1, weightDecay: 0.5)
    let trajectory = threeSteps(&adam)
    #expect(close(trajectory[0], [0.9, -2]))
    #expect(close(trajectory[1], [0.87717038, -1.92558632]))
    #expect(close(trajectory[2], [0.81182774, -1.84250160]))  // numpy check of step 3
}

@Test func adamWDecoupledDecayFirstThreeSteps() {
    // λ = 0.5: first w ← (1 − ηλ)·w = 0.95·w, then the plain Adam step on the unmodified
    // gradient, so m, v and the Adam steps are exactly those of `adamFirstThreeSteps…`:
    //   Adam steps: [0.1, 0.1]·sign(g₁), then [−0.03661035, 0.08305975], then [0.04196556, 0.02985517].
    // Step 1: 0.95·[1, −2] = [0.95, −1.9];  w₁ = [0.95 − 0.1, −1.9 − 0.1] = [0.85, −2.0]
    // Step 2: 0.95·w₁ = [0.8075, −1.9];   w₂ = [0.8075 + 0.03661035, −1.9 − 0.08305975] = [0.84411035, −1.98305975]
    // Step 3: 0.95·w₂ = [0.80190484, −1.88390676]
    //   w₃ = [0.80190484 − 0.04196556, −1.88390676 − 0.02985517] = [0.75993928, −1.91376193]
    var adamW = AdamW(learningRate: 0.1, weightDecay: 0.5)
    let trajectory = threeSteps(&adamW)
    #expect(close(trajectory[0], [0.85, -2.0]))
    #expect(close(trajectory[1], [0.84411035, -1.98305975]))
    #expect(close(trajectory[2], [0.75993928, -1.91376193]))
    // The moments do not see the decay: identical to Adam's.
    var adam = Adam(learningRate: 0.1)
    _ = threeSteps(&adam)
    #expect(adamW.state == adam.state)
}

@Test func adamWDefaultsMatchPyTorch() {
    let adamW = AdamW()
    #expect(adamW.learningRate == 1e-3 && adamW.beta1 == 0.9 && adamW.beta2 == 0.999)
    #expect(adamW.epsilon == 1e-8 && adamW.weightDecay == 0.01)
    #expect(Adam().weightDecay == 0)
}

@Test func adamCountsStepsPerParameter() {
    // A parameter that starts receiving gradients late gets its own t = 1 bias correction,
    // so its first step is η·sign(g), as in PyTorch.
    var adam = Adam(learningRate: 0.1)
    var parameters = ParameterSet([("a", Tensor([Float(1)])), ("b", Tensor([Float(1)]))])
    for _ in 0..<3 { adam.update(&parameters, along: ParameterSet([("a", Tensor([Float(1)]))])) }
    #expect(parameters["b"]! == Tensor([Float(1)]))
    adam.update(&parameters, along: ParameterSet([("a", Tensor([Float(1)])), ("b", Tensor([Float(-3)]))]))
    #expect(close(parameters["b"]!.scalars, [1.1]))
    #expect(adam.state.scalars == ["step.a": 4, "step.b": 1])
    #expect(adam.state.tensors.keys == ["exp_avg.a", "exp_avg_sq.a", "exp_avg.b", "exp_avg_sq.b"])
}
