import Foundation

/// One epoch's numbers, one row of `metrics.jsonl` and `metrics.csv` (see ``MetricsLog``).
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Float
    public var trainAccuracy: Float
    public var testLoss: Float
    public var testAccuracy: Float
    public var learningRate: Float
    public var seconds: Double
    public var samplesPerSecond: Double
    /// Mean forward–backward passes per step (1 for SGD and SAF, ~2 for SAM).
    public var passesPerStep: Float
    /// Mean milliseconds per optimizer step (`ms_per_step` in both files).
    public var millisecondsPerStep: Double
    /// A multi-task run's test accuracy of each task, in task order (`nil` for one task);
    /// `testAccuracy` is then their mean and `testLoss` the sum of the tasks' losses.
    public var taskTestAccuracies: [Float]?
    /// A multi-task run's mean over the epoch's steps of the cosine between the tasks'
    /// gradients of the shared parameters at w (mean pairwise for more than two tasks).
    public var taskGradientCosine: Float?
    /// A fine-tuning run's (`--initial-weights`) mean over the test split of
    /// KL(f_θ₀(x) ‖ f_θ(x)): how far the function has moved from the one it started as — the
    /// distance TRAM keeps small (`drift_from_initial`; `nil` without initial weights).
    public var driftFromInitial: Float?
    /// A segmentation run's (`--task segmentation`) test scores and σ; `testAccuracy` is then
    /// the pixel accuracy and `testLoss` the per-pixel cross-entropy.
    public var segmentation: SegmentationEpochMetrics?

    /// GAQAT's per-step-size statistics at the epoch's end, cumulative since the start of
    /// training (``/PlateauOptim/GAQAT/scaleStatistics``: `conflicts/<path>`, `flips/<path>`,
    /// `window_rate/<path>`, `frozen/<path>`, `steps`); `nil` for other methods. In
    /// `metrics.jsonl` only.
    public var scaleStatistics: [String: Float]?

    // `ms_per_step` is the column name of metrics.csv, the TensorBoard tag and `demo --json`;
    // files written before it was used here too say `milliseconds_per_step`, still read.
    private enum CodingKeys: String, CodingKey {
        case epoch, trainLoss, trainAccuracy, testLoss, testAccuracy, learningRate, seconds, samplesPerSecond, passesPerStep
        case millisecondsPerStep = "msPerStep"
        case legacyMillisecondsPerStep = "millisecondsPerStep"
        case taskTestAccuracies, taskGradientCosine, driftFromInitial, segmentation, scaleStatistics
    }

    public init(
        epoch: Int, trainLoss: Float, trainAccuracy: Float, testLoss: Float, testAccuracy: Float, learningRate: Float,
        seconds: Double, samplesPerSecond: Double, passesPerStep: Float, millisecondsPerStep: Double,
        taskTestAccuracies: [Float]? = nil, taskGradientCosine: Float? = nil
    ) {
        self.taskTestAccuracies = taskTestAccuracies
        self.taskGradientCosine = taskGradientCosine
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.learningRate = learningRate
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
        self.passesPerStep = passesPerStep
        self.millisecondsPerStep = millisecondsPerStep
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        trainLoss = try c.decode(Float.self, forKey: .trainLoss)
        trainAccuracy = try c.decode(Float.self, forKey: .trainAccuracy)
        testLoss = try c.decode(Float.self, forKey: .testLoss)
        testAccuracy = try c.decode(Float.self, forKey: .testAccuracy)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        seconds = try c.decode(Double.self, forKey: .seconds)
        samplesPerSecond = try c.decode(Double.self, forKey: .samplesPerSecond)
        passesPerStep = try c.decode(Float.self, forKey: .passesPerStep)
        millisecondsPerStep = try c.decodeIfPresent(Double.self, forKey: .millisecondsPerStep)
            ?? c.decode(Double.self, forKey: .legacyMillisecondsPerStep)
        taskTestAccuracies = try c.decodeIfPresent([Float].self, forKey: .taskTestAccuracies)
        taskGradientCosine = try c.decodeIfPresent(Float.self, forKey: .taskGradientCosine)
        driftFromInitial = try c.decodeIfPresent(Float.self, forKey: .driftFromInitial)
        segmentation = try c.decodeIfPresent(SegmentationEpochMetrics.self, forKey: .segmentation)

        scaleStatistics = try c.decodeIfPresent([NamedValue].self, forKey: .scaleStatistics)
            .map { Dictionary($0.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 }) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(trainLoss, forKey: .trainLoss)
        try c.encode(trainAccuracy, forKey: .trainAccuracy)
        try c.encode(testLoss, forKey: .testLoss)
        try c.encode(testAccuracy, forKey: .testAccuracy)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(samplesPerSecond, forKey: .samplesPerSecond)
        try c.encode(passesPerStep, forKey: .passesPerStep)
        try c.encode(millisecondsPerStep, forKey: .millisecondsPerStep)
        try c.encodeIfPresent(taskTestAccuracies, forKey: .taskTestAccuracies)
        try c.encodeIfPresent(taskGradientCosine, forKey: .taskGradientCosine)
        try c.encodeIfPresent(driftFromInitial, forKey: .driftFromInitial)
        try c.encodeIfPresent(segmentation, forKey: .segmentation)

        // Names as values, not keys: the files' snake-case key conversion would rewrite them.
        try c.encodeIfPresent(scaleStatistics.map { $0.sorted { $0.key < $1.key }.map { NamedValue(name: $0.key, value: $0.value) } }, forKey: .scaleStatistics)
    }
}

