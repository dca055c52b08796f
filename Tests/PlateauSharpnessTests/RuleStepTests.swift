import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

// Single steps of each rule on the quadratic of `TestSupport.swift`, against values derived
// by hand. Notation: v = (w₀, w₁, b), per-sample ℓᵢ = ½ Σⱼ aᵢⱼ vⱼ², batch gradient g = ā ⊙ v,
// base SGD without momentum (η = 0.1) so w' = w − η·d is transparent.
// With `twoSampleCurvature`, ā = ((2+4)/2, (1+3)/2, (4+0)/2) = (3, 2, 2).

@Test func samSingleStepByHand() {
    // v = (1, 2, 0): g = (3, 4, 0), ‖g‖ = 5.
    // ρ = 0.5: ε = ρ·g/‖g‖ = (0.3, 0.4, 0);  v + ε = (1.3, 2.4, 0)
    // d = ∇L(v + ε) = ā ⊙ (v + ε) = (3.9, 4.8, 0)
    // w' = v − 0.1·d = (0.61, 1.52, 0)
    var model = Quadratic([1, 2, 0])
    let loss = QuadraticLoss(twoSampleCurvature)
    var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.5), base: SGD(learningRate: 0.1))
    let report = quadraticStep(&sam, &model, loss)
    #expect(close(model.vector, [0.61, 1.52, 0]))
    // The second pass saw exactly w + ε, on the whole batch.
    #expect(loss.perturbedRequests.count == 1)
    #expect(loss.perturbedRequests[0].samples == nil)
    #expect(close(loss.perturbedRequests[0].parameters, [1.3, 2.4, 0]))
    #expect(abs(report.perturbationNorm - 0.5) < 1e-6)
    #expect(abs(report.gradientNorm - 5) < 1e-6)
    // ℓ(v) = (½(2·1 + 1·4 + 0), ½(4·1 + 3·4 + 0)) = (3, 8); mean 5.5 — at w, not at w + ε.
    #expect(report.sampleLosses == [3, 8])
    #expect(report.loss == 5.5)
    #expect(report.passes == 2)
    #expect(sam.step == 1)
}

@Test func asamSingleStepByHand() {
    // v = (1, 2, 0.5): g = ā ⊙ v = (3, 4, 1). η_ASAM = 0.5.
    // T = |w| + η on "weight" = (1.5, 2.5); 1 on "bias"  →  T = (1.5, 2.5, 1)
    // T g = (4.5, 10, 1),  ‖T g‖ = √121.25 = 11.01135777
    // T² g = (6.75, 25, 1)
    // ε = ρ·T²g/‖Tg‖ (ρ = 0.5) = (0.306501711, 1.13519152, 0.0454076609)
    // d = ā ⊙ (v + ε) = (3·1.306501711, 2·3.13519152, 2·0.5454076609)
    // w' = v − 0.1·d = (0.608049487, 1.3729617, 0.390918468)
    var model = Quadratic([1, 2, 0.5])
    let loss = QuadraticLoss(twoSampleCurvature)
    var asam = SharpnessAwareMinimizer(rule: ASAM(rho: 0.5, eta: 0.5), base: SGD(learningRate: 0.1))
    quadraticStep(&asam, &model, loss)
    let epsilon = zip(loss.perturbedRequests[0].parameters, [Float(1), 2, 0.5]).map { $0 - $1 }
    #expect(close(epsilon, [0.306501711, 1.13519152, 0.0454076609]))
    #expect(close(model.vector, [0.608049487, 1.3729617, 0.390918468]))
}

