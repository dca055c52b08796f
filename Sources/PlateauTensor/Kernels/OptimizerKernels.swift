// Fused update kernels for optimizers and weight averages: one pass over a parameter's
// elements, updating its state buffers in place. Each states its arithmetic exactly, in
// Float, in evaluation order: optimizers built on them reproduce PyTorch's formulas and stay
// bit-identical from release to release and from machine to machine. They are Swift loops
// rather than BLAS's saxpy and friends on purpose: a momentum or Adam step is several BLAS
// calls (several passes over memory) where one fused loop suffices, and OpenBLAS picks its
// level-1 kernels per CPU at run time — its Haswell saxpy fuses the multiply–add, rounding
// once where these formulas round twice — so the last bits would depend on the machine.

extension Tensor {
    /// The exponential moving average step `decay·self + (1 − decay)·other`, elementwise,
    /// with `1 − decay` rounded to Float once: a teacher's weights `v ← β·v + (1 − β)·θ`
    /// (MESA). A constant.
    public func movingAverage(toward other: Tensor, decay: Float) -> Tensor {
        precondition(shape == other.shape, "movingAverage: shapes \(shape) and \(other.shape) differ")
        let complement = 1 - decay
        let values = scalars.withUnsafeBufferPointer { v in
            other.scalars.withUnsafeBufferPointer { theta in
                makeScalars(count: count) { out in
                    parallelFor(count, grain: elementGrain) { range in
                        for i in range { out[i] = decay * v[i] + complement * theta[i] }
                    }
                }
            }
        }
        return Tensor(shape: shape, scalars: values, node: nil)
    }
}

/// One optimizer step for one parameter tensor, fused: PyTorch's SGD and Adam formulas in a
/// single pass that writes the updated weights to a new tensor (the model still holds the
/// old storage, so writing it in place would first copy it) and the state buffers in place.
///
/// Every argument tensor must have the parameter's shape; results are constants.
public enum OptimizerKernels {
    /// SGD without momentum (η learning rate, λ weight decay):
    ///
    ///     d = g;  d = d + λ·w  (when λ ≠ 0);  w' = w + (−η)·d
    public static func sgd(parameter: Tensor, gradient: Tensor, learningRate lr: Float, weightDecay wd: Float) -> Tensor {
        checkShapes("sgd", parameter, gradient)
        let values = parameter.scalars.withUnsafeBufferPointer { w in
            gradient.scalars.withUnsafeBufferPointer { g in
                makeScalars(count: w.count) { out in
                    for i in 0..<w.count {
                        var d = g[i]
                        if wd != 0 { d += wd * w[i] }
                        out[i] = w[i] + -lr * d
                    }
                }
            }
        }
        return Tensor(shape: parameter.shape, scalars: values, node: nil)
    }

    /// SGD with momentum μ ≠ 0 (dampening τ, weight decay λ, learning rate η), updating the
    /// momentum buffer b in place:
    ///
    ///     d = g + λ·w                      (g alone when λ = 0)
    ///     b = d                            on the first step
    ///     b = μ·b + (1 − τ)·d              afterwards, 1 − τ rounded once
    ///     w' = w + (−η)·b                  or, Nesterov: w' = w + (−η)·(d + μ·b)
    ///
    /// The plain form runs in one pass over the elements, split over the threads (each
    /// element on one thread, so the count does not change the result).
    public static func sgdMomentum(
        parameter: Tensor, gradient: Tensor, buffer: inout Tensor, isFirstStep first: Bool,
        learningRate lr: Float, momentum mu: Float, dampening: Float, weightDecay wd: Float, nesterov: Bool
    ) -> Tensor {
        checkShapes("sgdMomentum", parameter, gradient, buffer)
        let damp = 1 - dampening
        let values = parameter.scalars.withUnsafeBufferPointer { w in
            gradient.scalars.withUnsafeBufferPointer { g in
                buffer.updateScalars { b in
                    makeScalars(count: w.count) { out in
                        let n = w.count
                        if !nesterov {
                            // Buffer and weights in one pass: the update is memory-bound, and a
                            // second pass would read the buffer back from memory. Branch-free
                            // loops per case, which the compiler vectorizes.
                            parallelFor(n, grain: elementGrain) { range in
                                switch (first, wd != 0) {
                                case (true, false): for i in range { let d = g[i]; b[i] = d; out[i] = w[i] + -lr * d }
                                case (true, true): for i in range { let d = g[i] + wd * w[i]; b[i] = d; out[i] = w[i] + -lr * d }
                                case (false, false): for i in range { let d = mu * b[i] + damp * g[i]; b[i] = d; out[i] = w[i] + -lr * d }
                                case (false, true):
                                    for i in range { let d = mu * b[i] + damp * (g[i] + wd * w[i]); b[i] = d; out[i] = w[i] + -lr * d }
                                }
                            }
                            return
                        }
                        switch (first, wd != 0) {
                        case (true, false): for i in 0..<n { b[i] = g[i] }
                        case (true, true): for i in 0..<n { b[i] = g[i] + wd * w[i] }
                        case (false, false): for i in 0..<n { b[i] = mu * b[i] + damp * g[i] }
                        case (false, true): for i in 0..<n { b[i] = mu * b[i] + damp * (g[i] + wd * w[i]) }
                        }
                        if wd != 0 {
                            for i in 0..<n { out[i] = w[i] + -lr * ((g[i] + wd * w[i]) + mu * b[i]) }
                        } else {
                            for i in 0..<n { out[i] = w[i] + -lr * (g[i] + mu * b[i]) }
                        }
                    }
                }
            }
        }
        return Tensor(shape: parameter.shape, scalars: values, node: nil)
    }

