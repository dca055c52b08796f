import PlateauTensor

/// Friendly SAM (Li et al. 2024, arXiv:2403.12350): perturb only along the batch-specific
/// part of the gradient, removing an estimate of the full gradient:
///
///     g = ∇L_B(w)
///     m ← λ·m + (1 − λ)·g        (EMA of the raw stochastic gradient, as the official code)
///     ε = ρ · (g − σ·m) / ‖g − σ·m‖
///     w ← base(w, ∇L_B(w + ε))
///
/// m advances once per step, from the whole batch's gradient, in
/// ``prepare(gradient:context:)``; under m-sharpness each chunk c is then perturbed along
/// g_c − σ·m. (Before issue 9 m advanced once per chunk, so its memory shrank with m.)
///
/// Defaults follow the official CIFAR scripts: σ = 1, λ = 0.6 (ρ 0.05–0.2).
public struct FriendlySAM: SharpnessAwareRule {
    public var radius: PerturbationRadius
    public var sigma: Float
    public var lambda: Float
    public private(set) var gradientAverage: ParameterSet?

    public init(rho: Float = 0.05, sigma: Float = 1, lambda: Float = 0.6) {
        precondition(rho >= 0, "FriendlySAM: rho must be non-negative, got \(rho)")
        precondition(lambda >= 0 && lambda < 1, "FriendlySAM: lambda must be in [0, 1), got \(lambda)")
        radius = .constant(rho)
        self.sigma = sigma
        self.lambda = lambda
    }

    public var name: String { "fsam" }

    public mutating func prepare(gradient: ParameterSet, context: StepContext) {
        gradientAverage = gradientAverage.map { $0.scaled(by: lambda) + gradient.scaled(by: 1 - lambda) } ?? gradient.scaled(by: 1 - lambda)
    }

    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        guard let average = gradientAverage else { preconditionFailure("FriendlySAM: perturbation before prepare(gradient:context:)") }
        return (gradient - average.scaled(by: sigma)).normalized(toRadius: radius.value(in: context))
    }

    public var state: OptimizerState { OptimizerState(prefix: "gradient_average.", gradientAverage) }

    public mutating func restore(_ state: OptimizerState) throws {
        gradientAverage = try state.tensors(withPrefix: "gradient_average.")
    }
}
