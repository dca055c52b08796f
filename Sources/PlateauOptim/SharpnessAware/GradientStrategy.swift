import PlateauNN
import PlateauTensor

/// How a step's gradients are evaluated over its batch, beside the rule and independent of it:
///
/// - **m-sharpness** (Foret et al. 2021, §4.1): the batch splits into chunks of m samples,
///   each with its own perturbation ε_c = rule(g_c) and its own g_p,c = ∇L_c(w + ε_c); the
///   step's g and g_p are the chunk gradients averaged by size.
/// - **Micro-batching** (gradient accumulation): no pass sees more than `microBatchSize`
///   samples. It changes memory, not the method: ε still comes from its group's whole
///   gradient, and every micro-batch is re-run at w + ε with the dropout masks of its first
///   pass.
///
/// A "group" is whatever shares one ε: today the m-sharpness chunks (or the whole batch);
/// per-task perturbations (F-MTL: each task's loss perturbed separately) would be groups
/// formed by task instead of by sample.
public struct GradientStrategy: Sendable, Equatable {
    /// Samples per pass (`nil`: the whole batch at once).
    public var microBatchSize: Int?
    /// m for m-sharpness: an independent perturbation per chunk of m samples (`nil`: one ε).
    public var sharpnessChunkSize: Int?

    /// A strategy with the given micro-batch size and m-sharpness chunk size (`nil`: none).
    ///
    /// - Precondition: each size, when given, is positive.
    public init(microBatchSize: Int? = nil, sharpnessChunkSize: Int? = nil) {
        precondition(microBatchSize.map { $0 > 0 } ?? true, "SharpnessAwareMinimizer: micro-batch size must be positive")
        precondition(sharpnessChunkSize.map { $0 > 0 } ?? true, "SharpnessAwareMinimizer: m-sharpness chunk size must be positive")
        self.microBatchSize = microBatchSize
        self.sharpnessChunkSize = sharpnessChunkSize
    }
}

/// One step's passes over a batch under a ``GradientStrategy``: the first pass at w per
/// group and micro-batch (keeping the model before each micro-batch, so that the second
/// pass replays its dropout masks), then a second pass per group at w + ε. Accumulates the
/// step's per-sample losses and pass count for the report.
struct BatchPasses<Model: Module> {
    let batchSize: Int
    /// Batch positions sharing one ε, in batch order.
    let groups: [[Int]]
    /// Each group's micro-batches.
    private let microBatches: [[[Int]]]
    private let microBatchSize: Int
    /// The model before each micro-batch of the first pass, by group.
    private var snapshots: [[Model]] = []
    private(set) var sampleLosses: [Float] = []
    /// Forward–backward passes over the batch, partial passes counted by their fraction.
    private(set) var passes: Float = 1

    init(batchSize: Int, strategy: GradientStrategy) {
        precondition(batchSize > 0, "SharpnessAwareMinimizer.step: empty batch")
        precondition(strategy.microBatchSize.map { $0 > 0 } ?? true, "SharpnessAwareMinimizer: micro-batch size must be positive")
        precondition(strategy.sharpnessChunkSize.map { $0 > 0 } ?? true, "SharpnessAwareMinimizer: m-sharpness chunk size must be positive")
        self.batchSize = batchSize
        let groupSize = Swift.min(strategy.sharpnessChunkSize ?? batchSize, batchSize)
        groups = stride(from: 0, to: batchSize, by: groupSize).map { Array($0..<Swift.min($0 + groupSize, batchSize)) }
        let size = strategy.microBatchSize ?? batchSize
        microBatchSize = size
        microBatches = groups.map { Self.split($0, by: size) }
        sampleLosses.reserveCapacity(batchSize)
    }

    /// The first pass, g = ∇L(w): each group's gradient and the batch's. `model` keeps the
    /// pass's buffer updates (BatchNorm statistics, dropout generators).
    mutating func gradients(at model: inout Model, loss: (inout Model, LossRequest) -> Tensor) -> (groups: [ParameterSet], batch: ParameterSet) {
        var groupGradients: [ParameterSet] = []
        for (group, chunks) in zip(groups, microBatches) {
            var parts: [ParameterSet] = [], before: [Model] = []
            for samples in chunks {
                before.append(model)
                var perSample: Tensor = Tensor(0)
                let result = valueWithGradient(at: model) { (m: inout Model) -> Tensor in
                    perSample = loss(&m, request(.parameters, samples))
                    return perSample.mean()
                }
                model = result.model
                parts.append(result.gradient)
                sampleLosses += perSample.scalars
            }
            groupGradients.append(Self.weightedSum(parts, chunks.map { Float($0.count) / Float(group.count) }))
            snapshots.append(before)
        }
        precondition(sampleLosses.count == batchSize, "SharpnessAwareMinimizer.step: the loss returned \(sampleLosses.count) per-sample values for a batch of \(batchSize)")
        return (groupGradients, combined(groupGradients))
    }

