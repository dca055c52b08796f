import Foundation
import Testing
import PlateauTensor
import PlateauNN

@Suite("Forward values vs hand computation")
struct ForwardTests {
    @Test func linearTwoByThree() {
        let layer = Linear(weight: Tensor([[1, 2, 3], [-1, 0, 2]]), bias: Tensor([0.5, -1]))
        let x = Tensor([[1, 0, -1], [2, 1, 0.5]])
        // Row 1: [1 − 3 + 0.5, −1 − 2 − 1] = [−1.5, −4]; row 2: [2 + 2 + 1.5 + 0.5, −2 + 1 − 1] = [6, −2].
        #expect(layer(x) == Tensor([[-1.5, -4], [6, -2]]))
        // Leading batch axes are kept.
        #expect(layer(x.reshaped(to: [1, 2, 3])) == Tensor(shape: [1, 2, 2], scalars: [-1.5, -4, 6, -2]))
    }

    @Test func batchNormTrainingNormalizesAndTracksStatistics() {
        var bn = BatchNorm(featureCount: 3)
        let first = random([4, 3, 2, 2], seed: 70, scale: 3) + 2
        let second = random([4, 3, 2, 2], seed: 71, scale: 0.5) - 1
        // PyTorch: running = (1 − 0.1)·running + 0.1·batch, with the unbiased batch variance.
        var expectedMean = [Double](repeating: 0, count: 3), expectedVariance = [Double](repeating: 1, count: 3)
        for batch in [first, second] {
            let output = bn(batch)
            for c in 0..<3 {
                let channel = { (t: Tensor) in (0..<4).flatMap { n in (0..<4).map { i in t.scalars[(n * 3 + c) * 4 + i] } } }
                let (mean, variance) = moments(channel(batch))
                let (outMean, outVariance) = moments(channel(output))
                #expect(abs(outMean) < 1e-5)
                #expect(abs(outVariance - variance / (variance + 1e-5)) < 1e-4)
                expectedMean[c] = 0.9 * expectedMean[c] + 0.1 * mean
                expectedVariance[c] = 0.9 * expectedVariance[c] + 0.1 * variance * 16 / 15
            }
        }
        #expect(close(bn.runningMean.scalars, expectedMean, tolerance: 1e-5))
        #expect(close(bn.runningVariance.scalars, expectedVariance, tolerance: 1e-5))
        #expect(bn.batchesTracked.item == 2)

        // Evaluation normalizes with the running statistics and leaves them alone.
        bn.weight = Tensor([2, 1, 0.5])
        bn.bias = Tensor([0, 1, -1])
        bn.setTraining(false)
        let x = random([2, 3, 2, 2], seed: 72)
        let y = bn(x)
        for (i, value) in y.scalars.enumerated() {
            let c = (i / 4) % 3
            let expected = (Double(x.scalars[i]) - expectedMean[c]) / (expectedVariance[c] + 1e-5).squareRoot()
                * Double(bn.weight.scalars[c]) + Double(bn.bias.scalars[c])
            #expect(abs(Double(value) - expected) < 1e-5)
        }
        #expect(close(bn.runningMean.scalars, expectedMean, tolerance: 1e-5))
        #expect(bn.batchesTracked.item == 2)
    }

    @Test func batchNormOnFeatureVectors() {
        var bn = BatchNorm(featureCount: 2)
        let x = Tensor([[1, 10], [3, 20], [5, 60]])
        let y = bn(x)
        // Column 0: mean 3, biased variance 8/3; column 1: mean 30, variance 1400/3.
        let c0 = [1.0, 3, 5].map { ($0 - 3) / (8.0 / 3 + 1e-5).squareRoot() }
        let c1 = [10.0, 20, 60].map { ($0 - 30) / (1400.0 / 3 + 1e-5).squareRoot() }
        #expect(close(y.scalars, [c0[0], c1[0], c0[1], c1[1], c0[2], c1[2]], tolerance: 1e-5))
        #expect(close(bn.runningMean.scalars, [0.3, 3], tolerance: 1e-6))
        // Unbiased: 8/2 = 4 and 1400/2 = 700.
        #expect(close(bn.runningVariance.scalars, [0.9 + 0.4, 0.9 + 70], tolerance: 1e-4))
    }

