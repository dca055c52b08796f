import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

// Properties of the two-pass driver that must hold for any model and batch.

/// The parameters the loss closure saw at w + ε, minus w: the ε of each second-pass call.
private func observedPerturbations<R: SharpnessAwareRule, B: Optimizer, M: Layer>(
    _ minimizer: inout SharpnessAwareMinimizer<R, B>, _ model: inout M, _ batch: ClassificationBatch
) -> (report: StepReport, epsilons: [ParameterSet]) {
    let w = model.parameters
    var epsilons: [ParameterSet] = []
    let report = minimizer.step(&model, batchSize: batch.count) { (m: inout M, request: LossRequest) -> Tensor in
        if request.point == .perturbed { epsilons.append(m.parameters.detached - w) }
        return batch.loss(&m, request)
    }
    return (report, epsilons)
}

@Test func samPerturbationHasNormRho() {
    var model = smallMLP()
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 1)
    var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.07), base: SGD(learningRate: 0.1))
    let (report, epsilons) = observedPerturbations(&sam, &model, batch)
    #expect(abs(report.perturbationNorm - 0.07) < 1e-6)
    #expect(epsilons.count == 1)
    #expect(abs(epsilons[0].norm() - 0.07) < 1e-5)
    // ε is parallel to g: ε·g = ρ‖g‖.
    let g = valueWithGradient(at: smallMLP()) { (m: inout MLP) -> Tensor in batch.loss(&m, LossRequest(point: .parameters, samples: nil)).mean() }.gradient
    #expect(abs(epsilons[0].dot(g) - 0.07 * g.norm()) < 1e-5 * g.norm())
    #expect(abs(report.gradientNorm - g.norm()) <= 1e-6 * g.norm())
}

@Test func rhoZeroIsBitIdenticalToTheBaseOptimizer() {
    let batches = (0..<4).map { ClassificationBatch(n: 6, shape: [4], classes: 3, seed: 100 + UInt64($0)) }
    let imageBatches = (0..<4).map { ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 200 + UInt64($0)) }
    let base = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true)

    func compare<M: Layer>(_ initial: M, _ batches: [ClassificationBatch], _ label: String) {
        var a = initial, b = initial
        var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0), base: base)
        var plainBase = base
        for (i, batch) in batches.enumerated() {
            classificationStep(&sam, &a, batch)
            plainStep(&plainBase, &b, batch)
            #expect(a.stateDictionary == b.stateDictionary, "\(label): differs after step \(i + 1)")
        }
        #expect(a.parameters != initial.parameters)
    }
    compare(smallMLP(), batches, "MLP")
    compare(smallConvBN(), imageBatches, "conv + BatchNorm")
    compare(DropoutMLP(), batches, "dropout MLP")

    // Adam as the base, and the NoPerturbation path.
    var a = smallMLP(), b = a
    var plain = SharpnessAwareMinimizer(rule: NoPerturbation(), base: Adam(learningRate: 0.01))
    var adam = Adam(learningRate: 0.01)
    for batch in batches {
        classificationStep(&plain, &a, batch)
        plainStep(&adam, &b, batch)
    }
    #expect(a.stateDictionary == b.stateDictionary)
}

/// Runs one step of `rule` on a loss with zero gradient everywhere.
private func zeroGradientSteps<R: SharpnessAwareRule>(_ rule: R, steps: Int = 3) -> (model: Quadratic, reports: [StepReport]) {
    var model = Quadratic([1, -2, 0.5])
    var minimizer = SharpnessAwareMinimizer(rule: rule, base: SGD(learningRate: 0.1))
    let reports = (0..<steps).map { _ in quadraticStep(&minimizer, &model, QuadraticLoss([[0, 0, 0], [0, 0, 0]])) }
    return (model, reports)
}

