import PlateauData
import PlateauNN
import PlateauTensor

/// Loss and accuracy of a multi-task model per task, in evaluation mode and without gradients.
public enum MultiTaskEvaluation {
    /// Each task's mean cross-entropy and accuracy on `dataset` (labels encoded by
    /// `taskLabels`, the model's outputs one block of C columns per task), with their sum and
    /// mean: `loss` is the summed losses the run trains on, `accuracy` the mean task accuracy.
    public static func run<Model: Layer>(
        _ model: Model, on dataset: Dataset, taskLabels: TaskLabels, batchSize: Int = 500
    ) -> (loss: Float, accuracy: Float, taskLosses: [Float], taskAccuracies: [Float]) {
        var evaluated = model.training(false)
        var lossSums = [Double](repeating: 0, count: taskLabels.tasks), correct = [Int](repeating: 0, count: taskLabels.tasks)
        withoutGradients {
            for batch in Batches(dataset: dataset, batchSize: batchSize, shuffle: false) {
                let outputs = evaluated(batch.images)
                for task in 0..<taskLabels.tasks {
                    let (sum, hits) = taskScore(outputs, labels: batch.labels, task: task, taskLabels: taskLabels)
                    lossSums[task] += sum
                    correct[task] += hits
                }
            }
        }
        let n = Double(max(dataset.count, 1))
        let losses = lossSums.map { Float($0 / n) }
        let accuracies = correct.map { Float(Double($0) / n) }
        return (losses.reduce(0, +), accuracies.reduce(0, +) / Float(taskLabels.tasks), losses, accuracies)
    }

    /// Correct (sample, task) predictions of `outputs` for the encoded `labels`, over every task.
    public static func correctPredictions(_ outputs: Tensor, labels: [Int], taskLabels: TaskLabels) -> Int {
        (0..<taskLabels.tasks).reduce(0) { $0 + taskScore(outputs, labels: labels, task: $1, taskLabels: taskLabels, loss: false).correct }
    }

    /// Task `task`'s summed cross-entropy (0 unless `loss`) and correct predictions.
    static func taskScore(_ outputs: Tensor, labels: [Int], task: Int, taskLabels: TaskLabels, loss: Bool = true) -> (loss: Double, correct: Int) {
        let c = taskLabels.classesPerTask
        let logits = outputs.detached.sliced(alongAxis: 1, (task * c)..<((task + 1) * c))
        let targets = labels.map { taskLabels.label($0, task: task) }
        let correct = zip(logits.argmax(alongAxis: 1), targets).filter { $0 == $1 }.count
        let sum = loss ? Double(crossEntropy(logits: logits, labels: targets, reduction: .sum).item) : 0
        return (sum, correct)
    }
}

extension TrainingSummary {
    /// A multi-task run's last test accuracy of each task, in task order (`nil` for one task).
    public var finalTaskTestAccuracies: [Float]? { metrics.last?.taskTestAccuracies }
}
