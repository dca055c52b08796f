import Foundation

extension Tensor {
    /// Normalizes possibly negative axes into sorted unique indices.
    func normalizedAxes(_ axes: [Int], _ op: String) -> [Int] {
        let result = Set(axes.map { a -> Int in
            let axis = a < 0 ? a + rank : a
            precondition(axis >= 0 && axis < rank, "\(op): axis \(a) out of range for shape \(shape)")
            return axis
        })
        return result.sorted()
    }

    func keptShape(_ axes: [Int]) -> [Int] {
        var kept = shape
        for a in axes { kept[a] = 1 }
        return kept
    }

    /// The sum over `axes` (all axes when `nil`); reduced axes are dropped unless
    /// `keepingDimensions`.
    public func sum(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
        let axes = normalizedAxes(axes ?? Array(0..<rank), "sum")
        let kept = keptShape(axes)
        let outShape = keepingDimensions ? kept : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        let inputShape = shape
        let scalars = axes.isEmpty ? scalars : reduceAxes(scalars, shape: shape, axes: axes, initial: 0, Adding())
        return Tensor.recorded("sum", shape: outShape, scalars: scalars, inputs: [self]) { g, _ in
            [g.reshaped(to: kept).broadcast(to: inputShape)]
        }
    }

    /// ⟨self, other⟩ = Σᵢ selfᵢ·otherᵢ over all elements of two tensors of one shape: a scalar,
    /// what `(self * other).sum()` gives, in one read of each operand instead of a product
    /// tensor and a sum (accumulated in double precision per block of 256, independent of
    /// the thread count). Its gradient is (u·other, u·self) for an upstream u; at u = 1, the
    /// seed of a backward pass, that is the operands themselves, shared without a copy —
    /// which is what makes the tangent terms of ``directionalDerivative(of:withRespectTo:along:)``
    /// cheap for activation-sized tensors.
    public func innerProduct(with other: Tensor) -> Tensor {
        precondition(shape == other.shape, "innerProduct: shapes \(shape) and \(other.shape) differ")
        let a = self, b = other
        let value = Float(blockedInnerProduct(scalars, other.scalars))
        return Tensor.recorded("inner-product", shape: [], scalars: [value], inputs: [a, b]) { u, _ in
            guard u.node != nil || u.scalars[0] != 1 else {
                return GradientRecording.isRecording ? [b, a] : [b.detached, a.detached]
            }
            return [b * u, a * u]
        }
    }

    /// The sum over one axis; see ``sum(alongAxes:keepingDimensions:)``.
    public func sum(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The mean over `axes` (all axes when `nil`).
    public func mean(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
        let axes = normalizedAxes(axes ?? Array(0..<rank), "mean")
        let n = axes.map { shape[$0] }.product
        return sum(alongAxes: axes, keepingDimensions: keepingDimensions) * (1 / Float(Swift.max(n, 1)))
    }

    /// The mean over one axis; see ``mean(alongAxes:keepingDimensions:)``.
    public func mean(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The (biased, divide-by-n) variance over `axes`; `unbiased` divides by n - 1.
    public func variance(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false, unbiased: Bool = false) -> Tensor {
        let axes = normalizedAxes(axes ?? Array(0..<rank), "variance")
        let n = axes.map { shape[$0] }.product
        let centered = self - mean(alongAxes: axes, keepingDimensions: true)
        let sumSquares = centered.square().sum(alongAxes: axes, keepingDimensions: keepingDimensions)
        return sumSquares * (1 / Float(Swift.max(unbiased ? n - 1 : n, 1)))
    }

    func extremum<Pick: BinaryScalarFunction>(_ name: String, _ axes: [Int]?, _ keepingDimensions: Bool, initial: Float, _ pick: Pick) -> Tensor {
        precondition(count > 0, "\(name): empty tensor of shape \(shape)")
        let axes = normalizedAxes(axes ?? Array(0..<rank), name)
        let kept = keptShape(axes)
        let outShape = keepingDimensions ? kept : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        let values = reduceAxes(scalars, shape: shape, axes: axes, initial: initial, pick)
        let input = self
        return Tensor.recorded(name, shape: outShape, scalars: values, inputs: [self]) { g, _ in
            // The gradient is shared equally among the elements that attain the extremum.
            let hit = broadcastScalars(input.scalars, input.shape, values, kept, outShape: input.shape) { $0 == $1 ? 1 : 0 }
            let hits = reduceAxes(hit, shape: input.shape, axes: axes, initial: 0, Adding())
            let weights = broadcastScalars(hit, input.shape, hits, kept, outShape: input.shape) { $0 / $1 }
            return [g.reshaped(to: kept).broadcast(to: input.shape) * Tensor(shape: input.shape, scalars: weights)]
        }
    }

    /// The maximum over `axes` (all when `nil`).
    public func max(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
        extremum("max", axes, keepingDimensions, initial: -.infinity, Maximum())
    }

    /// The minimum over `axes` (all when `nil`).
    public func min(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
        extremum("min", axes, keepingDimensions, initial: .infinity, Minimum())
    }

    /// Indices of the largest element along `axis` (first on ties); not differentiable.
    public func argmax(alongAxis axis: Int) -> [Int] {
        let axis = normalizedAxes([axis], "argmax")[0]
        let outer = shape[..<axis].reduce(1, *), mid = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        precondition(mid > 0, "argmax: axis \(axis) of shape \(shape) is empty")
        var result = [Int](repeating: 0, count: outer * inner)
        scalars.withUnsafeBufferPointer { x in
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = x[o * mid * inner + i], bestIndex = 0
                    for m in 1..<mid where x[(o * mid + m) * inner + i] > best {
                        best = x[(o * mid + m) * inner + i]
                        bestIndex = m
                    }
                    result[o * inner + i] = bestIndex
                }
            }
        }
        return result
    }

    /// log Σ exp(x) over `axes`, computed stably by subtracting the maximum first.
    public func logSumExp(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let shift = max(alongAxes: axes, keepingDimensions: true).detached
        let safeShift = Tensor(shape: shift.shape, scalars: mapScalars(shift.scalars) { $0.isFinite ? $0 : 0 })
        let result = (self - safeShift).exp().sum(alongAxes: axes, keepingDimensions: true).log() + safeShift
        if keepingDimensions { return result }
        let axesSet = Set(normalizedAxes(axes, "logSumExp"))
        return result.reshaped(to: shape.enumerated().filter { !axesSet.contains($0.offset) }.map(\.element))
    }

    /// The Euclidean norm of all elements.
    public func norm() -> Tensor { square().sum().sqrt() }

    /// Undoes broadcasting: sums over the dimensions that broadcasting added or stretched
    /// so the result has `target` shape.
    public func reduced(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let offset = rank - target.count
        precondition(offset >= 0 && target.indices.allSatisfy { target[$0] == 1 || target[$0] == shape[$0 + offset] },
                     "reduced(toShape:): cannot reduce \(shape) to \(target)")
        var axes = Array(0..<offset)
        for (i, extent) in target.enumerated() where extent == 1 && shape[i + offset] != 1 {
            axes.append(i + offset)
        }
        return sum(alongAxes: axes, keepingDimensions: true).reshaped(to: target)
    }
}
