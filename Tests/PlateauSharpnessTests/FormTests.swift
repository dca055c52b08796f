import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

// Issue 10: ESAM and FriendlySAM in both of their forms, against values worked out by hand
// (float64, rounded) on the quadratic of `TestSupport.swift`: ℓᵢ(v) = ½ Σⱼ aᵢⱼ vⱼ².

/// The parameters each perturbed request saw, minus `w`: the ε of that request.
private func epsilon(_ loss: QuadraticLoss, from w: [Float], request: Int = 0) -> [Float] {
    zip(loss.perturbedRequests[request].parameters, w).map { $0 - $1 }
}

// MARK: - ESAM

/// Rows a₀ = (6, 0, −8), a₁ = (0, 1, 0), a₂ = (1, 2, 0), a₃ = (0, 0, 8), as in
/// `esamPlateauFormSecondPassUsesTheSharpestSamples`.
private let fourSampleCurvature: [[Float]] = [[6, 0, -8], [0, 1, 0], [1, 2, 0], [0, 0, 8]]

@Test func esamSelectionByFormOverThreeSteps() {
    // β = 1 (ε is SAM's in both forms), ρ = 0.5, γ = 0.5, n = 4, SGD η = 0.1, v₀ = (1, 2, 1.5).
    // Official: k = ⌊0.5·4⌋ = 2, keep the scores strictly above the 2nd largest (one sample);
    // plateau: the ⌊0.5·4⌉ = 2 sharpest.
    // Step 1: g = (1.75, 1.5, 0), ε = (0.379628301, 0.325395687, 0),
    //   s = (2.71012275, 0.70373255, 1.85915222, 0)
    //   official keeps {0}:     w₁ = (0.172223019, 2, 2.7)
    //   plateau keeps {0, 2}:   w₁ = (0.517130095, 1.76746043, 2.1)
    // Step 2, official: g = (0.301390284, 1.5, 0), ε = (0.098494901, 0.490202769, 0),
    //   s = (0.130882272, 1.10055491, 2.22292354, 0), keeps {2}: w₂ = (0.145151227, 1.50195945, 2.7)
    // Step 2, plateau: g = (0.904977666, 1.32559532, 0), ε = (0.281915613, 0.412945017, 0),
    //   s = (1.11315152, 0.815125772, 1.8157768, 0), keeps {0, 2}: w₂ = (0.237464097, 1.54941989, 2.94)
    // Step 3, official: s = (0.132079084, 0.851536698, 1.72508658, 0), keeps {2}:
    //   w₃ = (0.119637458, 1.10401696, 2.7)
    // Step 3, plateau: s = (0.324916502, 0.840296738, 1.73474623, 0), keeps {1, 2}:
    //   w₃ = (0.2171728, 1.24638664, 2.94)
    let expected: [ESAM.Form: (samples: [[Int]], weights: [[Float]])] = [
        .official: ([[0], [2], [2]], [[0.172223019, 2, 2.7], [0.145151227, 1.50195945, 2.7], [0.119637458, 1.10401696, 2.7]]),
        .plateau: ([[0, 2], [0, 2], [1, 2]], [[0.517130095, 1.76746043, 2.1], [0.237464097, 1.54941989, 2.94], [0.2171728, 1.24638664, 2.94]]),
    ]
    for form in ESAM.Form.allCases {
        var model = Quadratic([1, 2, 1.5])
        var esam = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 1, gamma: 0.5, form: form), base: SGD(learningRate: 0.1))
        for step in 0..<3 {
            let loss = QuadraticLoss(fourSampleCurvature)
            let report = quadraticStep(&esam, &model, loss)
            let kept = expected[form]!.samples[step]
            #expect(loss.perturbedRequests.map(\.samples) == [nil, kept], "\(form), step \(step + 1)")
            #expect(close(model.vector, expected[form]!.weights[step], tolerance: 5e-6), "\(form), step \(step + 1): \(model.vector)")
            #expect(abs(report.passes - (1 + 1.0 / 3 + Float(kept.count) / 4)) < 1e-6)
        }
    }
}

