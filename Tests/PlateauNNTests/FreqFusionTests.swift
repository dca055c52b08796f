import Testing
import PlateauTensor
import PlateauNN

/// FreqFusion with its low-resolution input held as a parameter, so the gradient helpers
/// see both inputs.
struct FusionProbe: Layer {
    var fusion: FreqFusion
    var low: Tensor
    /// Whether the fusion's own parameters are presented (and so gradient-checked).
    var visitsFusion = true

    mutating func visit(_ visitor: ModuleVisitor) {
        if visitsFusion { visitor.child("fusion", &fusion) }
        visitor.parameter("low", &low)
    }

    func callAsFunction(_ input: Tensor) -> Tensor { fusion(high: input, low: low) }
}

@Suite("FreqFusion")
struct FreqFusionTests {
    @Test(arguments: [3, 5])
    func lowPassKernelsAreNonNegativeAndSumToOne(side: Int) {
        let kernels = FreqFusion.normalizedKernels(random([2, side * side, 3, 4], seed: 1, scale: 3), side: side)
        #expect(kernels.scalars.allSatisfy { $0 >= 0 })
        let sums = kernels.sum(alongAxis: 1)
        #expect(sums.scalars.allSatisfy { abs($0 - 1) < 1e-5 })
    }

    /// A kernel that sums to 1 maps a constant to itself, including at the border (the
    /// taps are replicate-padded), with and without upsampling.
    @Test(arguments: [false, true])
    func constantInputStaysConstantThroughTheLowPass(upsampling: Bool) {
        let x = Tensor(repeating: 2.5, shape: [1, 2, 3, 3])
        let size = upsampling ? 6 : 3
        let kernels = FreqFusion.normalizedKernels(random([1, 25, size, size], seed: 2, scale: 2), side: 5)
        let y = FreqFusion.reassembled(x, kernels: kernels, side: 5, upsampling: upsampling)
        #expect(y.shape == [1, 2, size, size])
        #expect(y.scalars.allSatisfy { abs($0 - 2.5) < 1e-5 })
    }

    @Test func highPassOfAConstantIsZero() {
        let x = Tensor(repeating: -1.5, shape: [2, 3, 4, 4])
        let kernels = FreqFusion.normalizedKernels(random([2, 9, 4, 4], seed: 3, scale: 2), side: 3)
        let highPass = x - FreqFusion.reassembled(x, kernels: kernels, side: 3, upsampling: false)
        #expect(highPass.scalars.allSatisfy { abs($0) < 1e-5 })
    }

    /// Reassembly against a direct loop: out(p) = Σ_taps K_p(tap) x(clamp(⌊p/2⌋ + tap)).
    @Test func reassemblyMatchesDirectLoop() {
        let x = random([1, 2, 3, 2], seed: 4)
        let kernels = FreqFusion.normalizedKernels(random([1, 9, 6, 4], seed: 5), side: 3)
        let y = FreqFusion.reassembled(x, kernels: kernels, side: 3, upsampling: true)
        for c in 0..<2 {
            for oy in 0..<6 {
                for ox in 0..<4 {
                    var expected: Float = 0
                    for ty in 0..<3 {
                        for tx in 0..<3 {
                            let sy = min(max(oy / 2 + ty - 1, 0), 2), sx = min(max(ox / 2 + tx - 1, 0), 1)
                            expected += kernels.scalars[((ty * 3 + tx) * 6 + oy) * 4 + ox] * x.scalars[(c * 3 + sy) * 2 + sx]
                        }
                    }
                    #expect(abs(y.scalars[(c * 6 + oy) * 4 + ox] - expected) < 1e-5)
                }
            }
        }
    }

    @Test func similarityOfAUniformFeatureIsOne() {
        let z = Tensor(shape: [1, 2, 3, 3], scalars: [Float](repeating: 3, count: 9) + [Float](repeating: -4, count: 9))
        let s = FreqFusion.localSimilarity(z)
        #expect(s.shape == [1, 8, 3, 3])
        #expect(s.scalars.allSatisfy { abs($0 - 1) < 1e-4 })
    }

    /// Every parameter of the kernel path (one channel, no offsets, to keep the check small)
    /// against finite differences; predictor weights larger than the near-zero
    /// initialization, so that the kernels vary with the input.
    @Test func kernelPathGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 6)
        var fusion = FreqFusion(channels: 1, compressedChannels: 1, lowPassSize: 3, highPassSize: 3, offsets: false, using: &g)
        fusion.lowPassEncoder.weight = random(fusion.lowPassEncoder.weight.shape, seed: 7, scale: 0.5)
        fusion.highPassEncoder.weight = random(fusion.highPassEncoder.weight.shape, seed: 8, scale: 0.5)
        let probe = FusionProbe(fusion: fusion, low: random([1, 1, 2, 2], seed: 9))
        expectGradientsMatch(probe, input: random([1, 1, 4, 4], seed: 10), minimumChecked: 150, step: 1e-3)
    }

    /// With the offset resampling: the gradients with respect to both inputs, which run
    /// through the similarity maps, the offset convolutions and the grid sampling.
    @Test func offsetPathInputGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 11)
        var fusion = FreqFusion(channels: 2, compressedChannels: 2, lowPassSize: 3, highPassSize: 3, using: &g)
        fusion.offsetHigh!.weight = random(fusion.offsetHigh!.weight.shape, seed: 12, scale: 0.05)
        let probe = FusionProbe(fusion: fusion, low: random([1, 2, 2, 2], seed: 13), visitsFusion: false)
        expectGradientsMatch(probe, input: random([1, 2, 4, 4], seed: 14), minimumChecked: 40, step: 1e-3)
    }

    @Test(arguments: DecoderFusion.allCases)
    func fusionUNetVariantsPredictPerPixelScores(kind: DecoderFusion) {
        var g = SeededGenerator(seed: 11)
        var model = FusionUNet(inputChannels: 1, classCount: 3, levels: 3, width: 2, fusion: kind, using: &g)
        #expect(model(random([2, 1, 8, 8], seed: 12)).shape == [2, 3, 8, 8])
        #expect(model.parameters.keys.contains("up1.freqfusion.content_encoder.weight") == (kind == .freqFusion))
    }
}
