import Foundation
import Testing
@testable import PlateauTensor

// The typed kernels other modules use instead of raw buffers, each against a plain loop
// written here. Equality is exact (bit patterns) wherever the kernel promises it.

private func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }

/// Sizes on both sides of the threads' grain, so the split paths run too.
private let sizes = [1, 7, 70_000]

@Suite struct ByteDecodingTests {
    /// Little-endian bytes of `count` scalars of `encoding`, random.
    static func randomBytes(_ count: Int, _ encoding: ScalarEncoding, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        return (0..<(count * encoding.byteCount)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    }

    /// The value of scalar `i` by its definition, assembled byte by byte.
    static func reference(_ bytes: [UInt8], _ i: Int, _ encoding: ScalarEncoding, start: Int = 0) -> Float {
        var word: UInt64 = 0
        for k in 0..<encoding.byteCount { word |= UInt64(bytes[start + i * encoding.byteCount + k]) << (8 * UInt64(k)) }
        switch encoding {
        case .float64: return Float(Double(bitPattern: word))
        case .float32: return Float(bitPattern: UInt32(word))
        case .float16: return Float(Float16(bitPattern: UInt16(word)))
        case .bfloat16: return Float(bitPattern: UInt32(word) << 16)
        case .int64: return Float(Int64(bitPattern: word))
        case .int32: return Float(Int32(truncatingIfNeeded: word))
        case .int16: return Float(Int16(truncatingIfNeeded: word))
        case .int8: return Float(Int8(truncatingIfNeeded: word))
        case .uint8: return Float(UInt8(word))
        case .bool: return word == 0 ? 0 : 1
        }
    }

    @Test(arguments: ScalarEncoding.allCases)
    func everyEncodingMatchesItsDefinition(_ encoding: ScalarEncoding) {
        let bytes = Self.randomBytes(60, encoding, seed: 7)
        let t = Tensor(decoding: bytes, as: encoding, shape: [3, 4, 5])
        #expect(t.shape == [3, 4, 5])
        // NaN payloads may differ between conversions; compare NaN-ness there.
        for i in 0..<60 {
            let expected = Self.reference(bytes, i, encoding), actual = t.scalars[i]
            #expect(actual.bitPattern == expected.bitPattern || (actual.isNaN && expected.isNaN), "\(encoding) element \(i): \(actual) vs \(expected)")
        }
    }

    @Test func halfPrecisionEdgeCasesAreExact() {
        let halves: [UInt16] = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x7C00, 0xFC00, 0xC000, 0x3555]
        let bytes = halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let t = Tensor(decoding: bytes, as: .float16, shape: [halves.count])
        #expect(bits(t) == halves.map { Float(Float16(bitPattern: $0)).bitPattern })
        #expect(Tensor(decoding: [0x00, 0x7E], as: .float16, shape: [1]).item.isNaN)
    }

    @Test func recordsWithAHeaderAndGapsAndADivisor() {
        // CIFAR-like: a 2-byte header, then records of 1 label byte + 6 pixels.
        var g = SeededGenerator(seed: 9)
        let bytes = (0..<(2 + 3 * 7)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let t = Tensor(decoding: bytes, as: .uint8, shape: [3, 2, 3], offset: 3, recordStride: 7, dividingBy: 255)
        var expected: [Float] = []
        for r in 0..<3 { for k in 0..<6 { expected.append(Float(bytes[3 + r * 7 + k]) / 255) } }
        #expect(bits(t) == expected.map(\.bitPattern))
        // A divisor on wider types divides the converted value.
        let words = Self.randomBytes(4, .int16, seed: 3)
        let halved = Tensor(decoding: words, as: .int16, shape: [4], dividingBy: 2)
        #expect(bits(halved) == (0..<4).map { (Self.reference(words, $0, .int16) / 2).bitPattern })
        // Scalars and empty tensors.
        #expect(Tensor(decoding: [0, 0, 0x80, 0x3F], as: .float32, shape: []).item == 1)
        #expect(Tensor(decoding: [], as: .float32, shape: [0, 3]).shape == [0, 3])
    }

    @Test func float32BytesRoundTrip() {
        var g = SeededGenerator(seed: 11)
        let t = Tensor.randomNormal([5, 3], using: &g)
        let bytes = t.float32LittleEndianBytes
        let expected = t.scalars.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } }
        #expect(bytes == expected)
        #expect(Tensor(decoding: bytes, as: .float32, shape: [5, 3]) == t)
    }
}

