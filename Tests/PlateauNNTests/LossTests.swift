import Testing
import PlateauTensor
import PlateauNN

/// The per-sample pixel losses `[N]` of logits `[N, C, H, W]` as a layer, so that the
/// finite-difference checker sees the loss as a function of its input.
private struct PixelLoss: Layer {
    let labels: [Int]
    mutating func visit(_ visitor: ModuleVisitor) {}
    func callAsFunction(_ input: Tensor) -> Tensor { pixelwiseCrossEntropy(logits: input, labels: labels, reduction: .none) }
}

/// The reference: classes moved last, one row per pixel, the row-wise cross-entropy, then
/// each sample's mean over its pixels.
private struct RowwiseLoss: Layer {
    let labels: [Int]
    mutating func visit(_ visitor: ModuleVisitor) {}
    func callAsFunction(_ input: Tensor) -> Tensor {
        let (n, c) = (input.shape[0], input.shape[1])
        let rows = crossEntropy(logits: input.permuted([0, 2, 3, 1]).reshaped(to: [-1, c]), labels: labels, reduction: .none)
        return rows.reshaped(to: [n, -1]).mean(alongAxis: 1)
    }
}

@Suite("Losses")
struct LossTests {
    static let logits = random([2, 3, 2, 3], seed: 7, scale: 2)
    static let labels = randomLabels(12, classes: 3, seed: 8)

    @Test func pixelwiseCrossEntropyIsLogOfClassCountAtZeroLogits() {
        let loss = pixelwiseCrossEntropy(logits: .zeros([2, 4, 3, 5]), labels: randomLabels(30, classes: 4, seed: 1), reduction: .none)
        #expect(loss.shape == [2])
        let log4 = 1.3862943611198906
        #expect(close(loss.scalars, [log4, log4], tolerance: 1e-6))
    }

    @Test func pixelwiseCrossEntropyMatchesRowsOfPixels() {
        let pixel = PixelLoss(labels: Self.labels), rowwise = RowwiseLoss(labels: Self.labels)
        let expected = rowwise(Self.logits)
        #expect(close(pixel(Self.logits).scalars, expected.scalars.map(Double.init), tolerance: 1e-6))
        let mean = pixelwiseCrossEntropy(logits: Self.logits, labels: Self.labels)
        let rowsMean = crossEntropy(logits: Self.logits.permuted([0, 2, 3, 1]).reshaped(to: [-1, 3]), labels: Self.labels)
        #expect(abs(mean.item - rowsMean.item) < 1e-6, "the batch mean is the mean over all pixels, as F.cross_entropy")
        let gradient = valueWithGradient(at: WithInput(layer: pixel, input: Self.logits)) { m in m.layer(m.input).sum() }.gradient
        let reference = valueWithGradient(at: WithInput(layer: rowwise, input: Self.logits)) { m in m.layer(m.input).sum() }.gradient
        #expect(close(gradient["input"]!.scalars, reference["input"]!.scalars.map(Double.init), tolerance: 1e-6))
    }

    @Test func pixelwiseCrossEntropyGradientMatchesFiniteDifferences() {
        expectGradientsMatch(PixelLoss(labels: Self.labels), input: Self.logits, minimumChecked: Self.logits.count)
    }
}
