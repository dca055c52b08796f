import PlateauTensor

/// LookSAM (Liu et al. 2022, arXiv:2203.02714): a full SAM step every k steps; in between,
/// one gradient evaluation plus the reused sharpness direction.
///
///     g = ∇L(w)
///     every k-th step (SAM):  ε = ρ·g/‖g‖,  g_s = ∇L(w + ε)
///                             g_v = g_s − ‖g_s‖·cos(g, g_s)·ĝ   (the part of g_s ⊥ g, kept)
///                             d = g_s
///     the k − 1 others:       d = g + α·(‖g‖/‖g_v‖)·g_v        (no second pass)
///     w ← base(w, d)
///
/// Unlike the popular PyTorch ports, the in-between steps really take one pass and never
/// roll the weights back. g_v is cached in ``descentDirection(gradient:perturbedGradient:context:)``,
/// once per step.
public struct LookSAM: SharpnessAwareRule {
    /// ρ, the radius of the SAM steps; default 0.1.
    public var radius: PerturbationRadius
    /// k, a full SAM step every k steps (step % k == 0); default 5.
    public var interval: Int
    /// α, the weight of the reused direction g_v in between, d = g + α·(‖g‖/‖g_v‖)·g_v; default 0.7.
    public var alpha: Float
    /// The cached orthogonal direction g_v from the last SAM step.
    public private(set) var orthogonalDirection: ParameterSet?
    /// ‖g_v‖, derived from `orthogonalDirection` (not saved).
    private var orthogonalNorm: Float?

    /// LookSAM with a constant radius ρ, a SAM step every k steps and reuse weight α.
    ///
    /// - Parameters:
    ///   - rho: the radius ρ of the SAM steps.
    ///   - k: the interval between SAM steps (k = 1 is SAM).
    ///   - alpha: the weight α of the reused direction.
    /// - Precondition: `rho ≥ 0` and `k ≥ 1`.
    public init(rho: Float = 0.1, interval k: Int = 5, alpha: Float = 0.7) {
        precondition(rho >= 0, "LookSAM: rho must be non-negative, got \(rho)")
        precondition(k >= 1, "LookSAM: k must be at least 1, got \(k)")
        radius = .constant(rho)
        interval = k
        self.alpha = alpha
    }

    public var name: String { "looksam" }

    /// ε = ρ·g/(‖g‖ + 1e-12) on every k-th step (and until a direction is cached); `nil` otherwise.
    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        guard context.step % interval == 0 || orthogonalDirection == nil else { return nil }
        return gradient.normalized(toRadius: radius.value(in: context))
    }

    /// SAM steps: caches g_v = g_s − (g_s·g/‖g‖²)·g and returns g_s. Others: g + α·(‖g‖/‖g_v‖)·g_v.
    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        if let perturbed = perturbedGradient {
            // ‖g_s‖·cos(g, g_s)·ĝ = (g_s · g / ‖g‖²)·g
            let norm = gradient.norm() + 1e-12
            let orthogonal = perturbed.adding(gradient, scaledBy: -perturbed.dot(gradient) / (norm * norm))
            orthogonalDirection = orthogonal
            orthogonalNorm = orthogonal.norm()
            return perturbed
        }
        guard let cached = orthogonalDirection else { return gradient }
        // ‖g_v‖ is fixed until the next SAM step: computed once, not every step.
        let cachedNorm = orthogonalNorm ?? cached.norm()
        orthogonalNorm = cachedNorm
        return gradient.adding(cached, scaledBy: alpha * gradient.norm() / (cachedNorm + 1e-12))
    }

    /// g_v under `"orthogonal.<path>"`; empty before the first SAM step.
    public var state: OptimizerState { OptimizerState(prefix: "orthogonal.", orthogonalDirection) }

    /// Restores g_v (‖g_v‖ is recomputed on first use).
    public mutating func restore(_ state: OptimizerState) throws {
        orthogonalDirection = try state.tensors(withPrefix: "orthogonal.")
        orthogonalNorm = nil
    }
}