@Suite struct RowAndImageKernelTests {
    @Test func replacingRows() {
        var g = SeededGenerator(seed: 12)
        let base = Tensor.randomNormal([5, 3], using: &g), rows = Tensor.randomNormal([3, 3], using: &g)
        let positions = [4, 0, 4]
        var expected = base.scalars
        for (j, p) in positions.enumerated() { for k in 0..<3 { expected[p * 3 + k] = rows.scalars[j * 3 + k] } }
        let replaced = base.trackingGradients().replacingRows(at: positions, with: rows)
        #expect(replaced.scalars == expected && !replaced.isTracked)
        var inPlace = base
        inPlace.replaceRows(at: positions, with: rows)
        #expect(inPlace.scalars == expected)
        #expect(base.replacingRows(at: [], with: Tensor.zeros([0, 3])) == base)
    }

    @Test func rowNormsAndScaling() {
        var g = SeededGenerator(seed: 13)
        let t = Tensor.randomNormal([4, 2, 3], using: &g)
        let sums = t.rowSumsOfSquares()
        for row in 0..<4 {
            var total: Double = 0
            for k in 0..<6 { total += Double(t.scalars[row * 6 + k]) * Double(t.scalars[row * 6 + k]) }
            #expect(sums[row] == total)
        }
        let factors: [Float] = [0.5, -2, 3.25, 1e-3]
        let scaled = t.scalingRows(by: factors)
        #expect(scaled.shape == t.shape && bits(scaled) == (0..<24).map { (t.scalars[$0] * factors[$0 / 6]).bitPattern })
    }

    @Test func shiftsAndFlipsOfImageSamples() {
        var g = SeededGenerator(seed: 14)
        let (b, c, h, w) = (4, 2, 5, 6)
        let images = Tensor.randomUniform([b, c, h, w], in: 0..<1, using: &g)
        let offsets = [(dy: 1, dx: -2), (dy: 0, dx: 0), (dy: -4, dx: 5), (dy: 5, dx: 0)]
        let shifted = images.shiftingSamples(by: offsets)
        let flipMask = [true, false, false, true]
        let flipped = images.flippingSamplesHorizontally(where: flipMask)
        for s in 0..<b {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let at = ((s * c + ch) * h + y) * w + x
                        let (sy, sx) = (y + offsets[s].dy, x + offsets[s].dx)
                        let inside = sy >= 0 && sy < h && sx >= 0 && sx < w
                        #expect(shifted.scalars[at] == (inside ? images.scalars[((s * c + ch) * h + sy) * w + sx] : 0))
                        let fx = flipMask[s] ? w - 1 - x : x
                        #expect(flipped.scalars[at] == images.scalars[((s * c + ch) * h + y) * w + fx])
                    }
                }
            }
        }
    }
}

@Suite struct UpdateKernelTests {
    @Test(arguments: sizes) func movingAverage(_ n: Int) {
        var g = SeededGenerator(seed: 15)
        let v = Tensor.randomNormal([n], using: &g), theta = Tensor.randomNormal([n], using: &g)
        let beta: Float = 0.9998, complement = 1 - beta
        let expected = (0..<n).map { (beta * v.scalars[$0] + complement * theta.scalars[$0]).bitPattern }
        #expect(bits(v.movingAverage(toward: theta, decay: beta)) == expected)
        let set = ParameterSet([("v", v)]).movingAverage(toward: ParameterSet([("v", theta), ("other", Tensor(1))]), decay: beta)
        #expect(set.keys == ["v"] && bits(set["v"]!) == expected)
    }

    @Test func sumOfSquaresAndScale() {
        var g = SeededGenerator(seed: 16)
        var set = ParameterSet([("a", Tensor.randomNormal([70_000], using: &g)), ("b", Tensor.randomNormal([3], using: &g))])
        var total: Double = 0
        for t in set.values { for x in t.scalars { total += Double(x) * Double(x) } }
        #expect(set.sumOfSquares() == total)
        let before = set
        let shared = set["b"]!  // shares storage with the set: scaling must not write through it
        set.scale(by: 0.3)
        #expect(set == before.scaled(by: 0.3) && shared == before["b"]!)
    }

