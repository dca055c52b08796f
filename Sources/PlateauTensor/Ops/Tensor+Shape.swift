extension Tensor {
    /// The same elements viewed with another shape; one extent may be `-1` (inferred).
    public func reshaped(to newShape: [Int]) -> Tensor {
        var target = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.filter { $0 != -1 }.product
            precondition(known > 0 && count % known == 0, "reshaped: cannot reshape \(shape) to \(newShape)")
            target[unknown] = count / known
        }
        precondition(target.product == count && target.allSatisfy { $0 >= 0 },
                     "reshaped: cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if target == shape { return self }
        let original = shape
        return Tensor.recorded("reshape", shape: target, scalars: scalars, inputs: [self]) { g, _ in
            [g.reshaped(to: original)]
        }
    }

    /// All dimensions from `axis` on merged into one.
    public func flattened(fromAxis axis: Int = 1) -> Tensor {
        precondition(axis >= 0 && axis <= rank, "flattened: axis \(axis) out of range for shape \(shape)")
        return reshaped(to: Array(shape[..<axis]) + [shape[axis...].product])
    }

    /// The tensor repeated along broadcast dimensions to `target` (numpy rules).
    public func broadcast(to target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(broadcastShape(shape, target) == target, "broadcast: \(shape) does not broadcast to \(target)")
        let original = shape
        return Tensor.recorded("broadcast", shape: target, scalars: expand(scalars, shape, target), inputs: [self]) { g, _ in
            [g.reduced(toShape: original)]
        }
    }

    /// Axes reordered: output axis `i` is input axis `permutation[i]`.
    public func permuted(_ permutation: [Int]) -> Tensor {
        precondition(permutation.sorted() == Array(0..<rank), "permuted: \(permutation) is not a permutation of the \(rank) axes of \(shape)")
        if permutation == Array(0..<rank) { return self }
        var inverseOrder = permutation
        for (i, p) in permutation.enumerated() { inverseOrder[p] = i }
        let inverse = inverseOrder
        return Tensor.recorded(
            "permute", shape: permutation.map { shape[$0] },
            scalars: permuteScalars(scalars, shape: shape, permutation: permutation), inputs: [self]
        ) { g, _ in [g.permuted(inverse)] }
    }

    /// The last two axes swapped (a matrix transpose, batched).
    public var transposed: Tensor {
        precondition(rank >= 2, "transposed: needs rank >= 2, got shape \(shape)")
        var permutation = Array(0..<rank)
        permutation.swapAt(rank - 1, rank - 2)
        return permuted(permutation)
    }

    /// The sub-tensor `range` along `axis`.
    public func sliced(alongAxis axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = normalizedAxes([axis], "sliced")[0]
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "sliced: range \(range) out of bounds for axis \(axis) of shape \(shape)")
        if range == 0..<shape[axis] { return self }
        let outer = shape[..<axis].product, mid = shape[axis], inner = shape[(axis + 1)...].product
        var outShape = shape
        outShape[axis] = range.count
        let length = range.count * inner
        let values = scalars.withUnsafeBufferPointer { src in
            makeScalars(count: outer * length) { out in
                parallelFor(outer, elementsEach: length) { slices in
                    let x = src.baseAddress!
                    for o in slices { (out + o * length).update(from: x + (o * mid + range.lowerBound) * inner, count: length) }
                }
            }
        }
        let before = range.lowerBound, after = mid - range.upperBound
        return Tensor.recorded("slice", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.padded(alongAxis: axis, before: before, after: after)]
        }
    }

    /// Zeros (or `value`) added before and after along `axis`.
    public func padded(alongAxis axis: Int, before: Int, after: Int, value: Float = 0) -> Tensor {
        precondition(before >= 0 && after >= 0, "padded: negative padding \(before), \(after)")
        let axis = normalizedAxes([axis], "padded")[0]
        if before == 0 && after == 0 { return self }
        let outer = shape[..<axis].product, mid = shape[axis], inner = shape[(axis + 1)...].product
        let newMid = mid + before + after
        var outShape = shape
        outShape[axis] = newMid
        // Each outer slice written once (its padding, then its copy), split over the threads:
        // ResNet's shortcut pads every sample's channels.
        let values = scalars.withUnsafeBufferPointer { src in
            makeScalars(count: outer * newMid * inner) { out in
                parallelFor(outer, elementsEach: newMid * inner) { slices in
                    let x = src.baseAddress!
                    for o in slices {
                        let slice = out + o * newMid * inner
                        slice.initialize(repeating: value, count: before * inner)
                        (slice + before * inner).update(from: x + o * mid * inner, count: mid * inner)
                        (slice + (before + mid) * inner).initialize(repeating: value, count: after * inner)
                    }
                }
            }
        }
        return Tensor.recorded("pad", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.sliced(alongAxis: axis, before..<(before + mid))]
        }
    }

    /// Pads each axis by `(before, after)` pairs, one per axis.
    public func padded(_ widths: [(before: Int, after: Int)], value: Float = 0) -> Tensor {
        precondition(widths.count == rank, "padded: \(widths.count) padding pairs for rank-\(rank) shape \(shape)")
        var result = self
        for (axis, w) in widths.enumerated() { result = result.padded(alongAxis: axis, before: w.before, after: w.after, value: value) }
        return result
    }

    /// Tensors joined along an existing axis; all other extents must agree.
    public static func concatenating(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenating: no tensors")
        let first = tensors[0]
        let axis = first.normalizedAxes([axis], "concatenating")[0]
        for t in tensors {
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] },
                         "concatenating: shape \(t.shape) does not match \(first.shape) outside axis \(axis)")
        }
        let outer = first.shape[..<axis].product, inner = first.shape[(axis + 1)...].product
        let mids = tensors.map { $0.shape[axis] }
        let total = mids.reduce(0, +)
        var outShape = first.shape
        outShape[axis] = total
        let values = makeScalars(count: outer * total * inner) { out in
            var start = 0
            for (t, mid) in zip(tensors, mids) {
                t.scalars.withUnsafeBufferPointer { src in
                    for o in 0..<outer {
                        (out + (o * total + start) * inner).update(from: src.baseAddress! + o * mid * inner, count: mid * inner)
                    }
                }
                start += mid
            }
        }
        return recorded("concat", shape: outShape, scalars: values, inputs: tensors) { g, _ in
            var start = 0
            return mids.map { mid in
                defer { start += mid }
                return g.sliced(alongAxis: axis, start..<(start + mid))
            }
        }
    }

    /// Tensors of equal shape stacked along a new axis.
    public static func stacking(_ tensors: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stacking: no tensors")
        let shape = tensors[0].shape
        precondition(tensors.allSatisfy { $0.shape == shape }, "stacking: shapes differ: \(tensors.map(\.shape))")
        precondition(axis >= -(shape.count + 1) && axis <= shape.count, "stacking: axis \(axis) out of range for stacking shape \(shape)")
        let axis = axis < 0 ? axis + shape.count + 1 : axis
        var expanded = shape
        expanded.insert(1, at: axis)
        return concatenating(tensors.map { $0.reshaped(to: expanded) }, alongAxis: axis)
    }

    /// Every `stride.0`-th row and `stride.1`-th column of each plane of `[N, C, H, W]`, from
    /// the first: `[N, C, ⌈H/s₀⌉, ⌈W/s₁⌉]`. ResNet's option-A shortcut (He et al. 2016, §4.2)
    /// subsamples this way; the values are those of two `gathering`s, in one pass, and the
    /// gradient is one pass that puts each value back in a zero plane.
    public func subsampled(by stride: (Int, Int)) -> Tensor {
        precondition(rank == 4, "subsampled: input must be [N, C, H, W], got \(shape)")
        precondition(stride.0 > 0 && stride.1 > 0, "subsampled: strides must be positive, got \(stride)")
        let (h, w) = (shape[2], shape[3])
        let (oh, ow) = ((h + stride.0 - 1) / stride.0, (w + stride.1 - 1) / stride.1)
        let values = Tensor.stridedPlanes(scalars, planes: shape[0] * shape[1], from: (h, w), to: (oh, ow), stride: stride, subsampling: true)
        let inputShape = shape
        return Tensor.recorded("subsample", shape: [shape[0], shape[1], oh, ow], scalars: values, inputs: [self]) { g, _ in
            [g.spreadingOut(by: stride, into: inputShape)]
        }
    }

    /// The adjoint of ``subsampled(by:)``: a zero tensor of `outShape` with `self`'s values at
    /// every `stride`-th row and column.
    func spreadingOut(by stride: (Int, Int), into outShape: [Int]) -> Tensor {
        let (h, w) = (outShape[2], outShape[3])
        let values = Tensor.stridedPlanes(scalars, planes: outShape[0] * outShape[1], from: (h, w), to: (shape[2], shape[3]), stride: stride, subsampling: false)
        return Tensor.recorded("spread", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.subsampled(by: stride)]
        }
    }

    /// Plane by plane in parallel, between `large` planes and `small` ones holding their
    /// every `stride`-th row and column: read out of the large planes (`subsampling`), or
    /// written into zeroed large planes.
    private static func stridedPlanes(
        _ x: [Float], planes: Int, from large: (Int, Int), to small: (Int, Int), stride: (Int, Int), subsampling: Bool
    ) -> [Float] {
        let largePlane = large.0 * large.1, smallPlane = small.0 * small.1
        return x.withUnsafeBufferPointer { src in
            makeScalars(count: planes * (subsampling ? smallPlane : largePlane)) { out in
                parallelFor(planes, elementsEach: largePlane) { range in
                    let x = src.baseAddress!
                    for p in range {
                        if subsampling {
                            let from = x + p * largePlane, to = out + p * smallPlane
                            for i in 0..<small.0 {
                                let row = from + i * stride.0 * large.1, target = to + i * small.1
                                for j in 0..<small.1 { target[j] = row[j * stride.1] }
                            }
                        } else {
                            let from = x + p * smallPlane, to = out + p * largePlane
                            to.initialize(repeating: 0, count: largePlane)
                            for i in 0..<small.0 {
                                let row = from + i * small.1, target = to + i * stride.0 * large.1
                                for j in 0..<small.1 { target[j * stride.1] = row[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The slices at `indices` along `axis` (PyTorch's `index_select`); indices may repeat.
    public func gathering(_ indices: [Int], alongAxis axis: Int) -> Tensor {
        let axis = normalizedAxes([axis], "gathering")[0]
        let mid = shape[axis]
        for i in indices where i < 0 || i >= mid {
            preconditionFailure("gathering: index \(i) out of range 0..<\(mid) for axis \(axis) of shape \(shape)")
        }
        let outer = shape[..<axis].product, inner = shape[(axis + 1)...].product
        var outShape = shape
        outShape[axis] = indices.count
        let count = indices.count
        // Parallel over the outer slices, which are disjoint. Gathering along the last axis
        // (inner = 1) copies single elements: a plain loop instead of a copy call each.
        let values = scalars.withUnsafeBufferPointer { src in
          indices.withUnsafeBufferPointer { indices in
            makeScalars(count: outer * count * inner) { out in
                parallelFor(outer, elementsEach: count * inner) { range in
                    let x = src.baseAddress!
                    for o in range {
                        let from = x + o * mid * inner, to = out + o * count * inner
                        if inner == 1 {
                            for j in 0..<count { to[j] = from[indices[j]] }
                        } else {
                            for j in 0..<count { (to + j * inner).update(from: from + indices[j] * inner, count: inner) }
                        }
                    }
                }
            }
          }
        }
        return Tensor.recorded("gather", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.scatteringAdd(indices, alongAxis: axis, extent: mid)]
        }
    }

    /// The adjoint of ``gathering(_:alongAxis:)``: a zero tensor with `extent` slices along
    /// `axis` to which slice `j` of `self` is added at `indices[j]`.
    public func scatteringAdd(_ indices: [Int], alongAxis axis: Int, extent: Int) -> Tensor {
        let axis = normalizedAxes([axis], "scatteringAdd")[0]
        precondition(shape[axis] == indices.count, "scatteringAdd: \(indices.count) indices for axis \(axis) of shape \(shape)")
        for i in indices where i < 0 || i >= extent {
            preconditionFailure("scatteringAdd: index \(i) out of range 0..<\(extent) along axis \(axis)")
        }
        let outer = shape[..<axis].product, inner = shape[(axis + 1)...].product
        var outShape = shape
        outShape[axis] = extent
        let count = indices.count
        // Parallel over the outer slices: each is written by one thread, its slices added in
        // index order as before, so repeated indices sum in the same order at any thread count.
        let values = scalars.withUnsafeBufferPointer { src in
          indices.withUnsafeBufferPointer { indices in
            makeScalars(count: outer * extent * inner) { out in
                parallelFor(outer, elementsEach: extent * inner) { range in
                    let x = src.baseAddress!
                    for o in range {
                        let from = x + o * count * inner, to = out + o * extent * inner
                        to.initialize(repeating: 0, count: extent * inner)
                        if inner == 1 {
                            for j in 0..<count { to[indices[j]] += from[j] }
                        } else {
                            for j in 0..<count {
                                let dst = to + indices[j] * inner, row = from + j * inner
                                for i in 0..<inner { dst[i] += row[i] }
                            }
                        }
                    }
                }
            }
          }
        }
        return Tensor.recorded("scatterAdd", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.gathering(indices, alongAxis: axis)]
        }
    }

    /// One-hot rows: `[labels.count, classCount]` with a 1 at each label.
    public static func oneHot(_ labels: [Int], classCount: Int) -> Tensor {
        var values = [Float](repeating: 0, count: labels.count * classCount)
        for (i, label) in labels.enumerated() {
            precondition(label >= 0 && label < classCount, "oneHot: label \(label) out of range 0..<\(classCount)")
            values[i * classCount + label] = 1
        }
        return Tensor(shape: [labels.count, classCount], scalars: values)
    }
}
