// Kernels on rows (slices along axis 0) and on image samples, for the modules above the
// engine: data pipelines, per-sample state, analysis. Every result is a constant (no graph).

extension Tensor {
    /// `self` with row `positions[j]` replaced by row `j` of `rows` (rows are slices along
    /// axis 0; a later repeat of a position wins): copying a micro-batch's `[n, C]` outputs
    /// into the batch's buffer. The result is a constant.
    ///
    /// - Precondition: `rows` has `positions.count` rows shaped like `self`'s, and every
    ///   position is in `0..<shape[0]`.
    public func replacingRows(at positions: [Int], with rows: Tensor) -> Tensor {
        var result = self
        result.replaceRows(at: positions, with: rows)
        return result
    }

    /// Replaces row `positions[j]` by row `j` of `rows`, in place (without a copy when this
    /// tensor's storage is not shared); see ``replacingRows(at:with:)``. `self` becomes a
    /// constant.
    public mutating func replaceRows(at positions: [Int], with rows: Tensor) {
        precondition(rank >= 1, "replaceRows: a scalar has no rows")
        precondition(rows.shape == [positions.count] + shape.dropFirst(),
                     "replaceRows: \(positions.count) rows of shape \(Array(shape.dropFirst())) expected, got \(rows.shape)")
        let n = shape[0], inner = shape.dropFirst().product
        for p in positions where p < 0 || p >= n {
            preconditionFailure("replaceRows: position \(p) out of range 0..<\(n)")
        }
        guard inner > 0 else { self = detached; return }
        rows.scalars.withUnsafeBufferPointer { source in
            updateScalars { out in
                for (j, p) in positions.enumerated() {
                    (out.baseAddress! + p * inner).update(from: source.baseAddress! + j * inner, count: inner)
                }
            }
        }
    }

    /// Σ over each row (slice along axis 0) of x², accumulated serially in double precision:
    /// one value per row, e.g. the squared norm of each filter of a weight tensor.
    public func rowSumsOfSquares() -> [Double] {
        precondition(rank >= 1, "rowSumsOfSquares: a scalar has no rows")
        let n = shape[0], inner = shape.dropFirst().product
        return scalars.withUnsafeBufferPointer { x in
            (0..<n).map { row in
                var total: Double = 0
                for k in (row * inner)..<((row + 1) * inner) { total += Double(x[k]) * Double(x[k]) }
                return total
            }
        }
    }

    /// Each row (slice along axis 0) multiplied by its factor, `x · factors[row]`. A constant.
    public func scalingRows(by factors: [Float]) -> Tensor {
        precondition(rank >= 1 && factors.count == shape[0], "scalingRows: \(factors.count) factors for shape \(shape)")
        let inner = shape.dropFirst().product
        let values = scalars.withUnsafeBufferPointer { x in
            makeScalars(count: count) { out in
                for (row, factor) in factors.enumerated() {
                    for k in (row * inner)..<((row + 1) * inner) { out[k] = x[k] * factor }
                }
            }
        }
        return Tensor(shape: shape, scalars: values, node: nil)
    }

    /// Each sample of a batch of images `[B, C, H, W]` moved by its offset,
    /// `out[b, c, y, x] = in[b, c, y + dy, x + dx]`, zero where that falls outside the image:
    /// zero padding followed by a crop, as random-crop augmentation does. A constant.
    public func shiftingSamples(by offsets: [(dy: Int, dx: Int)]) -> Tensor {
        precondition(rank == 4 && offsets.count == shape[0], "shiftingSamples: one offset per sample of [B, C, H, W], got \(offsets.count) for \(shape)")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let values = scalars.withUnsafeBufferPointer { x in
            makeScalars(count: count) { out in
                out.initialize(repeating: 0, count: count)
                for s in 0..<b {
                    let (dy, dx) = offsets[s]
                    let x0 = Swift.max(0, -dx), x1 = Swift.min(w, w - dx)
                    guard x1 > x0 else { continue }
                    for ch in 0..<c {
                        let plane = (s * c + ch) * h * w
                        for y in Swift.max(0, -dy)..<Swift.max(Swift.max(0, -dy), Swift.min(h, h - dy)) {
                            let source = plane + (y + dy) * w + dx
                            let target = plane + y * w
                            for xx in x0..<x1 { out[target + xx] = x[source + xx] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: shape, scalars: values, node: nil)
    }

    /// The samples `s` of a batch of images `[B, C, H, W]` with `mask[s]` flipped left–right,
    /// `out[s, c, y, x] = in[s, c, y, W − 1 − x]`; the others copied. A constant.
    public func flippingSamplesHorizontally(where mask: [Bool]) -> Tensor {
        precondition(rank == 4 && mask.count == shape[0], "flippingSamplesHorizontally: one mask entry per sample of [B, C, H, W], got \(mask.count) for \(shape)")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let values = scalars.withUnsafeBufferPointer { x in
            makeScalars(count: count) { out in
                for s in 0..<b {
                    let base = s * c * h * w
                    if mask[s] {
                        for row in 0..<(c * h) {
                            let start = base + row * w
                            for xx in 0..<w { out[start + xx] = x[start + w - 1 - xx] }
                        }
                    } else {
                        (out + base).update(from: x.baseAddress! + base, count: c * h * w)
                    }
                }
            }
        }
        return Tensor(shape: shape, scalars: values, node: nil)
    }
}

extension Tensor {
    /// An empty constant, standing in for a tensor while its storage is mutated.
    private static let placeholder = Tensor(shape: [0], scalars: [], node: nil)

    /// self + other (the same shape), in place when this tensor's storage is not shared — as
    /// a gradient being accumulated usually is —, else into a copy: the values of `self + other`,
    /// as a constant.
    mutating func accumulate(_ other: Tensor) {
        precondition(shape == other.shape, "accumulate: shapes \(shape) and \(other.shape) differ")
        other.scalars.withUnsafeBufferPointer { b in
            updateScalars { a in
                parallelFor(a.count, grain: elementGrain) { range in
                    addVector(b.baseAddress! + range.lowerBound, into: a.baseAddress! + range.lowerBound, count: range.count)
                }
            }
        }
    }

    /// Runs `body` on this tensor's elements in place; the tensor becomes a constant.
    ///
    /// The tensor is briefly replaced by an empty placeholder so that, when no other copy
    /// shares its storage, the storage is uniquely referenced and is written without a copy.
    @inline(__always)
    mutating func updateScalars<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        var values = scalars
        let shape = self.shape
        self = Tensor.placeholder
        defer { self = Tensor(shape: shape, scalars: values, node: nil) }
        return try values.withUnsafeMutableBufferPointer { try body($0) }
    }
}
