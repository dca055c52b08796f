import PlateauTensor

/// Online accuracy and stability of a test-time adaptation run, accumulated batch by batch.
///
/// Beside accuracy it counts what the methods did (resets, samples kept by SAR's filters)
/// and a collapse indicator: the fraction of the last `window` predictions that are the
/// single most frequent predicted class (1.0: the model predicts one class only, Tent's
/// failure mode; about 1/C for balanced predictions). The same statistic over the labels of
/// the window is kept beside it, since on a class-sorted stream a high value is expected.
public struct OnlineAccuracy: Sendable, Codable, Equatable {
    public private(set) var samples = 0
    public private(set) var correct = 0
    public private(set) var batches = 0
    public private(set) var resets = 0
    /// Samples that entered an update (all for Tent, those under E₀ for SAR, 0 for none).
    public private(set) var kept = 0
    /// Samples of SAR's second pass, kept by both filters (0 for other methods).
    public private(set) var keptTwice = 0
    /// Predictions considered by the collapse indicator.
    public let window: Int
    private var recentPredictions: [Int] = []
    private var recentLabels: [Int] = []

    public init(window: Int = 500) {
        precondition(window > 0, "OnlineAccuracy: the window must hold at least one prediction, got \(window)")
        self.window = window
    }

    /// The fraction of samples predicted correctly (0 before any).
    public var accuracy: Double { samples == 0 ? 0 : Double(correct) / Double(samples) }

    /// The fraction of the last `window` predictions that are their most frequent class.
    public var collapse: Double { Self.concentration(recentPredictions) }

    /// The same statistic for the labels of those samples.
    public var labelConcentration: Double { Self.concentration(recentLabels) }

    /// Records a batch scored with `logits` against `labels`.
    public mutating func record(_ step: AdaptationStep, labels: [Int]) {
        let predictions = Self.predictions(step.logits)
        precondition(predictions.count == labels.count, "OnlineAccuracy: \(predictions.count) predictions for \(labels.count) labels")
        record(predictions: predictions, labels: labels, kept: step.kept, keptTwice: step.keptTwice ?? 0, reset: step.reset)
    }

    /// Records a batch's predictions (or part of one, e.g. the samples of one corruption).
    public mutating func record(predictions: [Int], labels: [Int], kept: Int = 0, keptTwice: Int = 0, reset: Bool = false) {
        samples += labels.count
        correct += zip(predictions, labels).filter { $0 == $1 }.count
        batches += 1
        self.kept += kept
        self.keptTwice += keptTwice
        if reset { resets += 1 }
        recentPredictions = Array((recentPredictions + predictions).suffix(window))
        recentLabels = Array((recentLabels + labels).suffix(window))
    }

    /// The arg-max class of each row.
    public static func predictions(_ logits: Tensor) -> [Int] {
        let classes = logits.shape[1], values = logits.scalars
        return (0..<logits.shape[0]).map { row in
            let slice = values[(row * classes)..<((row + 1) * classes)]
            return slice.indices.max { slice[$0] < slice[$1] || (slice[$0] == slice[$1] && $0 > $1) }! - row * classes
        }
    }

    /// The share of the most frequent value (0 for none).
    static func concentration(_ values: [Int]) -> Double {
        guard !values.isEmpty else { return 0 }
        var counts: [Int: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        return Double(counts.values.max()!) / Double(values.count)
    }
}
