import PlateauNN
import PlateauTensor

/// Which evaluation of the loss a ``SharpnessAwareMinimizer`` asks for.
public struct LossRequest: Sendable {
    /// Where the weights are: at w (the first pass, whose outputs are the step's statistics)
    /// or at w + ε.
    public enum Point: Sendable { case parameters, perturbed }

    public var point: Point
    /// Positions within the batch to evaluate (a micro-batch, an m-sharpness chunk or
    /// ESAM's selected samples); `nil` means the whole batch.
    public var samples: [Int]?

    public init(point: Point, samples: [Int]?) {
        self.point = point
        self.samples = samples
    }
}

/// What one step did.
public struct StepReport: Sendable {
    /// The mean loss at the unperturbed weights: use it for training statistics.
    public var loss: Float
    /// Per-sample losses at the unperturbed weights, in batch order.
    public var sampleLosses: [Float]
    /// Forward–backward passes over the batch, counting partial passes by their fraction.
    public var passes: Float
    /// ‖ε‖ (0 when the step took no second pass).
    public var perturbationNorm: Float
    /// g = ∇L_B(w), the batch gradient at the unperturbed weights, before clipping.
    public var gradient: ParameterSet
    /// ‖g‖, computed on demand: a pass over every parameter that most steps do not need.
    public var gradientNorm: Float { gradient.norm() }
}

/// Runs any ``SharpnessAwareRule`` around any base ``Optimizer`` (SAM's two-pass scheme,
/// Foret et al. 2021, generalized):
///
/// 1. g = ∇L_B(w) on the batch; BatchNorm running statistics update here only.
/// 2. ε = rule.perturbation(w, g); if `nil`, skip to 4 with g_p = nil.
/// 3. g_p = ∇L_B(w + ε) on the same batch, same dropout masks, statistics discarded.
/// 4. d = rule.descentDirection(g, g_p), clipped by global norm if asked (the final
///    gradient only — clipping g would be a no-op since ε normalizes it).
/// 5. w ← base.update(w, d), plus any decoupled correction.
///
/// Beyond the reference implementations it supports: gradient accumulation over
/// micro-batches (ε from the full-batch gradient, then every micro-batch re-run at w + ε),
/// m-sharpness (an independent ε per chunk of m samples), and restricting ε to a subset of
/// parameters (e.g. normalization affine parameters only, as SAR does).
///
/// With ``NoPerturbation`` it is exactly the base optimizer at one pass per step.
public struct SharpnessAwareMinimizer<Rule: SharpnessAwareRule, Base: Optimizer>: Sendable {
    public var rule: Rule
    public var base: Base
    /// Samples per micro-batch for gradient accumulation (`nil`: the whole batch at once).
    public var microBatchSize: Int?
    /// m for m-sharpness: an independent perturbation per chunk of m samples (`nil`: one ε).
    public var sharpnessChunkSize: Int?
    /// Only parameters whose path satisfies this are perturbed (`nil`: all).
    public var perturbs: (@Sendable (String) -> Bool)?
    /// Global-norm clipping of the final direction (`nil`: none).
    public var maxGradientNorm: Float?
    /// Optimizer steps taken.
    public private(set) var step = 0

