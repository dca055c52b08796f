import Foundation
import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining

/// USEFUL end to end (Nguyen et al., NeurIPS 2024): train `separatingEpoch` epochs, split
/// each class by the network's outputs (``/PlateauAnalysis/UsefulSelection``), duplicate
/// the harder half once, and train again from scratch — same seed, same settings, the
/// configuration's full `epochs` — on the enlarged training set.
///
/// The run directory holds the final run as `plateau train` writes it, the separating run
/// in `separating/`, and `useful.json` (``UsefulReport``): which examples were duplicated
/// and each class's clusters. ``/PlateauAnalysis/UsefulSelection/Rule/nothing`` is the baseline on
/// the same data: one training, nothing duplicated, no separating run. With ``shortcutFraction`` the training images get the shortcut
/// of USEFUL's simplicity-bias experiment first: a class-specific patch
/// (``/PlateauData/PlantedPatch/shortcut(label:height:width:value:)``) on that fraction of
/// each class, none on the test images.
public struct UsefulRun {
    /// The final training; the separating run is the same with `epochs = separatingEpoch`.
    public var configuration: RunConfiguration
    public var separatingEpoch: Int
    public var rule: UsefulSelection.Rule
    /// Fraction of each class's training images given the class's shortcut patch (0: none).
    public var shortcutFraction: Double
    /// The run directory, or nil to write nothing.
    public var output: URL?
    /// Applied to both trainings (`plateau useful` refuses an existing run unless --overwrite).
    public var runDirectoryPolicy = RunDirectoryPolicy()
    public var stopToken: StopToken?

    /// The file in the run directory that records the selection.
    public static let reportFile = "useful.json"
    /// The separating run's subdirectory.
    public static let separatingDirectory = "separating"

    public init(configuration: RunConfiguration, separatingEpoch: Int, rule: UsefulSelection.Rule = .useful, shortcutFraction: Double = 0, output: URL?) throws {
        try configuration.validate()
        guard (1...configuration.epochs).contains(separatingEpoch) else {
            throw ConfigurationError(field: "useful-epoch", message: "expected a separating epoch in 1...\(configuration.epochs) (the run's epochs), got \(separatingEpoch)")
        }
        guard (0...1).contains(shortcutFraction) else {
            throw ConfigurationError(field: "shortcut", message: "expected a fraction in [0, 1], got \(shortcutFraction)")
        }
        // Label noise is drawn per training-set position; duplicating examples would draw a
        // different corruption for the restart than for the separating run.
        guard configuration.labelNoise == 0 else {
            throw ConfigurationError(field: "label-noise", message: "USEFUL runs without label noise (the duplicated examples would be corrupted anew), got \(configuration.labelNoise)")
        }
        self.configuration = configuration
        self.separatingEpoch = separatingEpoch
        self.rule = rule
        self.shortcutFraction = shortcutFraction
        self.output = output
    }

