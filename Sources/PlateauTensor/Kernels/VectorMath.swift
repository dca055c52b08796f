// Elementary functions for the elementwise kernels whose cost is the function itself (GELU's
// Φ and φ, softmax's exponentials). libm's expf and erff are opaque scalar calls, which stop
// the loop vectorizer: a ViT step spent about a third of its time in them. These are
// branchless and use only +, ×, ÷, min/max and bit operations, so a plain loop over them
// is vectorized for any x86-64 or arm64 target without fast-math or FMA.
//
// (Written as functions of one Float on purpose: the same code on Swift's SIMD16<Float>
// compiled to per-lane scalar code with spills, twice slower than libm.)
//
// The vectorized loop body and its scalar remainder perform the same IEEE operations, so an
// element's result never depends on where a thread's chunk starts: results stay
// bit-identical across thread counts.

enum VectorMath {
    /// eˣ within 2 ulp of the correctly rounded value for x in [−86.64, 88.72] (checked
    /// against `Foundation.exp` in the tests); +∞ above, 0 below (results under 2⁻¹²⁵ ≈
    /// 2.4e−38 are flushed to zero), NaN for NaN.
    ///
    /// x = k·ln 2 + r with k = round(x/ln 2) and |r| ≤ ln 2/2 (Cody–Waite: ln 2 split into a
    /// part exact in few bits and a correction, so k·ln 2 loses nothing); eʳ by Cephes' expf
    /// polynomial eʳ ≈ 1 + r + r²·P(r); 2ᵏ assembled in the exponent bits.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let lowest: Float = -86.64, highest: Float = 88.72283
        let clamped = Swift.min(Swift.max(x, lowest), highest)
        // Adding 1.5·2²³ rounds x/ln 2 to the nearest integer (ties to even) and leaves that
        // integer in the low mantissa bits of the sum.
        let magic: Float = 12_582_912
        let shifted = clamped * 1.442_695_04 + magic
        let k = shifted - magic
        var r = clamped - k * 0.693_359_375
        r = r - k * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let er = p * (r * r) + r + 1
        // 2^(k−1) from the exponent field (k − 1 + 127 in 1…254 for k in −125…128), then the
        // factor 2 on eʳ: both stay normal at either end of the range.
        let integer = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        let scale = Float(bitPattern: UInt32(bitPattern: (integer &+ 126) &<< 23))
        var y = (er + er) * scale
        y = x > highest ? .infinity : y
        y = x < lowest ? 0 : y
        return x != x ? x : y
    }

    /// Φ(x), the standard normal distribution function, with a relative error below 1e−6
    /// plus the rounding of x² (see the tests), also in the far left tail, where
    /// ½(1 + erf(x/√2)) in float cancels to 0.
    ///
    /// Φ(x) = erfc(z)/2 with z = −x/√2, and erfc(|z|) = t·exp(−z² + P(t)), t = 1/(1 + |z|/2),
    /// P a degree-9 polynomial fitted by Chebyshev (fractional error < 1.2e−7; Press et al.,
    /// *Numerical Recipes*, §6.2); erfc(−|z|) = 2 − erfc(|z|).
    @inline(__always)
    static func normalCDF(_ x: Float) -> Float {
        let z = x * -0.707_106_781_186_547_5
        let a = Float(bitPattern: z.bitPattern & 0x7FFF_FFFF)  // |z|
        let t = 1 / (a * 0.5 + 1)
        var p: Float = 0.170_872_77
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
        return (z < 0 ? 2 - tail : tail) * 0.5
    }

    /// φ(x) = e^(−x²/2)/√(2π), the standard normal density.
    @inline(__always)
    static func normalDensity(_ x: Float) -> Float {
        exp(x * x * -0.5) * 0.398_942_280_401_432_7
    }
}