    /// The scalars of one Adam step, computed by the optimizer (in double precision, rounded
    /// once, as PyTorch computes them in Python).
    public struct AdamScalars: Sendable {
        /// η / (1 − β₁ᵗ).
        public var stepSize: Float
        /// √(1 − β₂ᵗ).
        public var biasCorrection2Root: Float
        /// β₁, the first-moment decay.
        public var beta1: Float
        /// β₂, the second-moment decay.
        public var beta2: Float
        /// ε, added to √v̂ in the denominator.
        public var epsilon: Float
        /// λ of L2 weight decay added to the gradient (Adam); 0 for none.
        public var l2: Float
        /// 1 − η·λ of decoupled weight decay (AdamW), or `nil` for none.
        public var decayFactor: Float?

        /// Memberwise; see the properties.
        public init(
            stepSize: Float, biasCorrection2Root: Float, beta1: Float, beta2: Float, epsilon: Float, l2: Float,
            decayFactor: Float?
        ) {
            self.stepSize = stepSize
            self.biasCorrection2Root = biasCorrection2Root
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.l2 = l2
            self.decayFactor = decayFactor
        }
    }

    /// One Adam/AdamW step, updating the moments m and v in place, per element:
    ///
    ///     w = w · decayFactor                       (AdamW only)
    ///     g = g + l2·w                              (Adam with L2 only)
    ///     m = m + (1 − β₁)·(g − m)
    ///     v = β₂·v + (1 − β₂)·g·g                   (left to right: ((1 − β₂)·g)·g)
    ///     w' = w + (−stepSize)·(m / (√v / biasCorrection2Root + ε))
    ///
    /// with 1 − β₁ and 1 − β₂ rounded to Float once.
    public static func adam(
        parameter: Tensor, gradient: Tensor, firstMoment: inout Tensor, secondMoment: inout Tensor, _ s: AdamScalars
    ) -> Tensor {
        checkShapes("adam", parameter, gradient, firstMoment, secondMoment)
        let oneMinusBeta1 = 1 - s.beta1, oneMinusBeta2 = 1 - s.beta2
        let (beta2, epsilon, l2, stepSize, root) = (s.beta2, s.epsilon, s.l2, s.stepSize, s.biasCorrection2Root)
        let decays = s.decayFactor != nil, decayFactor = s.decayFactor ?? 1
        let values = parameter.scalars.withUnsafeBufferPointer { w in
            gradient.scalars.withUnsafeBufferPointer { g in
                firstMoment.updateScalars { m in
                    secondMoment.updateScalars { v in
                        makeScalars(count: w.count) { out in
                            for i in 0..<w.count {
                                var wi = w[i]
                                if decays { wi *= decayFactor }
                                var gi = g[i]
                                if l2 != 0 { gi += l2 * wi }
                                m[i] += oneMinusBeta1 * (gi - m[i])
                                v[i] = beta2 * v[i] + oneMinusBeta2 * gi * gi
                                let denominator = v[i].squareRoot() / root + epsilon
                                out[i] = wi + -stepSize * (m[i] / denominator)
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: parameter.shape, scalars: values, node: nil)
    }

    private static func checkShapes(_ name: String, _ parameter: Tensor, _ others: Tensor...) {
        for other in others {
            precondition(other.shape == parameter.shape, "OptimizerKernels.\(name): shape \(other.shape) differs from the parameter's \(parameter.shape)")
        }
    }
}