@Test func gsamSingleStepAndRadiusProportionalToLearningRate() {
    // ρ_t = ρ_min + (ρ_max − ρ_min)(η − η_min)/(η_max − η_min) with ρ_max 0.2, ρ_min 0,
    // η_max 0.2, η_min 0: η = 0.1 → ρ = 0.1; η = 0.05 → ρ = 0.05.
    // v = (1, 2, 0.5): g = (3, 4, 1), ε = ρ g/√26, g_p = ā ⊙ (v + ε),
    // g_⊥ = g − (g·ĝ_p) ĝ_p, d = g_p − α g_⊥ (α = 0.5), w' = v − η d:
    //   η = 0.1:  w' = (0.680522789, 1.58562452, 0.39640613)
    //   η = 0.05: w' = (0.845118909, 1.79641155, 0.449102887)
    for (lr, expected) in [(Float(0.1), [Float(0.680522789), 1.58562452, 0.39640613]),
                           (0.05, [0.845118909, 1.79641155, 0.449102887])] {
        var model = Quadratic([1, 2, 0.5])
        let loss = QuadraticLoss(twoSampleCurvature)
        let rule = GSAM(radius: .proportionalToLearningRate(maximum: 0.2, minimum: 0, maximumLearningRate: 0.2, minimumLearningRate: 0), alpha: 0.5)
        var gsam = SharpnessAwareMinimizer(rule: rule, base: SGD(learningRate: lr))
        let report = quadraticStep(&gsam, &model, loss)
        #expect(abs(report.perturbationNorm - lr) < 1e-6, "ρ must equal \(lr) at learning rate \(lr)")
        #expect(close(model.vector, expected))
    }
    // The radius is clamped outside [η_min, η_max] and α = 0 with constant ρ is SAM.
    let radius = PerturbationRadius.proportionalToLearningRate(maximum: 0.2, minimum: 0.1, maximumLearningRate: 1, minimumLearningRate: 0)
    #expect(radius.value(in: StepContext(step: 0, learningRate: 2)) == 0.2)
    #expect(radius.value(in: StepContext(step: 0, learningRate: -1)) == 0.1)
    var a = Quadratic([1, 2, 0.5]), b = a
    var gsam = SharpnessAwareMinimizer(rule: GSAM(radius: .constant(0.3), alpha: 0), base: SGD(learningRate: 0.1))
    var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.3), base: SGD(learningRate: 0.1))
    quadraticStep(&gsam, &a, QuadraticLoss(twoSampleCurvature))
    quadraticStep(&sam, &b, QuadraticLoss(twoSampleCurvature))
    #expect(close(a.vector, b.vector, tolerance: 1e-6))
}

@Test func lookSAMReusesTheOrthogonalDirectionWithOneGradientEvaluation() {
    // k = 3, α = 0.7, ρ = 0.5, η = 0.1, v₀ = (1, 2, 0.5).
    // Step 0 (SAM): ε = ρ ĝ; g_s = ā ⊙ (v + ε); g_v = g_s − (g_s·ĝ) ĝ; d = g_s.
    // Steps 1, 2: d = g + α (‖g‖/‖g_v‖) g_v with the g_v of step 0; ONE evaluation each.
    // Step 3: SAM again.
    let expected: [[Float]] = [
        [0.611747739, 1.52155355, 0.380388386],
        [0.222518588, 1.36244625, 0.340611561],
        [-0.00764815024, 1.20530605, 0.301326513],
        [-0.003968677, 0.867234727, 0.216808682],
    ]
    let evaluations = [2, 1, 1, 2]
    var model = Quadratic([1, 2, 0.5])
    var looksam = SharpnessAwareMinimizer(rule: LookSAM(rho: 0.5, interval: 3, alpha: 0.7), base: SGD(learningRate: 0.1))
    for step in 0..<4 {
        let loss = QuadraticLoss(twoSampleCurvature)
        let report = quadraticStep(&looksam, &model, loss)
        #expect(loss.requests.count == evaluations[step], "step \(step): \(loss.requests.count) loss evaluations")
        #expect(report.passes == Float(evaluations[step]))
        if evaluations[step] == 2 {
            #expect(abs(report.perturbationNorm - 0.5) < 1e-6)
        } else {
            #expect(report.perturbationNorm == 0)
        }
        #expect(close(model.vector, expected[step], tolerance: 5e-6), "step \(step): \(model.vector)")
    }
}

@Test func esamWithBetaAndGammaOneIsSAMExactly() {
    var generator = SeededGenerator(seed: 11)
    let rows = (0..<4).map { _ in (0..<3).map { _ in Float.random(in: 0.5..<3, using: &generator) } }
    for form in ESAM.Form.allCases {
        var a = Quadratic([1, -2, 0.5]), b = a
        var esam = SharpnessAwareMinimizer(rule: ESAM(rho: 0.2, beta: 1, gamma: 1, form: form), base: SGD(learningRate: 0.1, momentum: 0.9))
        var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.2), base: SGD(learningRate: 0.1, momentum: 0.9))
        for _ in 0..<3 {
            let lossA = QuadraticLoss(rows), lossB = QuadraticLoss(rows)
            let ra = quadraticStep(&esam, &a, lossA)
            let rb = quadraticStep(&sam, &b, lossB)
            #expect(a.vector == b.vector, "\(form)")  // bit for bit
            #expect(ra.passes == 2 && rb.passes == 2)
            #expect(lossA.requests.count == 2)  // no scoring pass
        }
    }
}

