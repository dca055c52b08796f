import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// One task's data loss in a multi-task objective: the cross-entropy of that task's head —
/// its columns `t·C ..< (t+1)·C` of the outputs — against its label decoded from the
/// sample's ``/PlateauData/TaskLabels`` encoding. A multi-task objective is one such term per
/// task; ``MultiTaskMinimizer`` takes each term's loss as one task's.
public struct TaskCrossEntropyTerm: ObjectiveTerm {
    /// The task, 0-based.
    public let task: Int
    /// How the samples' labels encode every task's class.
    public let taskLabels: TaskLabels
    /// Label smoothing s ∈ [0, 1) within the task's classes.
    public let labelSmoothing: Float

    /// - Precondition: `task` in `0..<taskLabels.tasks`, `labelSmoothing` in [0, 1).
    public init(task: Int, taskLabels: TaskLabels, labelSmoothing: Float = 0) {
        precondition((0..<taskLabels.tasks).contains(task), "TaskCrossEntropyTerm: task \(task) outside 0..<\(taskLabels.tasks)")
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "TaskCrossEntropyTerm: label smoothing must be in [0, 1), got \(labelSmoothing)")
        self.task = task
        self.taskLabels = taskLabels
        self.labelSmoothing = labelSmoothing
    }

    /// `task1`, `task2`, … (1-based, as the metrics name the tasks).
    public var name: String { "task\(task + 1)" }

    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        let (task, labels, smoothing) = (task, taskLabels, labelSmoothing)
        return { input, _ in
            let c = labels.classesPerTask
            let logits = input.outputs.sliced(alongAxis: 1, (task * c)..<((task + 1) * c))
            return crossEntropy(logits: logits, labels: input.labels.map { labels.label($0, task: task) }, labelSmoothing: smoothing, reduction: .none)
        }
    }
}

/// The objective of a multi-task run: one ``TaskCrossEntropyTerm`` per task, in task order.
public func multiTaskObjective(_ taskLabels: TaskLabels, labelSmoothing: Float = 0) -> TrainingObjective {
    TrainingObjective((0..<taskLabels.tasks).map { TaskCrossEntropyTerm(task: $0, taskLabels: taskLabels, labelSmoothing: labelSmoothing) })
}
