import PlateauTensor

/// Surrogate-gap guided SAM (Zhuang et al. 2022, arXiv:2203.08065).
///
///     g   = ∇L(w)
///     ε   = ρ_t · g / ‖g‖,  ρ_t proportional to the learning rate
///     g_p = ∇L(w + ε)
///     g_⊥ = g − (g · ĝ_p) ĝ_p          (the part of g orthogonal to g_p)
///     d   = g_p − α · g_⊥
///     w  ← base(w, d)
///
/// Descending along −α·g_⊥ shrinks the surrogate gap L(w + ε) − L(w) without changing the
/// perturbed loss to first order. α = 0 with a constant ρ is SAM.
public struct GSAM: GradientScalingRule {
    /// ρ_t, usually proportional to the learning rate (the paper's schedule); see ``PerturbationRadius``.
    public var radius: PerturbationRadius
    /// α, the weight of the ascent along −g_⊥ that shrinks the surrogate gap; default 0.4.
    public var alpha: Float

    /// GSAM with any radius schedule and gap weight α (default 0.4).
    public init(radius: PerturbationRadius, alpha: Float = 0.4) {
        self.radius = radius
        self.alpha = alpha
    }

    /// ρ falls linearly with the learning rate from `rhoMax` at `maximumLearningRate` to
    /// `rhoMin` at `minimumLearningRate`.
    public init(rhoMax: Float = 0.05, rhoMin: Float = 0.05, maximumLearningRate: Float, minimumLearningRate: Float = 0, alpha: Float = 0.4) {
        precondition(rhoMax >= 0 && rhoMin >= 0, "GSAM: rho must be non-negative, got \(rhoMin)...\(rhoMax)")
        self.init(
            radius: .proportionalToLearningRate(maximum: rhoMax, minimum: rhoMin, maximumLearningRate: maximumLearningRate, minimumLearningRate: minimumLearningRate),
            alpha: alpha)
    }

    public var name: String { "gsam" }

    /// ε = ρ_t·g/(‖g‖ + 1e-12), as SAM with this step's radius: c = ρ/(‖g‖ + 1e-12).
    public func perturbationScale(gradientNorm: Float, context: StepContext) -> Float? {
        radius.value(in: context) / (gradientNorm + 1e-12)
    }

    /// d = g_p − α·g_⊥, g_⊥ = g − (g·ĝ_p)·ĝ_p (Zhuang et al. 2022, Alg. 1); g without a second pass.
    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        guard let perturbed = perturbedGradient else { return gradient }
        let unit = perturbed.scaled(by: 1 / (perturbed.norm() + 1e-12))
        let orthogonal = gradient - unit.scaled(by: gradient.dot(unit))
        return perturbed - orthogonal.scaled(by: alpha)
    }
}
