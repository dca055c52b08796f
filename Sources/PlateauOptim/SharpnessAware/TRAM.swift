import PlateauTensor

/// TRAM, trust-region-aware SAM (Sherborne et al., ICLR 2024, arXiv:2310.03646): SAM whose
/// radius is the distance the model's function has moved from a reference on this batch,
///
///     ρ_t = s · d(f_ref(x) ‖ f_θ(x))       (no gradient; ``TrustRegionReference`` measures it)
///     ε   = ρ_t · g/‖g‖
///     θ  ← base(θ, ∇L(θ + ε))
///
/// so the neighbourhood is small while fine-tuning stays close to what the reference knew,
/// and grows as the function drifts. The radius reaches the rule as
/// ``StepContext/measurement`` (0 when nothing was measured: a plain base step).
///
/// The paper's ε is along g. The released `first_step` builds ε from `ones_like(grad)` times
/// the scale, never multiplying by the gradient (every weight moves by ρ_t/‖g‖); Plateau
/// follows the paper.
public struct TRAM: GradientScalingRule {
    public init() {}

    public var name: String { "tram" }

    /// c = ρ_t/(‖g‖ + 1e-12) with ρ_t the step's measured radius.
    public func perturbationScale(gradientNorm: Float, context: StepContext) -> Float? {
        Swift.max(context.measurement ?? 0, 0) / (gradientNorm + 1e-12)
    }
}