@Test func zeroGradientGivesNoNaNForAnyRule() {
    let results: [(String, (model: Quadratic, reports: [StepReport]))] = [
        ("sam", zeroGradientSteps(SAM(rho: 0.05))),
        ("asam", zeroGradientSteps(ASAM(rho: 0.5, eta: 0))),
        ("gsam", zeroGradientSteps(GSAM(rhoMax: 0.1, rhoMin: 0.01, maximumLearningRate: 0.1))),
        ("looksam", zeroGradientSteps(LookSAM(rho: 0.1, interval: 2, alpha: 0.7))),
        ("esam", zeroGradientSteps(ESAM(rho: 0.05, beta: 0.6, gamma: 0.5))),
        ("wsam", zeroGradientSteps(WSAM(rho: 0.05, gamma: 0.9))),
        ("wsam-coupled", zeroGradientSteps(WSAM(rho: 0.05, gamma: 0.9, decoupled: false))),
        ("fsam", zeroGradientSteps(FriendlySAM(rho: 0.05, sigma: 1, lambda: 0))),  // g − σm = 0 exactly
    ]
    for (name, result) in results {
        #expect(result.model.vector == [1, -2, 0.5], "\(name): the weights moved on a zero gradient")
        for report in result.reports {
            #expect(report.perturbationNorm == 0, "\(name)")
            #expect(report.gradientNorm == 0, "\(name)")
            #expect(report.loss == 0, "\(name)")
        }
    }
}

@Test func batchNormStatisticsComeFromTheFirstPassOnly() {
    let batch = ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 7)
    let initial = smallConvBN()
    var withSAM = initial, plain = initial
    var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.5), base: SGD(learningRate: 0.1))
    var sgd = SGD(learningRate: 0.1)
    let (_, epsilons) = observedPerturbations(&sam, &withSAM, batch)
    plainStep(&sgd, &plain, batch)
    #expect(epsilons.count == 1 && epsilons[0].norm() > 0.4)
    #expect(withSAM.buffers == plain.buffers)  // bit for bit
    #expect(withSAM.buffers["1.num_batches_tracked"]! == Tensor(Float(1)))
    #expect(withSAM.buffers != initial.buffers)
    #expect(withSAM.parameters != plain.parameters)  // the SAM direction differs, only the statistics agree
}

@Test func weightsAreRestoredExactlyAfterThePerturbedPass() {
    // With learning rate 0 the step must leave every parameter bit-identical: ε is never
    // left in the weights, whichever rule built it (WSAM's correction is scaled by η too).
    let batch = ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 8)
    func check<R: SharpnessAwareRule>(_ rule: R) {
        let initial = smallConvBN()
        var model = initial
        var minimizer = SharpnessAwareMinimizer(rule: rule, base: SGD(learningRate: 0))
        for _ in 0..<2 {
            let (report, _) = observedPerturbations(&minimizer, &model, batch)
            #expect(report.perturbationNorm > 0, "\(rule.name)")
        }
        #expect(model.parameters == initial.parameters, "\(rule.name): parameters changed with η = 0")
    }
    check(SAM(rho: 0.5))
    check(ASAM(rho: 2, eta: 0.01))
    check(GSAM(radius: .constant(0.5), alpha: 0.4))
    check(LookSAM(rho: 0.5, interval: 1, alpha: 0.7))
    check(ESAM(rho: 0.5, beta: 1, gamma: 0.5))
    check(WSAM(rho: 0.5, gamma: 0.9))
    // σ < 1: at η = 0 the batch gradient repeats, and the official form's ε₂ ∝ g − σ·m₁ = (1 − σ)·g.
    check(FriendlySAM(rho: 0.5, sigma: 0.5))
    check(FriendlySAM(rho: 0.5, form: .paper))
}

