import PlateauTensor

/// What a sharpness-aware rule knows about the step it is asked about.
public struct StepContext: Sendable {
    /// The 0-based optimizer step.
    public var step: Int
    /// The base optimizer's learning rate for this step (GSAM ties ρ to it).
    public var learningRate: Float
    /// A value the caller measured on this step's batch at w, without gradients, through
    /// ``SharpnessAwareMinimizer/step(_:batchSize:measure:loss:)``; `nil` when the caller
    /// measured nothing. It lets a rule size its step from the batch without knowing the
    /// objective — TRAM's ρ_t = scale·KL(f_ref(x) ‖ f_θ(x)), for one.
    public var measurement: Float?
    /// How many independent perturbations the step has: the m-sharpness chunks, 1 without.
    public var groupCount: Int
    /// Which of them a ``SharpnessAwareRule/perturbation(parameters:gradient:context:)``
    /// call is for (0 everywhere else).
    public var group: Int

    /// The context of step `step` at learning rate `learningRate`; one group, no measurement by default.
    public init(step: Int, learningRate: Float, measurement: Float? = nil, groupCount: Int = 1, group: Int = 0) {
        self.step = step
        self.learningRate = learningRate
        self.measurement = measurement
        self.groupCount = groupCount
        self.group = group
    }
}

/// The perturbation radius ρ of a step: constant, or proportional to the learning rate
/// (GSAM, Zhuang et al. 2022: ρ_t = ρ_min + (ρ_max − ρ_min)·(η_t − η_min)/(η_max − η_min)).
public enum PerturbationRadius: Sendable, Equatable {
    /// ρ_t = ρ at every step.
    case constant(Float)
    /// ρ_t = ρ_min + (ρ_max − ρ_min)·(η_t − η_min)/(η_max − η_min), clamped to [ρ_min, ρ_max].
    case proportionalToLearningRate(maximum: Float, minimum: Float, maximumLearningRate: Float, minimumLearningRate: Float)

    /// ρ for this step: the constant, or ρ_min + (ρ_max − ρ_min)·clamp((η_t − η_min)/(η_max − η_min), 0, 1)
    /// (ρ_max when η_max ≤ η_min).
    public func value(in context: StepContext) -> Float {
        switch self {
        case .constant(let rho):
            return rho
        case let .proportionalToLearningRate(maximum, minimum, maximumLR, minimumLR):
            guard maximumLR > minimumLR else { return maximum }
            let t = (context.learningRate - minimumLR) / (maximumLR - minimumLR)
            return minimum + (maximum - minimum) * Swift.min(Swift.max(t, 0), 1)
        }
    }
}

/// One sharpness-aware method, written as its paper's algorithm box: how to perturb the
/// weights from the gradient g at w, and which direction to hand the base optimizer once
/// the gradient g_p at w + ε is known. ``SharpnessAwareMinimizer`` runs the passes.
///
/// Per step the driver calls, in order:
///
/// 1. ``prepare(gradient:context:)`` once, with the batch gradient g: the one place where
///    per-step state advances (FriendlySAM's moving average, ESAM's random masks).
/// 2. ``perturbation(parameters:gradient:context:)`` once per perturbation group — once, or
///    once per m-sharpness chunk with that chunk's gradient. It cannot change the rule, so
///    how the batch is split never changes how often a rule's state advances.
/// 3. ``descentDirection(gradient:perturbedGradient:context:)`` once, with the batch's g
///    and g_p (LookSAM caches its direction here).
///
/// Gradients given to a rule are zero on the parameters the driver does not perturb, and
/// the driver zeroes ε there whatever the rule returns.
///
/// Every rule must keep ε finite when ‖g‖ = 0 (divide by ‖g‖ + 1e-12). A method that also
/// changes which samples the second pass sees, or what happens after the base optimizer,
/// adopts ``SampleSelectingRule`` or ``DecoupledRule`` as well.
public protocol SharpnessAwareRule: Sendable {
    /// A short name for reports (`"sam"`, `"asam"`).
    var name: String { get }

    /// Advances per-step state, once per step, after g = ∇L_B(w) (the whole batch's
    /// gradient) is known and before any perturbation. Does nothing by default.
    mutating func prepare(gradient: ParameterSet, context: StepContext)

    /// The ascent step ε added to `parameters` before the second gradient evaluation of one
    /// perturbation group (`context.group`), from that group's `gradient`. `nil` for group 0
    /// skips the second pass this step (LookSAM between its SAM steps); for a later group it
    /// counts as ε = 0.
    func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet?

    /// The direction handed to the base optimizer; `perturbedGradient` is `nil` when the
    /// step took no second pass. Returns g_p, or g without one, by default.
    mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet

