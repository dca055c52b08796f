import Testing
import PlateauTensor
import PlateauNN

/// Expects `values` inside ±`bound` and distributed like U(−bound, bound): mean ≈ 0 and
/// standard deviation ≈ bound/√3 (to 5%, several standard errors for these sizes).
func expectUniform(_ values: [Float], bound: Float, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(values.allSatisfy { abs($0) <= bound }, "\(what): a value exceeds ±\(bound)", sourceLocation: sourceLocation)
    let (mean, variance) = moments(values)
    let expectedStd = Double(bound) / 3.0.squareRoot()
    #expect(abs(mean) < 0.05 * Double(bound), "\(what): mean \(mean)", sourceLocation: sourceLocation)
    #expect(abs(variance.squareRoot() / expectedStd - 1) < 0.05, "\(what): std \(variance.squareRoot()), expected \(expectedStd)",
            sourceLocation: sourceLocation)
}

@Suite("Initializer statistics")
struct InitializerTests {
    @Test func linearDefault() {
        var g = SeededGenerator(seed: 150)
        let layer = Linear(inputCount: 100, outputCount: 60, using: &g)
        expectUniform(layer.weight.scalars, bound: 0.1, "Linear weight")  // 1/√fan_in = 1/√100
        #expect(layer.bias!.scalars.allSatisfy { abs($0) <= 0.1 })
        #expect(Set(layer.bias!.scalars).count == 60, "the bias is random too, as in PyTorch")
    }

    @Test func convolutionDefaults() {
        var g = SeededGenerator(seed: 151)
        let conv = Conv2d(8, 32, kernelSize: 3, using: &g)
        expectUniform(conv.weight.scalars, bound: 1 / Float(72).squareRoot(), "Conv2d weight (fan_in 8·3·3)")
        let grouped = Conv2d(8, 32, kernelSize: 3, groups: 4, using: &g)
        expectUniform(grouped.weight.scalars, bound: 1 / Float(18).squareRoot(), "grouped Conv2d weight (fan_in 2·3·3)")
        // PyTorch's fan_in for the transposed layout [in, out/groups, kh, kw] is out/groups·kh·kw.
        let transposed = ConvTranspose2d(32, 12, kernelSize: 3, groups: 2, using: &g)
        expectUniform(transposed.weight.scalars, bound: 1 / Float(6 * 9).squareRoot(), "ConvTranspose2d weight (fan_in 6·3·3)")
        #expect(transposed.bias!.scalars.allSatisfy { abs($0) <= 1 / Float(54).squareRoot() })
    }

    @Test func kaimingNormalStandardDeviation() {
        var g = SeededGenerator(seed: 152)
        let shape = [256, 64, 3, 3]
        let w = Initializer.kaimingNormal(shape, fanOut: 256 * 9, using: &g)
        let (mean, variance) = moments(w.scalars)
        let expected = (2.0 / 2304).squareRoot()
        // 147,456 samples: the std estimate's relative standard error is ~0.2%.
        #expect(abs(variance.squareRoot() / expected - 1) < 0.01, "std \(variance.squareRoot()), expected \(expected)")
        #expect(abs(mean) < 0.01 * expected)
        // The CIFAR ResNet uses it for every convolution.
        let resnet = ResNet(depth: 8, using: &g)
        let std = moments(resnet.layer3[0].conv2.weight.scalars).variance.squareRoot()
        #expect(abs(std / (2.0 / (64 * 9)).squareRoot() - 1) < 0.05)
    }

    @Test func attentionAndEmbeddingDefaults() {
        var g = SeededGenerator(seed: 153)
        let attention = MultiHeadSelfAttention(dimension: 64, headCount: 4, using: &g)
        // Xavier-uniform over [3d, d]: bound √(6/(d + 3d)).
        expectUniform(attention.inProjectionWeight.scalars, bound: (6 / Float(256)).squareRoot(), "in_proj_weight")
        #expect(attention.inProjectionBias! == .zeros([192]) && attention.outProjection.bias! == .zeros([64]))
        expectUniform(attention.outProjection.weight.scalars, bound: 1 / 8, "out_proj.weight")

        let embedding = Embedding(count: 1000, dimension: 64, using: &g)
        let (mean, variance) = moments(embedding.weight.scalars)
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.03, "N(0, 1): mean \(mean), variance \(variance)")
    }

    @Test func truncatedNormalAndXavier() {
        var g = SeededGenerator(seed: 154)
        let t = Initializer.truncatedNormal([20_000], standardDeviation: 0.5, using: &g)
        #expect(t.scalars.allSatisfy { abs($0) <= 1 })
        // Var of N(0, 1) truncated to [−2, 2]: 1 − 4φ(2)/(2Φ(2) − 1) = 0.7737 → std 0.8796.
        #expect(abs(moments(t.scalars).variance.squareRoot() - 0.5 * 0.8796) < 0.01)
        let x = Initializer.xavierUniform([100, 50], fanIn: 50, fanOut: 100, using: &g)
        expectUniform(x.scalars, bound: 0.2, "Xavier uniform")  // √(6/150)
    }

    @Test func normalizationDefaults() {
        let bn = BatchNorm(featureCount: 3)
        #expect(bn.weight == .ones([3]) && bn.bias == .zeros([3]) && bn.runningMean == .zeros([3]) && bn.runningVariance == .ones([3]))
        let ln = LayerNorm(normalizedShape: [2, 3])
        #expect(ln.weight! == .ones([2, 3]) && ln.bias! == .zeros([2, 3]))
        let gn = GroupNorm(groupCount: 2, channelCount: 4)
        #expect(gn.weight! == .ones([4]) && gn.bias! == .zeros([4]))
    }
}
