// Portable CPU loops behind the tensor operations. They work on raw buffers so the
// optimizer can vectorize them in release builds; nothing here knows about graphs.

@inline(__always)
func makeScalars(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        if count > 0 { fill(buffer.baseAddress!) }
        initialized = count
    }
}

@inline(__always)
func mapScalars<F: UnaryScalarFunction>(_ x: [Float], _ f: F) -> [Float] {
    x.withUnsafeBufferPointer { src in
        makeScalars(count: src.count) { out in
            parallelFor(src.count, grain: elementGrain) { range in
                for i in range { out[i] = f(src[i]) }
            }
        }
    }
}

@inline(__always)
func mapScalars(_ x: [Float], _ f: @escaping (Float) -> Float) -> [Float] {
    mapScalars(x, UnaryClosure(body: f))
}

/// A function of one scalar as a type (see ``BinaryScalarFunction``).
protocol UnaryScalarFunction {
    func callAsFunction(_ x: Float) -> Float
}

struct Rectifying: UnaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 }
}

struct Scaling: UnaryScalarFunction {
    let factor: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * factor }
}

struct UnaryClosure: UnaryScalarFunction {
    let body: (Float) -> Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { body(x) }
}

@inline(__always)
func zipScalars<F: BinaryScalarFunction>(_ x: [Float], _ y: [Float], _ f: F) -> [Float] {
    x.withUnsafeBufferPointer { a in
        y.withUnsafeBufferPointer { b in
            makeScalars(count: a.count) { out in
                parallelFor(a.count, grain: elementGrain) { range in
                    for i in range { out[i] = f(a[i], b[i]) }
                }
            }
        }
    }
}

@inline(__always)
func zipScalars(_ x: [Float], _ y: [Float], _ f: @escaping (Float, Float) -> Float) -> [Float] {
    zipScalars(x, y, ClosureFunction(body: f))
}

/// A function of two scalars as a type, so that generic kernels are specialized for it and
/// the call is inlined into their loops. A closure passed through the thread pool would
/// instead cost an indirect call per element.
protocol BinaryScalarFunction {
    func callAsFunction(_ x: Float, _ y: Float) -> Float
}

struct Adding: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x + y }
}

struct Maximum: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { Swift.max(x, y) }
}

struct Minimum: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { Swift.min(x, y) }
}

struct Subtracting: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x - y }
}

struct Multiplying: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x * y }
}

struct Dividing: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x / y }
}

/// `x` where `gate > 0`, else 0 (relu's backward step).
struct Gating: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ gate: Float) -> Float { gate > 0 ? x : 0 }
}

/// Any other function of two scalars (called indirectly).
struct ClosureFunction: BinaryScalarFunction {
    let body: (Float, Float) -> Float
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { body(x, y) }
}

extension Collection where Element == Int {
    /// The product of the elements (1 for an empty array): a shape's element count.
    @inline(__always) var product: Int { reduce(1, *) }
}

/// Row-major strides of a shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = running
        running *= shape[i]
    }
    return strides
}

/// The numpy broadcast of two shapes, or `nil` when they are incompatible.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if x == y || y == 1 { result[i] = x } else if x == 1 { result[i] = y } else { return nil }
    }
    return result
}

/// Strides that read `shape` (right-aligned) as if broadcast to `target`: 0 on broadcast dims.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let offset = target.count - shape.count
    return (0..<target.count).map { i in
        i < offset || shape[i - offset] == 1 ? 0 : own[i - offset]
    }
}

/// A loop nest over `shape` with per-operand strides, adjacent dimensions merged where
/// every operand allows it, so a broadcast add of `[N, C, H, W] + [1, C, 1, 1]` becomes a
/// short outer loop around a long unit-stride inner loop.
struct StridedLoop {
    var shape: [Int]
    var strides: [[Int]]