@Test func esamSelectionWithTiesAndNonIntegerGammaN() {
    func select(_ form: ESAM.Form, _ gamma: Float, _ scores: [Float]) -> [Int]? {
        ESAM(gamma: gamma, form: form).secondPassSamples(count: scores.count) { scores }
    }
    let s: [Float] = [2.71012275, 0.70373255, 1.85915222, 0]  // step 1 above
    // γn not an integer: official k = ⌊γn⌋, plateau ⌊γn⌉.
    #expect(select(.official, 0.6, s) == [0])  // 2.4: k = 2, above 1.859 → {0}
    #expect(select(.plateau, 0.6, s) == [0, 2])  // round(2.4) = 2
    #expect(select(.official, 0.7, s) == [0])  // 2.8: k = 2
    #expect(select(.plateau, 0.7, s) == [0, 1, 2])  // round(2.8) = 3
    #expect(select(.official, 0.75, s) == [0, 2])  // 3: above the 3rd largest, 0.704
    #expect(select(.plateau, 0.75, s) == [0, 1, 2])
    // Ties at the cutoff: k = 3 in [1, 3, 2, 2, 0, 2]; the 3rd largest is 2, so only the 3
    // is strictly above it; plateau takes the 3 and the two earliest 2s.
    let tied: [Float] = [1, 3, 2, 2, 0, 2]
    #expect(select(.official, 0.5, tied) == [1])
    #expect(select(.plateau, 0.5, tied) == [1, 2, 3])
    // Ties below the cutoff do not matter: k = 2, the 2nd largest is 2.
    #expect(select(.official, 0.4, [3, 2, 1, 1, 1]) == [0])  // 2.0
    // Nothing strictly above the cutoff (the k-th largest is the maximum): the maxima are kept.
    #expect(select(.official, 0.5, [5, 5, 1, 0]) == [0, 1])
    #expect(select(.official, 0.5, [5, 5, 5, 1]) == [0, 1, 2])
    #expect(select(.plateau, 0.5, [5, 5, 5, 1]) == [0, 1])
    #expect(select(.official, 0.5, [4, 4]) == nil)  // every sample tied: all of them
    // k = 1 and k = 0 keep the sharpest sample.
    #expect(select(.official, 0.5, [1, 7, 3]) == [1])  // 1.5: k = 1
    #expect(select(.official, 0.2, [1, 7, 3, 0]) == [1])  // 0.8: k = 0
    #expect(select(.plateau, 0.2, [1, 7, 3, 0]) == [1])  // round(0.8) = 1
    // From γ = 0.99 the official code back-propagates everything, without scoring.
    var scored = 0
    let many = (0..<1000).map { Float($0) }
    #expect(ESAM(gamma: 0.995, form: .official).secondPassSamples(count: 1000) { scored += 1; return many } == nil)
    #expect(scored == 0)
    #expect(ESAM(gamma: 0.995, form: .plateau).secondPassSamples(count: 1000) { scored += 1; return many }?.count == 995)
    #expect(scored == 1)
    #expect(ESAM(gamma: 0.5, form: .official).secondPassSamples(count: 1000) { many }?.count == 499)
}