    @Test func layerNormStatistics() {
        var ln = LayerNorm(4)
        let x = Tensor([[1, 2, 3, 4], [-2, 0, 0, 10]])
        // Row 1: mean 2.5, biased variance 1.25.
        let row1 = [1.0, 2, 3, 4].map { ($0 - 2.5) / (1.25 + 1e-5).squareRoot() }
        let y = ln(x)
        #expect(close(Array(y.scalars[0..<4]), row1))
        let (mean, variance) = moments(Array(y.scalars[4..<8]))
        #expect(abs(mean) < 1e-6 && abs(variance - 1) < 1e-4)
        // Affine: γ·x̂ + β elementwise.
        ln.weight = Tensor([1, 2, 3, 4])
        ln.bias = Tensor([0, 0, 1, 1])
        #expect(close(Array(ln(x).scalars[0..<4]), row1.enumerated().map { $1 * Double($0 + 1) + ($0 >= 2 ? 1 : 0) }))
        // Over the last two axes of [2, 2, 3]: each sample's six values are normalized together.
        let ln2 = LayerNorm(normalizedShape: [2, 3])
        let z = ln2(random([2, 2, 3], seed: 73, scale: 5) + 3)
        for sample in 0..<2 {
            let (m, v) = moments(Array(z.scalars[(sample * 6)..<(sample * 6 + 6)]))
            #expect(abs(m) < 1e-6 && abs(v - 1) < 1e-4)
        }
    }

    @Test func groupNormStatistics() {
        let gn = GroupNorm(groupCount: 2, channelCount: 4)
        // Channels 0–1 and 2–3 form the groups; scale the second group very differently.
        let x = random([2, 4, 3, 3], seed: 74) * Tensor(shape: [1, 4, 1, 1], scalars: [1, 2, 50, 100]) + 7
        let y = gn(x)
        for n in 0..<2 {
            for group in 0..<2 {
                let start = (n * 4 + group * 2) * 9
                let values = Array(y.scalars[start..<(start + 18)])
                let (m, v) = moments(values)
                #expect(abs(m) < 1e-5 && abs(v - 1) < 1e-4, "sample \(n) group \(group): mean \(m), variance \(v)")
                // And the values are the hand-normalized inputs.
                let (xm, xv) = moments(Array(x.scalars[start..<(start + 18)]))
                let expected = x.scalars[start..<(start + 18)].map { (Double($0) - xm) / (xv + 1e-5).squareRoot() }
                #expect(close(values, expected, tolerance: 1e-4))
            }
        }
        // One group over all channels is LayerNorm over [C, H, W].
        let whole = GroupNorm(groupCount: 1, channelCount: 4)(x)
        #expect(whole.isClose(to: LayerNorm(normalizedShape: [4, 3, 3])(x), relativeTolerance: 1e-4, absoluteTolerance: 1e-5))
    }

    /// With identity projections and zero biases, attention is softmax(Q·Kᵀ/√d_h)·V with
    /// Q = K = V = X, per head on its slice of the features.
    @Test(arguments: [1, 2])
    func attentionWithIdentityProjections(heads: Int) {
        var g = SeededGenerator(seed: 75)
        let d = 4, t = 3, n = 2, dh = d / heads
        var attention = MultiHeadSelfAttention(dimension: d, headCount: heads, using: &g)
        let identity = Tensor(shape: [d, d], scalars: (0..<(d * d)).map { $0 / d == $0 % d ? 1 : 0 })
        attention.inProjectionWeight = Tensor.concatenating([identity, identity, identity], alongAxis: 0)
        attention.inProjectionBias = .zeros([3 * d])
        attention.outProjection = Linear(weight: identity, bias: .zeros([d]))
        let x = random([n, t, d], seed: 76)
        let y = attention(x)
        #expect(y.shape == [n, t, d])

        func xv(_ b: Int, _ i: Int, _ f: Int) -> Double { Double(x.scalars[(b * t + i) * d + f]) }
        var expected = [Double](repeating: 0, count: n * t * d)
        for b in 0..<n {
            for h in 0..<heads {
                let features = (h * dh)..<((h + 1) * dh)
                for i in 0..<t {
                    let scores = (0..<t).map { j in features.reduce(0.0) { $0 + xv(b, i, $1) * xv(b, j, $1) } / Double(dh).squareRoot() }
                    let top = scores.max()!
                    let weights = scores.map { Foundation.exp($0 - top) }
                    let total = weights.reduce(0, +)
                    for f in features {
                        expected[(b * t + i) * d + f] = (0..<t).reduce(0.0) { $0 + weights[$1] / total * xv(b, $1, f) }
                    }
                }
            }
        }
        #expect(close(y.scalars, expected, tolerance: 1e-5))
        let weights = attention.attention(x).weights
        #expect(weights.shape == [n, heads, t, t])
        #expect(close(weights.sum(alongAxis: -1).scalars, [Double](repeating: 1, count: n * heads * t)))
    }

