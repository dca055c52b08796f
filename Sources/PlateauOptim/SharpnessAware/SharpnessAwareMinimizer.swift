import PlateauNN
import PlateauTensor

/// Which evaluation of the loss a ``SharpnessAwareMinimizer`` asks for.
public struct LossRequest: Sendable {
    /// Where the weights are: at w (the first pass, whose outputs are the step's statistics)
    /// or at w + ε.
    public enum Point: Sendable { case parameters, perturbed }

    /// Whether to evaluate at w or at w + ε.
    public var point: Point
    /// Positions within the batch to evaluate (a micro-batch, an m-sharpness chunk or
    /// ESAM's selected samples); `nil` means the whole batch.
    public var samples: [Int]?

    /// A request for `samples` (`nil`: the whole batch) at `point`.
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

/// Runs any ``SharpnessAwareRule`` around any base ``Optimizer`` — SAM's algorithm
/// (Foret et al. 2021, Alg. 1), generalized:
///
/// 1. g = ∇L_B(w) on the batch; BatchNorm running statistics update here only.
/// 2. rule.prepare(g): the rule's per-step state advances, once.
/// 3. ε = rule.perturbation(w, g); if `nil`, skip to 5 with g_p = nil.
/// 4. g_p = ∇L_B(w + ε) on the same batch, same dropout masks, statistics discarded.
/// 5. d = rule.descentDirection(g, g_p), clipped by global norm if asked (the final
///    gradient only — clipping g would be a no-op since ε normalizes it).
/// 6. w ← base.update(w, d), minus η·correction for a ``DecoupledRule`` (WSAM).
///
/// Beside the rule, a ``GradientStrategy`` says how the batch is evaluated: in micro-batches
/// (gradient accumulation: ε from the full-batch gradient, then every micro-batch re-run at
/// w + ε) and in m-sharpness groups (steps 3–4 once per chunk of m samples, each with its
/// own gradient). A ``SampleSelectingRule`` (ESAM) narrows step 4's samples. `perturbs`
/// restricts ε to a subset of parameters (e.g. normalization affine parameters only, as SAR
/// does); the descent still updates every parameter.
///
/// With ``NoPerturbation`` it is exactly the base optimizer at one pass per step.
public struct SharpnessAwareMinimizer<Rule: SharpnessAwareRule, Base: Optimizer>: Sendable {
    /// The sharpness-aware rule: how to perturb and which direction to descend.
    public var rule: Rule
    /// The base optimizer that takes the step along the rule's direction (SGD, Adam, …).
    public var base: Base
    /// Micro-batching and m-sharpness.
    public var strategy: GradientStrategy
    /// Only parameters whose path satisfies this are perturbed (`nil`: all).
    public var perturbs: (@Sendable (String) -> Bool)?
    /// Global-norm clipping of the final direction (`nil`: none).
    public var maxGradientNorm: Float?
    /// Optimizer steps taken.
    public private(set) var step = 0
    /// Data-parallel steps over ranks (`nil`: one process on the whole batch). Each rank
    /// passes its own shard to ``step(_:batchSize:loss:)``; see ``DataParallelism``.
    public var dataParallel: DataParallelism?

    /// A minimizer running `rule` around `base`.
    ///
    /// - Parameters:
    ///   - rule: the sharpness-aware rule (``SAM``, ``ASAM``, …, or ``NoPerturbation``).
    ///   - base: the optimizer that takes the step.
    ///   - microBatchSize: samples per pass for gradient accumulation (`nil`: the whole batch).
    ///   - sharpnessChunkSize: m for m-sharpness (`nil`: one ε for the batch).
    ///   - perturbs: which parameter paths ε touches (`nil`: all).
    ///   - maxGradientNorm: global-norm clipping of the final direction d (`nil`: none).
    public init(
        rule: Rule, base: Base, microBatchSize: Int? = nil, sharpnessChunkSize: Int? = nil,
        perturbs: (@Sendable (String) -> Bool)? = nil, maxGradientNorm: Float? = nil
    ) {
        self.rule = rule
        self.base = base
        strategy = GradientStrategy(microBatchSize: microBatchSize, sharpnessChunkSize: sharpnessChunkSize)
        self.perturbs = perturbs
        self.maxGradientNorm = maxGradientNorm
    }