    /// The second pass of group `g` at `point` = w + ε_g, from the models of the first pass
    /// (same dropout masks; their buffer updates are discarded). `selection` may narrow the
    /// samples back-propagated (ESAM); the gradient is the mean over those it keeps.
    mutating func perturbedGradient(
        group g: Int, at point: ParameterSet, selection: (any SampleSelectingRule)?, loss: (inout Model, LossRequest) -> Tensor
    ) -> ParameterSet {
        var chunks = microBatches[g]
        var models = snapshots[g].map { snapshot in
            var copy = snapshot
            copy.update(point)
            return copy
        }
        if let selection {
            var scored = false
            let kept = selection.secondPassSamples(count: groups[g].count) {
                scored = true
                return sharpness(of: g, models: models, loss: loss)
            }
            if scored { passes += Float(groups[g].count) / Float(batchSize) / 3 }  // forward only: about a third of a pass
            if let kept {
                chunks = Self.split(kept.map { groups[g][$0] }, by: microBatchSize)
                models = Array(repeating: models[0], count: chunks.count)
            }
        }
        let selectedCount = chunks.reduce(0) { $0 + $1.count }
        var parts: [ParameterSet] = []
        for (samples, start) in zip(chunks, models) {
            let result = valueWithGradient(at: start) { (m: inout Model) -> Tensor in
                loss(&m, request(.perturbed, samples)).mean()
            }
            parts.append(result.gradient)
            passes += Float(samples.count) / Float(batchSize)
        }
        return Self.weightedSum(parts, chunks.map { Float($0.count) / Float(selectedCount) })
    }

    /// What the step did, with the batch gradient g and the largest ‖ε‖ of its groups.
    func report(gradient: ParameterSet, perturbationNorm: Float) -> StepReport {
        let meanLoss = sampleLosses.reduce(0, +) / Float(batchSize)
        return StepReport(loss: meanLoss, sampleLosses: sampleLosses, passes: passes, perturbationNorm: perturbationNorm, gradient: gradient)
    }

    /// The batch's gradient from its groups' (each weighted by its share of the batch).
    func combined(_ groupGradients: [ParameterSet]) -> ParameterSet {
        Self.weightedSum(groupGradients, groups.map { Float($0.count) / Float(batchSize) })
    }

    /// ℓᵢ(w + ε) − ℓᵢ(w) for the samples of group `g`, from gradient-free forwards of the
    /// perturbed models, one per micro-batch.
    private func sharpness(of g: Int, models: [Model], loss: (inout Model, LossRequest) -> Tensor) -> [Float] {
        var perturbedLosses: [Float] = []
        for (samples, model) in zip(microBatches[g], models) {
            var scratch = model
            perturbedLosses += withoutGradients { loss(&scratch, request(.perturbed, samples)) }.scalars
        }
        return zip(perturbedLosses, groups[g]).map { $0 - sampleLosses[$1] }
    }

    /// A request names its samples unless it covers the whole batch in order.
    private func request(_ point: LossRequest.Point, _ positions: [Int]) -> LossRequest {
        LossRequest(point: point, samples: positions.count == batchSize ? nil : positions)
    }

    /// `positions` in consecutive runs of at most `size`.
    private static func split(_ positions: [Int], by size: Int) -> [[Int]] {
        stride(from: 0, to: positions.count, by: size).map { Array(positions[$0..<Swift.min($0 + size, positions.count)]) }
    }

    /// Σ wᵢ·setᵢ, accumulated left to right (a single set is returned as is).
    private static func weightedSum(_ sets: [ParameterSet], _ weights: [Float]) -> ParameterSet {
        if sets.count == 1 { return sets[0] }
        var total = sets[0].scaled(by: weights[0])
        for (set, w) in zip(sets.dropFirst(), weights.dropFirst()) { total = total + set.scaled(by: w) }
        return total
    }
}
