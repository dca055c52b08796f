/// What the loop reports while it runs.
public protocol TrainingObserver {
    /// After each step: epoch (0-based), step within the epoch, steps per epoch, running loss and accuracy.
    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double)
    mutating func epochFinished(_ metrics: EpochMetrics, of epochs: Int)
    mutating func message(_ text: String)
}
