import PlateauTensor

/// Adaptive SAM (Kwon et al. 2021, arXiv:2102.11600): the neighbourhood is scaled per
/// weight, making sharpness invariant to parameter rescaling.
///
///     g = ∇L(w)
///     T = |w| + η   on weight tensors (paths containing "weight"; 1 elsewhere, as the
///                   official implementation)
///     ε = ρ · T² g / ‖T g‖
///     w ← base(w, ∇L(w + ε))
///
/// ρ is typically ~10× SAM's (0.5 for CIFAR-10, 1.0 for CIFAR-100).
public struct ASAM: SharpnessAwareRule {
    /// ρ, the radius of the adaptive (T⁻¹-scaled) neighbourhood ‖T⁻¹ε‖ ≤ ρ; default 0.5.
    public var radius: PerturbationRadius
    /// η, added to |w| in the scale T = |w| + η so that zero weights are still perturbed; default 0.01.
    public var eta: Float

    /// ASAM with a constant adaptive radius ρ (default 0.5) and offset η (default 0.01).
    ///
    /// - Parameters:
    ///   - rho: the adaptive radius ρ (0.5 for CIFAR-10, 1.0 for CIFAR-100 in the paper).
    ///   - eta: the offset η in T = |w| + η.
    /// - Precondition: `rho` and `eta` are non-negative.
    public init(rho: Float = 0.5, eta: Float = 0.01) {
        precondition(rho >= 0, "ASAM: rho must be non-negative, got \(rho)")
        precondition(eta >= 0, "ASAM: eta must be non-negative, got \(eta)")
        radius = .constant(rho)
        self.eta = eta
    }

    public var name: String { "asam" }

    /// ε = ρ·T²g/(‖Tg‖ + 1e-12), T = |w| + η on paths containing "weight" and 1 elsewhere.
    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        let eta = self.eta
        let scale = parameters.mapWithKeys { key, w in
            key.contains("weight") ? Tensor(shape: w.shape, scalars: w.scalars.map { abs($0) + eta }) : Tensor.ones(w.shape)
        }
        let scaledGradient = scale * gradient  // T g
        let factor = radius.value(in: context) / (scaledGradient.norm() + 1e-12)
        return (scale * scaledGradient).scaled(by: factor)  // ρ T² g / ‖T g‖
    }
}
