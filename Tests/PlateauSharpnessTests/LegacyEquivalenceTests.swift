import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

// Pins the issue-9 redesign of the driver to the old one: every method × option combination
// must give bit-identical weights, buffers, dropout state, step reports, loss requests and
// base-optimizer state to the frozen copy in `LegacyDriver.swift`, step after step.
//
// The one allowed difference: FriendlySAM's moving average used to advance once per
// m-sharpness group; it now advances once per step (from the batch gradient), which the
// reference models with `oncePerStep`.
//
// The legacy copy predates issue 10, so ESAM runs here in its `plateau` form (ε normalized by
// the full gradient, the ⌊γn⌉ sharpest samples) and FriendlySAM in its `paper` form (m from
// zero, ε from the updated m): the old behaviour. The `official` defaults are pinned by the
// hand-computed tests in `RuleStepTests.swift`.

/// The driver's options, as combined by the tests below.
struct DriverMode: Sendable, CustomStringConvertible {
    var label: String
    var micro: Int? = nil
    var chunk: Int? = nil
    var subset = false
    var clip: Float? = nil

    var description: String { label }
    /// Several ε per step.
    var hasGroups: Bool { chunk != nil }

    static let all: [DriverMode] = [
        DriverMode(label: "plain"),
        DriverMode(label: "micro-batch 4", micro: 4),
        DriverMode(label: "micro-batch 5", micro: 5),
        DriverMode(label: "m-sharpness 4", chunk: 4),
        DriverMode(label: "m-sharpness 5", chunk: 5),
        DriverMode(label: "m-sharpness 4, micro-batch 3", micro: 3, chunk: 4),
        DriverMode(label: "parameter subset", subset: true),
        DriverMode(label: "max gradient norm", clip: 0.05),
        DriverMode(label: "everything", micro: 3, chunk: 4, subset: true, clip: 0.05),
    ]
}

/// Every method the library ships, with its base optimizer.
enum LegacyMethod: String, CaseIterable, Sendable, CustomStringConvertible {
    case sgd, adam, adamw, sam, samAdamW, asam, gsam, looksam, esam, esamWithoutSelection, wsam, wsamCoupled, wsamAdam, fsam

    var description: String { rawValue }
}

private struct Call: Equatable {
    var perturbed: Bool
    var samples: [Int]?
}

private func bits(_ set: ParameterSet) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: set.entries.map { ($0.key, $0.value.scalars.map(\.bitPattern)) })
}

/// The report's values bit for bit, but ‖ε‖: for a ``GradientScalingRule`` the driver now
/// reports |c|·‖g‖ instead of measuring ε, which agrees to rounding (see
/// ``samePerturbationNorm(_:_:)``) — the weights, which w + c·g gives, stay bit-identical.
private func bits(_ report: StepReport) -> [UInt32] {
    [report.loss.bitPattern, report.passes.bitPattern] + report.sampleLosses.map(\.bitPattern)
}

/// ‖ε‖ equal within 4 units in the last place.
private func samePerturbationNorm(_ a: StepReport, _ b: StepReport) -> Bool {
    abs(a.perturbationNorm - b.perturbationNorm) <= 4 * max(a.perturbationNorm, b.perturbationNorm).ulp
}

/// `steps` steps of the current driver and of the legacy one from the same model; records
/// an expectation failure naming the first difference.
private func compare<R: SharpnessAwareRule, B: Optimizer, M: Layer>(
    _ label: String, _ rule: R, _ legacyRule: LegacyRule, _ base: B, _ mode: DriverMode, _ initial: M,
    subset: @escaping @Sendable (String) -> Bool, batches: [ClassificationBatch], expectEqual: Bool = true,
    sameDropout: (M, M) -> Bool = { _, _ in true }
) {
    let perturbs: (@Sendable (String) -> Bool)? = mode.subset ? subset : nil
    var current = SharpnessAwareMinimizer(
        rule: rule, base: base, microBatchSize: mode.micro, sharpnessChunkSize: mode.chunk,
        perturbs: perturbs, maxGradientNorm: mode.clip)
    var legacy = LegacyMinimizer<B>(
        rule: legacyRule, base: base, microBatchSize: mode.micro, sharpnessChunkSize: mode.chunk,
        perturbs: perturbs, maxGradientNorm: mode.clip)
    var a = initial, b = initial
    var identical = true
    for (t, batch) in batches.enumerated() {
        let learningRate = base.learningRate * (1 - 0.25 * Float(t))
        current.learningRate = learningRate
        legacy.base.learningRate = learningRate
        var currentCalls: [Call] = [], legacyCalls: [Call] = []
        let r1 = current.step(&a, batchSize: batch.count) { (m: inout M, request: LossRequest) -> Tensor in
            currentCalls.append(Call(perturbed: request.point == .perturbed, samples: request.samples))
            return batch.loss(&m, request)
        }
        let r2 = legacy.step(&b, batchSize: batch.count) { (m: inout M, request: LossRequest) -> Tensor in
            legacyCalls.append(Call(perturbed: request.point == .perturbed, samples: request.samples))
            return batch.loss(&m, request)
        }
        guard expectEqual else {
            identical = identical && bits(a.stateDictionary) == bits(b.stateDictionary)
            continue
        }
        #expect(bits(a.stateDictionary) == bits(b.stateDictionary), "\(label), \(mode): weights or buffers differ after step \(t + 1)")
        #expect(sameDropout(a, b), "\(label), \(mode): dropout state differs after step \(t + 1)")
        #expect(bits(r1) == bits(r2), "\(label), \(mode): report differs at step \(t + 1)")
        #expect(samePerturbationNorm(r1, r2), "\(label), \(mode): ‖ε‖ \(r1.perturbationNorm) vs \(r2.perturbationNorm) at step \(t + 1)")
        #expect(bits(r1.gradient) == bits(r2.gradient), "\(label), \(mode): reported gradient differs at step \(t + 1)")
        #expect(currentCalls == legacyCalls, "\(label), \(mode): loss requests differ at step \(t + 1)")
    }
    if expectEqual {
        #expect(current.base.state == legacy.base.state, "\(label), \(mode): base optimizer state differs")
        #expect(current.step == legacy.step)
    } else {
        #expect(!identical, "\(label), \(mode): expected a difference from the legacy behaviour")
    }
}