    /// Loads the data, trains twice, writes `useful.json`; returns the report.
    public func run(observer: inout some TrainingObserver) throws -> UsefulReport {
        let prepared = try Trainer.prepare(configuration, output: nil)
        var train = prepared.train
        let test = prepared.test
        var patched: [Int] = []
        if shortcutFraction > 0 {
            guard train.sampleShape.count == 3 else {
                throw ConfigurationError(field: "shortcut", message: "the shortcut patch needs image samples [C, H, W], \(configuration.dataset) has samples of shape \(train.sampleShape)")
            }
            let (height, width) = (train.sampleShape[1], train.sampleShape[2])
            let brightest = train.images.scalars.max() ?? 1
            patched = train.sampledPerClass(fraction: shortcutFraction, seed: configuration.seed &+ 0x5EED)
            train = train.pasting({ PlantedPatch.shortcut(label: $0, height: height, width: width, value: brightest) }, onto: patched)
            observer.message("shortcut: a class-specific patch on \(patched.count) of \(train.count) training images, none on the test images")
        }

        var selection = UsefulSelection.empty
        var separating: (train: Float, test: Float) = (0, 0)
        if rule != .nothing {
            var early = configuration
            early.epochs = separatingEpoch
            early.output = output.map { $0.appendingPathComponent(Self.separatingDirectory).path }
            var first = try Trainer(configuration: early, train: train, test: test, output: early.output.map(URL.init(fileURLWithPath:)))
            first.runDirectoryPolicy = runDirectoryPolicy
            first.stopToken = stopToken
            observer.message("USEFUL: training \(separatingEpoch) epoch\(separatingEpoch == 1 ? "" : "s") to the separating epoch")
            let (earlySummary, model) = try first.runReturningModel(observer: &observer)
            separating = (earlySummary.metrics.last?.trainAccuracy ?? 0, earlySummary.metrics.last?.testAccuracy ?? 0)

            // The outputs as the network saw the data: normalized as the trainer normalized it.
            let normalized = Normalization.fit(train).apply(to: train)
            let (outputs, losses) = Self.outputsAndLosses(of: model, on: normalized)
            let useful = UsefulSelection.useful(outputs: outputs, labels: train.labels, losses: losses, classCount: train.classCount, seed: configuration.seed)
            selection = rule == .useful ? useful : UsefulSelection.random(matching: useful, labels: train.labels, seed: configuration.seed &+ 0xC0)
        }
        let enlarged = selection.upsampled.isEmpty ? train : train.subset(selection.enlargedOrder(count: train.count))
        observer.message(rule == .nothing
            ? "USEFUL baseline (--upsample none): training once on the \(train.count) examples, nothing duplicated"
            : "USEFUL (\(rule.rawValue)): duplicating \(selection.upsampled.count) of \(train.count) training examples; restarting from scratch on \(enlarged.count)")

        var report = UsefulReport(
            rule: rule, separatingEpoch: separatingEpoch, trainingExamples: train.count, seed: configuration.seed, selection: selection,
            separatingTrainAccuracy: separating.train, separatingTestAccuracy: separating.test,
            shortcutFraction: shortcutFraction, shortcutPatched: patched)
        if let output {
            do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
                throw ConfigurationError(field: "output", message: "cannot create the run directory \(output.path): \(error.localizedDescription)")
            }
            try report.write(to: output.appendingPathComponent(Self.reportFile))
        }

        var final = try Trainer(configuration: configuration, train: enlarged, test: test, output: output)
        final.runDirectoryPolicy = runDirectoryPolicy
        final.stopToken = stopToken
        let summary = try final.run(observer: &observer)
        report.finalTestAccuracy = summary.finalTestAccuracy
        report.bestTestAccuracy = summary.bestTestAccuracy
        if let output { try report.write(to: output.appendingPathComponent(Self.reportFile)) }
        return report
    }

    /// Every example's output (logits) and cross-entropy, evaluation mode, no gradients.
    static func outputsAndLosses<Model: Layer>(of model: Model, on dataset: Dataset) -> (Tensor, [Float]) {
        var evaluated = model.training(false)
        var blocks: [Tensor] = [], losses: [Float] = []
        withoutGradients {
            for batch in Batches(dataset: dataset, batchSize: 500, shuffle: false) {
                let logits = evaluated(batch.images)
                blocks.append(logits.detached)
                losses += crossEntropy(logits: logits, labels: batch.labels, reduction: .none).scalars
            }
        }
        return (Tensor.concatenating(blocks, alongAxis: 0), losses)
    }
}

/// `useful.json`: what a ``UsefulRun`` duplicated and how the restart did.
public struct UsefulReport: Codable, Sendable, Equatable {
    public var rule: UsefulSelection.Rule
    public var separatingEpoch: Int
    /// Training examples before upsampling.
    public var trainingExamples: Int
    public var seed: UInt64
    public var selection: UsefulSelection
    /// The separating run's last-epoch training and test accuracy (0 for the baseline, which has none).
    public var separatingTrainAccuracy: Float
    public var separatingTestAccuracy: Float
    public var shortcutFraction: Double
    /// Training examples given the shortcut patch (ascending).
    public var shortcutPatched: [Int]
    /// The restarted run's final and best test accuracy (nil until it finished).
    public var finalTestAccuracy: Float?
    public var bestTestAccuracy: Float?