@Test func gradientAccumulationMatchesTheFullBatch() {
    let batches = (0..<2).map { ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 300 + UInt64($0)) }
    func run<R: SharpnessAwareRule>(_ rule: R, microBatchSize: Int?) -> (MLP, [StepReport]) {
        var model = smallMLP()
        var minimizer = SharpnessAwareMinimizer(rule: rule, base: SGD(learningRate: 0.1, momentum: 0.9), microBatchSize: microBatchSize)
        let reports = batches.map { classificationStep(&minimizer, &model, $0) }
        return (model, reports)
    }
    for micro in [1, 2, 3, 5] {
        let (full, fullReports) = run(SAM(rho: 0.1), microBatchSize: nil)
        let (accumulated, reports) = run(SAM(rho: 0.1), microBatchSize: micro)
        #expect(close(accumulated.parameters, full.parameters), "SAM, micro-batch \(micro)")
        for (r, f) in zip(reports, fullReports) {
            #expect(abs(r.loss - f.loss) < 1e-5 && abs(r.perturbationNorm - f.perturbationNorm) < 1e-6)
            #expect(close(r.sampleLosses, f.sampleLosses, tolerance: 1e-5))
            #expect(abs(r.passes - 2) < 1e-5)
        }
        let (plainFull, _) = run(NoPerturbation(), microBatchSize: nil)
        let (plainAccumulated, _) = run(NoPerturbation(), microBatchSize: micro)
        #expect(close(plainAccumulated.parameters, plainFull.parameters), "SGD, micro-batch \(micro)")
        let (gsamFull, _) = run(GSAM(radius: .constant(0.1), alpha: 0.4), microBatchSize: nil)
        let (gsamAccumulated, _) = run(GSAM(radius: .constant(0.1), alpha: 0.4), microBatchSize: micro)
        #expect(close(gsamAccumulated.parameters, gsamFull.parameters), "GSAM, micro-batch \(micro)")
    }
}

@Test func esamGradientAccumulationSelectsOverTheWholeBatch() {
    // ESAM's top-γ selection ranks the whole batch, not each micro-batch separately: the
    // accumulated step must equal the full-batch one, in either form (official: the 3 samples
    // above the 4th sharpest; plateau: the 4 sharpest).
    for (form, count) in [(ESAM.Form.official, 3), (.plateau, 4)] {
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 31)
    func run(microBatchSize: Int?) -> (MLP, [[Int]?]) {
        var model = smallMLP()
        var minimizer = SharpnessAwareMinimizer(rule: ESAM(rho: 0.5, beta: 1, gamma: 0.5, form: form), base: SGD(learningRate: 0.1), microBatchSize: microBatchSize)
        var selected: [[Int]?] = []
        minimizer.step(&model, batchSize: batch.count) { (m: inout MLP, request: LossRequest) -> Tensor in
            if request.point == .perturbed { selected.append(request.samples) }
            return batch.loss(&m, request)
        }
        return (model, selected)
    }
    let (full, fullSelection) = run(microBatchSize: nil)
    let chosen = Set(fullSelection.last!!)
    #expect(chosen.count == count, "\(form)")
    for micro in [2, 3] {
        let (accumulated, selection) = run(microBatchSize: micro)
        // At w + ε: the scoring forwards cover the batch once, the gradient passes cover
        // exactly the samples the full batch chose.
        let seen = selection.flatMap { $0 ?? Array(0..<8) }.sorted()
        #expect(seen == (Array(0..<8) + chosen).sorted(), "\(form), micro-batch \(micro): \(selection)")
        #expect(selection.allSatisfy { ($0?.count ?? 8) <= micro }, "micro-batch \(micro): a request exceeds the micro-batch")
        #expect(close(accumulated.parameters, full.parameters), "\(form), micro-batch \(micro)")
    }
    }
}

@Test func mSharpnessWithChunkEqualToTheBatchIsPlainSAM() {
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 12)
    var plain = smallMLP()
    var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.1), base: SGD(learningRate: 0.1))
    classificationStep(&sam, &plain, batch)
    for m in [8, 100] {
        var model = smallMLP()
        var chunked = SharpnessAwareMinimizer(rule: SAM(rho: 0.1), base: SGD(learningRate: 0.1), sharpnessChunkSize: m)
        classificationStep(&chunked, &model, batch)
        #expect(model.stateDictionary == plain.stateDictionary, "m = \(m)")
    }
}

