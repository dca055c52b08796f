import PlateauTensor

/// A sharpness-aware rule applied to each task's loss separately: ``MultiTaskMinimizer``
/// perturbs the weights once per task, from that task's gradient, instead of once for the
/// summed loss. Only rules that mean this adopt it (F-MTL).
public protocol PerTaskSharpnessAwareRule: SharpnessAwareRule {}

/// F-MTL (Phan et al. 2022/2025): SAM per task, then the task gradients' *loss* and *flat*
/// parts aggregated separately.
///
/// For each task i, with g_i = ∇ℓ_i(w):
/// 1. ε_i = ρ·g_i/‖g_i‖ (SAM's ascent, or ASAM's ρ·T²g_i/‖Tg_i‖ with `adaptive`); g_i is zero
///    on the other tasks' heads, so ε_i moves the shared body and head i only.
/// 2. g_i^SAM = ∇ℓ_i(w + ε_i).
/// 3. The flat part h_i = g_i^SAM − g_i, the gradient of the surrogate sharpness
///    ℓ_i(w + ε_i) − ℓ_i(w); the loss part is g_i.
///
/// The shared parameters descend along M({g_i}) + M({h_i}) for the run's aggregator M; each
/// head along its own g_i^SAM (``FlatDecomposition``). The paper's point is that aggregating
/// the two groups apart avoids the conflict between a task's low-loss and flat directions.
///
/// Reference: Phan, Tran, Tran, Tran, Truong, Lei, Ho, Phung & Le, *Improving Multi-task
/// Learning via Seeking Task-based Flat Regions*, arXiv:2211.13723 (ICCV 2025 version:
/// *Beyond Losses Reweighting*); official code VietHoang1512/FS-MTL.
public struct FMTL: PerTaskSharpnessAwareRule {
    /// ρ, each task's perturbation radius.
    public var rho: Float
    /// ASAM's scale-invariant ascent (the official MultiMNIST scripts' choice) instead of SAM's.
    public var adaptive: Bool
    /// η in ASAM's T = |w| + η.
    public var eta: Float

    /// - Precondition: `rho` ≥ 0 and `eta` ≥ 0, both finite.
    public init(rho: Float = 0.05, adaptive: Bool = false, eta: Float = 0.01) {
        precondition(rho >= 0 && rho.isFinite, "FMTL: rho must be finite and ≥ 0, got \(rho)")
        precondition(eta >= 0 && eta.isFinite, "FMTL: eta must be finite and ≥ 0, got \(eta)")
        self.rho = rho
        self.adaptive = adaptive
        self.eta = eta
    }

    public var name: String { "fmtl" }

    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        if adaptive { return ASAM(rho: rho, eta: eta).perturbation(parameters: parameters, gradient: gradient, context: context) }
        return gradient.normalized(toRadius: rho)
    }
}

/// F-MTL's split of the tasks' perturbed gradients and its descent direction.
public struct FlatDecomposition: Sendable {
    /// g_i = ∇ℓ_i(w): the loss parts.
    public var lossParts: [ParameterSet]
    /// h_i = ∇ℓ_i(w + ε_i) − ∇ℓ_i(w): the flat parts.
    public var flatParts: [ParameterSet]

    /// The parts of `gradients` g_i and `perturbedGradients` g_i^SAM (same keys, task order).
    public init(gradients: [ParameterSet], perturbedGradients: [ParameterSet]) {
        precondition(gradients.count == perturbedGradients.count, "FlatDecomposition: \(gradients.count) gradients, \(perturbedGradients.count) perturbed gradients")
        lossParts = gradients
        flatParts = zip(perturbedGradients, gradients).map { $0 - $1 }
    }

    /// M({g_i}) + M({h_i}) over the parameters `isShared` accepts; Σ_i g_i^SAM on the others
    /// (the heads, where each task's gradient is its own head's alone).
    public func direction(aggregator: any GradientAggregator, isShared: (String) -> Bool) -> ParameterSet {
        let perturbed = zip(lossParts, flatParts).map { $0 + $1 }
        let shared = aggregator.aggregate(lossParts.map { $0.filter(isShared) }) + aggregator.aggregate(flatParts.map { $0.filter(isShared) })
        return merging(shared: shared, rest: EqualWeights().aggregate(perturbed), isShared: isShared)
    }
}

/// `rest` with the entries `isShared` accepts replaced by `shared`'s, in `rest`'s key order.
func merging(shared: ParameterSet, rest: ParameterSet, isShared: (String) -> Bool) -> ParameterSet {
    rest.mapWithKeys { key, value in isShared(key) ? shared[key]! : value }
}
