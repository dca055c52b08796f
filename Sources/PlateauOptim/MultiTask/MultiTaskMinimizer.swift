import PlateauNN
import PlateauTensor

/// One step of multi-task training on a batch with one loss per task: the tasks' gradients
/// of the shared parameters are combined by a ``GradientAggregator``, each head follows its
/// own task's gradient, and a sharpness-aware rule may perturb the weights first.
///
/// Per step, for T tasks with per-sample losses ℓ_i and g_i = ∇ mean(ℓ_i) at w (one forward
/// pass, T backward passes; BatchNorm statistics update here only):
///
/// - ``NoPerturbation``: d = M({g_i}) on the shared parameters, Σ_i g_i on the heads.
/// - a ``PerTaskSharpnessAwareRule`` (``FMTL``): ε_i from each g_i, g_i^SAM at w + ε_i (one
///   pass per task), d = M({g_i}) + M({g_i^SAM − g_i}) (``FlatDecomposition``).
/// - any other rule (SAM on the summed loss): ε from g = Σ_i g_i, one pass at w + ε, and d
///   the rule's direction from g and ∇Σ_i ℓ_i(w + ε); only with ``EqualWeights``, since the
///   perturbed pass has only the sum.
///
/// d is clipped by global norm if asked, then the base optimizer steps. Gradients are of the
/// batch mean of each task's loss, so equal weights is the gradient of the summed losses.
public struct MultiTaskMinimizer<Rule: SharpnessAwareRule, Base: Optimizer>: Sendable {
    public var rule: Rule
    public var base: Base
    public var aggregator: any GradientAggregator
    /// Whether a parameter path belongs to the shared body (the aggregator's domain); the
    /// others are the tasks' heads.
    public var isShared: @Sendable (String) -> Bool
    /// Global-norm clipping of the final direction (`nil`: none).
    public var maxGradientNorm: Float?
    /// Optimizer steps taken.
    public private(set) var step = 0
    /// The mean pairwise cosine between the tasks' gradients of the shared parameters at w
    /// in the last step (`nil` before the first step or with one task): how much they conflict.
    public private(set) var lastTaskGradientCosine: Float?

    /// - Precondition: a rule that perturbs the summed loss comes with ``EqualWeights``.
    public init(
        rule: Rule, base: Base, aggregator: any GradientAggregator, isShared: @escaping @Sendable (String) -> Bool,
        maxGradientNorm: Float? = nil
    ) {
        precondition(
            rule is NoPerturbation || rule is any PerTaskSharpnessAwareRule || aggregator is EqualWeights,
            "MultiTaskMinimizer: \(rule.name) perturbs the summed loss and aggregates with equal weights only, got \(aggregator.name)")
        self.rule = rule
        self.base = base
        self.aggregator = aggregator
        self.isShared = isShared
        self.maxGradientNorm = maxGradientNorm
    }