    /// Samples per micro-batch for gradient accumulation (`nil`: the whole batch at once).
    public var microBatchSize: Int? {
        get { strategy.microBatchSize }
        set { strategy = GradientStrategy(microBatchSize: newValue, sharpnessChunkSize: strategy.sharpnessChunkSize) }
    }

    /// m for m-sharpness: an independent perturbation per chunk of m samples (`nil`: one ε).
    public var sharpnessChunkSize: Int? {
        get { strategy.sharpnessChunkSize }
        set { strategy = GradientStrategy(microBatchSize: strategy.microBatchSize, sharpnessChunkSize: newValue) }
    }

    /// The base optimizer's learning rate η (GSAM's ρ_t follows it).
    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }

    /// One optimization step of `model` on a batch of `batchSize` samples.
    ///
    /// - Parameter model: the model whose parameters are updated in place.
    /// - Parameter batchSize: the number of samples n in the batch (``LossRequest/samples`` index into it).
    /// - Parameter loss: per-sample losses (shape `[n]`) of the requested samples with the
    ///   model as given. Gradients are of the batch mean.
    @discardableResult
    public mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport {
        step(&model, batchSize: batchSize, measurement: nil, loss: loss)
    }

    /// One optimization step for a rule that sizes its step from the batch: `measure` runs
    /// once, on a copy of the model at w and without gradients, before the first pass, and
    /// the rule reads its value as ``StepContext/measurement`` (TRAM's KL to a reference
    /// model, for one).
    @discardableResult
    public mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, measure: (inout Model) -> Float, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport {
        let measurement = withoutGradients { var copy = model; return measure(&copy) }
        return step(&model, batchSize: batchSize, measurement: measurement, loss: loss)
    }

    private mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, measurement: Float?, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport {
        var passes = BatchPasses<Model>(batchSize: batchSize, strategy: strategy)
        let context = StepContext(step: step, learningRate: base.learningRate, measurement: measurement, groupCount: passes.groups.count)
        let w = model.parameters
        // 1. g at w, per group and for the batch (this rank's shard under data parallelism).
        let local = passes.gradients(at: &model, loss: loss)
        var g = local
        // 2. The rule's per-step state advances, once, on the batch gradient — the global one
        // under data parallelism, so that the state stays the same on every rank. With a
        // local ε the ascent comes from a copy of the rule prepared on the rank's gradient,
        // and the rule itself is prepared once the gradients are reduced after the second pass.
        var ascent = rule
        switch dataParallel?.epsilon {
        case nil:
            rule.prepare(gradient: restricted(g.batch), context: context)
            ascent = rule
        case .global?:
            let global = dataParallel!.averaged([local.batch])[0]
            g = (local.groups.count == 1 ? [global] : local.groups, global)
            rule.prepare(gradient: restricted(g.batch), context: context)
            ascent = rule
        case .local?:
            ascent.prepare(gradient: restricted(local.batch), context: context)
        }
        // 3–4. Each group's ε and its gradient at w + ε, unless the rule skips the second pass.
        var perturbedGradients: [ParameterSet] = [], perturbationNorm: Float = 0
        if let first = perturbedPoint(w, g.groups[0], context, group: 0, rule: ascent) {
            let selection = ascent as? any SampleSelectingRule
            for group in passes.groups.indices {
                let (point, norm) = group == 0 ? first : perturbedPoint(w, g.groups[group], context, group: group, rule: ascent) ?? (w, 0)
                perturbationNorm = Swift.max(perturbationNorm, norm)
                perturbedGradients.append(passes.perturbedGradient(group: group, at: point, selection: selection, loss: loss))
            }
        }
        var gp = perturbedGradients.isEmpty ? nil : passes.combined(perturbedGradients)
        if let dataParallel {
            switch dataParallel.epsilon {
            case .global:
                if let local = gp { gp = dataParallel.averaged([local])[0] }
            case .local:
                // g and g_p in one buffer, one allreduce.
                let reduced = dataParallel.averaged([local.batch] + (gp.map { [$0] } ?? []))
                g.batch = reduced[0]
                gp = reduced.count > 1 ? reduced[1] : nil
                rule.prepare(gradient: restricted(g.batch), context: context)
            }
        }
        // 5. The direction, clipped. 6. The base optimizer's update, then a decoupled term.
        var d = rule.descentDirection(gradient: g.batch, perturbedGradient: gp, context: context)
        if let maxGradientNorm { clipGradientNorm(&d, maxNorm: maxGradientNorm) }
        var updated = w
        base.update(&updated, along: d)
        if let freezing = rule as? any FreezingRule {
            for key in freezing.frozenParameters { updated[key] = w[key] }
        }
        if let gp, let correction = (rule as? any DecoupledRule)?.decoupledCorrection(gradient: g.batch, perturbedGradient: gp) {
            updated = updated - correction.scaled(by: context.learningRate)
        }
        model.update(updated)
        step += 1
        return passes.report(gradient: g.batch, perturbationNorm: perturbationNorm)
    }

