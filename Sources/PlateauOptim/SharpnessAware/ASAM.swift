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
    public var radius: PerturbationRadius
    public var eta: Float

    public init(rho: Float = 0.5, eta: Float = 0.01) {
        precondition(rho >= 0, "ASAM: rho must be non-negative, got \(rho)")
        precondition(eta >= 0, "ASAM: eta must be non-negative, got \(eta)")
        radius = .constant(rho)
        self.eta = eta
    }

    public var name: String { "asam" }

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
