import Foundation

/// A small, fast, seedable generator (xoshiro256**, Blackman & Vigna 2018) seeded through
/// SplitMix64. Plateau never uses a global generator: every random draw takes one of these
/// (or any `RandomNumberGenerator`) explicitly, so the same seed gives the same run.
///
/// Its state is four words and can be saved in a checkpoint (``state``) and restored.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The four state words; save them to resume the stream with ``init(state:)``.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose four state words are the first four SplitMix64 outputs from `seed`.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Restores a generator from a saved ``state``.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "SeededGenerator: the all-zero state is invalid")
        self.state = state
    }

    /// The next xoshiro256** output: `rotl(s₁·5, 7)·9`, then the state advances.
    public mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// An independent generator for a sub-task (a data loader, a dropout layer), derived
    /// from this one's next output.
    public mutating func split() -> SeededGenerator { SeededGenerator(seed: next()) }

    /// Equal when the states are equal (so the streams are).
    public static func == (l: SeededGenerator, r: SeededGenerator) -> Bool { l.state == r.state }
}

extension RandomNumberGenerator {
    /// A uniform sample from [0, 1) with 24 random bits: one `next()` call, no generic
    /// range arithmetic (initializing a 36 M-parameter model draws that many).
    @inline(__always)
    mutating func unitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// A uniform sample from (0, 1] with 53 random bits.
    @inline(__always)
    mutating func positiveUnitDouble() -> Double { (Double(next() >> 11) + 1) * 0x1p-53 }
}

extension Tensor {
    /// Samples from N(mean, std²) by the Box–Muller transform.
    public static func randomNormal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, using generator: inout some RandomNumberGenerator
    ) -> Tensor {
        let n = shape.product
        var values = [Float](repeating: 0, count: n)
        var i = 0
        while i < n {
            let u1 = generator.positiveUnitDouble()
            let u2 = generator.positiveUnitDouble()
            let r = (-2 * Foundation.log(u1)).squareRoot()
            values[i] = mean + standardDeviation * Float(r * cos(2 * .pi * u2))
            if i + 1 < n { values[i + 1] = mean + standardDeviation * Float(r * sin(2 * .pi * u2)) }
            i += 2
        }
        return Tensor(shape: shape, scalars: values)
    }

    /// Samples uniformly from `[lower, upper)`.
    public static func randomUniform(
        _ shape: [Int], in range: Range<Float>, using generator: inout some RandomNumberGenerator
    ) -> Tensor {
        let width = range.upperBound - range.lowerBound
        let values = (0..<shape.product).map { _ -> Float in
            let x = range.lowerBound + width * generator.unitFloat()
            return x < range.upperBound ? x : range.lowerBound  // rounding can reach the open end
        }
        return Tensor(shape: shape, scalars: values)
    }

    /// Entries ±1 with equal probability (Rademacher), for Hutchinson's trace estimator.
    public static func randomRademacher(_ shape: [Int], using generator: inout some RandomNumberGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.product).map { _ in generator.next() >> 63 == 0 ? 1 : -1 })
    }
}
