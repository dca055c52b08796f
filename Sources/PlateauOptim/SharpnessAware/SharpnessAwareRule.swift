import PlateauTensor

/// What a sharpness-aware rule knows about the step it is asked about.
public struct StepContext: Sendable {
    /// The 0-based optimizer step.
    public var step: Int
    /// The base optimizer's learning rate for this step (GSAM ties ρ to it).
    public var learningRate: Float

    public init(step: Int, learningRate: Float) {
        self.step = step
        self.learningRate = learningRate
    }
}

/// The perturbation radius ρ of a step: constant, or proportional to the learning rate
/// (GSAM, Zhuang et al. 2022: ρ_t = ρ_min + (ρ_max − ρ_min)·(η_t − η_min)/(η_max − η_min)).
public enum PerturbationRadius: Sendable, Equatable {
    case constant(Float)
    case proportionalToLearningRate(maximum: Float, minimum: Float, maximumLearningRate: Float, minimumLearningRate: Float)

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
/// Every rule must keep ε finite when ‖g‖ = 0 (divide by ‖g‖ + 1e-12).
public protocol SharpnessAwareRule: Sendable {
    /// A short name for reports (`"sam"`, `"asam"`).
    var name: String { get }

    /// The ascent step ε added to `parameters` before the second gradient evaluation, or
    /// `nil` to skip the second pass this step (LookSAM between its SAM steps).
    mutating func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet?

    /// The direction handed to the base optimizer; `perturbedGradient` is `nil` when
    /// ``perturbation(parameters:gradient:context:)`` skipped the second pass.
    mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet

    /// For ESAM's sharpness-sensitive data selection: the fraction of samples, ranked by
    /// per-sample sharpness ℓᵢ(w + ε) − ℓᵢ(w), that the second pass uses; `nil` (the
    /// default) uses every sample without the extra scoring forward pass.
    var secondPassFraction: Float? { get }

    /// A change applied after the base optimizer, scaled by the learning rate:
    /// w ← w − η·correction (WSAM's decoupled sharpness term). `nil` by default.
    func decoupledCorrection(gradient: ParameterSet, perturbedGradient: ParameterSet) -> ParameterSet?

    /// Resumable state (EMAs, cached directions); empty for stateless rules.
    var state: OptimizerState { get }
    mutating func restore(_ state: OptimizerState) throws
}

extension SharpnessAwareRule {
    public var secondPassFraction: Float? { nil }

    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        perturbedGradient ?? gradient
    }

    public func decoupledCorrection(gradient: ParameterSet, perturbedGradient: ParameterSet) -> ParameterSet? { nil }

    public var state: OptimizerState { OptimizerState() }

    public mutating func restore(_ state: OptimizerState) throws {
        guard state.tensors.isEmpty, state.scalars.isEmpty else {
            throw OptimizerStateError.unexpectedKey(state.tensors.keys.first ?? state.scalars.keys.sorted().first!)
        }
    }
}

/// No perturbation: one gradient evaluation and the base optimizer's own step. Running a
/// plain optimizer through ``SharpnessAwareMinimizer`` keeps one code path for every method.
public struct NoPerturbation: SharpnessAwareRule {
    public init() {}
    public var name: String { "none" }
    public mutating func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? { nil }
}

extension ParameterSet {
    /// `self` scaled to norm `radius` (ε = ρ·g/(‖g‖ + 1e-12)); zero stays zero.
    func normalized(toRadius radius: Float) -> ParameterSet {
        scaled(by: radius / (norm() + 1e-12))
    }

    /// Applies `transform` to the raw elements of each entry (no graph, no broadcasting).
    func mapScalars(_ transform: (Float) -> Float) -> ParameterSet {
        map { Tensor(shape: $0.shape, scalars: $0.scalars.map(transform)) }
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
