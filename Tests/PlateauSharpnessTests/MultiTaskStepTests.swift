import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

/// Two tasks on a shared body b ∈ ℝ² and one scalar head each, one sample:
/// ℓ₁ = ½‖b − p₁‖² + 2·heads.0 and ℓ₂ = ½‖b − p₂‖² + √3·heads.1, with p₁ = (−1, 0), p₂ = (1, −1).
/// At b = 0 the gradients are g₁ = (b − p₁ | 2 | 0) = (1, 0 | 2 | 0) and g₂ = (−1, 1 | 0 | √3), both
/// of norm √5; the Hessian of each loss is the identity on b, so g_i^SAM = g_i + ε_i there.
private struct TwoTaskToy: Module {
    var body = Tensor([0, 0])
    var head0 = Tensor([0])
    var head1 = Tensor([0])
    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("body", &body)
        visitor.parameter("heads.0", &head0)
        visitor.parameter("heads.1", &head1)
    }
}

private func toyLosses(_ m: inout TwoTaskToy, _ request: LossRequest) -> [Tensor] {
    let p1 = Tensor([-1, 0]), p2 = Tensor([1, -1])
    return [
        (m.body - p1).square().sum(alongAxis: 0, keepingDimensions: true) * 0.5 + m.head0 * 2,
        (m.body - p2).square().sum(alongAxis: 0, keepingDimensions: true) * 0.5 + m.head1 * Float(3).squareRoot(),
    ]
}

private func isShared(_ key: String) -> Bool { !key.hasPrefix("heads.") }

@Test func fmtlStepWithPCGradByHand() {
    // ρ = √5: ε_i = ρ·g_i/‖g_i‖ = g_i, so the flat parts on b are h₁ = ε₁|b = (1, 0), h₂ = (−1, 1).
    // PCGrad({g_i|b}) = (0.5, 1.5) (g₁ ⊥-projected on g₂ and back, see the aggregator tests), and
    // PCGrad({h_i}) = (0.5, 1.5) too: d_b = (1, 3). Heads: their g^SAM, 2 and √3 (linear losses).
    // SGD, η = 0.1: b' = (−0.1, −0.3), heads.0' = −0.2, heads.1' = −0.1732051.
    var model = TwoTaskToy()
    var minimizer = MultiTaskMinimizer(
        rule: FMTL(rho: Float(5).squareRoot()), base: SGD(learningRate: 0.1), aggregator: PCGrad(), isShared: isShared)
    let report = minimizer.step(&model, batchSize: 1, taskLosses: toyLosses)
    #expect(close(model.body.scalars, [-0.1, -0.3]))
    #expect(close(model.head0.scalars, [-0.2]) && close(model.head1.scalars, [-0.1732051]))
    // ℓ₁(w) = ½·1 = 0.5 and ℓ₂(w) = ½·2 = 1: the per-sample summed loss is 1.5, at w.
    #expect(close(report.sampleLosses, [1.5]))
    #expect(report.passes == 3)  // one pass at w, one per task at w + ε_i
    #expect(abs(report.perturbationNorm - Float(5).squareRoot()) < 1e-5)
    // cos(g₁|b, g₂|b) = −1/√2.
    #expect(abs(minimizer.lastTaskGradientCosine! + 0.7071068) < 1e-5)
}

@Test func aggregatorStepWithoutPerturbationByHand() {
    // MGDA on g₁|b = (1, 0), g₂|b = (−1, 1): α₁ = ⟨g₂ − g₁, g₂⟩/‖g₁ − g₂‖² = 3/5, d_b = (0.2, 0.4);
    // heads descend along their own gradients (2, √3). η = 0.1.
    var model = TwoTaskToy()
    var minimizer = MultiTaskMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.1), aggregator: MGDA(), isShared: isShared)
    let report = minimizer.step(&model, batchSize: 1, taskLosses: toyLosses)
    #expect(close(model.body.scalars, [-0.02, -0.04]))
    #expect(close(model.head0.scalars, [-0.2]) && close(model.head1.scalars, [-0.1732051]))
    #expect(report.passes == 1)
}

@Test func samOnTheSummedLossPerturbsOnceAlongTheSum() {
    // g = g₁ + g₂ = (0, 1 | 2 | √3), ‖g‖ = √8; ρ = √8: ε = g, so b + ε = (0, 1) and the summed
    // loss's gradient there is (b + ε − p₁) + (b + ε − p₂) = (1, 1) + (−1, 2) = (0, 3); heads 2, √3.
    // η = 0.1: b' = (0, −0.3).
    var model = TwoTaskToy()
    var minimizer = MultiTaskMinimizer(
        rule: SAM(rho: Float(8).squareRoot()), base: SGD(learningRate: 0.1), aggregator: EqualWeights(), isShared: isShared)
    let report = minimizer.step(&model, batchSize: 1, taskLosses: toyLosses)
    #expect(close(model.body.scalars, [0, -0.3]))
    #expect(close(model.head0.scalars, [-0.2]) && close(model.head1.scalars, [-0.1732051]))
    #expect(report.passes == 2)
}