    /// Resumable state (EMAs, cached directions); empty for stateless rules.
    var state: OptimizerState { get }
    /// Restores a saved ``state``; throws an ``OptimizerStateError`` naming a missing or
    /// unexpected key.
    mutating func restore(_ state: OptimizerState) throws
}

extension SharpnessAwareRule {
    /// Does nothing.
    public mutating func prepare(gradient: ParameterSet, context: StepContext) {}

    /// g_p, or g when the step took no second pass (SAM's direction).
    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        perturbedGradient ?? gradient
    }

    /// Empty: a stateless rule.
    public var state: OptimizerState { OptimizerState() }

    /// Accepts only an empty state; throws ``OptimizerStateError/unexpectedKey(_:)`` otherwise.
    public mutating func restore(_ state: OptimizerState) throws {
        guard state.tensors.isEmpty, state.scalars.isEmpty else {
            throw OptimizerStateError.unexpectedKey(state.tensors.keys.first ?? state.scalars.keys.sorted().first!)
        }
    }
}

/// A rule whose ε is the gradient times a scalar, ε = c·g (SAM, GSAM, WSAM, LookSAM:
/// c = ρ/(‖g‖ + 1e-12)). Knowing that, the driver forms w + c·g in one pass over the model
/// and has ‖ε‖ = |c|·‖g‖ without another, instead of materializing ε, measuring it and adding
/// it: two of the four whole-model passes a step spends beyond its two forward–backward
/// passes, the part of SAM's cost above 2x SGD. The values are the same bit for bit (w + c·g
/// rounds as w + (c·g) did).
public protocol GradientScalingRule: SharpnessAwareRule {
    /// c in ε = c·g for a (group's) gradient of norm `gradientNorm`, or `nil` to skip the
    /// second pass as ``perturbation(parameters:gradient:context:)`` does.
    func perturbationScale(gradientNorm: Float, context: StepContext) -> Float?
}

extension GradientScalingRule {
    /// ε = c·g with c from ``perturbationScale(gradientNorm:context:)``.
    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        perturbationScale(gradientNorm: gradient.norm(), context: context).map { gradient.scaled(by: $0) }
    }
}

/// A rule whose second pass back-propagates only some samples (ESAM's sharpness-sensitive
/// data selection). Only rules that select adopt it; the driver asks once per group.
public protocol SampleSelectingRule: SharpnessAwareRule {
    /// Positions (0..<`count`, ascending) within a perturbation group of `count` samples that
    /// the second pass back-propagates, or `nil` for all of them. `sharpness()` returns
    /// ℓᵢ(w + ε) − ℓᵢ(w) for each sample of the group; calling it costs a forward-only pass
    /// over the group, so call it only when selecting.
    func secondPassSamples(count: Int, sharpness: () -> [Float]) -> [Int]?
}

/// A rule that applies part of its step outside the base optimizer, after it and scaled by
/// the learning rate: w ← base(w, d) − η·correction (WSAM's decoupled sharpness term).
/// Only rules with such a term adopt it; it runs on steps that took a second pass.
public protocol DecoupledRule: SharpnessAwareRule {
    /// The correction, or `nil` for none this step.
    func decoupledCorrection(gradient: ParameterSet, perturbedGradient: ParameterSet) -> ParameterSet?
}

/// No perturbation: one gradient evaluation and the base optimizer's own step. Running a
/// plain optimizer through ``SharpnessAwareMinimizer`` keeps one code path for every method.
public struct NoPerturbation: SharpnessAwareRule {
    /// The rule that never perturbs.
    public init() {}
    public var name: String { "none" }
    /// Always `nil`: no second pass.
    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? { nil }
}

extension ParameterSet {
    /// `self` scaled to norm `radius` (ε = ρ·g/(‖g‖ + 1e-12)); zero stays zero.
    func normalized(toRadius radius: Float) -> ParameterSet {
        scaled(by: radius / (norm() + 1e-12))
    }
}

extension OptimizerState {
    /// A state holding `tensors` under `prefix` (a rule's cached direction or average), or
    /// an empty state when there is nothing cached yet.
    init(prefix: String, _ tensors: ParameterSet?) {
        self.init(tensors: ParameterSet((tensors?.entries ?? []).map { (prefix + $0.key, $0.value) }))
    }

    /// The tensors saved by ``init(prefix:_:)``, `nil` when none were; throws on a key
    /// without the prefix or on any scalar (those belong to another rule).
    func tensors(withPrefix prefix: String) throws -> ParameterSet? {
        if let key = scalars.keys.sorted().first { throw OptimizerStateError.unexpectedKey(key) }
        var result = ParameterSet()
        for (key, value) in tensors.entries {
            guard key.hasPrefix(prefix) else { throw OptimizerStateError.unexpectedKey(key) }
            result[String(key.dropFirst(prefix.count))] = value
        }
        return result.isEmpty ? nil : result
    }
}