    init(shape: [Int], strides: [[Int]]) {
        var mergedShape: [Int] = []
        var mergedStrides: [[Int]] = Array(repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = mergedShape.last,
                (0..<strides.count).allSatisfy({ mergedStrides[$0].last! == strides[$0][d] * shape[d] })
            {
                mergedShape[mergedShape.count - 1] = last * shape[d]
                for k in 0..<strides.count { mergedStrides[k][mergedStrides[k].count - 1] = strides[k][d] }
            } else {
                mergedShape.append(shape[d])
                for k in 0..<strides.count { mergedStrides[k].append(strides[k][d]) }
            }
        }
        if mergedShape.isEmpty {
            mergedShape = [1]
            mergedStrides = Array(repeating: [0], count: strides.count)
        }
        self.shape = mergedShape
        self.strides = mergedStrides
    }

    /// The number of innermost rows.
    var rowCount: Int { shape.dropLast().reduce(1, *) }
    /// The length of an innermost row.
    var rowLength: Int { shape[shape.count - 1] }

    /// Calls `body(offsets, innerCount, innerStrides)` once per innermost row, on several
    /// threads when the loop is large (rows are independent outputs).
    @inline(__always)
    func forEachRowInParallel(_ body: (_ offsets: [Int], _ count: Int, _ innerStrides: [Int]) -> Void) {
        parallelFor(rowCount, elementsEach: rowLength) { rows in forEachRow(in: rows, body) }
    }

    /// Calls `body(offsets, innerCount, innerStrides)` once per innermost row.
    @inline(__always)
    func forEachRow(in rows: Range<Int>? = nil, _ body: (_ offsets: [Int], _ count: Int, _ innerStrides: [Int]) -> Void) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerStrides = strides.map { $0[rank - 1] }
        let rows = rows ?? 0..<rowCount
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        var offsets = [Int](repeating: 0, count: strides.count)
        // Start the odometer at the first requested row.
        var rest = rows.lowerBound
        for d in stride(from: rank - 2, through: 0, by: -1) {
            index[d] = rest % shape[d]
            rest /= shape[d]
            for k in 0..<strides.count { offsets[k] += index[d] * strides[k][d] }
        }
        for _ in rows {
            body(offsets, inner, innerStrides)
            // odometer increment over the outer dimensions
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                for k in 0..<strides.count { offsets[k] += strides[k][d] }
                if index[d] < shape[d] { break }
                for k in 0..<strides.count { offsets[k] -= strides[k][d] * shape[d] }
                index[d] = 0
                d -= 1
            }
        }
    }
}

/// Elementwise `f(a, b)` with numpy broadcasting into `outShape`.
@inline(__always)
func broadcastScalars(
    _ a: [Float], _ aShape: [Int], _ b: [Float], _ bShape: [Int], outShape: [Int],
    _ f: @escaping (Float, Float) -> Float
) -> [Float] {
    broadcastScalars(a, aShape, b, bShape, outShape: outShape, ClosureFunction(body: f))
}

/// Elementwise `f(a, b)` with numpy broadcasting into `outShape`, specialized for `F`.
@inline(__always)
func broadcastScalars<F: BinaryScalarFunction>(
    _ a: [Float], _ aShape: [Int], _ b: [Float], _ bShape: [Int], outShape: [Int], _ f: F
) -> [Float] {
    if aShape == bShape { return zipScalars(a, b, f) }
    if b.count == 1 || a.count == 1 {
        // One side is a single value: stream the other (materialized when it broadcasts too).
        let scalarOnRight = b.count == 1
        let value = scalarOnRight ? b[0] : a[0]
        let other = scalarOnRight ? a : b, otherShape = scalarOnRight ? aShape : bShape
        let stream = other.count == outShape.product ? other : expand(other, otherShape, outShape)
        return stream.withUnsafeBufferPointer { src in
            makeScalars(count: src.count) { out in
                parallelFor(src.count, grain: elementGrain) { range in
                    if scalarOnRight {
                        for i in range { out[i] = f(src[i], value) }
                    } else {
                        for i in range { out[i] = f(value, src[i]) }
                    }
                }
            }
        }
    }
    let loop = StridedLoop(
        shape: outShape,
        strides: [contiguousStrides(outShape), broadcastStrides(aShape, to: outShape), broadcastStrides(bShape, to: outShape)])
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            makeScalars(count: outShape.product) { out in
                loop.forEachRowInParallel { offsets, n, s in
                    let o = out + offsets[0]
                    let x = pa.baseAddress! + offsets[1]
                    let y = pb.baseAddress! + offsets[2]
                    let sx = s[1], sy = s[2]
                    if sx == 1 && sy == 1 {
                        for i in 0..<n { o[i] = f(x[i], y[i]) }
                    } else if sx == 1 && sy == 0 {
                        let yv = y[0]
                        for i in 0..<n { o[i] = f(x[i], yv) }
                    } else if sx == 0 && sy == 1 {
                        let xv = x[0]
                        for i in 0..<n { o[i] = f(xv, y[i]) }
                    } else {
                        for i in 0..<n { o[i] = f(x[i * sx], y[i * sy]) }
                    }
                }
            }
        }
    }
}

