/// The result of a training run.
public struct TrainingSummary: Sendable {
    public var configuration: RunConfiguration
    public var metrics: [EpochMetrics]
    public var finalTestAccuracy: Float { metrics.last?.testAccuracy ?? 0 }
    public var bestTestAccuracy: Float { metrics.map(\.testAccuracy).max() ?? 0 }
    /// Median milliseconds per step over the run's epochs.
    public var millisecondsPerStep: Double {
        let sorted = metrics.map(\.millisecondsPerStep).sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
    /// Bytes the objective keeps across steps: SAF's memory bank, MESA's teacher (0 for
    /// plain cross-entropy).
    public var memoryBankBytes: Int
}