    /// Of the duplicated examples, the fraction without the shortcut patch (nil without a shortcut
    /// or without duplicates): USEFUL should pick the examples the shortcut does not explain.
    public var upsampledWithoutShortcut: Double? {
        guard shortcutFraction > 0, !selection.upsampled.isEmpty else { return nil }
        let patched = Set(shortcutPatched)
        return Double(selection.upsampled.filter { !patched.contains($0) }.count) / Double(selection.upsampled.count)
    }

    enum CodingKeys: String, CodingKey {
        case rule, separatingEpoch = "separating_epoch", trainingExamples = "training_examples", seed, selection
        case separatingTrainAccuracy = "separating_train_accuracy", separatingTestAccuracy = "separating_test_accuracy"
        case shortcutFraction = "shortcut_fraction", shortcutPatched = "shortcut_patched"
        case finalTestAccuracy = "final_test_accuracy", bestTestAccuracy = "best_test_accuracy"
        case upsampledWithoutShortcut = "upsampled_without_shortcut"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule); try c.encode(separatingEpoch, forKey: .separatingEpoch)
        try c.encode(trainingExamples, forKey: .trainingExamples); try c.encode(seed, forKey: .seed)
        try c.encode(selection, forKey: .selection)
        try c.encode(separatingTrainAccuracy, forKey: .separatingTrainAccuracy); try c.encode(separatingTestAccuracy, forKey: .separatingTestAccuracy)
        try c.encode(shortcutFraction, forKey: .shortcutFraction); try c.encode(shortcutPatched, forKey: .shortcutPatched)
        try c.encode(finalTestAccuracy, forKey: .finalTestAccuracy); try c.encode(bestTestAccuracy, forKey: .bestTestAccuracy)
        try c.encode(upsampledWithoutShortcut, forKey: .upsampledWithoutShortcut)  // derived: written for readers, ignored when read
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rule = try c.decode(UsefulSelection.Rule.self, forKey: .rule)
        separatingEpoch = try c.decode(Int.self, forKey: .separatingEpoch)
        trainingExamples = try c.decode(Int.self, forKey: .trainingExamples)
        seed = try c.decode(UInt64.self, forKey: .seed)
        selection = try c.decode(UsefulSelection.self, forKey: .selection)
        separatingTrainAccuracy = try c.decode(Float.self, forKey: .separatingTrainAccuracy)
        separatingTestAccuracy = try c.decode(Float.self, forKey: .separatingTestAccuracy)
        shortcutFraction = try c.decode(Double.self, forKey: .shortcutFraction)
        shortcutPatched = try c.decode([Int].self, forKey: .shortcutPatched)
        finalTestAccuracy = try c.decodeIfPresent(Float.self, forKey: .finalTestAccuracy)
        bestTestAccuracy = try c.decodeIfPresent(Float.self, forKey: .bestTestAccuracy)
    }

    public init(
        rule: UsefulSelection.Rule, separatingEpoch: Int, trainingExamples: Int, seed: UInt64, selection: UsefulSelection,
        separatingTrainAccuracy: Float, separatingTestAccuracy: Float, shortcutFraction: Double, shortcutPatched: [Int]
    ) {
        self.rule = rule
        self.separatingEpoch = separatingEpoch
        self.trainingExamples = trainingExamples
        self.seed = seed
        self.selection = selection
        self.separatingTrainAccuracy = separatingTrainAccuracy
        self.separatingTestAccuracy = separatingTestAccuracy
        self.shortcutFraction = shortcutFraction
        self.shortcutPatched = shortcutPatched
    }

    /// Writes the report as sorted-key JSON, atomically.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: url)
    }

    /// Reads a report, naming the file on failure.
    public static func read(from url: URL) throws -> UsefulReport {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError(field: url.path, message: "cannot read the USEFUL report: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(UsefulReport.self, from: data) } catch {
            throw ConfigurationError(field: url.path, message: "not a USEFUL report (useful.json): \(error)")
        }
    }
}
