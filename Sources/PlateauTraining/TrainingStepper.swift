import PlateauNN
import PlateauOptim
import PlateauTensor

/// A configured optimizer of any kind, as the training loop drives it: one step on a batch
/// through a per-sample loss. ``SharpnessAwareMinimizer`` is the only implementation — plain
/// SGD/Adam run it with ``NoPerturbation`` — so every method shares one code path.
public protocol TrainingStepper: Sendable {
    var learningRate: Float { get set }
    mutating func step<Model: Module>(_ model: inout Model, batchSize: Int, loss: (inout Model, LossRequest) -> Tensor) -> StepReport
    /// A step whose rule reads `measure`'s value, computed once at w without gradients, as
    /// `StepContext.measurement` (TRAM's radius).
    mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, measure: (inout Model) -> Float, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport
    var state: OptimizerState { get }
    mutating func restore(_ state: OptimizerState) throws
    /// The base optimizer's ``/PlateauOptim/Optimizer/diagnostics`` after the last step.
    var optimizerDiagnostics: [(tag: String, value: Float)] { get }
    /// How steps run over ranks (``/PlateauOptim/DataParallelism``); `nil` for one process.
    /// A stepper that cannot run data-parallel keeps it `nil` whatever is set.
    var dataParallel: DataParallelism? { get set }

    /// The rule's per-parameter statistics for the epoch's metrics row (GAQAT's conflict
    /// counts and scale sign flips), empty for other rules.
    var ruleStatistics: [(tag: String, value: Float)] { get }
}

extension TrainingStepper {
    public var optimizerDiagnostics: [(tag: String, value: Float)] { [] }
    /// Always `nil`: this stepper runs in one process only (setting it does nothing).
    public var dataParallel: DataParallelism? {
        get { nil }
        set {}
    }

    public var ruleStatistics: [(tag: String, value: Float)] { [] }
}

extension SharpnessAwareMinimizer: TrainingStepper {
    public var optimizerDiagnostics: [(tag: String, value: Float)] { base.diagnostics }
    public var ruleStatistics: [(tag: String, value: Float)] { (rule as? GAQAT)?.scaleStatistics ?? [] }
}

/// The learning-rate schedule of a run.
public enum TrainingSchedule {
    /// The learning-rate schedule of `configuration` over `stepsPerEpoch`-step epochs.
    public static func make(_ c: RunConfiguration, stepsPerEpoch: Int) throws -> any LearningRateSchedule {
        let schedule: any LearningRateSchedule
        do {
            switch c.schedule {
            case "step": schedule = try StepDecay(learningRate: c.learningRate, gamma: c.gamma, everyEpochs: c.stepEpochs, stepsPerEpoch: stepsPerEpoch)
            case "multistep": schedule = try MultiStepDecay(learningRate: c.learningRate, milestones: c.milestones, gamma: c.gamma, stepsPerEpoch: stepsPerEpoch)
            case "cosine": schedule = try CosineAnnealing(learningRate: c.learningRate, epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
            case "onecycle": schedule = try OneCycle(maximumLearningRate: c.learningRate, epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
            default: schedule = try ConstantLearningRate(c.learningRate)
            }
            if c.warmupEpochs > 0 {
                return try schedule.withLinearWarmup(epochs: c.warmupEpochs, stepsPerEpoch: stepsPerEpoch, totalEpochs: c.epochs)
            }
        } catch {
            throw ConfigurationError(field: "schedule", message: error.description)
        }
        return schedule
    }
}