/// Materializes a broadcast: `x` of `shape` copied out to `target`.
func expand(_ x: [Float], _ shape: [Int], _ target: [Int]) -> [Float] {
    if shape == target { return x }
    let loop = StridedLoop(shape: target, strides: [contiguousStrides(target), broadcastStrides(shape, to: target)])
    return x.withUnsafeBufferPointer { px in
        makeScalars(count: target.product) { out in
            loop.forEachRowInParallel { offsets, n, s in
                let o = out + offsets[0]
                let src = px.baseAddress! + offsets[1]
                if s[1] == 0 {
                    let v = src[0]
                    for i in 0..<n { o[i] = v }
                } else {
                    for i in 0..<n { o[i] = src[i * s[1]] }
                }
            }
        }
    }
}

/// Reduces a contiguous block of axes: `x` viewed as `[outer, mid, inner]` becomes
/// `[outer, inner]` with `combine` folded over `mid`.
@inline(__always)
func reduceBlock<F: BinaryScalarFunction>(
    _ x: [Float], outer: Int, mid: Int, inner: Int, initial: Float, _ combine: F
) -> [Float] {
    x.withUnsafeBufferPointer { px in
        makeScalars(count: outer * inner) { out in
            let src = px.baseAddress!
            // Each output element is folded by one thread, in order: results do not depend
            // on the thread count.
            if inner == 1 {
                parallelFor(outer, elementsEach: mid) { outers in
                    for o in outers {
                        var acc = initial
                        let row = src + o * mid
                        for m in 0..<mid { acc = combine(acc, row[m]) }
                        out[o] = acc
                    }
                }
            } else {
                for o in 0..<outer {
                    let dst = out + o * inner
                    parallelFor(inner, elementsEach: mid) { columns in
                        for i in columns { dst[i] = initial }
                        for m in 0..<mid {
                            let row = src + (o * mid + m) * inner
                            for i in columns { dst[i] = combine(dst[i], row[i]) }
                        }
                    }
                }
            }
        }
    }
}

/// Reduces the given axes (sorted, unique) keeping them as extent-1 dimensions.
///
/// `combine` is a type (``Adding``, ``Maximum``, …), not a closure, so that the folding loops
/// are specialized for it instead of making an indirect call per element.
@inline(__always)
func reduceAxes<F: BinaryScalarFunction>(
    _ x: [Float], shape: [Int], axes: [Int], initial: Float, _ combine: F
) -> [Float] {
    var values = x
    var current = shape
    // Reduce maximal runs of adjacent axes, innermost run first, so earlier indices stay valid.
    var runs: [(Int, Int)] = []
    for axis in axes {
        if let last = runs.last, last.1 + 1 == axis { runs[runs.count - 1].1 = axis } else { runs.append((axis, axis)) }
    }
    for (lo, hi) in runs.reversed() {
        let outer = current[..<lo].reduce(1, *)
        let mid = current[lo...hi].reduce(1, *)
        let inner = current[(hi + 1)...].reduce(1, *)
        values = reduceBlock(values, outer: outer, mid: mid, inner: inner, initial: initial, combine)
        for a in lo...hi { current[a] = 1 }
    }
    return values
}

