import PlateauTensor
import Testing
@testable import PlateauOptim

// The aggregators on 2-D gradients (one shared parameter "w"), against values derived by hand.

private func set(_ v: [Float], key: String = "w") -> ParameterSet { ParameterSet([(key, Tensor(v))]) }
private func values(_ s: ParameterSet, key: String = "w") -> [Float] { s[key]!.scalars }
private func near(_ a: [Float], _ b: [Float], _ tolerance: Float = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
}

@Test func equalWeightsIsThePlainSum() {
    let d = EqualWeights().aggregate([set([1, 0]), set([-1, 1]), set([0.5, 2])])
    #expect(near(values(d), [0.5, 3]))
}

@Test func pcgradProjectsConflictingGradientsByHand() {
    // g₁ = (1, 0), g₂ = (−1, 1): ⟨g₁, g₂⟩ = −1 < 0, they conflict.
    // g₁' = g₁ − (−1/‖g₂‖²)·g₂ = (1, 0) + ½(−1, 1) = (0.5, 0.5)   (⊥ g₂)
    // g₂' = g₂ − (−1/‖g₁‖²)·g₁ = (−1, 1) + (1, 0) = (0, 1)         (⊥ g₁)
    // d = g₁' + g₂' = (0.5, 1.5)
    let d = PCGrad().aggregate([set([1, 0]), set([-1, 1])])
    #expect(near(values(d), [0.5, 1.5]))
    // Gradients that agree are summed untouched.
    #expect(near(values(PCGrad().aggregate([set([1, 0]), set([1, 1])])), [2, 1]))
}

@Test func mgdaMinNormWeightsForTwoTasksByHand() {
    // g₁ = (1, 0), g₂ = (0, 2): α₁ = ⟨g₂ − g₁, g₂⟩/‖g₁ − g₂‖² = (0·(−1) + 2·2)/(1 + 4) = 0.8.
    // d = 0.8·(1, 0) + 0.2·(0, 2) = (0.8, 0.4), orthogonal to g₁ − g₂ (the hull's edge).
    let gram: [[Double]] = [[1, 0], [0, 4]]
    let weights = MGDA().weights(gram: gram)
    #expect(abs(weights[0] - 0.8) < 1e-12 && abs(weights[1] - 0.2) < 1e-12)
    #expect(near(values(MGDA().aggregate([set([1, 0]), set([0, 2])])), [0.8, 0.4]))
    // One gradient inside the other's half-space beyond it: the smaller one is the minimum.
    #expect(near(values(MGDA().aggregate([set([1, 0]), set([2, 0])])), [1, 0]))
}

@Test func mgdaFrankWolfeFindsTheMinNormPointOfThreeTasks() {
    // The hull of (1, 0), (0, 1), (1, 1) is closest to the origin at (0.5, 0.5), midway on the
    // first edge; the third gradient gets no weight.
    let gradients = [set([1, 0]), set([0, 1]), set([1, 1])]
    let weights = MGDA().weights(gram: gramMatrix(gradients))
    #expect(near(weights.map(Float.init), [0.5, 0.5, 0], 1e-6))
    #expect(near(values(MGDA().aggregate(gradients)), [0.5, 0.5], 1e-6))
    // An interior minimum: (1, 0), (0, 1), (−1, −1) surround the origin, reached with weights
    // (⅓, ⅓, ⅓) — Frank–Wolfe's O(1/t) gets within about 1e-3.
    let around = [set([1, 0]), set([0, 1]), set([-1, -1])]
    let third: Float = 1.0 / 3.0
    let interior = MGDA().weights(gram: gramMatrix(around)).map(Float.init)
    #expect(near(interior, [third, third, third], 5e-3))
    let direction = values(MGDA().aggregate(around))
    #expect(direction.allSatisfy { abs($0) < 5e-3 })
}

