import PlateauTensor

/// The Hessian trace by Hutchinson's estimator (Hutchinson 1990; PyHessian `trace`,
/// Yao et al. 2020):
///
///     tr(H) = E_v[vᵀ H v],   v_i ∈ {−1, +1} uniformly (Rademacher)
///
/// Samples are drawn until the running mean changes by less than `tolerance` relatively,
/// |m_k − m_{k−1}| / (|m_{k−1}| + 1e-6) < tol (PyHessian's 1e-3), or `maximumIterations`
/// (100) samples. For a diagonal Hessian every sample is exact, since vᵀHv = Σ H_ii v_i².
public struct HessianTrace: Sendable {
    /// The mean of the samples: the trace estimate.
    public var value: Float
    /// Each vᵀHv drawn.
    public var samples: [Float]
    /// The standard error of the mean (0 for a single sample).
    public var standardError: Float {
        guard samples.count > 1 else { return 0 }
        let mean = Double(value)
        let variance = samples.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(samples.count - 1)
        return Float((variance / Double(samples.count)).squareRoot())
    }

    public init(of loss: LossFunction, tolerance: Float = 1e-3, maximumIterations: Int = 100, using generator: inout some RandomNumberGenerator) {
        precondition(maximumIterations >= 1, "HessianTrace: maximumIterations must be positive")
        let hessian = HessianOperator(loss)
        var samples: [Float] = []
        var sum: Double = 0
        var previousMean: Double = 0
        for k in 1...maximumIterations {
            let v = loss.parameters.map { Tensor.randomRademacher($0.shape, using: &generator) }
            let sample = hessian.product(along: v).dot(v)
            samples.append(sample)
            sum += Double(sample)
            let mean = sum / Double(k)
            if k > 1 && Swift.abs(mean - previousMean) / (Swift.abs(previousMean) + 1e-6) < Double(tolerance) { break }
            previousMean = mean
        }
        self.samples = samples
        self.value = Float(sum / Double(samples.count))
    }
}
