import PlateauTensor

/// One ρ-sharpness measurement: S = L(w + ε) − L(w).
public struct SharpnessMeasurement: Sendable {
    /// S = L(w + ε) − L(w).
    public var value: Float
    /// L(w).
    public var loss: Float
    /// L(w + ε).
    public var perturbedLoss: Float
    /// ‖ε‖₂ (≤ ρ; for the adaptive measure ‖T_w⁻¹ε‖ = ρ instead).
    public var perturbationNorm: Float
}

/// ρ-sharpness: how much the loss rises within a ball of radius ρ around w — the quantity
/// SAM minimizes (Foret et al. 2021, *Sharpness-Aware Minimization for Efficiently Improving
/// Generalization*, arXiv:2010.01412, eq. 1) and SAF plots (Du et al. 2022, Fig. 4b, ρ = 0.05).
///
/// - ``oneStep(of:rho:)``: S_ρ(w) = L(w + ρ g/‖g‖) − L(w), g = ∇L(w) — SAM's first-order
///   maximizer.
/// - ``worstCase(of:rho:steps:stepSize:)``: max_{‖ε‖₂≤ρ} L(w+ε) − L(w), estimated by k steps of
///   projected normalized gradient ascent ε ← Proj_ρ(ε + α ∇L(w+ε)/‖∇L(w+ε)‖) from ε = 0.
///   The best point visited (ε = 0 included) is reported, so the estimate is ≥ 0 and never
///   below the one-step value.
/// - ``mSharpness(of:rho:steps:)``: the average over disjoint m-sample chunks of each chunk's
///   own sharpness (Foret et al. §4.1; Andriushchenko & Flammarion 2022, arXiv:2206.06232) —
///   build the loss with batches of m samples, each becomes a piece.
/// - ``adaptive(of:rho:eta:)``: ASAM's scale-invariant sharpness (Kwon et al. 2021,
///   arXiv:2102.11600): the ball ‖T_w⁻¹ε‖₂ ≤ ρ with T_w = |w| + η, maximized to first
///   order by ε = ρ T_w² g / ‖T_w g‖.
///
/// All are measured on the loss's fixed batches (and its BatchNorm mode).
public enum RhoSharpness {
    /// SAM's one-step sharpness L(w + ρ g/‖g‖) − L(w). Zero when g = 0.
    public static func oneStep(of loss: LossFunction, rho: Float = 0.05) -> SharpnessMeasurement {
        precondition(rho >= 0, "RhoSharpness: rho must be non-negative")
        let (value, gradient) = loss.valueWithGradient()
        let norm = gradient.norm()
        guard norm > 0, rho > 0 else { return SharpnessMeasurement(value: 0, loss: value, perturbedLoss: value, perturbationNorm: 0) }
        let epsilon = gradient.scaled(by: rho / norm)
        let perturbed = loss.value(at: loss.parameters + epsilon)
        return SharpnessMeasurement(value: perturbed - value, loss: value, perturbedLoss: perturbed, perturbationNorm: epsilon.norm())
    }

    /// The worst case in the ρ-ball by `steps` steps of projected normalized gradient ascent
    /// with step `stepSize` (default 2ρ/steps, so the ascent can cross the ball).
    public static func worstCase(of loss: LossFunction, rho: Float = 0.05, steps: Int = 5, stepSize: Float? = nil) -> SharpnessMeasurement {
        precondition(rho >= 0, "RhoSharpness: rho must be non-negative")
        precondition(steps >= 1, "RhoSharpness.worstCase: steps must be positive")
        let w = loss.parameters
        let alpha = stepSize ?? 2 * rho / Float(steps)
        let base = loss.value()
        var epsilon = w.zeros()
        var best = SharpnessMeasurement(value: 0, loss: base, perturbedLoss: base, perturbationNorm: 0)
        guard rho > 0 else { return best }
        for _ in 0..<steps {
            let (_, gradient) = loss.valueWithGradient(at: w + epsilon)
            let norm = gradient.norm()
            if norm == 0 { break }
            epsilon = epsilon + gradient.scaled(by: alpha / norm)
            let length = epsilon.norm()
            if length > rho { epsilon = epsilon.scaled(by: rho / length) }
            let perturbed = loss.value(at: w + epsilon)
            if perturbed - base > best.value {
                best = SharpnessMeasurement(value: perturbed - base, loss: base, perturbedLoss: perturbed, perturbationNorm: epsilon.norm())
            }
        }
        return best
    }

    /// m-sharpness: Σ_b (n_b/N) S(ℓ_b), the sharpness of each piece (chunk of m samples)
    /// measured on that piece alone, one-step when `steps` is 1, projected ascent otherwise.
    public static func mSharpness(of loss: LossFunction, rho: Float = 0.05, steps: Int = 1) -> Float {
        var total: Double = 0
        for (weight, piece) in loss.separatePieces {
            let s = steps == 1 ? oneStep(of: piece, rho: rho) : worstCase(of: piece, rho: rho, steps: steps)
            total += weight * Double(s.value)
        }
        return Float(total)
    }

    /// ASAM's adaptive sharpness L(w + ε) − L(w) with ε = ρ T² g/‖T g‖ (defaults ρ = 0.5,
    /// η = 0.01 as in ASAM). T = |w| + η on weight tensors (paths containing "weight") and 1
    /// on the others (biases, normalization shifts), as the official ASAM code and Plateau's
    /// ``ASAM`` rule scale them — so the measure is the neighbourhood that ASAM trains in.
    /// The reported ``SharpnessMeasurement/perturbationNorm`` is ‖T⁻¹ε‖ (= ρ).
    public static func adaptive(of loss: LossFunction, rho: Float = 0.5, eta: Float = 0.01) -> SharpnessMeasurement {
        precondition(rho >= 0, "RhoSharpness: rho must be non-negative")
        let w = loss.parameters
        let (value, gradient) = loss.valueWithGradient()
        let scale = withoutGradients {
            w.mapWithKeys { key, tensor in key.contains("weight") ? tensor.abs() + eta : Tensor.ones(tensor.shape) }
        }
        let scaledGradient = scale * gradient
        let norm = scaledGradient.norm()
        guard norm > 0, rho > 0 else { return SharpnessMeasurement(value: 0, loss: value, perturbedLoss: value, perturbationNorm: 0) }
        let epsilon = (scale * scaledGradient).scaled(by: rho / norm)
        let perturbed = loss.value(at: w + epsilon)
        // T⁻¹ε = ρ·T g/‖T g‖.
        let scaledNorm = scaledGradient.scaled(by: rho / norm).norm()
        return SharpnessMeasurement(value: perturbed - value, loss: value, perturbedLoss: perturbed, perturbationNorm: scaledNorm)
    }
}