/// Runs `method` under `mode` on `model` against the legacy driver.
private func compare<M: Layer>(
    _ method: LegacyMethod, _ mode: DriverMode, _ model: M, subset: @escaping @Sendable (String) -> Bool,
    batches: [ClassificationBatch], sameDropout: @escaping (M, M) -> Bool = { _, _ in true }
) {
    let sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true)
    let label = "\(method)"
    func run<R: SharpnessAwareRule, B: Optimizer>(_ rule: R, _ legacy: LegacyRule.Kind, _ base: B, seed: UInt64 = 0) {
        compare(label, rule, LegacyRule(legacy, seed: seed), base, mode, model, subset: subset, batches: batches, sameDropout: sameDropout)
    }
    switch method {
    case .sgd: run(NoPerturbation(), .none, sgd)
    case .adam: run(NoPerturbation(), .none, Adam(learningRate: 0.01, weightDecay: 1e-3))
    case .adamw: run(NoPerturbation(), .none, AdamW(learningRate: 0.01, weightDecay: 1e-2))
    case .sam: run(SAM(rho: 0.1), .sam(rho: 0.1), sgd)
    case .samAdamW: run(SAM(rho: 0.1), .sam(rho: 0.1), AdamW(learningRate: 0.01, weightDecay: 1e-2))
    case .asam: run(ASAM(rho: 0.5, eta: 0.01), .asam(rho: 0.5, eta: 0.01), sgd)
    case .gsam:
        run(GSAM(rhoMax: 0.1, rhoMin: 0.02, maximumLearningRate: 0.1, minimumLearningRate: 0, alpha: 0.4),
            .gsam(rhoMax: 0.1, rhoMin: 0.02, maximumLearningRate: 0.1, minimumLearningRate: 0, alpha: 0.4), sgd)
    case .looksam: run(LookSAM(rho: 0.1, interval: 2, alpha: 0.7), .looksam(rho: 0.1, interval: 2, alpha: 0.7), sgd)
    case .esam: run(ESAM(rho: 0.1, beta: 0.6, gamma: 0.5, seed: 7, form: .plateau), .esam(rho: 0.1, beta: 0.6, gamma: 0.5), sgd, seed: 7)
    case .esamWithoutSelection: run(ESAM(rho: 0.1, beta: 0.6, gamma: 1, seed: 3, form: .plateau), .esam(rho: 0.1, beta: 0.6, gamma: 1), sgd, seed: 3)
    case .wsam: run(WSAM(rho: 0.1, gamma: 0.8), .wsam(rho: 0.1, gamma: 0.8, decoupled: true), sgd)
    case .wsamCoupled: run(WSAM(rho: 0.1, gamma: 0.8, decoupled: false), .wsam(rho: 0.1, gamma: 0.8, decoupled: false), sgd)
    case .wsamAdam: run(WSAM(rho: 0.1, gamma: 0.8), .wsam(rho: 0.1, gamma: 0.8, decoupled: true), Adam(learningRate: 0.01))
    case .fsam:
        let rule = FriendlySAM(rho: 0.1, sigma: 1, lambda: 0.6, form: .paper)
        run(rule, .fsam(rho: 0.1, sigma: 1, lambda: 0.6, oncePerStep: true), sgd)
        if mode.hasGroups {
            // The one intended change: the old per-group average gives other weights.
            compare(label, rule, LegacyRule(.fsam(rho: 0.1, sigma: 1, lambda: 0.6, oncePerStep: false)), sgd, mode, model,
                    subset: subset, batches: batches, expectEqual: false)
        }
    }
}

private let mlpBatches = (0..<4).map { ClassificationBatch(n: 12, shape: [4], classes: 3, seed: 900 + UInt64($0)) }
private let imageBatches = (0..<3).map { ClassificationBatch(n: 12, shape: [2, 4, 4], classes: 3, seed: 950 + UInt64($0)) }

@Test(arguments: LegacyMethod.allCases)
func bitIdenticalToTheLegacyDriverOnADropoutMLP(_ method: LegacyMethod) {
    for mode in DriverMode.all {
        compare(method, mode, DropoutMLP(), subset: { $0.hasPrefix("first.") }, batches: mlpBatches,
                sameDropout: { $0.dropout.generator == $1.dropout.generator })
    }
}

@Test(arguments: LegacyMethod.allCases)
func bitIdenticalToTheLegacyDriverWithBatchNorm(_ method: LegacyMethod) {
    // BatchNorm's affine parameters only, as SAR perturbs them.
    for mode in [DriverMode.all[0], DriverMode.all[5], DriverMode.all[6]] {
        compare(method, mode, smallConvBN(), subset: { $0.hasPrefix("1.") }, batches: imageBatches)
    }
}
