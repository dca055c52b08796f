import PlateauNN
import PlateauOptim
import PlateauTensor

/// A ``TrainingStepper`` that needs each task's loss apart rather than their sum:
/// ``StepEngine`` hands it the objective's terms (one per task) separately.
public protocol MultiTaskStepper: TrainingStepper {
    /// One step; `taskLosses` returns each task's per-sample losses for the requested samples.
    mutating func step<Model: Module>(_ model: inout Model, batchSize: Int, taskLosses: (inout Model, LossRequest) -> [Tensor]) -> StepReport
    /// The mean pairwise cosine of the tasks' shared gradients at w in the last step.
    var lastTaskGradientCosine: Float? { get }
}

extension MultiTaskMinimizer: MultiTaskStepper {
    /// The summed loss as a single task (the engine calls the task form instead).
    public mutating func step<Model: Module>(_ model: inout Model, batchSize: Int, loss: (inout Model, LossRequest) -> Tensor) -> StepReport {
        step(&model, batchSize: batchSize, taskLosses: { [loss(&$0, $1)] })
    }

    /// As ``step(_:batchSize:loss:)``: no multi-task rule reads a measurement.
    public mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, measure: (inout Model) -> Float, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport {
        step(&model, batchSize: batchSize, loss: loss)
    }
}