@Test func mSharpnessAveragesPerChunkSAMGradients() {
    // m = 4 on a batch of 8: for chunk c, g_c = ∇L_c(w), ε_c = ρ g_c/‖g_c‖, and
    // d = ½ (∇L_0(w + ε_0) + ∇L_1(w + ε_1)).
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 13)
    let initial = smallMLP()
    let rho: Float = 0.2
    var parts: [ParameterSet] = []
    var epsilonNorms: [Float] = []
    for chunk in [Array(0..<4), Array(4..<8)] {
        let request = LossRequest(point: .parameters, samples: chunk)
        let g = valueWithGradient(at: initial) { (m: inout MLP) -> Tensor in batch.loss(&m, request).mean() }.gradient
        let epsilon = g.scaled(by: rho / g.norm())
        epsilonNorms.append(epsilon.norm())
        var perturbed = initial
        perturbed.update(initial.parameters + epsilon)
        parts.append(valueWithGradient(at: perturbed) { (m: inout MLP) -> Tensor in batch.loss(&m, request).mean() }.gradient)
    }
    let direction = (parts[0] + parts[1]).scaled(by: 0.5)
    let expected = initial.parameters - direction.scaled(by: 0.1)

    var model = initial
    var chunked = SharpnessAwareMinimizer(rule: SAM(rho: rho), base: SGD(learningRate: 0.1), sharpnessChunkSize: 4)
    let (report, epsilons) = observedPerturbations(&chunked, &model, batch)
    #expect(close(model.parameters, expected))
    #expect(epsilons.count == 2)
    #expect(abs(report.perturbationNorm - rho) < 1e-6)
    #expect(abs(report.passes - 2) < 1e-6)

    // Micro-batches finer than m accumulate within each chunk: still one ε per m samples.
    for micro in [1, 2, 3] {
        var accumulated = initial
        var both = SharpnessAwareMinimizer(rule: SAM(rho: rho), base: SGD(learningRate: 0.1), microBatchSize: micro, sharpnessChunkSize: 4)
        let (_, eps) = observedPerturbations(&both, &accumulated, batch)
        #expect(close(accumulated.parameters, expected), "micro-batch \(micro) with m = 4")
        // One ε per chunk of m = 4 samples, shared by that chunk's micro-batches.
        var distinct: [ParameterSet] = []
        for e in eps where !distinct.contains(e) { distinct.append(e) }
        #expect(distinct.count == 2, "micro-batch \(micro): \(distinct.count) different perturbations")
    }
}

@Test func perturbsRestrictsEpsilonToTheChosenParameters() {
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 14)
    var model = smallMLP()
    var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0.3), base: SGD(learningRate: 0.1), perturbs: { $0.hasPrefix("layers.0.") })
    let (report, epsilons) = observedPerturbations(&sam, &model, batch)
    let epsilon = epsilons[0]
    for key in ["layers.1.weight", "layers.1.bias"] {
        #expect(epsilon[key]!.scalars.allSatisfy { $0 == 0 }, "\(key) was perturbed")
    }
    #expect(epsilon["layers.0.weight"]!.scalars.contains { $0 != 0 })
    // The whole budget ρ goes to the chosen tensors.
    #expect(abs(epsilon.norm() - 0.3) < 1e-5)
    #expect(abs(report.perturbationNorm - 0.3) < 1e-6)
    // The descent direction still covers every parameter.
    #expect(model.parameters["layers.1.weight"]! != smallMLP().parameters["layers.1.weight"]!)
}

@Test func clippingAppliesToTheFinalDirectionOnly() {
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 15)
    let initial = smallMLP()
    let lr: Float = 0.5
    var unclipped = initial, clipped = initial
    var free = SharpnessAwareMinimizer(rule: SAM(rho: 0.1), base: SGD(learningRate: lr))
    var limited = SharpnessAwareMinimizer(rule: SAM(rho: 0.1), base: SGD(learningRate: lr), maxGradientNorm: 0.01)
    let r1 = classificationStep(&free, &unclipped, batch)
    let (r2, epsilons) = observedPerturbations(&limited, &clipped, batch)
    let d = (initial.parameters - unclipped.parameters).scaled(by: 1 / lr)  // the SAM direction g_p
    let dClipped = (initial.parameters - clipped.parameters).scaled(by: 1 / lr)
    #expect(d.norm() > 0.05)
    #expect(abs(dClipped.norm() - 0.01) < 1e-4)
    // Same direction: dClipped = d · 0.01/‖d‖.
    #expect(close(dClipped, d.scaled(by: 0.01 / d.norm()), relative: 1e-3, absolute: 1e-7))
    // ε was built from the unclipped g (normalizing a clipped g would change nothing anyway),
    // and the report gives ‖g‖ before clipping.
    #expect(abs(epsilons[0].norm() - 0.1) < 1e-5)
    #expect(r2.gradientNorm == r1.gradientNorm && r2.gradientNorm > 0.01)
}

