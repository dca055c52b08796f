import PlateauData
import PlateauNN
import PlateauTensor

/// Loss and accuracy of a model on a dataset, in evaluation mode and without gradients.
public enum Evaluation {
    public static func run<Model: Layer>(_ model: Model, on dataset: Dataset, batchSize: Int = 500) -> (loss: Float, accuracy: Float) {
        var evaluated = model.training(false)
        var lossSum: Double = 0, correct = 0
        withoutGradients {
            for batch in Batches(dataset: dataset, batchSize: batchSize, shuffle: false) {
                let logits = evaluated(batch.images)
                lossSum += Double(crossEntropy(logits: logits, labels: batch.labels, reduction: .sum).item)
                correct += zip(logits.argmax(alongAxis: 1), batch.labels).filter { $0 == $1 }.count
            }
        }
        return (Float(lossSum / Double(dataset.count)), Float(correct) / Float(dataset.count))
    }
}