    @Test func attentionIsPermutationEquivariant() {
        var g = SeededGenerator(seed: 77)
        let attention = MultiHeadSelfAttention(dimension: 4, headCount: 2, using: &g)
        let x = random([1, 3, 4], seed: 78)
        let order = [2, 0, 1]
        let permutedOutput = attention(x.gathering(order, alongAxis: 1))
        #expect(permutedOutput.isClose(to: attention(x).gathering(order, alongAxis: 1), relativeTolerance: 1e-5, absoluteTolerance: 1e-6))
    }

    @Test func dropoutMasks() {
        let x = Tensor.ones([1000])
        var a = Dropout(probability: 0.3, seed: 7), b = Dropout(probability: 0.3, seed: 7), c = Dropout(probability: 0.3, seed: 8)
        let ya = a(x), yb = b(x), yc = c(x)
        #expect(ya == yb, "same seed, same mask")
        #expect(ya != yc, "different seed, different mask")
        #expect(a(x) != ya, "the generator advances: the next mask differs")
        // Kept elements are scaled by 1/(1 − p); about 70% are kept.
        #expect(ya.scalars.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
        let kept = ya.scalars.filter { $0 != 0 }.count
        #expect((640...760).contains(kept), "kept \(kept) of 1000")
        // Evaluation mode is the identity and draws nothing.
        var eval = Dropout(probability: 0.3, seed: 7)
        eval.setTraining(false)
        let before = eval.generator
        #expect(eval(x) == x)
        #expect(eval.generator == before)
    }

    @Test func embeddingLooksUpRows() {
        let embedding = Embedding(weight: Tensor([[0, 1], [2, 3], [4, 5]]))
        #expect(embedding([2, 0, 2]) == Tensor([[4, 5], [0, 1], [4, 5]]))
        #expect(embedding(Tensor(shape: [2, 1], scalars: [1, 2])) == Tensor(shape: [2, 1, 2], scalars: [2, 3, 4, 5]))
    }

    @Test func convTransposeIsTheAdjointOfConv() {
        // ⟨conv(x; W), y⟩ = ⟨x, convT(y; W)⟩ for the same weight and geometry.
        var g = SeededGenerator(seed: 79)
        var convT = ConvTranspose2d(3, 2, kernelSize: 3, stride: 2, padding: 1, bias: false, using: &g)
        let conv = Conv2d(2, 3, kernelSize: 3, stride: 2, padding: 1, bias: false, using: &g)
        convT.weight = conv.weight  // [3, 2, 3, 3]: conv's [out, in] is convT's [in, out]
        let x = random([1, 2, 5, 5], seed: 80), y = random([1, 3, 3, 3], seed: 81)
        #expect(convT(y).shape == [1, 2, 5, 5])
        let lhs = (conv(x) * y).sum().item, rhs = (x * convT(y)).sum().item
        #expect(abs(lhs - rhs) < 1e-4 * max(1, abs(lhs)))
        // PyTorch's output size: (H − 1)·s − 2p + k + output_padding.
        let up = ConvTranspose2d(3, 4, kernelSize: 2, stride: 2, using: &g)
        #expect(up(random([2, 3, 4, 5], seed: 82)).shape == [2, 4, 8, 10])
    }
}