@Test func esamPlateauFormSecondPassUsesTheSharpestSamples() {
    // v = (1, 2, 1.5), rows a₀ = (6, 0, −8), a₁ = (0, 1, 0), a₂ = (1, 2, 0), a₃ = (0, 0, 8):
    // ā = (1.75, 0.75, 0), g = (1.75, 1.5, 0), ε = 0.5·g/‖g‖ = (0.379628301, 0.325395687, 0).
    // ℓ(w)      = (−6, 2, 4.5, 9)
    // ℓ(w + ε)  = (−3.28987725, 2.70373255, 6.35915222, 9)
    // sharpness = (2.71012275, 0.70373255, 1.85915222, 0)
    // Top γ = 0.5 → 2 samples: {0, 2}. (Ranking by ℓ(w) or by ℓ(w + ε) would pick {2, 3}.)
    // d = ½(a₀ + a₂) ⊙ (v + ε) = (3.5, 1, −4) ⊙ (1.379628301, 2.325395687, 1.5)
    // w' = v − 0.1·d = (0.517130095, 1.76746043, 2.1)
    let rows: [[Float]] = [[6, 0, -8], [0, 1, 0], [1, 2, 0], [0, 0, 8]]
    var model = Quadratic([1, 2, 1.5])
    let loss = QuadraticLoss(rows)
    var esam = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 1, gamma: 0.5, form: .plateau), base: SGD(learningRate: 0.1))
    let report = quadraticStep(&esam, &model, loss)
    let perturbed = loss.perturbedRequests
    #expect(perturbed.count == 2)
    #expect(perturbed.first?.samples == nil)  // the scoring forward sees the whole batch
    #expect(perturbed.last?.samples == [0, 2])
    #expect(close(model.vector, [0.517130095, 1.76746043, 2.1], tolerance: 5e-6))
    #expect(abs(report.passes - (1 + 1.0 / 3 + 0.5)) < 1e-6)
    #expect(report.sampleLosses == [-6, 2, 4.5, 9])

    // γ = 0.75 keeps round(3) = 3 samples: {0, 1, 2}.
    var model3 = Quadratic([1, 2, 1.5])
    let loss3 = QuadraticLoss(rows)
    var esam3 = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 1, gamma: 0.75, form: .plateau), base: SGD(learningRate: 0.1))
    quadraticStep(&esam3, &model3, loss3)
    #expect(loss3.perturbedRequests.last?.samples == [0, 1, 2])
}

@Test func esamPlateauFormMasksWholeTensorsAndRescalesByTheFullNorm() {
    // β = 0.5: each tensor is perturbed with probability β, by ρ·g/(β‖g‖).
    // v = (1, 2, 0.5), g = (3, 4, 1), ‖g‖ = √26; a perturbed entry is (ρ/β)·gⱼ/√26.
    var sawMasked = false, sawPerturbed = false
    var esam = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 0.5, gamma: 1, seed: 5, form: .plateau), base: SGD(learningRate: 0))
    for _ in 0..<12 {
        var model = Quadratic([1, 2, 0.5])
        let loss = QuadraticLoss(twoSampleCurvature)
        quadraticStep(&esam, &model, loss)
        let e = zip(loss.perturbedRequests[0].parameters, [Float(1), 2, 0.5]).map { $0 - $1 }
        let full: [Float] = [3, 4, 1].map { 1.0 * $0 / Float(26).squareRoot() }
        // weight entries move together (one tensor), the bias independently.
        #expect(close(Array(e[0..<2]), [0, 0]) || close(Array(e[0..<2]), Array(full[0..<2]), tolerance: 1e-6))
        #expect(close([e[2]], [0]) || close([e[2]], [full[2]], tolerance: 1e-6))
        if e[0] == 0 || e[2] == 0 { sawMasked = true }
        if e[0] != 0 || e[2] != 0 { sawPerturbed = true }
    }
    #expect(sawMasked && sawPerturbed)
}