@Test func esamFormsNormalizeByTheKeptOrTheFullGradient() {
    // β = 0.5, ρ = 0.5 (ρ/β = 1), g = ā ⊙ v = (3, 4, 1) at v = (1, 2, 0.5); the same seed gives
    // both forms the same masks. By the tensors kept (weight, bias):
    //   both:         ε = (3, 4, 1)/√26 = (0.588348405, 0.784464541, 0.196116135) in both forms
    //   weight only:  official (3, 4, 0)/5 = (0.6, 0.8, 0);   plateau (0.588348405, 0.784464541, 0)
    //   bias only:    official (0, 0, 1);                     plateau (0, 0, 0.196116135)
    //   neither:      0
    let full: [Float] = [0.588348405, 0.784464541, 0.196116135]
    var official = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 0.5, gamma: 1, seed: 5, form: .official), base: SGD(learningRate: 0))
    var plateau = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 0.5, gamma: 1, seed: 5, form: .plateau), base: SGD(learningRate: 0))
    var seen = Set<[Bool]>()
    for step in 0..<16 {
        var a = Quadratic([1, 2, 0.5]), b = a
        let lossA = QuadraticLoss(twoSampleCurvature), lossB = QuadraticLoss(twoSampleCurvature)
        let reportA = quadraticStep(&official, &a, lossA)
        quadraticStep(&plateau, &b, lossB)
        let e = epsilon(lossA, from: [1, 2, 0.5]), p = epsilon(lossB, from: [1, 2, 0.5])
        let kept = [p[0] != 0, p[2] != 0]
        seen.insert(kept)
        let (expectedOfficial, expectedPlateau): ([Float], [Float]) = switch (kept[0], kept[1]) {
        case (true, true): (full, full)
        case (true, false): ([0.6, 0.8, 0], [full[0], full[1], 0])
        case (false, true): ([0, 0, 1], [0, 0, full[2]])
        case (false, false): ([0, 0, 0], [0, 0, 0])
        }
        #expect(close(e, expectedOfficial, tolerance: 1e-6), "step \(step + 1), kept \(kept): \(e)")
        #expect(close(p, expectedPlateau, tolerance: 1e-6), "step \(step + 1), kept \(kept): \(p)")
        #expect(abs(reportA.perturbationNorm - (kept.contains(true) ? 1 : 0)) < 1e-6)  // ‖ε‖ = ρ/β
    }
    #expect(seen.contains([true, false]) && seen.contains([false, true]), "seed 5 should drop each tensor at least once")
}

// MARK: - FriendlySAM

@Test func friendlySAMOfficialFormOverThreeSteps() {
    // σ = 1, λ = 0.6, ρ = 0.5, η = 0.1, v₀ = (1, 2, 0.5), ā = (3, 2, 2).
    // Step 1: g₁ = (3, 4, 1); m₁ = g₁; ε₁ = ρ ĝ₁ = (0.294174203, 0.39223227, 0.0980580676)
    //   w₁ = (0.611747739, 1.52155355, 0.380388387)
    // Step 2: g₂ = (1.83524322, 3.04310709, 0.760776773); ε₂ = ρ (g₂ − σm₁)/‖·‖
    //   = (−0.381567243, −0.313472301, −0.0783680753); m₂ = λm₁ + (1 − λ)g₂
    //   = (2.53409729, 3.61724284, 0.904310709); w₂ = (0.54269359, 1.2799373, 0.319984324)
    // Step 3: g₃ = (1.62808077, 2.55987459, 0.639968649); ε₃ = ρ (g₃ − σm₂)/‖·‖
    //   = (−0.319625179, −0.373019154, −0.0932547885); m₃ = (2.17169068, 3.19429554, 0.798573885)
    //   w₃ = (0.475773067, 1.09855367, 0.274638417)
    // (The paper's form gives w₂ = (0.369313079, 1.12802354, 0.282005886) on the same steps.)
    let epsilons: [[Float]] = [
        [0.294174203, 0.39223227, 0.0980580676], [-0.381567243, -0.313472301, -0.0783680753], [-0.319625179, -0.373019154, -0.0932547885],
    ]
    let weights: [[Float]] = [[0.611747739, 1.52155355, 0.380388387], [0.54269359, 1.2799373, 0.319984324], [0.475773067, 1.09855367, 0.274638417]]
    let averages: [[Float]] = [[3, 4, 1], [2.53409729, 3.61724284, 0.904310709], [2.17169068, 3.19429554, 0.798573885]]
    var model = Quadratic([1, 2, 0.5])
    var fsam = SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.5, sigma: 1, lambda: 0.6), base: SGD(learningRate: 0.1))
    #expect(fsam.rule.form == .official)
    for step in 0..<3 {
        let before = model.vector
        let loss = QuadraticLoss(twoSampleCurvature)
        quadraticStep(&fsam, &model, loss)
        #expect(close(epsilon(loss, from: before), epsilons[step], tolerance: 5e-6), "step \(step + 1)")
        #expect(close(model.vector, weights[step], tolerance: 5e-6), "step \(step + 1): \(model.vector)")
        let m = fsam.rule.gradientAverage!
        #expect(close(m["weight"]!.scalars + m["bias"]!.scalars, averages[step], tolerance: 5e-6), "step \(step + 1)")
    }
}

