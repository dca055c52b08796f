import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The settings of `plateau train --task segmentation` beyond the run configuration (which
/// gives the optimizer, the schedule, the epochs, the seed and the data directory). Written
/// as `segmentation.json` in the run directory.
public struct SegmentationOptions: Codable, Sendable, Equatable {
    /// A name in ``ModelFactory/segmentationNames``.
    public var model = "unet"
    public var loss: SegmentationLossKind = .diceCE
    /// The U-Net's channels at its first level, doubled per level.
    public var width = 8
    /// The U-Net's resolutions.
    public var levels = 3
    /// ``DiceForm`` raw value: `one-minus` (1 − dc) or `reference` (−dc, the reference code's bug).
    public var diceForm = DiceForm.oneMinus.rawValue
    public var focalGamma: Float = 2
    /// σᵢ's starting value (UU-Mamba: 1).
    public var sigmaInit: Float = 1
    /// Test images whose input, truth and prediction the run keeps for its report.
    public var sampleImages = 4

    public init() {}

    /// Rejects settings no run can use, naming the flag.
    public func validate() throws {
        guard ModelFactory.segmentationNames.contains(model) else {
            throw ConfigurationError(field: "model", message: "--task segmentation expects one of \(ModelFactory.segmentationNames.joined(separator: ", ")), got '\(model)'")
        }
        guard DiceForm(rawValue: diceForm) != nil else {
            throw ConfigurationError(field: "seg-dice-form", message: "expected \(DiceForm.allCases.map(\.rawValue).joined(separator: " or ")), got '\(diceForm)'")
        }
        guard focalGamma >= 0, focalGamma.isFinite else { throw ConfigurationError(field: "seg-focal-gamma", message: "expected a finite value ≥ 0, got \(focalGamma)") }
        guard sigmaInit > 0, sigmaInit.isFinite else { throw ConfigurationError(field: "seg-sigma-init", message: "expected a finite value > 0, got \(sigmaInit)") }
        guard (0...64).contains(sampleImages) else { throw ConfigurationError(field: "seg-sample-images", message: "expected 0...64, got \(sampleImages)") }
    }
}

/// One test image of a finished run, for the report: the raw input (pixels in [0, 1]),
/// the true and the predicted class of each pixel.
public struct SegmentationSample: Sendable, Codable, Equatable {
    public var height: Int
    public var width: Int
    public var input: [Float]
    public var truth: [Int32]
    public var prediction: [Int32]

    public init(height: Int, width: Int, input: [Float], truth: [Int32], prediction: [Int32]) {
        precondition(input.count == height * width && truth.count == input.count && prediction.count == input.count,
                     "SegmentationSample: \(input.count), \(truth.count) and \(prediction.count) values for \(height)×\(width) pixels")
        (self.height, self.width, self.input, self.truth, self.prediction) = (height, width, input, truth, prediction)
    }
}

/// What a segmentation run returns.
public struct SegmentationSummary: Sendable {
    public var configuration: RunConfiguration
    public var options: SegmentationOptions
    public var metrics: [EpochMetrics]
    public var samples: [SegmentationSample]
    public var classCount: Int

    public init(configuration: RunConfiguration, options: SegmentationOptions, metrics: [EpochMetrics], samples: [SegmentationSample], classCount: Int) {
        (self.configuration, self.options, self.metrics, self.samples, self.classCount) = (configuration, options, metrics, samples, classCount)
    }

    public var final: SegmentationEpochMetrics? { metrics.last?.segmentation }
}

/// Trains a segmentation network (per-pixel logits) with the run's optimizer, any
/// sharpness-aware rule over it, and the loss ``SegmentationOptions/loss`` names; evaluates
/// pixel accuracy, mean Dice, mIoU and Boundary IoU every epoch; writes `config.json`,
/// `segmentation.json`, `metrics.jsonl`/`.csv` and `checkpoint-last.safetensors`.
///
/// The step is the classification trainer's (``StepEngine``): only the objective differs,
/// so optimizers, rules, micro-batches, m-sharpness and clipping all apply. Not supported
/// here: objective-term methods (SAF, MESA …: their terms read class logits), augmentation,
/// label noise, multi-task and resuming (a run is short; start it again).
public struct SegmentationTrainer {
    public var configuration: RunConfiguration
    public var options: SegmentationOptions
    public var train: SegmentationDataset
    public var test: SegmentationDataset
    public var output: URL?
    public var registry: MethodRegistry

    public init(
        configuration: RunConfiguration, options: SegmentationOptions, train: SegmentationDataset, test: SegmentationDataset,
        output: URL?, registry: MethodRegistry = .standard
    ) throws {
        try options.validate()
        var c = configuration
        c.model = options.model
        try Self.validate(c, registry: registry)
        c.methodOptions = try registry.resolvedOptions(for: c)
        guard train.count > 0, test.count > 0 else { throw ConfigurationError(field: "dataset", message: "the training or test set is empty (\(train.count) and \(test.count) images)") }
        guard train.size == test.size, train.images.sampleShape == test.images.sampleShape, train.classCount == test.classCount else {
            throw ConfigurationError(field: "dataset", message: "training images \(train.images.sampleShape) (\(train.classCount) classes) and test images \(test.images.sampleShape) (\(test.classCount) classes) differ")
        }
        let factor = 1 << (options.levels - 1)
        guard train.size.height % factor == 0, train.size.width % factor == 0 else {
            throw ConfigurationError(field: "seg-levels", message: "\(options.levels) levels need image sides divisible by \(factor), the images are \(train.size.height)×\(train.size.width)")
        }
        self.configuration = c
        self.options = options
        self.train = c.trainLimit.map { train.prefix($0) } ?? train
        self.test = test
        self.output = output
        self.registry = registry
    }

    /// The checks of ``RunConfiguration/validate(using:)`` that apply to a segmentation run
    /// (its model names are not the classifiers'), and refusals of what it does not support.
    static func validate(_ c: RunConfiguration, registry: MethodRegistry) throws {
        var classifier = c
        classifier.model = ModelFactory.names[0]  // the model is checked by SegmentationOptions
        try classifier.validate(using: registry)
        if try registry.entry(named: c.optimizer).kind == .objective {
            throw ConfigurationError(field: "optimizer", message: "--task segmentation takes base optimizers and sharpness-aware rules; '\(c.optimizer)' is an objective term, whose loss reads class logits")
        }
        if c.augment { throw ConfigurationError(field: "augment", message: "--task segmentation has no augmentation (the masks would have to move with the images)") }
        if c.labelNoise > 0 { throw ConfigurationError(field: "label-noise", message: "--task segmentation has no label noise") }
        if c.tasks > 1 { throw ConfigurationError(field: "tasks", message: "--task segmentation trains one task") }
        if c.initialWeights != nil { throw ConfigurationError(field: "initial-weights", message: "--task segmentation starts from a fresh network") }
        if c.labelSmoothing > 0 { throw ConfigurationError(field: "label-smoothing", message: "--task segmentation has no label smoothing") }
    }

    /// Trains and returns the metrics and sample predictions.
    public func run(observer: inout some TrainingObserver) throws -> SegmentationSummary {
        let c = configuration
        var generator = SeededGenerator(seed: c.seed)
        let network = try ModelFactory.makeSegmentation(
            options.model, inputChannels: train.images.sampleShape[0], classCount: train.classCount, width: options.width,
            levels: options.levels, using: &generator)
        let sigma = options.loss == .uncertainty ? Tensor(repeating: options.sigmaInit, shape: [options.loss.components.count]) : nil
        var model = SegmentationNetwork(network: network, lossSigma: sigma)

        if let output {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try writeAtomically(c.json, to: output.appendingPathComponent(RunDirectory.configurationFile))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try writeAtomically(try encoder.encode(options), to: output.appendingPathComponent("segmentation.json"))
        }
        let normalization = Normalization.fit(train.images)
        var trainSet = train
        trainSet.images = normalization.apply(to: train.images)
        var testSet = test
        testSet.images = normalization.apply(to: test.images)

        let stepsPerEpoch = (trainSet.count + c.batchSize - 1) / c.batchSize
        let schedule = try TrainingSchedule.make(c, stepsPerEpoch: stepsPerEpoch)
        let context = MethodContext(configuration: c, sampleCount: trainSet.count, classCount: trainSet.classCount)
        let term = SegmentationLossTerm(
            kind: options.loss, training: trainSet, diceForm: DiceForm(rawValue: options.diceForm)!, focalGamma: options.focalGamma)
        var engine = StepEngine<SegmentationNetwork>(
            stepper: try registry.makeStepper(c, context: context), objective: TrainingObjective([term]), classCount: trainSet.classCount)
        observer.message("segmentation: \(options.model) (width \(options.width), \(options.levels) levels, \(model.parameters.values.reduce(0) { $0 + $1.count }) parameters), loss \(options.loss.rawValue), \(trainSet.count) train / \(testSet.count) test images")

        var history: [EpochMetrics] = []
        var globalStep = 0
        for epoch in 0..<c.epochs {
            model.setTraining(true)
            let start = ContinuousClock.now
            var lossSum: Double = 0, correctPixels = 0, seen = 0, steps = 0
            var passes: Float = 0
            var learningRate = c.learningRate
            let batches = Batches(dataset: trainSet.images, batchSize: c.batchSize, shuffle: c.shuffle, dropLast: false, seed: c.seed, epoch: epoch)
            for (index, batch) in batches.enumerated() {
                learningRate = schedule.learningRate(atStep: globalStep)
                let (report, logits) = engine.step(&model, on: batch, epoch: epoch, learningRate: learningRate)
                guard report.loss.isFinite else {
                    throw TrainingError(description: "the training loss became \(report.loss) at epoch \(epoch + 1), step \(index + 1); try a smaller --lr or --max-grad-norm")
                }
                let truth = trainSet.masks(of: batch.indices)
                correctPixels += zip(SegmentationEvaluation.predictions(logits), truth).filter { $0 == $1 }.count
                lossSum += Double(report.loss) * Double(batch.count)
                seen += batch.count
                passes += report.passes
                steps += 1
                globalStep += 1
                let elapsed = max(ContinuousClock.now - start, .nanoseconds(1))
                observer.stepFinished(
                    epoch: epoch, step: index + 1, of: stepsPerEpoch, loss: Float(lossSum / Double(seen)),
                    accuracy: Float(correctPixels) / Float(seen * trainSet.pixelsPerImage), samplesPerSecond: Double(seen) / seconds(elapsed))
            }
            guard !model.parameters.values.contains(where: \.hasNonFinite) else {
                throw TrainingError(description: "the weights became non-finite after epoch \(epoch + 1); try a smaller --lr or --max-grad-norm")
            }
            let trainSeconds = seconds(ContinuousClock.now - start)
            let evaluation = SegmentationEvaluation.run(model, on: testSet)
            var metrics = EpochMetrics(
                epoch: epoch + 1, trainLoss: Float(lossSum / Double(seen)), trainAccuracy: Float(correctPixels) / Float(seen * trainSet.pixelsPerImage),
                testLoss: evaluation.loss, testAccuracy: evaluation.scores.pixelAccuracy, learningRate: learningRate,
                seconds: seconds(ContinuousClock.now - start), samplesPerSecond: Double(seen) / max(trainSeconds, 1e-9),
                passesPerStep: passes / Float(max(steps, 1)), millisecondsPerStep: trainSeconds * 1000 / Double(max(steps, 1)))
            metrics.segmentation = SegmentationEpochMetrics(
                scores: evaluation.scores, losses: options.loss.components, sigma: model.lossSigma?.scalars)
            history.append(metrics)
            observer.epochFinished(metrics, of: c.epochs)
            if let output { try MetricsLog.write(history, to: output) }
        }
        if let output {
            let checkpoint = Checkpoint(
                model: model.stateDictionary, optimizer: engine.stepper.state, extras: ParameterSet(), epoch: c.epochs, step: globalStep,
                bestAccuracy: history.map(\.testAccuracy).max() ?? 0, configuration: c, normalization: normalization)
            try checkpoint.write(to: output.appendingPathComponent(RunDirectory.lastCheckpointFile))
        }
        return SegmentationSummary(
            configuration: c, options: options, metrics: history, samples: samples(of: model, normalized: testSet), classCount: train.classCount)
    }

    /// The first ``SegmentationOptions/sampleImages`` test images with their truth and prediction.
    private func samples(of model: SegmentationNetwork, normalized: SegmentationDataset) -> [SegmentationSample] {
        let count = min(options.sampleImages, test.count)
        guard count > 0 else { return [] }
        var evaluated = model.training(false)
        let indices = Array(0..<count)
        let logits = withoutGradients { evaluated(normalized.images.subset(indices).images) }
        let predicted = SegmentationEvaluation.predictions(logits)
        let (h, w) = test.size, p = h * w
        let raw = test.images.images.scalars
        let channels = test.images.sampleShape[0]
        return indices.map { i in
            SegmentationSample(
                height: h, width: w, input: Array(raw[(i * channels * p)..<(i * channels * p + p)]),
                truth: Array(test.masks[(i * p)..<((i + 1) * p)]), prediction: Array(predicted[(i * p)..<((i + 1) * p)]))
        }
    }
}