    /// The base optimizer's learning rate.
    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }

    /// One step of `model` on a batch of `batchSize` samples; `taskLosses` returns each
    /// task's per-sample losses (`[n]` each, the same number of tasks every call) for the
    /// requested samples with the model as given.
    @discardableResult
    public mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, taskLosses: (inout Model, LossRequest) -> [Tensor]
    ) -> StepReport {
        let context = StepContext(step: step, learningRate: base.learningRate)
        let w = model.parameters
        let first = Self.taskGradients(at: &model, keepingState: true) { taskLosses(&$0, LossRequest(point: .parameters, samples: nil)) }
        let g = first.gradients
        let summed = EqualWeights().aggregate(g)
        lastTaskGradientCosine = Self.meanPairwiseCosine(g.map { $0.filter(isShared) })
        rule.prepare(gradient: summed, context: context)
        var d: ParameterSet
        var perturbationNorm: Float = 0, passes: Float = 1
        if rule is NoPerturbation {
            d = merging(shared: aggregator.aggregate(g.map { $0.filter(isShared) }), rest: summed, isShared: isShared)
        } else if rule is any PerTaskSharpnessAwareRule {
            var perturbed: [ParameterSet] = []
            for task in g.indices {
                guard let epsilon = rule.perturbation(parameters: w, gradient: g[task], context: context) else {
                    perturbed.append(g[task])  // ε = 0 for this task: its flat part is zero
                    continue
                }
                perturbationNorm = Swift.max(perturbationNorm, epsilon.norm())
                var copy = model
                copy.update(w + epsilon)
                // The perturbed pass differentiates task `task`'s loss only; statistics dropped.
                let result = Self.taskGradients(at: &copy, keepingState: false, only: task) { taskLosses(&$0, LossRequest(point: .perturbed, samples: nil)) }
                perturbed.append(result.gradients[0])
                passes += 1
            }
            d = FlatDecomposition(gradients: g, perturbedGradients: perturbed).direction(aggregator: aggregator, isShared: isShared)
        } else if let epsilon = rule.perturbation(parameters: w, gradient: summed, context: context) {
            perturbationNorm = epsilon.norm()
            var copy = model
            copy.update(w + epsilon)
            let result = Self.taskGradients(at: &copy, keepingState: false, summed: true) { taskLosses(&$0, LossRequest(point: .perturbed, samples: nil)) }
            passes += 1
            d = rule.descentDirection(gradient: summed, perturbedGradient: result.gradients[0], context: context)
        } else {
            d = rule.descentDirection(gradient: summed, perturbedGradient: nil, context: context)
        }
        if let maxGradientNorm { clipGradientNorm(&d, maxNorm: maxGradientNorm) }
        var updated = w
        base.update(&updated, along: d)
        model.update(updated)
        step += 1
        let sampleLosses = first.sampleLosses
        let loss = sampleLosses.isEmpty ? 0 : Float(sampleLosses.reduce(0) { $0 + Double($1) } / Double(sampleLosses.count))
        return StepReport(loss: loss, sampleLosses: sampleLosses, passes: passes, perturbationNorm: perturbationNorm, gradient: summed)
    }

    /// One forward pass of `model` and the gradient of each task's batch-mean loss (or only
    /// of task `only`, or of their sum), with the per-sample summed losses. With
    /// `keepingState` the model keeps the buffers the pass computed (BatchNorm statistics).
    static func taskGradients<Model: Module>(
        at model: inout Model, keepingState: Bool, only: Int? = nil, summed: Bool = false, _ losses: (inout Model) -> [Tensor]
    ) -> (gradients: [ParameterSet], sampleLosses: [Float]) {
        var tracked = model
        let parameters = model.parameters
        let leaves = parameters.map { $0.trackingGradients() }
        tracked.update(leaves)
        let perSample = withGradients { losses(&tracked) }
        precondition(!perSample.isEmpty, "MultiTaskMinimizer: no task losses")
        let means = perSample.map { $0.mean() }
        let targets = if let only { [means[only]] } else if summed { [means.dropFirst().reduce(means[0], +)] } else { means }
        let gradients = targets.map { ParameterSet(Array(zip(parameters.keys, PlateauTensor.gradients(of: $0, withRespectTo: leaves.values)))) }
        if keepingState {
            tracked.update(parameters)
            tracked.update(tracked.buffers.detached)
            model = tracked
        }
        let total = perSample.dropFirst().reduce(perSample[0].detached) { $0 + $1.detached }
        return (gradients, total.scalars)
    }

    /// The mean of cos(g_i, g_j) over the pairs i < j (`nil` for one task; a zero gradient
    /// counts as cosine 0).
    public static func meanPairwiseCosine(_ gradients: [ParameterSet]) -> Float? {
        guard gradients.count > 1 else { return nil }
        let norms = gradients.map { $0.norm() }
        var sum: Float = 0, pairs = 0
        for i in gradients.indices {
            for j in gradients.indices where j > i {
                let denominator = norms[i] * norms[j]
                sum += denominator > 0 ? gradients[i].dot(gradients[j]) / denominator : 0
                pairs += 1
            }
        }
        return sum / Float(pairs)
    }

    /// Resumable state: the base optimizer's, the rule's (prefixed `rule.`) and the step count
    /// (`sam_step`), keyed as ``SharpnessAwareMinimizer/state`` keys them.
    public var state: OptimizerState { .combining(base: base.state, rule: rule.state, step: step) }

    /// Restores what ``state`` saved; throws ``OptimizerStateError/missingKey(_:)`` without a
    /// valid `sam_step`, and whatever the base optimizer or the rule throws.
    public mutating func restore(_ state: OptimizerState) throws {
        let (baseState, ruleState, savedStep) = try state.splitIntoBaseAndRule()
        try base.restore(baseState)
        try rule.restore(ruleState)
        step = savedStep
    }
}
