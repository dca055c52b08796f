import ArgumentParser
import Foundation
import Plateau

extension EvalCommand {
    /// A multi-task checkpoint's evaluation: each task's accuracy and loss, their mean
    /// accuracy and summed loss (what its training's metrics report).
    func evaluateTasks(_ model: any Layer, configuration c: RunConfiguration, test: Dataset, classCount: Int, checkpoint url: URL) throws {
        guard streamBatchSize == nil, driftFrom == nil else {
            throw ValidationError("--stream-batch-size and --drift-from evaluate single-task checkpoints; \(url.lastPathComponent) has \(c.tasks) tasks")
        }
        let labels = try c.taskLabels(classCount: classCount)
        func opened<M: Layer>(_ model: M) -> (loss: Float, accuracy: Float, taskLosses: [Float], taskAccuracies: [Float]) {
            MultiTaskEvaluation.run(model, on: test, taskLabels: labels)
        }
        let result = opened(model)
        guard result.loss.isFinite else {
            throw RuntimeError("\(url.lastPathComponent): the loss on \(c.dataset) is \(result.loss), not a number (the inputs or the model overflow)")
        }
        let names = DatasetCatalog.entry(named: c.dataset)?.taskNames ?? []
        if json {
            let object: [String: Any] = [
                "accuracy": JSONNumbers.fraction(result.accuracy), "loss": Double(result.loss), "samples": test.count, "dataset": c.dataset,
                "model": c.model, "task_accuracies": result.taskAccuracies.map { JSONNumbers.fraction($0) }, "task_losses": result.taskLosses.map(Double.init),
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            let tasks = result.taskAccuracies.indices.map { t in
                String(format: "task %d%@ %.2f%%", t + 1, t < names.count ? " (\(names[t]))" : "", result.taskAccuracies[t] * 100)
            }
            print(String(format: "%@ on %@ test (%d samples): mean task accuracy %.2f%% (%@), summed loss %.4f",
                         c.model, c.dataset, test.count, result.accuracy * 100, tasks.joined(separator: ", "), result.loss))
        }
    }
}
