import Testing
import PlateauTensor
import PlateauNN

// Every layer's gradients, with respect to parameters and input, against central finite
// differences; see `gradientMismatches` for the choice of step and tolerances.

@Suite("Gradients vs finite differences")
struct GradientTests {
    @Test func linear() {
        var g = SeededGenerator(seed: 1)
        let layer = Linear(inputCount: 3, outputCount: 4, using: &g)
        expectGradientsMatch(layer, input: random([2, 3], seed: 2), minimumChecked: 6 + 12 + 4)
        // Extra leading batch axes go through the reshape path.
        expectGradientsMatch(layer, input: random([2, 2, 3], seed: 3))
    }

    @Test(arguments: [
        (stride: 1, padding: 0, groups: 1),
        (stride: 2, padding: 1, groups: 1),
        (stride: 1, padding: 1, groups: 2),
    ])
    func conv2d(stride: Int, padding: Int, groups: Int) {
        var g = SeededGenerator(seed: 4)
        let layer = Conv2d(4, 4, kernelSize: 3, stride: stride, padding: padding, groups: groups, using: &g)
        expectGradientsMatch(layer, input: random([2, 4, 5, 5], seed: 5), minimumChecked: 200 + 144 / groups + 4)
    }

    @Test func conv2dRectangularKernelWithDilation() {
        var g = SeededGenerator(seed: 6)
        let layer = Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: (2, 3), stride: (1, 2), padding: (1, 0),
                           dilation: (2, 1), using: &g)
        expectGradientsMatch(layer, input: random([1, 2, 5, 6], seed: 7))
    }

    @Test(arguments: [
        (stride: 2, padding: 0, outputPadding: 0, groups: 1),
        (stride: 2, padding: 1, outputPadding: 1, groups: 1),
        (stride: 1, padding: 1, outputPadding: 0, groups: 2),
    ])
    func convTranspose2d(stride: Int, padding: Int, outputPadding: Int, groups: Int) {
        var g = SeededGenerator(seed: 8)
        let layer = ConvTranspose2d(4, 2, kernelSize: 3, stride: stride, padding: padding, outputPadding: outputPadding,
                                    groups: groups, using: &g)
        #expect(layer.weight.shape == [4, 2 / groups, 3, 3])
        expectGradientsMatch(layer, input: random([2, 4, 3, 3], seed: 9), minimumChecked: 72 + 72 / groups + 2)
    }

    /// BatchNorm's training pass uses a fused kernel with a hand-written closed-form
    /// backward; check it with non-trivial γ, β on both input ranks.
    @Test(arguments: [[6, 3], [3, 2, 3, 2], [2, 3, 1, 1]])
    func batchNormTraining(shape: [Int]) {
        var layer = BatchNorm(featureCount: shape[1])
        layer.weight = random([shape[1]], seed: 10) + 1
        layer.bias = random([shape[1]], seed: 11)
        let input = random(shape, seed: 12, scale: 2) + 0.5
        expectGradientsMatch(layer, input: input, minimumChecked: shape.reduce(1, *) + 2 * shape[1])
    }

    @Test func batchNormEvaluation() {
        var layer = BatchNorm(featureCount: 3)
        layer.weight = random([3], seed: 13) + 1
        layer.bias = random([3], seed: 14)
        layer.runningMean = random([3], seed: 15)
        layer.runningVariance = random([3], seed: 16).abs() + 0.5
        layer.setTraining(false)
        expectGradientsMatch(layer, input: random([2, 3, 2, 2], seed: 17))
        expectGradientsMatch(layer, input: random([4, 3], seed: 18))
    }

    @Test func layerNorm() {
        var layer = LayerNorm(normalizedShape: [2, 3])
        layer.weight = random([2, 3], seed: 19) + 1
        layer.bias = random([2, 3], seed: 20)
        expectGradientsMatch(layer, input: random([2, 2, 3], seed: 21, scale: 2), minimumChecked: 12 + 12)
        // Rows of 12: the row sums' eight-lane part and their tail.
        var wide = LayerNorm(12)
        wide.weight = random([12], seed: 27) + 1
        wide.bias = random([12], seed: 28)
        expectGradientsMatch(wide, input: random([3, 12], seed: 29, scale: 2), minimumChecked: 36 + 24)
    }

    @Test func groupNorm() {
        var layer = GroupNorm(groupCount: 2, channelCount: 4)
        layer.weight = random([4], seed: 22) + 1
        layer.bias = random([4], seed: 23)
        expectGradientsMatch(layer, input: random([2, 4, 2, 2], seed: 24, scale: 2), minimumChecked: 32 + 8)
        // [N, C] input: groups of C/G features.
        expectGradientsMatch(layer, input: random([3, 4], seed: 25, scale: 2))
    }

    @Test func embedding() {
        var g = SeededGenerator(seed: 26)
        let layer = Embedding(count: 5, dimension: 3, using: &g)
        // Index 1 appears twice (its gradient accumulates); index 4 never (zero gradient).
        let indices = Tensor(shape: [2, 3], scalars: [1, 0, 3, 2, 1, 1])
        let (mismatches, checked) = gradientMismatches(layer, input: indices, includeInput: false)
        #expect(checked == 15)
        #expect(mismatches.isEmpty, "\(mismatches)")
        let projection = random([2, 3, 3], seed: 99)
        let gradient = valueWithGradient(at: layer) { (m: inout Embedding) in (m.callAsFunction(indices) * projection).sum() }.gradient
        #expect(Array(gradient["weight"]!.scalars[12..<15]) == [0, 0, 0])
    }

    @Test(arguments: [1, 2])
    func multiHeadSelfAttention(heads: Int) {
        var g = SeededGenerator(seed: 27)
        var layer = MultiHeadSelfAttention(dimension: 4, headCount: heads, using: &g)
        layer.inProjectionBias = random([12], seed: 28, scale: 0.5)
        expectGradientsMatch(layer, input: random([2, 3, 4], seed: 29), minimumChecked: 24 + 48 + 12 + 16 + 4)
    }

    @Test func transformerEncoderBlock() {
        var g = SeededGenerator(seed: 30)
        var block = TransformerEncoderBlock(dimension: 4, headCount: 2, mlpDimension: 6, using: &g)
        block.norm1.weight = random([4], seed: 31) + 1
        block.norm2.bias = random([4], seed: 32)
        expectGradientsMatch(block, input: random([2, 3, 4], seed: 33), minimumChecked: 24 + 132)
    }

    // ReLU after BatchNorm: step 1e-3, see `gradientMismatches`.
    @Test func basicBlockWithShortcut() {
        var g = SeededGenerator(seed: 34)
        // Stride 2 and 2 -> 4 channels: the option-A (subsample and zero-pad) shortcut.
        let block = BasicBlock(inputChannels: 2, outputChannels: 4, stride: 2, using: &g)
        expectGradientsMatch(block, input: random([2, 2, 4, 4], seed: 35), minimumChecked: 64 + 72 + 144 + 16, step: 1e-3)
    }

    @Test func basicBlockIdentity() {
        var g = SeededGenerator(seed: 36)
        let block = BasicBlock(inputChannels: 2, outputChannels: 2, stride: 1, using: &g)
        expectGradientsMatch(block, input: random([2, 2, 3, 3], seed: 37), step: 1e-3)
    }

    @Test func wideBasicBlock() {
        var g = SeededGenerator(seed: 38)
        let block = WideBasicBlock(inputChannels: 2, outputChannels: 3, stride: 2, using: &g)
        expectGradientsMatch(block, input: random([2, 2, 4, 4], seed: 39), step: 1e-3)
    }

    @Test func mixerBlock() {
        var g = SeededGenerator(seed: 40)
        let block = MixerBlock(patchCount: 3, channelCount: 4, tokenHiddenDimension: 2, channelHiddenDimension: 5, using: &g)
        expectGradientsMatch(block, input: random([2, 3, 4], seed: 41))
    }
}