/// Copies `x` of `shape` into the axis order `permutation` (output axis i is input axis
/// `permutation[i]`).
func permuteScalars(_ x: [Float], shape: [Int], permutation: [Int]) -> [Float] {
    let outShape = permutation.map { shape[$0] }
    let inStrides = contiguousStrides(shape)
    let readStrides = permutation.map { inStrides[$0] }
    if shape.count == 2 && permutation == [1, 0] {
        return transpose2D(x, rows: shape[0], columns: shape[1])
    }
    let rank = shape.count
    if rank > 2 && permutation == Array(0..<(rank - 2)) + [rank - 1, rank - 2] {
        // The last two axes swapped (`transposed`; MLP-Mixer's token mixing twice per
        // block): matrix by matrix in 4 × 4 tiles, instead of a strided read per element.
        let (rows, columns) = (shape[rank - 2], shape[rank - 1]), size = rows * columns
        return x.withUnsafeBufferPointer { px in
            makeScalars(count: x.count) { out in
                let matrices = size == 0 ? 0 : x.count / size
                parallelFor(matrices, elementsEach: size) { range in
                    for m in range {
                        transposeTiles(px.baseAddress! + m * size, rows: rows, columns: columns, sourceStride: columns,
                                       into: out + m * size, targetStride: rows)
                    }
                }
            }
        }
    }
    let loop = StridedLoop(shape: outShape, strides: [contiguousStrides(outShape), readStrides])
    return x.withUnsafeBufferPointer { px in
        makeScalars(count: x.count) { out in
            loop.forEachRowInParallel { offsets, n, s in
                let o = out + offsets[0]
                let src = px.baseAddress! + offsets[1]
                let stride = s[1]
                if stride == 1 {
                    o.update(from: src, count: n)
                } else {
                    for i in 0..<n { o[i] = src[i * stride] }
                }
            }
        }
    }
}

/// A rows × columns block of a matrix whose rows are `sourceStride` apart, transposed into
/// `out`, whose rows are `targetStride` apart: 4 × 4 tiles of four vector loads and stores,
/// the edges element by element. Whole matrices that fit in cache (a transformer's or mixer's
/// per-sample token matrix) or one cache block of a larger one (``transpose2D(_:rows:columns:)``).
@inline(__always)
func transposeTiles(
    _ src: UnsafePointer<Float>, rows: Int, columns: Int, sourceStride: Int,
    into out: UnsafeMutablePointer<Float>, targetStride: Int
) {
    let source = UnsafeRawPointer(src), target = UnsafeMutableRawPointer(out)
    var r = 0
    while r + 4 <= rows {
        var c = 0
        while c + 4 <= columns {
            let a = source.loadUnaligned(fromByteOffset: (r * sourceStride + c) * 4, as: SIMD4<Float>.self)
            let b = source.loadUnaligned(fromByteOffset: ((r + 1) * sourceStride + c) * 4, as: SIMD4<Float>.self)
            let d = source.loadUnaligned(fromByteOffset: ((r + 2) * sourceStride + c) * 4, as: SIMD4<Float>.self)
            let e = source.loadUnaligned(fromByteOffset: ((r + 3) * sourceStride + c) * 4, as: SIMD4<Float>.self)
            target.storeBytes(of: SIMD4(a[0], b[0], d[0], e[0]), toByteOffset: (c * targetStride + r) * 4, as: SIMD4<Float>.self)
            target.storeBytes(of: SIMD4(a[1], b[1], d[1], e[1]), toByteOffset: ((c + 1) * targetStride + r) * 4, as: SIMD4<Float>.self)
            target.storeBytes(of: SIMD4(a[2], b[2], d[2], e[2]), toByteOffset: ((c + 2) * targetStride + r) * 4, as: SIMD4<Float>.self)
            target.storeBytes(of: SIMD4(a[3], b[3], d[3], e[3]), toByteOffset: ((c + 3) * targetStride + r) * 4, as: SIMD4<Float>.self)
            c += 4
        }
        for column in c..<columns {
            for row in r..<(r + 4) { out[column * targetStride + row] = src[row * sourceStride + column] }
        }
        r += 4
    }
    for row in r..<rows {
        for column in 0..<columns { out[column * targetStride + row] = src[row * sourceStride + column] }
    }
}

