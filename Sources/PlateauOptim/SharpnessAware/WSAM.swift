import PlateauTensor

/// Weighted SAM (Yue et al. 2023, arXiv:2305.15817): minimizes
/// L(w) + γ/(1 − γ)·[L(w + ε) − L(w)], weighting the sharpness term separately.
///
///     α   = γ/(1 − γ)
///     g   = ∇L(w),  ε = ρ·g/‖g‖,  g_p = ∇L(w + ε)
///     decoupled (the paper's default):  w ← base(w, g) − η·α·(g_p − g)
///     coupled:                          w ← base(w, (1 − α)·g + α·g_p)
///
/// The decoupled term bypasses the base optimizer (no momentum, no Adam scaling): it is this
/// rule's ``DecoupledRule`` hook.
public struct WSAM: DecoupledRule, GradientScalingRule {
    /// ρ, the neighbourhood radius; default 0.05.
    public var radius: PerturbationRadius
    /// γ ∈ [0, 1), the sharpness weight: the sharpness term is scaled by α = γ/(1 − γ); default 0.9.
    public var gamma: Float
    /// Whether the sharpness term bypasses the base optimizer (the paper's default, `true`).
    public var decoupled: Bool

    /// WSAM with a constant radius ρ, sharpness weight γ (α = γ/(1 − γ)), decoupled by default.
    ///
    /// - Precondition: `rho ≥ 0` and `gamma` in [0, 1).
    public init(rho: Float = 0.05, gamma: Float = 0.9, decoupled: Bool = true) {
        precondition(rho >= 0, "WSAM: rho must be non-negative, got \(rho)")
        precondition(gamma >= 0 && gamma < 1, "WSAM: gamma must be in [0, 1), got \(gamma)")
        radius = .constant(rho)
        self.gamma = gamma
        self.decoupled = decoupled
    }

    public var name: String { "wsam" }
    var alpha: Float { gamma / (1 - gamma) }

    /// ε = ρ·g/(‖g‖ + 1e-12), as SAM: c = ρ/(‖g‖ + 1e-12).
    public func perturbationScale(gradientNorm: Float, context: StepContext) -> Float? {
        radius.value(in: context) / (gradientNorm + 1e-12)
    }

    /// Coupled: d = (1 − α)·g + α·g_p. Decoupled (or with no second pass): d = g.
    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        guard let perturbed = perturbedGradient, !decoupled else { return gradient }
        return gradient.scaled(by: 1 - alpha) + perturbed.scaled(by: alpha)
    }

    /// Decoupled: α·(g_p − g), applied as w ← w − η·α·(g_p − g) after the base step; `nil` when coupled.
    public func decoupledCorrection(gradient: ParameterSet, perturbedGradient: ParameterSet) -> ParameterSet? {
        decoupled ? (perturbedGradient - gradient).scaled(by: alpha) : nil
    }
}
