import Foundation

extension Tensor {
    /// max(x, 0). Its derivative is the step function, a constant mask, so the second
    /// derivative is zero (as in every framework).
    public func relu() -> Tensor {
        let input = self
        return unary("relu", Rectifying()) { g, _ in [g.gated(by: input)] }
    }

    /// `self` where `gate > 0`, else 0: relu's backward step, itself linear in `self`.
    func gated(by gate: Tensor) -> Tensor {
        precondition(shape == gate.shape, "gated: \(shape) vs \(gate.shape)")
        let values = zipScalars(scalars, gate.scalars, Gating())
        return Tensor.recorded("gate", shape: shape, scalars: values, inputs: [self]) { g, _ in [g.gated(by: gate)] }
    }

    /// x for x > 0, `slope`·x otherwise.
    public func leakyRelu(slope: Float = 0.01) -> Tensor {
        relu() - (-self).relu() * slope
    }

    /// 1 / (1 + e^-x), computed without overflow for large |x|.
    public func sigmoid() -> Tensor {
        unary("sigmoid", { x in x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }) { g, y in
            [g * y * (1 - y)]
        }
    }

    /// Elementwise hyperbolic tangent; d/dx = 1 − tanh²(x).
    public func tanh() -> Tensor {
        unary("tanh", Foundation.tanh) { g, y in [g * (1 - y.square())] }
    }

    /// log(1 + eˣ) = max(x, 0) + log(1 + e^-|x|), stable for large |x|; d/dx = σ(x).
    ///
    /// One operation with σ as its derivative rather than the composite above: relu and |x|
    /// both have subgradient 0 at their kink, so the composite's derivative at exactly
    /// x = 0 was 0 instead of ½ — where NPO's unlearning loss starts every sample.
    public func softplus() -> Tensor {
        let input = self
        return unary("softplus", { x in Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }) { g, _ in
            [g * input.sigmoid()]
        }
    }

    /// x·σ(x) (also called swish).
    ///
    /// Reference: Elfwing, Uchibe & Doya 2018, arXiv:1702.03118; Ramachandran, Zoph & Le 2017 (swish), arXiv:1710.05941.
    public func silu() -> Tensor { self * sigmoid() }


    /// log softmax(x) along `axis`: x − logΣexp(x), numerically stable.
    public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
        self - logSumExp(alongAxes: [axis], keepingDimensions: true)
    }

    /// softmax(x) along `axis`.
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        logSoftmax(alongAxis: axis).exp()
    }

    /// Elements zeroed with probability `probability` and the rest scaled by 1/(1 − p)
    /// (inverted dropout). The generator is explicit so training stays reproducible.
    ///
    /// Reference: Srivastava et al. 2014, *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*, JMLR 15.
    public func dropout(probability: Float, using generator: inout some RandomNumberGenerator) -> Tensor {
        precondition(probability >= 0 && probability < 1, "dropout: probability must be in [0, 1), got \(probability)")
        if probability == 0 { return self }
        let keep = 1 / (1 - probability)
        var mask = [Float](repeating: 0, count: count)
        for i in 0..<count where generator.unitFloat() >= probability { mask[i] = keep }
        return self * Tensor(shape: shape, scalars: mask)
    }
}

extension Tensor {
    /// max(self + other, 0) for tensors of one shape, in one pass each way: a residual
    /// block's `relu(out + shortcut)`. Both inputs receive the same gated gradient.
    public func addingRectified(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "addingRectified: shapes \(shape) and \(other.shape) differ")
        let values = zipScalars(scalars, other.scalars, AddingRectified())
        // The gate is itself differentiable: one pullback serves both kinds of backward pass.
        return Tensor.fused(.residualReLU, shape: shape, scalars: values, inputs: [self, other], fast: { g, y in
            let gated = g.gated(by: y)
            return [gated, gated]
        }, differentiable: nil)
    }
}

/// max(x + y, 0).
struct AddingRectified: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { Swift.max(x + y, 0) }
}