    /// w + ε for one group and ‖ε‖, with the rule's ε from that group's gradient, both
    /// restricted to `perturbs`; `nil` when the rule skips the second pass. A
    /// ``GradientScalingRule``'s point is formed in one pass and its norm from ‖g‖.
    private func perturbedPoint(_ w: ParameterSet, _ gradient: ParameterSet, _ context: StepContext, group: Int, rule: Rule) -> (point: ParameterSet, norm: Float)? {
        var context = context
        context.group = group
        let gradient = restricted(gradient)
        if let scaling = rule as? any GradientScalingRule {
            let gradientNorm = gradient.norm()
            guard let c = scaling.perturbationScale(gradientNorm: gradientNorm, context: context) else { return nil }
            return (w.adding(gradient, scaledBy: c), Swift.abs(c) * gradientNorm)
        }
        guard let epsilon = rule.perturbation(parameters: w, gradient: gradient, context: context).map(restricted) else { return nil }
        return (w + epsilon, epsilon.norm())
    }

    /// `set` with the entries of non-perturbed parameters zeroed.
    private func restricted(_ set: ParameterSet) -> ParameterSet {
        guard let perturbs else { return set }
        return set.mapWithKeys { key, value in perturbs(key) ? value : Tensor.zeros(value.shape) }
    }

    /// Resumable state: the base optimizer's, the rule's (prefixed `rule.`) and the step count.
    public var state: OptimizerState { .combining(base: base.state, rule: rule.state, step: step) }

    /// Restores the base optimizer, the rule (keys prefixed `rule.`) and the step count (`sam_step`);
    /// throws ``OptimizerStateError/missingKey(_:)`` without a valid `sam_step`, and whatever the base
    /// or the rule throws.
    public mutating func restore(_ state: OptimizerState) throws {
        let (baseState, ruleState, savedStep) = try state.splitIntoBaseAndRule()
        try base.restore(baseState)
        try rule.restore(ruleState)
        step = savedStep
    }
}

extension OptimizerState {
    /// The state of a driver that wraps a base optimizer with a rule (sharpness-aware and
    /// multi-task minimizers): the base's keys as they are, the rule's prefixed `rule.`, and
    /// the step count as `sam_step`.
    static func combining(base: OptimizerState, rule: OptimizerState, step: Int) -> OptimizerState {
        var combined = base
        for (key, value) in rule.tensors.entries { combined.tensors["rule." + key] = value }
        for (key, value) in rule.scalars { combined.scalars["rule." + key] = value }
        combined.scalars["sam_step"] = Double(step)
        return combined
    }

    /// The inverse of ``combining(base:rule:step:)``; throws ``OptimizerStateError/missingKey(_:)``
    /// without a valid `sam_step`.
    func splitIntoBaseAndRule() throws -> (base: OptimizerState, rule: OptimizerState, step: Int) {
        var baseState = OptimizerState(), ruleState = OptimizerState()
        for (key, value) in tensors.entries {
            if key.hasPrefix("rule.") { ruleState.tensors[String(key.dropFirst(5))] = value } else { baseState.tensors[key] = value }
        }
        for (key, value) in scalars where key != "sam_step" {
            if key.hasPrefix("rule.") { ruleState.scalars[String(key.dropFirst(5))] = value } else { baseState.scalars[key] = value }
        }
        guard let saved = scalars["sam_step"], saved >= 0, saved == saved.rounded() else {
            throw OptimizerStateError.missingKey("sam_step")
        }
        return (baseState, ruleState, Int(saved))
    }
}
