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
        if case let (values, _)? = Tensor.elementwise(.sigmoid, scalars) {
            return Tensor.recorded("sigmoid", shape: shape, scalars: values, inputs: [self]) { g, y in [g * y * (1 - y)] }
        }
        return unary("sigmoid", { x in x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }) { g, y in
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

    /// softmax(x) along `axis`: e^(x − max)/Σe^(x − max). Along the last axis (attention's
    /// rows) one fused operation each way, the backward dx = y·(g − Σ g·y); along another
    /// axis, exp(log softmax).
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        let axis = normalizedAxes([axis], "softmax")[0]
        guard axis == rank - 1, count > 0 else { return FusedOperation.softmaxDefinition(self, axis: axis) }
        let length = shape[axis], rows = count / length
        let values = softmaxRows(scalars, rows: rows, length: length)
        let input = self
        return Tensor.fused(.softmax, shape: shape, scalars: values, inputs: [self], fast: { g, y in
            [Tensor(shape: input.shape, scalars: softmaxPullbackRows(g.scalars, y.scalars, rows: rows, length: length))]
        }, differentiable: { g, _ in
            // Recomputed from the input so that the second derivative flows through y too.
            let y = FusedOperation.softmaxDefinition(input, axis: axis)
            return [y * (g - (g * y).sum(alongAxes: [axis], keepingDimensions: true))]
        })
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

/// Softmax of each row of `length` scalars: the row's maximum subtracted (0 when it is not
/// finite, as ``Tensor/logSumExp(alongAxes:keepingDimensions:)`` does), exponentials (a vectorized
/// loop), their sum in element order. Rows in parallel, each by one thread.
func softmaxRows(_ x: [Float], rows: Int, length: Int) -> [Float] {
    x.withUnsafeBufferPointer { source in
        makeScalars(count: x.count) { out in
            parallelFor(rows, elementsEach: length) { range in
                for r in range { softmaxRow(source.baseAddress! + r * length, into: out + r * length, length: length) }
            }
        }
    }
}

/// One row's softmax: the maximum shifted out, exponentials, their sum in element order.
/// `row` and `y` may be the same buffer.
@inline(__always)
func softmaxRow(_ row: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, length: Int) {
    var maximum = -Float.infinity
    for i in 0..<length { maximum = Swift.max(maximum, row[i]) }
    let shift = maximum.isFinite ? maximum : 0
    for i in 0..<length { y[i] = VectorMath.exp(row[i] - shift) }
    var total: Float = 0
    for i in 0..<length { total += y[i] }
    for i in 0..<length { y[i] /= total }
}

/// dx = y·(g − Σ g·y) for each row of softmax outputs y and upstream gradients g.
func softmaxPullbackRows(_ g: [Float], _ y: [Float], rows: Int, length: Int) -> [Float] {
    g.withUnsafeBufferPointer { upstream in
        y.withUnsafeBufferPointer { output in
            makeScalars(count: g.count) { out in
                parallelFor(rows, elementsEach: length) { range in
                    for r in range {
                        let gr = upstream.baseAddress! + r * length, yr = output.baseAddress! + r * length, dx = out + r * length
                        var dot: Float = 0
                        for i in 0..<length { dot += gr[i] * yr[i] }
                        for i in 0..<length { dx[i] = yr[i] * (gr[i] - dot) }
                    }
                }
            }
        }
    }
}
