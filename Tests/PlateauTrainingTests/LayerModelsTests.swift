import Testing
import PlateauNN
import PlateauTensor
@testable import PlateauTraining

@Suite("U-Mamba and U-Net decoder variants in the factory and the bench")
struct LayerModelsTests {
    @Test(arguments: ModelFactory.perPixelNames)
    func factoryBuildsPerPixelModels(name: String) throws {
        var g = SeededGenerator(seed: 1)
        var model = try ModelFactory.make(name, sampleShape: [1, 8, 8], classCount: 3, using: &g)
        #expect(withoutGradients { model(Tensor.zeros([2, 1, 8, 8])) }.shape == [2, 3, 8, 8])
    }

    /// Every per-pixel model is a `--task segmentation` model too, at the task's width and depth.
    @Test(arguments: ModelFactory.segmentationNames)
    func segmentationTaskBuildsEveryPerPixelModel(name: String) throws {
        #expect(ModelFactory.perPixelNames.allSatisfy(ModelFactory.segmentationNames.contains))
        var g = SeededGenerator(seed: 5)
        var model = try ModelFactory.makeSegmentation(name, inputChannels: 1, classCount: 11, width: 4, levels: 2, using: &g)
        #expect(withoutGradients { model(Tensor.zeros([1, 1, 8, 8])) }.shape == [1, 11, 8, 8])
    }

    @Test func factoryRejectsImagesTheUNetCannotPool() {
        var g = SeededGenerator(seed: 2)
        #expect(throws: ConfigurationError.self) { try ModelFactory.make("umamba", sampleShape: [1, 30, 30], classCount: 2, using: &g) }
        #expect(throws: ConfigurationError.self) { try ModelFactory.make("unet-freqfusion", sampleShape: [784], classCount: 2, using: &g) }
        #expect(throws: ConfigurationError.self) { try ModelFactory.make("umamba", sampleShape: [1, 8, 8], classCount: 2, norm: .batch, using: &g) }
    }

    /// The U-Net's 19,004,160 plus the bottleneck Mamba layer's projections at 7² pixels:
    /// 64 channels, 128 inner, Δ rank 4, state 16: (64·256 + 128·36 + 4·128 + 128·64)·49.
    @Test func umambaBenchRow() throws {
        var g = SeededGenerator(seed: 3)
        let model = UMamba(inputChannels: 1, classCount: Benchmark.unetClasses, levels: 3, width: 16, using: &g)
        #expect(Benchmark.multiplyAddsPerSample(model, sampleShape: [1, 28, 28]) == 19_004_160 + 29_696 * 49)
        #expect(try Benchmark.skipReason(method: "saf", workload: .umamba) != nil)
        let results = try Benchmark.run(.umamba, methods: ["sgd"], batchSize: 1, steps: 1, warmup: 0, blockSize: 1, seed: 3, ceiling: .nan)
        #expect(results.map(\.workload) == ["umamba"])
        #expect(throws: ConfigurationError.self) {
            try Benchmark.run(.umamba, methods: ["sgd"], batchSize: 1, steps: 1, warmup: 0, blockSize: 1, seed: 3, ceiling: .nan, imageSide: 30)
        }
    }

    @Test func aliasToyExamplesMarkTheMisalignedPixels() {
        var image = [Float](repeating: 0, count: 36)
        image[2 * 6 + 2] = 1
        image[2 * 6 + 3] = 1
        var g = SeededGenerator(seed: 4)
        let examples = ALIASToyExamples(images: Tensor(shape: [1, 1, 6, 6], scalars: image), maximumShift: 1, using: &g)
        // A two-pixel stroke shifted diagonally by one pixel overlaps itself nowhere, so the
        // mask holds the two true pixels and the two shifted ones.
        #expect(examples.mask.scalars.reduce(0, +) == 4)
        #expect(examples.warped.scalars.reduce(0, +) == 2)
        for i in 0..<36 where examples.shape.scalars[i] == 1 { #expect(examples.mask.scalars[i] == 1) }
    }

    @Test(arguments: ALIASToyVariant.allCases)
    func aliasToyTrainsEveryVariant(variant: ALIASToyVariant) {
        var g = SeededGenerator(seed: 5)
        let images = Tensor.randomUniform([4, 1, 6, 6], in: 0..<1, using: &g)
        let examples = ALIASToyExamples(images: images, maximumShift: 1, using: &g)
        let result = ALIASToy.run(variant: variant, train: examples, test: examples, steps: 2, batchSize: 2, learningRate: 1e-2, width: 2, seed: 6)
        #expect(result.maskedL1.isFinite && result.overallL1.isFinite && result.copyMaskedL1 > 0)
    }
}