    /// PyTorch's SGD written out per element, in the kernels' documented order.
    static func referenceSGD(
        _ w: [Float], _ g: [Float], _ b: inout [Float], first: Bool, lr: Float, mu: Float, dampening: Float, wd: Float, nesterov: Bool
    ) -> [Float] {
        (0..<w.count).map { i in
            var d = g[i]
            if wd != 0 { d += wd * w[i] }
            if mu != 0 {
                b[i] = first ? d : mu * b[i] + (1 - dampening) * d
                d = nesterov ? d + mu * b[i] : b[i]
            }
            return w[i] + -lr * d
        }
    }

    @Test(arguments: sizes) func sgd(_ n: Int) {
        var g = SeededGenerator(seed: 17)
        let w = Tensor.randomNormal([n], using: &g), grad = Tensor.randomNormal([n], using: &g)
        for wd: Float in [0, 0.01] {
            var none: [Float] = []
            let expected = Self.referenceSGD(w.scalars, grad.scalars, &none, first: true, lr: 0.1, mu: 0, dampening: 0, wd: wd, nesterov: false)
            #expect(bits(OptimizerKernels.sgd(parameter: w, gradient: grad, learningRate: 0.1, weightDecay: wd)) == expected.map(\.bitPattern))
        }
        for (nesterov, dampening, wd) in [(false, Float(0), Float(0)), (false, 0.1, 0.01), (true, 0, 0), (true, 0, 0.001)] {
            var buffer = Tensor.zeros([n]), referenceBuffer = [Float](repeating: 0, count: n)
            var weights = w, referenceWeights = w.scalars
            for step in 0..<3 {
                let first = step == 0
                weights = OptimizerKernels.sgdMomentum(
                    parameter: weights, gradient: grad, buffer: &buffer, isFirstStep: first, learningRate: 0.1, momentum: 0.9,
                    dampening: dampening, weightDecay: wd, nesterov: nesterov)
                referenceWeights = Self.referenceSGD(
                    referenceWeights, grad.scalars, &referenceBuffer, first: first, lr: 0.1, mu: 0.9, dampening: dampening, wd: wd, nesterov: nesterov)
            }
            #expect(bits(weights) == referenceWeights.map(\.bitPattern), "nesterov \(nesterov), dampening \(dampening), wd \(wd)")
            #expect(bits(buffer) == referenceBuffer.map(\.bitPattern))
        }
    }

    @Test(arguments: sizes) func adam(_ n: Int) {
        var g = SeededGenerator(seed: 18)
        let w = Tensor.randomNormal([n], using: &g), grad = Tensor.randomNormal([n], using: &g)
        for (l2, decay) in [(Float(0), Float?.none), (0.01, nil), (0, 0.999)] {
            var m = Tensor.zeros([n]), v = Tensor.zeros([n])
            var rm = [Float](repeating: 0, count: n), rv = rm
            var weights = w, reference = w.scalars
            for _ in 0..<3 {
                let s = OptimizerKernels.AdamScalars(
                    stepSize: 0.011, biasCorrection2Root: 0.0447, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, l2: l2, decayFactor: decay)
                weights = OptimizerKernels.adam(parameter: weights, gradient: grad, firstMoment: &m, secondMoment: &v, s)
                reference = (0..<n).map { i in
                    var wi = reference[i]
                    if let decay { wi *= decay }
                    var gi = grad.scalars[i]
                    if l2 != 0 { gi += l2 * wi }
                    rm[i] += (1 - s.beta1) * (gi - rm[i])
                    rv[i] = s.beta2 * rv[i] + (1 - s.beta2) * gi * gi
                    return wi + -s.stepSize * (rm[i] / (rv[i].squareRoot() / s.biasCorrection2Root + s.epsilon))
                }
            }
            #expect(bits(weights) == reference.map(\.bitPattern) && bits(m) == rm.map(\.bitPattern) && bits(v) == rv.map(\.bitPattern))
        }
    }

    @Test func buffersSharedWithACopyAreNotWrittenThrough() {
        let w = Tensor([1, 2]), grad = Tensor([0.5, -0.5])
        var buffer = Tensor([1, 1])
        let snapshot = buffer  // an optimizer's exported state shares the buffer's storage
        _ = OptimizerKernels.sgdMomentum(
            parameter: w, gradient: grad, buffer: &buffer, isFirstStep: false, learningRate: 0.1, momentum: 0.9, dampening: 0,
            weightDecay: 0, nesterov: false)
        #expect(snapshot.scalars == [1, 1] && buffer.scalars == [0.9 + 0.5, 0.9 - 0.5])
    }
}