@Test func dropoutMasksOfThePerturbedPassMatchTheFirstPass() {
    // With ρ = 0 the perturbed pass recomputes the first pass exactly iff it reuses the same
    // dropout masks, with or without micro-batches.
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 16)
    for micro in [nil, 2, 3] as [Int?] {
        var a = DropoutMLP(), b = a
        var sam = SharpnessAwareMinimizer(rule: SAM(rho: 0), base: SGD(learningRate: 0.1), microBatchSize: micro)
        var plain = SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.1), microBatchSize: micro)
        for _ in 0..<2 {
            classificationStep(&sam, &a, batch)
            classificationStep(&plain, &b, batch)
        }
        #expect(a.parameters == b.parameters, "micro-batch \(String(describing: micro))")
        #expect(a.dropout.generator == b.dropout.generator)
    }
}

@Test func stateSaveRestoreContinueIsBitIdentical() throws {
    let batches = (0..<6).map { ClassificationBatch(n: 6, shape: [4], classes: 3, seed: 400 + UInt64($0)) }
    func check<R: SharpnessAwareRule, B: Optimizer>(_ make: () -> SharpnessAwareMinimizer<R, B>, _ label: String) throws {
        var straight = make(), model = smallMLP()
        for batch in batches { classificationStep(&straight, &model, batch) }

        var first = make(), resumedModel = smallMLP()
        for batch in batches.prefix(2) { classificationStep(&first, &resumedModel, batch) }
        let saved = first.state
        var second = make()
        try second.restore(saved)
        #expect(second.state == saved || label == "esam", "\(label): state round trip")  // ESAM's generator words may be NaN bit patterns
        #expect(second.step == 2)
        for batch in batches.dropFirst(2) { classificationStep(&second, &resumedModel, batch) }
        #expect(resumedModel.parameters == model.parameters, "\(label): resumed run differs")
        #expect(second.step == straight.step)
    }
    let sgd = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3)
    try check({ SharpnessAwareMinimizer(rule: LookSAM(rho: 0.1, interval: 3, alpha: 0.7), base: sgd) }, "looksam")
    try check({ SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.1, sigma: 1, lambda: 0.6), base: sgd) }, "fsam")
    try check({ SharpnessAwareMinimizer(rule: FriendlySAM(rho: 0.1), base: Adam(learningRate: 0.01)) }, "fsam-adam")
    try check({ SharpnessAwareMinimizer(rule: ESAM(rho: 0.1, beta: 0.5, gamma: 0.5, seed: 9), base: sgd) }, "esam")
    try check({ SharpnessAwareMinimizer(rule: SAM(rho: 0.1), base: sgd) }, "sam")
    try check({ SharpnessAwareMinimizer(rule: NoPerturbation(), base: sgd) }, "sgd-momentum")
}

@Test func restoreRejectsForeignOrIncompleteState() {
    var looksam = SharpnessAwareMinimizer(rule: LookSAM(rho: 0.1, interval: 3), base: SGD(learningRate: 0.1, momentum: 0.9))
    var model = smallMLP()
    classificationStep(&looksam, &model, ClassificationBatch(n: 4, shape: [4], classes: 3, seed: 1))
    let saved = looksam.state
    #expect(saved.tensors.keys.contains { $0.hasPrefix("rule.orthogonal.") })
    var fsam = SharpnessAwareMinimizer(rule: FriendlySAM(), base: SGD(learningRate: 0.1, momentum: 0.9))
    #expect(throws: OptimizerStateError.self) { try fsam.restore(saved) }
    var sam = SharpnessAwareMinimizer(rule: SAM(), base: SGD(learningRate: 0.1, momentum: 0.9))
    #expect(throws: OptimizerStateError.self) { try sam.restore(saved) }
    var missingStep = saved
    missingStep.scalars["sam_step"] = nil
    var again = SharpnessAwareMinimizer(rule: LookSAM(rho: 0.1, interval: 3), base: SGD(learningRate: 0.1, momentum: 0.9))
    #expect(throws: OptimizerStateError.missingKey("sam_step")) { try again.restore(missingStep) }
}
