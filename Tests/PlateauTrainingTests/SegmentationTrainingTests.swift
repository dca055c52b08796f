import Foundation
import Testing
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
@testable import PlateauTraining

/// The per-pixel training path: scores, the loss term, the trainer under optimizers and SAM.
@Suite struct SegmentationTrainingTests {
    /// 8×8 images with a bright square (class 1) or a dim bar (class 2) on black.
    static func toyData(_ n: Int, offset: Int = 0) -> SegmentationDataset {
        var pixels = [Float](repeating: 0, count: n * 64), masks = [Int32](repeating: 0, count: n * 64)
        for i in 0..<n {
            let x0 = (i + offset) % 4, y0 = (i * 3 + offset) % 4
            let square = (i + offset) % 2 == 0
            for y in y0..<(y0 + (square ? 3 : 4)) {
                for x in x0..<(x0 + (square ? 3 : 1)) {
                    pixels[i * 64 + y * 8 + x] = square ? 1 : 0.5
                    masks[i * 64 + y * 8 + x] = square ? 1 : 2
                }
            }
        }
        let images = Dataset(name: "toy", images: Tensor(shape: [n, 1, 8, 8], scalars: pixels), labels: [Int](repeating: 0, count: n), classCount: 10)
        return SegmentationDataset(images: images, masks: masks, classCount: 3)
    }

    @Test func scoresCountPixelsDiceIoUAndBoundaryBands() {
        // One 4×4 image: class 1 fills the left half; the prediction fills only the first column.
        let truth: [Int32] = (0..<16).map { $0 % 4 < 2 ? 1 : 0 }
        let predicted: [Int32] = (0..<16).map { $0 % 4 < 1 ? 1 : 0 }
        var scores = SegmentationScores(classCount: 2, bandWidth: 1)
        scores.add(truth: truth, predicted: predicted, height: 4, width: 4)
        #expect(scores.pixelAccuracy == 12.0 / 16)
        // Class 1: TP 4, FN 4, FP 0 → Dice 8/12, IoU 4/8.
        #expect(abs(scores.meanDice - 8.0 / 12) < 1e-6 && abs(scores.meanIoU - 0.5) < 1e-6)
        // With d = 1 every pixel of both masks is within 1 of another class or the border: the
        // bands are the masks themselves, so Boundary IoU = IoU here.
        #expect(abs(scores.meanBoundaryIoU - 0.5) < 1e-6)
        // On a larger image the band excludes the interior.
        let big: [Int32] = (0..<100).map { ($0 / 10) < 10 && ($0 % 10) < 10 ? 1 : 0 }
        let band = SegmentationScores.boundaryBand(big, height: 10, width: 10, d: 2)
        #expect(band.filter { $0 }.count == 100 - 36)  // the inner 6×6 is farther than 2 from the outside
    }

    @Test func uncertaintyRunsUnderSAMTrainSigmaAndScoreTheTestSet() throws {
        var c = RunConfiguration()
        c.optimizer = "sam"
        c.epochs = 2
        c.batchSize = 4
        c.learningRate = 0.05
        c.threads = 1
        var options = SegmentationOptions()
        options.loss = .uncertainty
        options.width = 2
        options.levels = 2
        options.sampleImages = 2
        let trainer = try SegmentationTrainer(configuration: c, options: options, train: Self.toyData(8), test: Self.toyData(4, offset: 1), output: nil)
        var observer = SilentObserver()
        let summary = try trainer.run(observer: &observer)
        #expect(summary.metrics.count == 2)
        let last = try #require(summary.final)
        let sigma = try #require(last.sigma)
        #expect(sigma.count == 3 && sigma.allSatisfy(\.isFinite) && sigma != [1, 1, 1], "σ moved: \(sigma)")
        #expect(last.losses == ["dice", "ce", "focal"])
        #expect((0...1).contains(last.meanDice) && (0...1).contains(last.meanIoU) && (0...1).contains(last.boundaryIoU))
        #expect(summary.metrics.allSatisfy { $0.passesPerStep == 2 })  // SAM: two passes per step
        #expect(summary.samples.count == 2 && summary.samples[0].prediction.count == 64)
    }

    @Test func sigmaIsAWeightEveryRuleSees() throws {
        var generator = SeededGenerator(seed: 1)
        let net = try ModelFactory.makeSegmentation("unet", inputChannels: 1, classCount: 3, width: 2, levels: 2, using: &generator)
        let model = SegmentationNetwork(network: net, lossSigma: Tensor(repeating: 1, shape: [3]))
        #expect(model.parameters.keys.contains(SegmentationNetwork.sigmaPath))
        // The network's own names are unchanged by the wrapper.
        #expect(Set(model.parameters.keys.filter { $0 != SegmentationNetwork.sigmaPath }) == Set(net.parameters.keys))
        // The term's loss depends on σ through the tracked parameters: its gradient reaches σ.
        let data = Self.toyData(4)
        var term = SegmentationLossTerm(kind: .uncertainty, training: data)
        let batch = StepBatch(inputs: data.images.images, labels: data.images.labels, indices: [0, 1, 2, 3], epoch: 0)
        let maybeLoss = term.loss(for: batch, model: model)
        let loss = try #require(maybeLoss)
        let result = valueWithGradient(at: model) { m in
            let outputs = m(data.images.images)
            var input = TermInput(outputs: outputs, rows: nil, labels: data.images.labels, point: .parameters)
            let tracked = m
            input.parameters = { tracked.parameters }
            return loss(input) { m($0) }.mean()
        }
        let g = try #require(result.gradient[SegmentationNetwork.sigmaPath])
        #expect(g.scalars.allSatisfy { $0 != 0 && $0.isFinite })
    }

    @Test func unsupportedSettingsAreRefusedNamingTheField() {
        func field(_ change: (inout RunConfiguration, inout SegmentationOptions) -> Void) -> String? {
            var c = RunConfiguration(), o = SegmentationOptions()
            change(&c, &o)
            do {
                _ = try SegmentationTrainer(configuration: c, options: o, train: Self.toyData(4), test: Self.toyData(2), output: nil)
                return nil
            } catch let error as ConfigurationError { return error.field } catch { return "\(error)" }
        }
        #expect(field { _, o in o.model = "lenet" } == "model")
        #expect(field { c, _ in c.optimizer = "saf" } == "optimizer")
        #expect(field { c, _ in c.augment = true } == "augment")
        #expect(field { _, o in o.diceForm = "minus" } == "seg-dice-form")
        #expect(field { _, o in o.levels = 5 } == "seg-levels")  // 8×8 images: sides must divide by 16
        #expect(field { c, _ in c.optimizer = "asam" } == nil)
    }
}
