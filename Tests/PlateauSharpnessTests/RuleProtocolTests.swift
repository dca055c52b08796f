import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

// The rule protocol's contract with the driver: when each requirement runs, what a rule
// sees, and which rules carry the optional hooks.

/// Counts the driver's calls into a rule (rules are values, so the counts live outside).
private final class CallLog: @unchecked Sendable {
    var prepares: [StepContext] = []
    var perturbations: [StepContext] = []
    var directions = 0
}

/// SAM that records every call it receives.
private struct RecordingSAM: SharpnessAwareRule {
    let log: CallLog
    var name: String { "recording" }

    mutating func prepare(gradient: ParameterSet, context: StepContext) { log.prepares.append(context) }

    func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        log.perturbations.append(context)
        return gradient.normalized(toRadius: 0.1)
    }

    mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        log.directions += 1
        return perturbedGradient ?? gradient
    }
}

/// Perturbs every parameter by the same constant, whatever the gradient.
private struct ConstantPerturbation: SharpnessAwareRule {
    var name: String { "constant" }
    func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        parameters.map { Tensor.ones($0.shape) * 0.01 }
    }
}

/// The shape of TRAM (a later issue): ρ_t = scale · (a value measured on the batch), read
/// from the step context; no second pass when the caller measured nothing.
private struct MeasuredRadius: SharpnessAwareRule {
    var scale: Float
    var name: String { "measured" }
    func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        context.measurement.map { gradient.normalized(toRadius: scale * $0) }
    }
}

/// The parameters each second-pass request saw.
private func perturbedPoints<R: SharpnessAwareRule, B: Optimizer, M: Layer>(
    _ minimizer: inout SharpnessAwareMinimizer<R, B>, _ model: inout M, _ batch: ClassificationBatch
) -> [ParameterSet] {
    var points: [ParameterSet] = []
    minimizer.step(&model, batchSize: batch.count) { (m: inout M, request: LossRequest) -> Tensor in
        if request.point == .perturbed { points.append(m.parameters.detached) }
        return batch.loss(&m, request)
    }
    return points
}

@Test func prepareAndDescentRunOncePerStepPerturbationOncePerGroup() {
    let batch = ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 40)
    for (chunk, micro, groups) in [(nil, nil, 1), (4, nil, 2), (2, nil, 4), (4, 3, 2), (nil, 3, 1), (3, nil, 3)] as [(Int?, Int?, Int)] {
        let log = CallLog()
        var model = smallMLP()
        var minimizer = SharpnessAwareMinimizer(
            rule: RecordingSAM(log: log), base: SGD(learningRate: 0.1), microBatchSize: micro, sharpnessChunkSize: chunk)
        for _ in 0..<3 { classificationStep(&minimizer, &model, batch) }
        let label = "m = \(String(describing: chunk)), micro-batch \(String(describing: micro))"
        #expect(log.prepares.map(\.step) == [0, 1, 2], "\(label)")
        #expect(log.prepares.allSatisfy { $0.groupCount == groups && $0.group == 0 }, "\(label)")
        #expect(log.directions == 3, "\(label)")
        #expect(log.perturbations.map(\.group) == Array(repeating: Array(0..<groups), count: 3).flatMap { $0 }, "\(label)")
        #expect(log.perturbations.map(\.step) == [0, 1, 2].flatMap { Array(repeating: $0, count: groups) }, "\(label)")
    }
}

@Test func friendlySAMAverageAdvancesOncePerStepUnderMSharpness() throws {
    // m ← λ·m + (1 − λ)·g once per step from the batch gradient g, whatever m-sharpness does;
    // chunk c is then perturbed along g_c − σ·m: m_t in the paper's form (m starting at 0),
    // m_{t−1} in the official one (m starting at g₀, the first step perturbing along g_c).
    let batches = (0..<3).map { ClassificationBatch(n: 8, shape: [4], classes: 3, seed: 41 + UInt64($0)) }
    let (rho, sigma, lambda): (Float, Float, Float) = (0.2, 1, 0.6)
    for form in FriendlySAM.Form.allCases {
    for chunk in [nil, 4, 2] as [Int?] {
        var model = smallMLP()
        var fsam = SharpnessAwareMinimizer(
            rule: FriendlySAM(rho: rho, sigma: sigma, lambda: lambda, form: form), base: SGD(learningRate: 0.1), sharpnessChunkSize: chunk)
        var expected: ParameterSet? = nil
        for batch in batches {
            let w = model.parameters
            var points: [ParameterSet] = []
            let report = fsam.step(&model, batchSize: batch.count) { (m: inout MLP, request: LossRequest) -> Tensor in
                if request.point == .perturbed { points.append(m.parameters.detached) }
                return batch.loss(&m, request)
            }
            let g = report.gradient
            let previous = expected
            expected = expected.map { $0.scaled(by: lambda) + g.scaled(by: 1 - lambda) } ?? g.scaled(by: form == .paper ? 1 - lambda : 1)
            let average = try #require(fsam.rule.gradientAverage)
            #expect(average == expected!, "\(form), m = \(String(describing: chunk)): the average advanced more than once")
            // Each chunk's ε is ρ·(g_c − σ·m)/‖g_c − σ·m‖ with this step's m (paper) or the last
            // step's (official).
            let subtracted = form == .paper ? Optional(average) : previous
            let size = chunk ?? 8
            #expect(points.count == 8 / size)
            for (c, point) in points.enumerated() {
                let request = LossRequest(point: .parameters, samples: size == 8 ? nil : Array(c * size..<(c + 1) * size))
                var atW = model
                atW.update(w)
                let gc = valueWithGradient(at: atW) { (m: inout MLP) -> Tensor in batch.loss(&m, request).mean() }.gradient
                let direction = subtracted.map { gc - $0.scaled(by: sigma) } ?? gc
                #expect(close(point - w, direction.scaled(by: rho / direction.norm()), relative: 1e-4, absolute: 1e-6), "\(form), chunk \(c)")
            }
        }
    }
    }
}

