import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// How batches reach a model — the seam where training regimes plug in.
///
/// A loop owns the order of the data and what it measures; the ``StepEngine`` owns one
/// step (optimizer × objective). Supervised epochs are one loop (``Trainer``); the others
/// are other conformers of this protocol, each one file:
///
/// - an online stream of unlabeled test batches, each predicted and then used for one
///   adaptation step (test-time adaptation): ``StreamLoop`` with an engine whose objective
///   is an entropy term;
/// - forget and retain batches (unlearning): ``UnlearningLoop`` builds each step's batch
///   from two datasets, tagging samples with ``/PlateauOptim/StepBatch/groups``, and
///   ``RelearningAttack`` fine-tunes on a few forget samples, measuring every step;
/// - rounds of local steps and model mixing across clients (federated): a loop that holds
///   one model and engine per client and mixes parameters between rounds.
public protocol TrainingLoop {
    associatedtype Model: Layer
    associatedtype Outcome
    /// Runs the loop over `model`, updating it in place where the loop trains.
    mutating func run(_ model: inout Model, observer: inout some LoopObserver) throws -> Outcome
}

/// What a loop reports as it goes.
public protocol LoopObserver {
    /// After each batch of a loop that measures batch by batch.
    mutating func batchFinished(_ metrics: BatchMetrics, of batches: Int)
}

/// One batch's numbers in a stream.
public struct BatchMetrics: Codable, Sendable, Equatable {
    /// 1-based position in the stream.
    public var batch: Int
    public var samples: Int
    /// Mean cross-entropy of the prediction, before any adaptation step on the batch.
    public var loss: Float
    public var accuracy: Float
    /// Accuracy over the stream so far (online accuracy).
    public var cumulativeAccuracy: Float
    /// The adaptation step's objective, when the loop adapts.
    public var adaptationLoss: Float?
}

/// The stream's totals.
public struct StreamResult: Sendable {
    public var batches: [BatchMetrics]
    public var accuracy: Float { batches.last?.cumulativeAccuracy ?? 0 }
    public var samples: Int { batches.reduce(0) { $0 + $1.samples } }
}

/// A stream of batches in a fixed order: each batch is predicted (evaluation mode, no
/// gradients) and scored against its labels; when an adaptation engine is given, the
/// model then takes one step of that engine on the batch — predict first, then adapt, as
/// online test-time adaptation is scored. Without an engine this is evaluation with
/// per-batch metrics.
public struct StreamLoop<Model: Layer>: TrainingLoop {
    public var stream: [Batch]
    public var adaptation: StepEngine<Model>?
    public var learningRate: Float

    public init(stream: [Batch], adaptation: StepEngine<Model>? = nil, learningRate: Float = 0) {
        self.stream = stream
        self.adaptation = adaptation
        self.learningRate = learningRate
    }

    /// The batches of `dataset` in order (`batchSize` each, the last one smaller).
    public init(dataset: Dataset, batchSize: Int, adaptation: StepEngine<Model>? = nil, learningRate: Float = 0) {
        self.init(stream: Array(Batches(dataset: dataset, batchSize: batchSize, shuffle: false)), adaptation: adaptation, learningRate: learningRate)
    }

    public mutating func run(_ model: inout Model, observer: inout some LoopObserver) throws -> StreamResult {
        var metrics: [BatchMetrics] = []
        var correctSoFar = 0, seenSoFar = 0
        for (index, batch) in stream.enumerated() {
            var evaluated = model.training(false)
            let logits = withoutGradients { evaluated(batch.images) }
            let loss = withoutGradients { crossEntropy(logits: logits, labels: batch.labels, reduction: .mean) }.item
            let correct = zip(logits.argmax(alongAxis: 1), batch.labels).filter { $0 == $1 }.count
            correctSoFar += correct
            seenSoFar += batch.count
            var adaptationLoss: Float? = nil
            if adaptation != nil {
                adaptationLoss = adaptation!.step(&model, on: batch, epoch: 0, learningRate: learningRate).report.loss
            }
            let row = BatchMetrics(
                batch: index + 1, samples: batch.count, loss: loss, accuracy: Float(correct) / Float(batch.count),
                cumulativeAccuracy: Float(correctSoFar) / Float(seenSoFar), adaptationLoss: adaptationLoss)
            metrics.append(row)
            observer.batchFinished(row, of: stream.count)
        }
        return StreamResult(batches: metrics)
    }
}
