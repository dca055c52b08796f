/// The integer range of a b-bit quantizer: codes q ∈ [−Q_N, Q_P].
///
/// Signed values (weights, activations that can be negative) use Q_N = 2^{b−1},
/// Q_P = 2^{b−1} − 1; unsigned ones (activations after a ReLU) use Q_N = 0, Q_P = 2^b − 1
/// (Esser et al. 2020, LSQ, §2).
public struct QuantizationRange: Sendable, Equatable {
    /// Q_N: the most negative code is −Q_N.
    public let negativeLevels: Int
    /// Q_P: the most positive code.
    public let positiveLevels: Int

    /// The range of `bits`-bit codes, signed or unsigned.
    ///
    /// - Precondition: 2 ≤ `bits` ≤ 8.
    public init(bits: Int, signed: Bool) {
        precondition((2...8).contains(bits), "QuantizationRange: expected 2 to 8 bits, got \(bits)")
        if signed {
            negativeLevels = 1 << (bits - 1)
            positiveLevels = (1 << (bits - 1)) - 1
        } else {
            negativeLevels = 0
            positiveLevels = (1 << bits) - 1
        }
    }

    /// The integer code of `value` at step size `scale`: round(clip(value/scale, −Q_N, Q_P)).
    ///
    /// Rounding is half away from zero (Swift's `rounded()`), PyTorch's `round` rounds half
    /// to even; the two differ only on exact ties.
    @inline(__always)
    public func code(_ value: Float, scale: Float) -> Float {
        Swift.min(Swift.max(value / scale, -Float(negativeLevels)), Float(positiveLevels)).rounded()
    }
}

extension Tensor {
    /// The smallest step size ``lsqQuantized(scale:range:gradientScale:)`` uses.
    public static let minimumStepSize: Float = 1e-8

    /// LSQ fake quantization (Esser et al. 2020, arXiv:1902.08153): v̂ = s·round(clip(v/s, −Q_N, Q_P)).
    ///
    /// The backward pass is LSQ's, with the straight-through estimator for the rounding:
    ///
    ///     ∂v̂/∂v = 1 where −Q_N ≤ v/s ≤ Q_P, else 0
    ///     ∂v̂/∂s = round(v/s) − v/s inside, −Q_N below, Q_P above
    ///
    /// and the step size's gradient, summed over the elements, multiplied by
    /// `gradientScale` (LSQ's g = 1/√(N·Q_P), N the number of weights, or of features per
    /// sample for activations). Outside the clipping range both derivatives are exact; inside,
    /// the rounding's zero derivative is replaced by the identity, as the paper prescribes.
    ///
    /// - Parameters:
    ///   - scale: the step size s, a one-element tensor (shape `[1]` or `[]`); values below
    ///     ``minimumStepSize`` are used as it.
    ///   - range: Q_N and Q_P.
    ///   - gradientScale: g, the factor on s's gradient.
    public func lsqQuantized(scale: Tensor, range: QuantizationRange, gradientScale: Float) -> Tensor {
        precondition(scale.count == 1, "lsqQuantized: the step size must have one element, got shape \(scale.shape)")
        // A step size that training pushes to zero or below is used as `minimumStepSize` rather
        // than trapping (LSQ itself does not guard it); NaN passes through, so the loss shows it.
        let s = Swift.max(scale.scalars[0], Self.minimumStepSize)
        let lower = -Float(range.negativeLevels), upper = Float(range.positiveLevels)
        var values = [Float](repeating: 0, count: count)
        var passMask = [Float](repeating: 0, count: count)
        var scaleDerivative = [Float](repeating: 0, count: count)
        scalars.withUnsafeBufferPointer { v in
            for i in 0..<v.count {
                let ratio = v[i] / s
                if ratio < lower {
                    values[i] = lower * s
                    scaleDerivative[i] = lower
                } else if ratio > upper {
                    values[i] = upper * s
                    scaleDerivative[i] = upper
                } else {
                    let rounded = ratio.rounded()
                    values[i] = rounded * s
                    passMask[i] = 1
                    scaleDerivative[i] = rounded - ratio
                }
            }
        }
        let shape = self.shape, scaleShape = scale.shape
        let mask = Tensor(shape: shape, scalars: passMask)
        let derivative = Tensor(shape: shape, scalars: scaleDerivative)
        return Tensor.recorded("lsq_quantize", shape: shape, scalars: values, inputs: [self, scale]) { upstream, _ in
            [upstream * mask, ((upstream * derivative).sum() * gradientScale).reshaped(to: scaleShape)]
        }
    }
}
