import Testing
import PlateauTensor
import PlateauNN

/// ALIASNorm with fixed segmentation map and mask, as a one-input layer for the gradient helper.
struct ALIASProbe: Layer {
    var norm: ALIASNorm
    var segmentation: Tensor
    var mask: Tensor

    mutating func visit(_ visitor: ModuleVisitor) { visitor.child("norm", &norm) }

    mutating func callAsFunction(_ input: Tensor) -> Tensor {
        // The same noise map on every evaluation, so finite differences compare like with like.
        norm.generator = SeededGenerator(seed: 5)
        return norm(input, segmentation: segmentation, mask: mask)
    }
}

@Suite("ALIAS normalization")
struct ALIASTests {
    /// A mask with a 2×3 misaligned block in sample 0 and a single pixel in sample 1.
    static let mask: Tensor = {
        var m = [Float](repeating: 0, count: 2 * 16)
        for y in 1..<3 { for x in 0..<3 { m[y * 4 + x] = 1 } }
        m[16 + 10] = 1
        return Tensor(shape: [2, 1, 4, 4], scalars: m)
    }()

    @Test func eachRegionIsZeroMeanUnitVarianceOnItsOwn() {
        let x = random([2, 3, 4, 4], seed: 1, scale: 3) + 2
        let y = ALIASNorm.maskNormalized(x, mask: Self.mask, epsilon: 1e-7)
        for n in 0..<2 {
            for c in 0..<3 {
                var inside: [Float] = [], outside: [Float] = []
                for p in 0..<16 {
                    let value = y.scalars[(n * 3 + c) * 16 + p]
                    if Self.mask.scalars[n * 16 + p] == 1 { inside.append(value) } else { outside.append(value) }
                }
                let (mi, vi) = moments(inside), (mo, vo) = moments(outside)
                // 1e-3 rather than Float32's 1e-7: a one-pixel region is a constant map whose
                // rounding residue (~1e-7) instance norm divides by √ε ≈ 3e-4.
                #expect(abs(mi) < 1e-3 && abs(mo) < 1e-3, "sample \(n) channel \(c): means \(mi), \(mo)")
                #expect(abs(vo - 1) < 1e-3)
                // A one-pixel region has no variance to normalize: it becomes 0.
                #expect(inside.count == 1 ? abs(vi) < 1e-6 : abs(vi - 1) < 1e-3)
            }
        }
    }

    @Test func allOnesMaskIsInstanceNormalization() {
        let x = random([2, 3, 4, 5], seed: 2, scale: 2)
        let y = ALIASNorm.maskNormalized(x, mask: .ones([2, 1, 4, 5]))
        #expect(y.isClose(to: ALIASNorm.instanceNormalized(x), relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
        let zeros = ALIASNorm.maskNormalized(x, mask: .zeros([2, 1, 4, 5]))
        #expect(zeros.isClose(to: ALIASNorm.instanceNormalized(x), relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
    }

    /// With zero γ and β convolutions and zero noise scale, the layer is MaskNorm itself.
    @Test func zeroModulationIsTheIdentityOnTheNormalizedMap() {
        var g = SeededGenerator(seed: 3)
        var layer = ALIASNorm(channels: 3, segmentationChannels: 2, hiddenChannels: 4, using: &g)
        for conv in [\ALIASNorm.gamma, \ALIASNorm.beta] {
            layer[keyPath: conv].weight = .zeros(layer[keyPath: conv].weight.shape)
            layer[keyPath: conv].bias = .zeros([3])
        }
        let x = random([2, 3, 4, 4], seed: 4), s = random([2, 2, 4, 4], seed: 5)
        let y = layer(x, segmentation: s, mask: Self.mask)
        #expect(y.isClose(to: ALIASNorm.maskNormalized(x, mask: Self.mask), relativeTolerance: 1e-6, absoluteTolerance: 1e-6))
    }

    /// The segmentation map and the mask are nearest-resized to the activation.
    @Test func modulationInputsAreResized() {
        var g = SeededGenerator(seed: 6)
        var layer = ALIASNorm(channels: 2, segmentationChannels: 1, hiddenChannels: 2, regionwise: false, using: &g)
        #expect(layer(random([1, 2, 4, 4], seed: 7), segmentation: random([1, 1, 2, 2], seed: 8), mask: nil).shape == [1, 2, 4, 4])
    }

    @Test(arguments: [true, false])
    func gradientsMatchFiniteDifferences(regionwise: Bool) {
        var g = SeededGenerator(seed: 9)
        var norm = ALIASNorm(channels: 2, segmentationChannels: 2, hiddenChannels: 2, regionwise: regionwise, using: &g)
        norm.noiseScale = Tensor([0.3, -0.2])
        let probe = ALIASProbe(norm: norm, segmentation: random([2, 2, 4, 4], seed: 10), mask: Self.mask)
        expectGradientsMatch(probe, input: random([2, 2, 4, 4], seed: 11), minimumChecked: 100, step: 1e-3)
        let gradient = valueWithGradient(at: probe) { (p: inout ALIASProbe) in
            (p.callAsFunction(random([2, 2, 4, 4], seed: 11)) * random([2, 2, 4, 4], seed: 12)).sum()
        }.gradient
        for key in ["norm.noise_var", "norm.conv_gamma.weight", "norm.conv_beta.weight", "norm.conv_shared.weight"] {
            #expect(gradient[key]!.norm().item > 0, "no gradient reaches \(key)")
        }
    }
}