@Test func cagradOnHandCases() {
    // Symmetric: g₁ = (1, 0), g₂ = (0, 1), c = 0.5. By symmetry w = (½, ½), so g_w = g₀ = (½, ½)
    // and d = (g₀ + c‖g₀‖/‖g₀‖·g₀)/(1 + c²) = g₀·1.5/1.25 = (0.6, 0.6).
    #expect(near(values(CAGrad(c: 0.5).aggregate([set([1, 0]), set([0, 1])])), [0.6, 0.6]))
    // c = 0: the average gradient.
    #expect(near(values(CAGrad(c: 0).aggregate([set([2, 0]), set([0, 1])])), [1, 0.5]))
    // Asymmetric: g₁ = (2, 0), g₂ = (0, 1), c = 0.4; g₀ = (1, ½), ‖g₀‖ = √1.25.
    // F(x) = ⟨g_w, g₀⟩ + c‖g₀‖‖g_w‖ with g_w = (2x, 1 − x): F'(0) = 1.5 − c‖g₀‖ = 1.053 > 0 and F is
    // convex, so w = (0, 1): g_w = g₂, λ = c‖g₀‖/‖g₂‖ = 0.4472136 and
    // d = (g₀ + λg₂)/(1 + c²) = (1, 0.9472136)/1.16 = (0.8620690, 0.8165634): the weaker task's share grows.
    let aggregator = CAGrad(c: 0.4)
    let w = aggregator.weights(gram: [[4, 0], [0, 1]])
    #expect(abs(w[0]) < 1e-6 && abs(w[1] - 1) < 1e-6)
    #expect(near(values(aggregator.aggregate([set([2, 0]), set([0, 1])])), [0.8620690, 0.8165634]))
}

@Test func flatDecompositionSplitsAndAggregatesEachPartApart() {
    // Shared "w" and heads "heads.0", "heads.1". Unperturbed g_i and perturbed g_i^SAM:
    let g = [
        ParameterSet([("w", Tensor([1, 0])), ("heads.0", Tensor([3])), ("heads.1", Tensor([0]))]),
        ParameterSet([("w", Tensor([-1, 1])), ("heads.0", Tensor([0])), ("heads.1", Tensor([-2]))]),
    ]
    let perturbed = [
        ParameterSet([("w", Tensor([1, 1])), ("heads.0", Tensor([4])), ("heads.1", Tensor([0]))]),
        ParameterSet([("w", Tensor([-1, 0])), ("heads.0", Tensor([0])), ("heads.1", Tensor([-1]))]),
    ]
    let split = FlatDecomposition(gradients: g, perturbedGradients: perturbed)
    // Flat parts h_i = g_i^SAM − g_i: h₁ = (0, 1), h₂ = (0, −1) on w.
    #expect(near(values(split.flatParts[0]), [0, 1]) && near(values(split.flatParts[1]), [0, -1]))
    #expect(split.lossParts == g)
    let isShared = { (key: String) in !key.hasPrefix("heads.") }
    // PCGrad: M({g_i}) = (0.5, 1.5) (as above); h₁ and h₂ conflict head-on (⟨h₁, h₂⟩ = −1):
    // h₁' = h₁ + h₂ = 0 and h₂' = 0, so M({h_i}) = 0 and d_w = (0.5, 1.5).
    // Each head descends along its task's g^SAM: heads.0 = 4, heads.1 = −1.
    let d = split.direction(aggregator: PCGrad(), isShared: isShared)
    #expect(near(values(d), [0.5, 1.5]))
    #expect(near(values(d, key: "heads.0"), [4]) && near(values(d, key: "heads.1"), [-1]))
    // PCGrad on the perturbed gradients themselves (F-MTL's "a-" ablation) differs:
    // g₁^SAM = (1, 1), g₂^SAM = (−1, 0), ⟨·,·⟩ = −1: (1, 1) + (−1, 0) = (0, 1) and
    // (−1, 0) + ½(1, 1) = (−0.5, 0.5), sum (−0.5, 1.5).
    #expect(near(values(PCGrad().aggregate(perturbed.map { $0.filter(isShared) })), [-0.5, 1.5]))
    // With equal weights (linear) the split changes nothing: Σ_i g_i^SAM = (0, 1).
    #expect(near(values(split.direction(aggregator: EqualWeights(), isShared: isShared)), [0, 1]))
}

@Test func fmtlPerturbsAlongEachTasksNormalizedGradient() {
    let gradient = set([3, 4])
    let epsilon = FMTL(rho: 0.5).perturbation(parameters: set([1, 1]), gradient: gradient, context: StepContext(step: 0, learningRate: 0.1))!
    #expect(near(values(epsilon), [0.3, 0.4]))  // ρ·g/‖g‖, ‖g‖ = 5
    let rules: [any SharpnessAwareRule] = [FMTL(), SAM(rho: 0.05)]
    #expect(rules.map { $0 is any PerTaskSharpnessAwareRule } == [true, false])
}

@Test func aggregatorsAreNamedAsTheFlagTakesThem() {
    for name in GradientAggregators.names { #expect(GradientAggregators.named(name)?.name == name) }
    #expect(GradientAggregators.named("nash") == nil)
}
