// Elementary functions on 16 lanes at a time, for the elementwise kernels whose cost is the
// function itself (GELU's Φ and φ, softmax's exponentials). libm's expf and erff are scalar
// calls: a ViT step spent about a third of its time in them. These use only +, ×, ÷ and
// bit operations on SIMD vectors, so the optimizer emits vector instructions for any x86-64
// or arm64 target without fast-math or FMA.
//
// Every lane is computed independently of the others, and a partial vector at the end of a
// range is padded and computed the same way: an element's result never depends on where a
// thread's chunk starts, so results stay bit-identical across thread counts.

/// The lane type of the vectorized kernels.
typealias FloatVector = SIMD16<Float>

/// A function of one vector of lanes, as a type so that kernels are specialized for it.
protocol UnaryVectorFunction {
    func callAsFunction(_ x: FloatVector) -> FloatVector
}

/// A function of two vectors of lanes (see ``UnaryVectorFunction``).
protocol BinaryVectorFunction {
    func callAsFunction(_ x: FloatVector, _ y: FloatVector) -> FloatVector
}

enum VectorMath {
    /// eˣ lane by lane, within 2 ulp of the correctly rounded value for x in
    /// [−86.64, 88.72] (checked against `Foundation.exp` in the tests); +∞ above, 0 below
    /// (results under 2⁻¹²⁵ ≈ 2.4e−38 are flushed to zero), NaN for NaN.
    ///
    /// x = k·ln 2 + r with k = round(x/ln 2) and |r| ≤ ln 2/2 (Cody–Waite: ln 2 split into a
    /// part exact in few bits and a correction, so k·ln 2 loses nothing); eʳ by Cephes' expf
    /// polynomial eʳ ≈ 1 + r + r²·P(r); 2ᵏ assembled in the exponent bits.
    @inline(__always)
    static func exp(_ x: FloatVector) -> FloatVector {
        let lowest: Float = -86.64, highest: Float = 88.72283
        let clamped = x.clamped(lowerBound: FloatVector(repeating: lowest), upperBound: FloatVector(repeating: highest))
        // Adding 1.5·2²³ rounds x/ln 2 to the nearest integer (ties to even) and leaves that
        // integer in the low mantissa bits of the sum.
        let magic = FloatVector(repeating: 12_582_912)
        let shifted = clamped * 1.442_695_04 + magic
        let k = shifted - magic
        var r = clamped - k * 0.693_359_375
        r = r - k * -2.121_944_4e-4
        var p = FloatVector(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let er = p * (r * r) + r + 1
        // 2^(k−1) from the exponent field (k − 1 + 127 in 1…254 for k in −125…128), then the
        // factor 2 on eʳ: both stay normal at either end of the range.
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((integer &+ 126) &<< 23, to: FloatVector.self)
        var y = (er + er) * scale
        y.replace(with: .infinity, where: x .> highest)
        y.replace(with: 0, where: x .< lowest)
        y.replace(with: x, where: x .!= x)
        return y
    }

    /// Φ(x), the standard normal distribution function, lane by lane, with a relative error
    /// below 1e−6 on the whole line (also in the far left tail, where 1 + erf(x/√2) in float
    /// cancels to 0).
    ///
    /// Φ(x) = erfc(z)/2 with z = −x/√2, and erfc(|z|) = t·exp(−z² + P(t)), t = 1/(1 + |z|/2),
    /// P a degree-9 polynomial fitted by Chebyshev (fractional error < 1.2e−7; Press et al.,
    /// *Numerical Recipes*, §6.2); erfc(−|z|) = 2 − erfc(|z|).
    @inline(__always)
    static func normalCDF(_ x: FloatVector) -> FloatVector {
        let z = x * -0.707_106_781_186_547_5
        let a = unsafeBitCast(unsafeBitCast(z, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: FloatVector.self)  // |z|
        let t = 1 / (a * 0.5 + 1)
        var p = FloatVector(repeating: 0.170_872_77)
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        let tail = t * exp(p - a * a)  // erfc(|z|)
        var erfc = tail
        erfc.replace(with: 2 - tail, where: z .< 0)
        return erfc * 0.5
    }

    /// φ(x) = e^(−x²/2)/√(2π), the standard normal density, lane by lane.
    @inline(__always)
    static func normalDensity(_ x: FloatVector) -> FloatVector {
        exp(x * x * -0.5) * 0.398_942_280_401_432_7
    }
}

/// f over every element of `x`, 16 lanes at a time; the last partial vector padded with
/// zeros and computed the same way.
@inline(__always)
func mapVectors<F: UnaryVectorFunction>(_ x: [Float], _ f: F) -> [Float] {
    x.withUnsafeBufferPointer { source in
        makeScalars(count: source.count) { out in
            parallelFor(source.count, grain: elementGrain) { range in
                forEachVector(in: range) { start, count in
                    store(f(load(source.baseAddress! + start, count: count)), to: out + start, count: count)
                }
            }
        }
    }
}

/// f over the elements of `x` and `y` pairwise (same count), 16 lanes at a time.
@inline(__always)
func zipVectors<F: BinaryVectorFunction>(_ x: [Float], _ y: [Float], _ f: F) -> [Float] {
    precondition(x.count == y.count, "zipVectors: \(x.count) and \(y.count) elements")
    return x.withUnsafeBufferPointer { a in
        y.withUnsafeBufferPointer { b in
            makeScalars(count: a.count) { out in
                parallelFor(a.count, grain: elementGrain) { range in
                    forEachVector(in: range) { start, count in
                        let result = f(load(a.baseAddress! + start, count: count), load(b.baseAddress! + start, count: count))
                        store(result, to: out + start, count: count)
                    }
                }
            }
        }
    }
}

/// Calls `body(start, count)` for consecutive runs of at most 16 indices covering `range`.
@inline(__always)
func forEachVector(in range: Range<Int>, _ body: (Int, Int) -> Void) {
    var start = range.lowerBound
    while start < range.upperBound {
        let count = Swift.min(FloatVector.scalarCount, range.upperBound - start)
        body(start, count)
        start += count
    }
}

/// `count` (≤ 16) floats from `pointer` as a vector, zero-padded.
@inline(__always)
func load(_ pointer: UnsafePointer<Float>, count: Int) -> FloatVector {
    if count == FloatVector.scalarCount { return UnsafeRawPointer(pointer).loadUnaligned(as: FloatVector.self) }
    var v = FloatVector()
    for i in 0..<count { v[i] = pointer[i] }
    return v
}

/// The first `count` (≤ 16) lanes of `v` to `pointer`.
@inline(__always)
func store(_ v: FloatVector, to pointer: UnsafeMutablePointer<Float>, count: Int) {
    if count == FloatVector.scalarCount {
        UnsafeMutableRawPointer(pointer).storeBytes(of: v, as: FloatVector.self)
        return
    }
    for i in 0..<count { pointer[i] = v[i] }
}