/// One named number of ``EpochMetrics/scaleStatistics`` on disk.
struct NamedValue: Codable, Equatable {
    var name: String
    var value: Float
}

/// A run's per-epoch metrics on disk: `metrics.jsonl` (one JSON object per epoch, keys in
/// snake case) and `metrics.csv`, written atomically, read back by the trainer when it
/// resumes and by `compare` when it reuses or reports a run. One reader for both, so that
/// they agree on every row — including a diverged evaluation's `inf`/`nan`, a result to keep.
public enum MetricsLog {
    /// Writes `history` as `metrics.jsonl` and `metrics.csv` into `directory`.
    public static func write(_ history: [EpochMetrics], to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let lines = try history.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try writeAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: directory.appendingPathComponent("metrics.jsonl"))
        // A multi-task run's rows carry one test-accuracy column per task and the gradient cosine.
        let tasks = history.compactMap { $0.taskTestAccuracies?.count }.max() ?? 0
        // A fine-tuning run's rows carry the drift from its initial weights.
        let drift = history.contains { $0.driftFromInitial != nil }
        let header = csvHeader + (tasks > 0 ? (1...tasks).map { ",test_accuracy_task\($0)" }.joined() + ",task_gradient_cosine" : "")
            + (drift ? ",drift_from_initial" : "")
            + SegmentationEpochMetrics.csvHeader(history)
        let rows = history.map { row -> String in
            var cells: [String] = []
            if tasks > 0 {
                let accuracies = row.taskTestAccuracies ?? []
                cells += (0..<tasks).map { task in task < accuracies.count ? "\(accuracies[task])" : "" } + [row.taskGradientCosine.map { "\($0)" } ?? ""]
            }
            if drift { cells.append(row.driftFromInitial.map { "\($0)" } ?? "") }
            cells += SegmentationEpochMetrics.csvCells(row, history)
            return csvLine(row) + cells.map { "," + $0 }.joined()
        }
        let csv = ([header] + rows).joined(separator: "\n") + "\n"
        try writeAtomically(Data(csv.utf8), to: directory.appendingPathComponent("metrics.csv"))
    }

    /// The rows of `directory/metrics.jsonl` (none when the file is missing).
    public static func read(from directory: URL) -> [EpochMetrics] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return text.split(separator: "\n").compactMap { try? decoder.decode(EpochMetrics.self, from: Data($0.utf8)) }
    }

    static let csvHeader = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,seconds,samples_per_second,passes_per_step,ms_per_step"

    static func csvLine(_ m: EpochMetrics) -> String {
        "\(m.epoch),\(m.trainLoss),\(m.trainAccuracy),\(m.testLoss),\(m.testAccuracy),\(m.learningRate),\(m.seconds),\(m.samplesPerSecond),\(m.passesPerStep),\(m.millisecondsPerStep)"
    }
}