@Test func perturbationOfAParameterSubsetLeavesTheOthersUnperturbed() {
    // SAR's choice: only the BatchNorm affine parameters ("1.weight", "1.bias") move to w + ε.
    let batch = ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 42)
    let subset: @Sendable (String) -> Bool = { $0.hasPrefix("1.") }
    func check<R: SharpnessAwareRule>(_ rule: R, chunk: Int? = nil) {
        var model = smallConvBN()
        let w = model.parameters
        var minimizer = SharpnessAwareMinimizer(rule: rule, base: SGD(learningRate: 0.1), sharpnessChunkSize: chunk, perturbs: subset)
        let points = perturbedPoints(&minimizer, &model, batch)
        #expect(!points.isEmpty, "\(rule.name)")
        for point in points {
            for key in w.keys where !subset(key) {
                #expect(point[key]!.scalars.map(\.bitPattern) == w[key]!.scalars.map(\.bitPattern), "\(rule.name): \(key) was perturbed")
            }
            #expect(w.keys.filter(subset).contains { point[$0]! != w[$0]! }, "\(rule.name): the subset was not perturbed")
        }
        // The descent still updates the unperturbed parameters.
        #expect(model.parameters["4.weight"]! != w["4.weight"]!, "\(rule.name)")
    }
    // A rule that ignores the gradient: the driver itself keeps ε inside the subset.
    check(ConstantPerturbation())
    check(ConstantPerturbation(), chunk: 2)
    check(SAM(rho: 0.1))
    check(SAM(rho: 0.1), chunk: 3)
    check(ASAM(rho: 0.5, eta: 0.01))
    check(GSAM(radius: .constant(0.1), alpha: 0.4))
    check(LookSAM(rho: 0.1, interval: 2, alpha: 0.7))
    check(ESAM(rho: 0.1, beta: 1, gamma: 0.5))
    check(WSAM(rho: 0.1, gamma: 0.8))
    check(FriendlySAM(rho: 0.1))
}

@Test func onlyESAMSelectsSamplesAndOnlyWSAMCorrectsAfterTheBaseUpdate() {
    let rules: [any SharpnessAwareRule] = [
        NoPerturbation(), SAM(), ASAM(), GSAM(maximumLearningRate: 0.1), LookSAM(), ESAM(), WSAM(), WSAM(decoupled: false), FriendlySAM(),
    ]
    for rule in rules {
        #expect((rule is any SampleSelectingRule) == (rule.name == "esam"), "\(rule.name)")
        #expect((rule is any DecoupledRule) == (rule.name == "wsam"), "\(rule.name)")
    }
    // ESAM's plateau form keeps round(γ·n) samples and scores only when that is fewer than n.
    let esam = ESAM(gamma: 0.5, form: .plateau)
    var scored = 0
    #expect(esam.secondPassSamples(count: 4, sharpness: { scored += 1; return [0.5, 3, -1, 3] }) == [1, 3])
    #expect(esam.secondPassSamples(count: 1, sharpness: { scored += 1; return [0] }) == nil)
    #expect(scored == 1)
    // Coupled WSAM hands everything to the base optimizer.
    let g = ParameterSet([("w", Tensor([1, 2]))])
    #expect(WSAM(decoupled: false).decoupledCorrection(gradient: g, perturbedGradient: g) == nil)
    #expect(WSAM(gamma: 0.75).decoupledCorrection(gradient: g, perturbedGradient: g.scaled(by: 2)) == g.scaled(by: 3))
}

@Test func aRadiusMeasuredOnTheBatchReachesTheRule() {
    // The measurement runs once per step, at w, without gradients, on a copy: BatchNorm's
    // running statistics still come from the first pass only.
    let batch = ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 43)
    var model = smallConvBN(), reference = model
    var minimizer = SharpnessAwareMinimizer(rule: MeasuredRadius(scale: 0.5), base: SGD(learningRate: 0.1))
    var plain = SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.1))
    for step in 0..<2 {
        var measured: [Float] = []
        let report = minimizer.step(&model, batchSize: batch.count, measure: { (m: inout Sequential) -> Float in
            #expect(!GradientRecording.isRecording)
            let value = batch.loss(&m, LossRequest(point: .parameters, samples: nil)).mean().scalars[0]
            measured.append(value)
            return value
        }, loss: { (m: inout Sequential, request: LossRequest) -> Tensor in batch.loss(&m, request) })
        classificationStep(&plain, &reference, batch)
        #expect(measured.count == 1)
        #expect(abs(report.perturbationNorm - 0.5 * measured[0]) < 1e-5 * measured[0])
        #expect(abs(report.loss - measured[0]) < 1e-5 * measured[0])  // the same batch at the same w
        #expect(report.passes == 2)
        if step == 0 { #expect(model.buffers == reference.buffers) }  // from the same w
    }
    // Without a measurement the rule takes no second pass.
    let report = classificationStep(&minimizer, &model, batch)
    #expect(report.passes == 1 && report.perturbationNorm == 0)
}
