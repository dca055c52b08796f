import PlateauTensor

/// Rescales `gradient` in place so that its global L2 norm is at most `maxNorm`, as
/// PyTorch's `torch.nn.utils.clip_grad_norm_` does, and returns the norm before clipping.
///
///     ‖g‖ = √(Σ over all entries and elements of gᵢ²)        (accumulated in double precision)
///     g ← g · maxNorm / (‖g‖ + 10⁻⁶)                           only when ‖g‖ > maxNorm
///
/// Below the threshold the gradient is left untouched (bit for bit).
///
/// **Non-finite gradients.** If any element is NaN or ±∞ the norm is not finite; scaling by
/// maxNorm / ‖g‖ would turn the whole gradient into NaN or zeros-and-NaN and poison the
/// weights. Instead the gradient is **set to zero** and the non-finite norm (NaN or +∞) is
/// returned, so an update along it leaves the weights finite (SGD without momentum or
/// decay does not move them; momentum and weight decay still apply) and the caller can
/// detect the event with `!norm.isFinite` and skip the step, count it, or stop training.
/// (PyTorch's default, `error_if_nonfinite=False`, would propagate the NaN.) A finite
/// gradient whose norm exceeds `Float.greatestFiniteMagnitude` is still clipped correctly
/// (the norm is kept in double precision), but the returned norm rounds to +∞.
///
/// Reference: Pascanu, Mikolov & Bengio 2013, *On the difficulty of training recurrent
/// neural networks*.
/// arXiv:1211.5063.
///
/// - Precondition: `maxNorm` is finite and positive.
@discardableResult
public func clipGradientNorm(_ gradient: inout ParameterSet, maxNorm: Float) -> Float {
    precondition(maxNorm.isFinite && maxNorm > 0, "clipGradientNorm: maxNorm must be finite and > 0, got \(maxNorm)")
    let norm = gradient.sumOfSquares().squareRoot()
    if !norm.isFinite {
        gradient = gradient.zeros()
        return Float(norm)
    }
    if norm > Double(maxNorm) {
        gradient.scale(by: Float(Double(maxNorm) / (norm + 1e-6)))
    }
    return Float(norm)
}
