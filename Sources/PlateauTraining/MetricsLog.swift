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
    /// Mean milliseconds per optimizer step.
    public var millisecondsPerStep: Double

    public init(
        epoch: Int, trainLoss: Float, trainAccuracy: Float, testLoss: Float, testAccuracy: Float, learningRate: Float,
        seconds: Double, samplesPerSecond: Double, passesPerStep: Float, millisecondsPerStep: Double
    ) {
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
        let csv = ([csvHeader] + history.map(csvLine)).joined(separator: "\n") + "\n"
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
