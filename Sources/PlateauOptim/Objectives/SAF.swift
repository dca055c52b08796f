import PlateauNN
import PlateauTensor

/// Sharpness-Aware Training for Free (Du et al. 2022, arXiv:2205.14083): SAM's sharpness
/// term replaced by a trajectory loss that costs no extra pass.
///
///     L = L_CE + λ·τ²·(1/|B|) Σᵢ mᵢ · KL( softmax(z_i^{e−E}/τ) ‖ softmax(z_i/τ) )
///
/// where z_i^{e−E} are sample i's logits stored E epochs ago (``TrajectoryMemory``), mᵢ
/// masks samples without them, and the term is active in the epochs e > E_start (0-based;
/// Algorithm 1's `e > E_start` and the reference code's `epoch > kl_start_epoch`, so with
/// the default E_start = 5 the first active epoch is the 7th).
/// The τ² factor follows the reference code. Defaults are the paper's: τ 5, E 3,
/// E_start 5, λ 0.3.
///
/// SAF is an objective term, not an optimizer: it runs inside the loss of any base
/// optimizer (or even of SAM) at one forward–backward pass per step. Its per-step loss
/// reads the batch's stored outputs once; after the step, the first pass's outputs are
/// recorded as this epoch's.
public struct SAF: ObjectiveTerm {
    /// λ ≥ 0, the weight of the trajectory term; default 0.3.
    public var lambda: Float
    /// τ > 0, the softmax temperature of the KL term (which is scaled by τ²); default 5.
    public var temperature: Float
    /// E_start, the term is active in the epochs e > E_start (0-based); default 5.
    public var startEpoch: Int
    /// The stored past logits, N × E × C.
    public var memory: TrajectoryMemory

    /// A SAF term with an empty memory for `sampleCount` samples of `classCount` logits (the paper's defaults).
    ///
    /// - Parameters:
    ///   - sampleCount: N, the training set's size (indices are `0..<N`).
    ///   - classCount: C, the number of logits per sample.
    ///   - lambda: the term's weight λ.
    ///   - temperature: the KL temperature τ.
    ///   - lag: E, how many epochs back the stored logits are.
    ///   - startEpoch: E_start.
    ///   - halfPrecision: store the logits as Float16, halving the memory.
    /// - Precondition: `lambda ≥ 0`, `temperature > 0`, `startEpoch ≥ lag − 1`.
    public init(sampleCount: Int, classCount: Int, lambda: Float = 0.3, temperature: Float = 5, lag: Int = 3, startEpoch: Int = 5, halfPrecision: Bool = false) {
        precondition(lambda >= 0, "SAF: lambda must be non-negative, got \(lambda)")
        precondition(temperature > 0, "SAF: temperature must be positive, got \(temperature)")
        precondition(startEpoch >= lag - 1, "SAF: the start epoch (\(startEpoch)) must be at least the lag (\(lag)) − 1, or the first active epoch finds no past outputs")
        self.lambda = lambda
        self.temperature = temperature
        self.startEpoch = startEpoch
        memory = TrajectoryMemory(sampleCount: sampleCount, classCount: classCount, lag: lag, halfPrecision: halfPrecision)
    }

    /// E, the number of epochs between a stored output and its use; default 3.
    public var lag: Int { memory.lag }

    /// Whether the trajectory term is part of the loss at `epoch` (0-based): e > E_start.
    public func isActive(atEpoch epoch: Int) -> Bool { epoch > startEpoch && lambda > 0 }

    /// The per-sample trajectory term λ·τ²·mᵢ·KL(past ‖ current), shape `[n]`; zeros where
    /// a sample has no stored past.
    public func trajectoryLoss(logits: Tensor, pastLogits: Tensor, available: [Bool]) -> Tensor {
        Self.trajectoryLoss(logits: logits, pastLogits: pastLogits, available: available, lambda: lambda, temperature: temperature)
    }

    static func trajectoryLoss(logits: Tensor, pastLogits: Tensor, available: [Bool], lambda: Float, temperature: Float) -> Tensor {
        let kl = klDivergence(studentLogits: logits, teacherLogits: pastLogits, temperature: temperature, reduction: .none)
        let mask = Tensor(available.map { $0 ? lambda : 0 })
        return kl * mask
    }

    // MARK: ObjectiveTerm

    public var name: String { "saf" }

    /// From E_start + 1 on: reads the batch's logits of E epochs ago and returns λ·τ²·mᵢ·KL(past ‖ current) per row.
    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        guard isActive(atEpoch: batch.epoch) else { return nil }
        let past = memory.pastLogits(for: batch.indices, epoch: batch.epoch)
        let (lambda, temperature) = (self.lambda, self.temperature)
        return { input, _ in
            Self.trajectoryLoss(
                logits: input.outputs, pastLogits: input.selecting(past.logits), available: input.selecting(past.available),
                lambda: lambda, temperature: temperature)
        }
    }

    /// Records the first pass's outputs as this epoch's logits of the batch's samples.
    public mutating func stepFinished<Model: Layer>(on batch: StepBatch, outputs: Tensor, model: Model) {
        memory.record(outputs, for: batch.indices, epoch: batch.epoch)
    }

    /// The memory bank (logits and epoch tags).
    public var checkpointState: ParameterSet { memory.state }

    /// Restores the memory bank; throws if it does not fit this term's N, E, C.
    public mutating func restore(checkpointState: ParameterSet, source: String) throws {
        try memory.restore(checkpointState)
    }

    /// The stored logits' bytes, N·E·C × 4 (× 2 in half precision).
    public var memoryByteCount: Int { memory.byteCount }
}