/// Cache-blocked 2-D transpose: 32 × 32 blocks, each by ``transposeTiles``.
func transpose2D(_ x: [Float], rows: Int, columns: Int) -> [Float] {
    x.withUnsafeBufferPointer { px in
        makeScalars(count: x.count) { out in
            let src = px.baseAddress!
            let block = 32
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + block, rows)
                var c0 = 0
                while c0 < columns {
                    let c1 = min(c0 + block, columns)
                    transposeTiles(src + r0 * columns + c0, rows: r1 - r0, columns: c1 - c0, sourceStride: columns,
                                   into: out + c0 * rows + r0, targetStride: rows)
                    c0 = c1
                }
                r0 = r1
            }
        }
    }
}

// MARK: - Vector helpers
//
// Swift does not vectorize loops through two raw pointers it cannot prove disjoint, nor
// float reductions (that would reorder the sum). These helpers do it explicitly with 8-lane
// SIMD; reductions use a fixed lane order, so results are deterministic.

/// dst[i] += src[i] for i in 0..<count.
@inline(__always)
func addVector(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    while i + 8 <= count {
        let sum = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) + s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        d.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { dst[i] += src[i]; i += 1 }
}

/// dst[i] = src[i] for i in 0..<count (short rows: cheaper than a memcpy call).
@inline(__always)
func copyVector(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 256 { dst.update(from: src, count: count); return }
    var i = 0
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    while i + 8 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self), toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { dst[i] = src[i]; i += 1 }
}

/// dst[i] = 0 for i in 0..<count (short runs: cheaper than a memset call).
@inline(__always)
func zeroVector(_ dst: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 256 { dst.update(repeating: 0, count: count); return }
    for i in 0..<count { dst[i] = 0 }
}

/// Σ x[i] over 0..<count, in 8 lanes.
@inline(__always)
func sumVector(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>.zero
    var i = 0
    let p = UnsafeRawPointer(x)
    while i + 8 <= count {
        lanes += p.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var total = lanes.sum()
    while i < count { total += x[i]; i += 1 }
    return total
}

/// dst[i] = src[i] + value for i in 0..<count.
@inline(__always)
func addScalar(_ value: Float, _ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst), v = SIMD8<Float>(repeating: value)
    while i + 8 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) + v, toByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { dst[i] = src[i] + value; i += 1 }
}

/// Σ xᵢyᵢ in blocks of 256: Float partial sums vectorize, the blocks add up in Double in
/// block order (so long tensors and large values keep their precision). Blocks are
/// computed on several threads, the sum is the same whatever their number.
func blockedInnerProduct(_ a: [Float], _ b: [Float]) -> Double {
    let count = a.count, blockSize = 256
    let blocks = (count + blockSize - 1) / blockSize
    var partials = [Double](repeating: 0, count: blocks)
    a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in
            partials.withUnsafeMutableBufferPointer { partials in
                parallelFor(blocks, elementsEach: blockSize) { range in
                    let px = UnsafeRawPointer(x.baseAddress!), py = UnsafeRawPointer(y.baseAddress!)
                    for block in range {
                        let start = block * blockSize, end = Swift.min(start + blockSize, count)
                        var lanes = SIMD8<Float>.zero
                        var i = start
                        while i + 8 <= end {
                            lanes += px.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                                * py.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                            i += 8
                        }
                        var partial = lanes.sum()
                        while i < end { partial += x[i] * y[i]; i += 1 }
                        if partial.isFinite {
                            partials[block] = Double(partial)
                        } else {
                            var exact: Double = 0
                            for i in start..<end { exact += Double(x[i]) * Double(y[i]) }
                            partials[block] = exact
                        }
                    }
                }
            }
        }
    }
    return partials.reduce(0, +)
}
