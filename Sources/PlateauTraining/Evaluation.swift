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

    /// The mean over `dataset`'s samples of KL(softmax(f_ref(x)) ‖ softmax(f(x))): how far
    /// `model`'s function has drifted from `reference`'s (TRAM's trust-region distance, on
    /// held-out data). Each model sees the samples as its own run normalized them
    /// (`normalize` and `normalizeReference` map the raw dataset). Both in evaluation mode.
    public static func drift<Model: Layer, Reference: Layer>(
        of model: Model, from reference: Reference, on dataset: Dataset, normalize: (Dataset) -> Dataset,
        normalizeReference: (Dataset) -> Dataset, batchSize: Int = 500
    ) -> Float {
        var evaluated = model.training(false), frozen = reference.training(false)
        let inputs = normalize(dataset), referenceInputs = normalizeReference(dataset)
        var total: Double = 0
        withoutGradients {
            for (batch, referenceBatch) in zip(
                Batches(dataset: inputs, batchSize: batchSize, shuffle: false), Batches(dataset: referenceInputs, batchSize: batchSize, shuffle: false)
            ) {
                let divergence = klDivergence(studentLogits: evaluated(batch.images), teacherLogits: frozen(referenceBatch.images), reduction: .sum)
                total += Double(divergence.item)
            }
        }
        return Float(total / Double(dataset.count))
    }
}
