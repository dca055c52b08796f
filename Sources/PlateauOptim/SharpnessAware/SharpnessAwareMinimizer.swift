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
    /// ‖g‖ at w, before clipping.
    public var gradientNorm: Float
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
        let original = model
        let parameters = model.parameters

        // Chunks: micro-batches, subdivided into m-sharpness chunks when both are set.
        let chunkSize = Swift.min(sharpnessChunkSize ?? batchSize, microBatchSize ?? batchSize)
        let chunks: [[Int]?] = chunkSize >= batchSize
            ? [nil]
            : stride(from: 0, to: batchSize, by: chunkSize).map { Array($0..<Swift.min($0 + chunkSize, batchSize)) }

        // Pass 1 at w, keeping BatchNorm statistics.
        var chunkGradients: [ParameterSet] = []
        var sampleLosses: [Float] = []
        sampleLosses.reserveCapacity(batchSize)
        for samples in chunks {
            var perSample: Tensor = Tensor(0)
            let result = valueWithGradient(at: model) { (m: inout Model) -> Tensor in
                perSample = loss(&m, LossRequest(point: .parameters, samples: samples))
                return perSample.mean()
            }
            model = result.model
            chunkGradients.append(result.gradient)
            sampleLosses += perSample.scalars
        }
        precondition(sampleLosses.count == batchSize, "SharpnessAwareMinimizer.step: the loss returned \(sampleLosses.count) per-sample values for a batch of \(batchSize)")
        let weights = chunks.map { Float($0?.count ?? batchSize) / Float(batchSize) }
        let gradient = weightedSum(chunkGradients, weights)
        let gradientNorm = gradient.norm()
        var passes: Float = 1

        // Pass 2 at w + ε on the same samples and the same dropout masks (the original model).
        var perturbedGradient: ParameterSet? = nil
        var perturbationNorm: Float = 0
        let perChunkEpsilon = sharpnessChunkSize != nil && chunks.count > 1
        let firstEpsilon = rule.perturbation(parameters: parameters, gradient: restricted(perChunkEpsilon ? chunkGradients[0] : gradient), context: context)
        if let firstEpsilon {
            var parts: [ParameterSet] = []
            for (i, samples) in chunks.enumerated() {
                let epsilon = !perChunkEpsilon || i == 0 ? firstEpsilon
                    : (rule.perturbation(parameters: parameters, gradient: restricted(chunkGradients[i]), context: context) ?? firstEpsilon.zeros())
                perturbationNorm = Swift.max(perturbationNorm, epsilon.norm())
                var perturbed = original
                perturbed.update(parameters + epsilon)
                var selected = samples
                if let fraction = rule.secondPassFraction {
                    selected = sharpestSamples(of: perturbed, samples: samples, lossesAtParameters: sampleLosses, batchSize: batchSize, fraction: fraction, loss: loss)
                    // The scoring pass is forward-only: about a third of a forward–backward pass.
                    passes += Float(samples?.count ?? batchSize) / Float(batchSize) / 3
                }
                let result = valueWithGradient(at: perturbed) { (m: inout Model) -> Tensor in
                    loss(&m, LossRequest(point: .perturbed, samples: selected)).mean()
                }
                parts.append(result.gradient)
                passes += Float(selected?.count ?? batchSize) / Float(batchSize)
            }
            perturbedGradient = weightedSum(parts, weights)
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
        return StepReport(loss: meanLoss, sampleLosses: sampleLosses, passes: passes, perturbationNorm: perturbationNorm, gradientNorm: gradientNorm)
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

    /// ESAM's sharpness-sensitive data selection: a gradient-free forward at w + ε scores
    /// each sample by ℓᵢ(w + ε) − ℓᵢ(w); the top `fraction` are kept.
    private func sharpestSamples<Model: Module>(
        of perturbed: Model, samples: [Int]?, lossesAtParameters: [Float], batchSize: Int, fraction: Float,
        loss: (inout Model, LossRequest) -> Tensor
    ) -> [Int]? {
        let positions = samples ?? Array(0..<batchSize)
        let keep = Swift.max(1, Int((Float(positions.count) * fraction).rounded()))
        if keep >= positions.count { return samples }
        var scratch = perturbed
        let after = withoutGradients { loss(&scratch, LossRequest(point: .perturbed, samples: samples)) }.scalars
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