@Test func friendlySAMFormsDifferInTheAverageTheyRemove() {
    // σ = 0.5 separates the forms after the first step (with σ = 1, g − m_t = λ(g − m_{t−1})
    // and only the start differs). λ = 0.6, ρ = 0.5, v₀ = (1, 2, 0.5), η = 0.1.
    // Step 1 is SAM's in both (official: no average yet; paper: g − σ(1 − λ)g ∥ g):
    //   w₁ = (0.611747739, 1.52155355, 0.380388387), g₂ = (1.83524322, 3.04310709, 0.760776773)
    // Official: m₁ = g₁ = (3, 4, 1), ε₂ = ρ (g₂ − 0.5 m₁)/‖·‖ = (0.148830099, 0.463083884, 0.115770971)
    // Paper:    m₁ = (1.2, 1.6, 0.4), m₂ = (1.45409729, 2.17724284, 0.544310709),
    //           ε₂ = ρ (g₂ − 0.5 m₂)/‖·‖ = (0.240983387, 0.425014333, 0.106253583)
    let expected: [FriendlySAM.Form: [Float]] = [
        .official: [0.148830099, 0.463083884, 0.115770971], .paper: [0.240983387, 0.425014333, 0.106253583],
    ]
    for form in FriendlySAM.Form.allCases {
        var model = Quadratic([1, 2, 0.5])
        var fsam = SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.5, sigma: 0.5, lambda: 0.6, form: form), base: SGD(learningRate: 0.1))
        let first = QuadraticLoss(twoSampleCurvature)
        quadraticStep(&fsam, &model, first)
        #expect(close(epsilon(first, from: [1, 2, 0.5]), [0.294174203, 0.39223227, 0.0980580676]), "\(form)")
        let before = model.vector
        let second = QuadraticLoss(twoSampleCurvature)
        quadraticStep(&fsam, &model, second)
        #expect(close(epsilon(second, from: before), expected[form]!, tolerance: 5e-6), "\(form): \(epsilon(second, from: before))")
    }
}

@Test func friendlySAMCheckpointsRestoreAcrossForms() throws {
    // The state is m after the last update, under the same keys in both forms, so an old
    // (paper-form) checkpoint restores into the official form: it continues from m₁ = (1.2, 1.6, 0.4)
    // as m_{t−1}. With σ = 1: ε₂ = ρ (g₂ − m₁)/‖·‖ = (0.196367795, 0.44609647, 0.111524117)
    // and m₂ = (1.45409729, 2.17724284, 0.544310709).
    var model = Quadratic([1, 2, 0.5])
    var paper = SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.5, sigma: 1, lambda: 0.6, form: .paper), base: SGD(learningRate: 0.1))
    quadraticStep(&paper, &model, QuadraticLoss(twoSampleCurvature))
    let saved = paper.state
    #expect(Set(saved.tensors.keys) == ["rule.gradient_average.weight", "rule.gradient_average.bias"])
    var official = SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.5, sigma: 1, lambda: 0.6), base: SGD(learningRate: 0.1))
    try official.restore(saved)
    #expect(official.state == saved)
    let before = model.vector
    let loss = QuadraticLoss(twoSampleCurvature)
    quadraticStep(&official, &model, loss)
    #expect(close(epsilon(loss, from: before), [0.196367795, 0.44609647, 0.111524117], tolerance: 5e-6))
    let m = official.rule.gradientAverage!
    #expect(close(m["weight"]!.scalars + m["bias"]!.scalars, [1.45409729, 2.17724284, 0.544310709], tolerance: 5e-6))
}
