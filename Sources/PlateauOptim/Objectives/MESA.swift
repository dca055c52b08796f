import PlateauNN
import PlateauTensor

/// MESA, memory-efficient SAF (Du et al. 2022, §3.3): the stored past outputs are replaced
/// by an exponential moving average of the model as teacher,
///
///     v ← β·v + (1 − β)·θ        after every step (parameters and buffers), β = 0.9998
///     L = L_CE + λ·τ²·(1/|B|) Σᵢ KL( softmax(f_v(xᵢ)/τ) ‖ softmax(f_θ(xᵢ)/τ) )
///
/// The teacher runs forward only, in evaluation mode (BatchNorm uses its averaged running
/// statistics), on the same inputs, once per step before the optimizer's passes. Memory is
/// one model copy instead of N × E × C logits; compute is one extra forward pass.
/// Defaults: λ 0.8, τ 5, E_start 5; like SAF's, the term is active in the epochs e > E_start. The teacher is held as `any Layer` so that the term,
/// like every objective term, works with whatever model the run trains.
///
/// Reference: Du et al. 2022, *Sharpness-Aware Training for Free*, arXiv:2205.14083 (MESA is its §3.3).
public struct MESA: ObjectiveTerm {
    /// The EMA teacher f_v, in evaluation mode; starts as a copy of the model.
    public var teacher: any Layer
    /// β ∈ [0, 1), the EMA decay of the teacher, v ← β·v + (1 − β)·θ; default 0.9998.
    public var decay: Float
    /// λ ≥ 0, the weight of the teacher term; default 0.8.
    public var lambda: Float
    /// τ > 0, the softmax temperature of the KL term (which is scaled by τ²); default 5.
    public var temperature: Float
    /// E_start, the term is active in the epochs e > E_start (0-based); default 5.
    public var startEpoch: Int

    /// A MESA term whose teacher starts as a copy of `model` (defaults β 0.9998, λ 0.8, τ 5, E_start 5).
    ///
    /// - Parameters:
    ///   - model: the model being trained; its copy, in evaluation mode, is the initial teacher.
    ///   - decay: the teacher's EMA decay β.
    ///   - lambda: the term's weight λ.
    ///   - temperature: the KL temperature τ.
    ///   - startEpoch: E_start.
    /// - Precondition: `decay` in [0, 1), `lambda ≥ 0`, `temperature > 0`.
    public init<Model: Layer>(model: Model, decay: Float = 0.9998, lambda: Float = 0.8, temperature: Float = 5, startEpoch: Int = 5) {
        precondition(decay >= 0 && decay < 1, "MESA: EMA decay must be in [0, 1), got \(decay)")
        precondition(lambda >= 0, "MESA: lambda must be non-negative, got \(lambda)")
        precondition(temperature > 0, "MESA: temperature must be positive, got \(temperature)")
        teacher = model.training(false)
        self.decay = decay
        self.lambda = lambda
        self.temperature = temperature
        self.startEpoch = startEpoch
    }

    /// Whether the teacher term is part of the loss at `epoch` (0-based): e > E_start.
    public func isActive(atEpoch epoch: Int) -> Bool { epoch > startEpoch && lambda > 0 }

    /// The teacher's logits for `images`, forward only.
    public func teacherLogits(_ images: Tensor) -> Tensor {
        var scratch = teacher
        return withoutGradients { scratch(images) }
    }

    /// The per-sample term λ·τ²·KL(teacher ‖ student), shape `[n]`.
    public func trajectoryLoss(logits: Tensor, teacherLogits: Tensor) -> Tensor {
        Self.trajectoryLoss(logits: logits, teacherLogits: teacherLogits, lambda: lambda, temperature: temperature)
    }

    static func trajectoryLoss(logits: Tensor, teacherLogits: Tensor, lambda: Float, temperature: Float) -> Tensor {
        klDivergence(studentLogits: logits, teacherLogits: teacherLogits, temperature: temperature, reduction: .none) * lambda
    }

    /// v ← β·v + (1 − β)·θ over the whole state dictionary, buffers included: one
    /// vectorized pass per tensor, after every step.
    public mutating func updateTeacher<Model: Layer>(from model: Model) {
        teacher.update(teacher.stateDictionary.movingAverage(toward: model.stateDictionary, decay: decay))
    }

    // MARK: ObjectiveTerm

    public var name: String { "mesa" }

    /// From E_start + 1 on: runs the teacher once on the whole batch and returns λ·τ²·KL(teacher ‖ student) per row.
    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        guard isActive(atEpoch: batch.epoch) else { return nil }
        let teacherOutputs = teacherLogits(batch.inputs)
        let (lambda, temperature) = (self.lambda, self.temperature)
        return { input, _ in
            Self.trajectoryLoss(logits: input.outputs, teacherLogits: input.selecting(teacherOutputs), lambda: lambda, temperature: temperature)
        }
    }

    /// Moves the teacher toward the updated model (``updateTeacher(from:)``).
    public mutating func stepFinished<Model: Layer>(on batch: StepBatch, outputs: Tensor, model: Model) {
        updateTeacher(from: model)
    }

    /// The teacher's state dictionary (parameters and buffers).
    public var checkpointState: ParameterSet { teacher.stateDictionary }

    /// Loads the teacher's state dictionary; throws if it does not fit the model.
    public mutating func restore(checkpointState: ParameterSet, source: String) throws {
        try teacher.load(stateDictionary: checkpointState, source: source + " (MESA teacher)")
    }

    /// The teacher's scalars × 4 bytes (one model copy).
    public var memoryByteCount: Int { teacher.stateDictionary.scalarCount * 4 }
}