    public init(
        rule: Rule, base: Base, microBatchSize: Int? = nil, sharpnessChunkSize: Int? = nil,
        perturbs: (@Sendable (String) -> Bool)? = nil, maxGradientNorm: Float? = nil
    ) {
        precondition(microBatchSize.map { $0 > 0 } ?? true, "SharpnessAwareMinimizer: micro-batch size must be positive")
        precondition(sharpnessChunkSize.map { $0 > 0 } ?? true, "SharpnessAwareMinimizer: m-sharpness chunk size must be positive")
        self.rule = rule
        self.base = base
        self.microBatchSize = microBatchSize
        self.sharpnessChunkSize = sharpnessChunkSize
        self.perturbs = perturbs
        self.maxGradientNorm = maxGradientNorm
    }

    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }

    /// One optimization step of `model` on a batch of `batchSize` samples.
    ///
    /// - Parameter loss: per-sample losses (shape `[n]`) of the requested samples with the
    ///   model as given. Gradients are of the batch mean.
    @discardableResult
    public mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport {
        precondition(batchSize > 0, "SharpnessAwareMinimizer.step: empty batch")
        let context = StepContext(step: step, learningRate: base.learningRate)
        let parameters = model.parameters

        // Groups share one ε: the m-sharpness chunks, or the whole batch. Micro-batches split
        // each group further and only bound how many samples one pass sees.
        let groupSize = Swift.min(sharpnessChunkSize ?? batchSize, batchSize)
        let groups = stride(from: 0, to: batchSize, by: groupSize).map { Array($0..<Swift.min($0 + groupSize, batchSize)) }
        let microSize = microBatchSize ?? batchSize
        func microBatches(_ positions: [Int]) -> [[Int]] {
            stride(from: 0, to: positions.count, by: microSize).map { Array(positions[$0..<Swift.min($0 + microSize, positions.count)]) }
        }
        // A request names its samples unless it covers the whole batch in order.
        func request(_ point: LossRequest.Point, _ positions: [Int]) -> LossRequest {
            LossRequest(point: point, samples: positions.count == batchSize ? nil : positions)
        }

        // Pass 1 at w, keeping BatchNorm statistics. The model before each micro-batch is
        // kept so that its second pass replays the same dropout masks.
        var groupGradients: [ParameterSet] = []
        var snapshots: [[Model]] = []
        var micro: [[[Int]]] = []
        var sampleLosses: [Float] = []
        sampleLosses.reserveCapacity(batchSize)
        for group in groups {
            var parts: [ParameterSet] = [], before: [Model] = []
            let chunks = microBatches(group)
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
            groupGradients.append(weightedSum(parts, chunks.map { Float($0.count) / Float(group.count) }))
            snapshots.append(before)
            micro.append(chunks)
        }
        precondition(sampleLosses.count == batchSize, "SharpnessAwareMinimizer.step: the loss returned \(sampleLosses.count) per-sample values for a batch of \(batchSize)")
        let groupWeights = groups.map { Float($0.count) / Float(batchSize) }
        let gradient = weightedSum(groupGradients, groupWeights)
        var passes: Float = 1

        // Pass 2 at w + ε_group on the same samples and dropout masks, statistics discarded.
        var perturbedGradient: ParameterSet? = nil
        var perturbationNorm: Float = 0
        if let firstEpsilon = rule.perturbation(parameters: parameters, gradient: restricted(groupGradients[0]), context: context) {
            var parts: [ParameterSet] = []
            for (g, group) in groups.enumerated() {
                let epsilon = g == 0 ? firstEpsilon
                    : (rule.perturbation(parameters: parameters, gradient: restricted(groupGradients[g]), context: context) ?? firstEpsilon.zeros())
                perturbationNorm = Swift.max(perturbationNorm, epsilon.norm())
                let perturbedParameters = parameters + epsilon
                func perturbed(_ snapshot: Model) -> Model {
                    var copy = snapshot
                    copy.update(perturbedParameters)
                    return copy
                }
                var chunks = micro[g], models = snapshots[g].map(perturbed)
                if let fraction = rule.secondPassFraction {
                    let keep = Swift.max(1, Int((Float(group.count) * fraction).rounded()))
                    if keep < group.count {
                        let selected = sharpestSamples(
                            keep, of: models, chunks: chunks, lossesAtParameters: sampleLosses, request: request, loss: loss)
                        // The scoring pass is forward-only: about a third of a forward–backward pass.
                        passes += Float(group.count) / Float(batchSize) / 3
                        chunks = microBatches(selected)
                        models = Array(repeating: models[0], count: chunks.count)
                    }
                }
                let selectedCount = chunks.reduce(0) { $0 + $1.count }
                var chunkGradients: [ParameterSet] = []
                for (samples, start) in zip(chunks, models) {
                    let result = valueWithGradient(at: start) { (m: inout Model) -> Tensor in
                        loss(&m, request(.perturbed, samples)).mean()
                    }
                    chunkGradients.append(result.gradient)
                    passes += Float(samples.count) / Float(batchSize)
                }
                parts.append(weightedSum(chunkGradients, chunks.map { Float($0.count) / Float(selectedCount) }))
            }
            perturbedGradient = weightedSum(parts, groupWeights)
        }

        var direction = rule.descentDirection(gradient: gradient, perturbedGradient: perturbedGradient, context: context)
        if let maxGradientNorm { clipGradientNorm(&direction, maxNorm: maxGradientNorm) }
        var updated = parameters
        base.update(&updated, along: direction)
        if let perturbedGradient, let correction = rule.decoupledCorrection(gradient: gradient, perturbedGradient: perturbedGradient) {
            updated = updated - correction.scaled(by: context.learningRate)
        }
        model.update(updated)
        step += 1
        let meanLoss = sampleLosses.reduce(0, +) / Float(batchSize)
        return StepReport(loss: meanLoss, sampleLosses: sampleLosses, passes: passes, perturbationNorm: perturbationNorm, gradient: gradient)
    }

    /// The gradient with non-perturbed parameters zeroed, so ε leaves them alone.
    private func restricted(_ gradient: ParameterSet) -> ParameterSet {
        guard let perturbs else { return gradient }
        return gradient.mapWithKeys { key, g in perturbs(key) ? g : Tensor.zeros(g.shape) }
    }

    private func weightedSum(_ sets: [ParameterSet], _ weights: [Float]) -> ParameterSet {
        if sets.count == 1 { return sets[0] }
        var total = sets[0].scaled(by: weights[0])
        for (set, w) in zip(sets.dropFirst(), weights.dropFirst()) { total = total + set.scaled(by: w) }
        return total
    }

    /// ESAM's sharpness-sensitive data selection over one group: gradient-free forwards at
    /// w + ε (one per micro-batch) score each sample by ℓᵢ(w + ε) − ℓᵢ(w); the `keep`
    /// sharpest samples of the group are returned, in batch order.
    private func sharpestSamples<Model: Module>(
        _ keep: Int, of models: [Model], chunks: [[Int]], lossesAtParameters: [Float],
        request: (LossRequest.Point, [Int]) -> LossRequest, loss: (inout Model, LossRequest) -> Tensor
    ) -> [Int] {
        let positions = chunks.flatMap { $0 }
        var after: [Float] = []
        for (samples, model) in zip(chunks, models) {
            var scratch = model
            after += withoutGradients { loss(&scratch, request(.perturbed, samples)) }.scalars
        }
        let ranked = positions.indices.sorted { i, j in
            let si = after[i] - lossesAtParameters[positions[i]], sj = after[j] - lossesAtParameters[positions[j]]
            return si != sj ? si > sj : i < j
        }
        return ranked.prefix(keep).map { positions[$0] }.sorted()
    }

    /// Resumable state: the base optimizer's, the rule's (prefixed `rule.`) and the step count.
    public var state: OptimizerState {
        var combined = base.state
        let ruleState = rule.state
        for (key, value) in ruleState.tensors.entries { combined.tensors["rule." + key] = value }
        for (key, value) in ruleState.scalars { combined.scalars["rule." + key] = value }
        combined.scalars["sam_step"] = Double(step)
        return combined
    }

    public mutating func restore(_ state: OptimizerState) throws {
        var baseState = OptimizerState(), ruleState = OptimizerState()
        for (key, value) in state.tensors.entries {
            if key.hasPrefix("rule.") { ruleState.tensors[String(key.dropFirst(5))] = value } else { baseState.tensors[key] = value }
        }
        for (key, value) in state.scalars where key != "sam_step" {
            if key.hasPrefix("rule.") { ruleState.scalars[String(key.dropFirst(5))] = value } else { baseState.scalars[key] = value }
        }
        guard let savedStep = state.scalars["sam_step"], savedStep >= 0, savedStep == savedStep.rounded() else {
            throw OptimizerStateError.missingKey("sam_step")
        }
        try base.restore(baseState)
        try rule.restore(ruleState)
        step = Int(savedStep)
    }
}
