import PlateauTensor

/// Sharpness-Aware Minimization (Foret et al. 2021, arXiv:2010.01412).
///
/// min_w max_{‖ε‖≤ρ} L(w + ε), solved to first order (Alg. 1):
///
///     g = ∇L(w)
///     ε = ρ · g / ‖g‖           (global norm over all parameters)
///     w ← base(w, ∇L(w + ε))
public struct SAM: GradientScalingRule {
    /// ρ, the neighbourhood radius ‖ε‖ (constant unless built with ``init(radius:)``); default 0.05.
    public var radius: PerturbationRadius

    /// SAM with a constant radius ρ.
    ///
    /// - Parameter rho: the neighbourhood radius ρ (0.05 in the paper for CIFAR).
    public init(rho: Float = 0.05) {
        precondition(rho >= 0, "SAM: rho must be non-negative, got \(rho)")
        radius = .constant(rho)
    }

    /// SAM with any radius schedule, e.g. ``PerturbationRadius/proportionalToLearningRate(maximum:minimum:maximumLearningRate:minimumLearningRate:)``.
    public init(radius: PerturbationRadius) { self.radius = radius }

    public var name: String { "sam" }

    /// ε = ρ·g/(‖g‖ + 1e-12), with the global norm over all parameters: c = ρ/(‖g‖ + 1e-12).
    public func perturbationScale(gradientNorm: Float, context: StepContext) -> Float? {
        radius.value(in: context) / (gradientNorm + 1e-12)
    }
}