@Test func wsamDecoupledAndCoupledByHand() {
    // γ = 0.75 → α = γ/(1 − γ) = 3; ρ = 0.5; SGD η = 0.1, momentum μ = 0.5; v₀ = (1, 2, 0.5).
    // Decoupled: b ← μb + g (b₁ = g);  w ← w − η b − η α (g_p − g)   (the correction bypasses momentum)
    // Coupled:   b ← μb + ((1 − α) g + α g_p);  w ← w − η b
    // Step 1 is the same for both (b₁ = g or = (1−α)g + αg_p, both giving w − η((1−α)g + αg_p)):
    //   w₁ = (0.435243218, 1.36466064, 0.341165159)
    // Step 2 differs: decoupled (−0.0347755707, 0.627733834, 0.156933459),
    //                 coupled   (−0.167153962, 0.510064153, 0.127516038).
    for (decoupled, second) in [(true, [Float(-0.0347755707), 0.627733834, 0.156933459]),
                                (false, [-0.167153962, 0.510064153, 0.127516038])] {
        var model = Quadratic([1, 2, 0.5])
        var wsam = SharpnessAwareMinimizer(rule: WSAM(rho: 0.5, gamma: 0.75, decoupled: decoupled), base: SGD(learningRate: 0.1, momentum: 0.5))
        quadraticStep(&wsam, &model, QuadraticLoss(twoSampleCurvature))
        #expect(close(model.vector, [0.435243218, 1.36466064, 0.341165159], tolerance: 5e-6))
        quadraticStep(&wsam, &model, QuadraticLoss(twoSampleCurvature))
        #expect(close(model.vector, second, tolerance: 5e-6), "decoupled \(decoupled): \(model.vector)")
    }
}

@Test func friendlySAMPaperFormPerturbsAlongTheBatchSpecificPart() {
    // The paper's form: m₋₁ = 0 and ε from the updated m_t. σ = 1, λ = 0.6, ρ = 0.5, η = 0.1, v₀ = (1, 2, 0.5).
    // Step 1: g₁ = (3, 4, 1); m₁ = (1 − λ) g₁ = (1.2, 1.6, 0.4); g − σm ∥ g, so ε = ρ ĝ₁:
    //   ε₁ = (0.294174203, 0.39223227, 0.0980580676); w₁ = (0.611747739, 1.52155355, 0.380388386)
    // Step 2: g₂ = ā ⊙ w₁ = (1.835243217, 3.0431071, 0.760776772);
    //   m₂ = λ m₁ + (1 − λ) g₂ = (1.45409729, 2.17724284, 0.544310709)  (EMA of the raw g)
    //   ε₂ = ρ (g₂ − m₂)/‖g₂ − m₂‖ = (0.196367795, 0.44609647, 0.111524117)
    //   w₂ = w₁ − η ā ⊙ (w₁ + ε₂) = (0.369313079, 1.12802354, 0.282005886)
    var model = Quadratic([1, 2, 0.5])
    var fsam = SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.5, sigma: 1, lambda: 0.6, form: .paper), base: SGD(learningRate: 0.1))
    let first = QuadraticLoss(twoSampleCurvature)
    quadraticStep(&fsam, &model, first)
    #expect(close(zip(first.perturbedRequests[0].parameters, [Float(1), 2, 0.5]).map { $0 - $1 }, [0.294174203, 0.39223227, 0.0980580676]))
    #expect(close(model.vector, [0.611747739, 1.52155355, 0.380388386]))
    let before = model.vector
    let second = QuadraticLoss(twoSampleCurvature)
    quadraticStep(&fsam, &model, second)
    #expect(close(zip(second.perturbedRequests[0].parameters, before).map { $0 - $1 }, [0.196367795, 0.44609647, 0.111524117], tolerance: 5e-6))
    #expect(close(model.vector, [0.369313079, 1.12802354, 0.282005886], tolerance: 5e-6))
    let m = fsam.rule.gradientAverage!
    #expect(close(m["weight"]!.scalars + m["bias"]!.scalars, [1.45409729, 2.17724284, 0.544310709], tolerance: 5e-6))
}

@Test func noPerturbationIsTheBaseOptimizerAtOnePass() {
    var model = Quadratic([1, 2, 0.5])
    let loss = QuadraticLoss(twoSampleCurvature)
    var plain = SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.1))
    let report = quadraticStep(&plain, &model, loss)
    // w' = v − 0.1·(3, 4, 1) = (0.7, 1.6, 0.4)
    #expect(close(model.vector, [0.7, 1.6, 0.4]))
    #expect(loss.requests.count == 1 && report.passes == 1 && report.perturbationNorm == 0)
}
