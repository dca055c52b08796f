import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// Batches of a dataset without end: epoch after epoch, each in the seeded order of
/// ``Batches`` for `(seed, epoch)`, full batches only (one batch of everything when the
/// dataset is smaller than a batch).
struct BatchCycle {
    let dataset: Dataset
    let batchSize: Int
    let seed: UInt64
    private var epoch = 0
    private var current: Batches
    private var position = 0

    init(dataset: Dataset, batchSize: Int, seed: UInt64) {
        self.dataset = dataset
        self.batchSize = Swift.min(batchSize, dataset.count)
        self.seed = seed
        current = Batches(dataset: dataset, batchSize: self.batchSize, dropLast: true, seed: seed, epoch: 0)
    }

    mutating func next() -> Batch {
        if position == current.count {
            epoch += 1
            position = 0
            current = Batches(dataset: dataset, batchSize: batchSize, dropLast: true, seed: seed, epoch: epoch)
        }
        defer { position += 1 }
        return current[position]
    }
}

/// What an unlearning run did.
public struct UnlearningOutcome: Sendable {
    /// Optimizer steps taken.
    public var steps: Int
    /// Whether the run stopped because the forget accuracy reached the target.
    public var reachedTarget: Bool
    /// Each check of the forget-set accuracy: (step, accuracy) of the model the run would
    /// output at that step (for weight averaging, the average).
    public var checks: [(step: Int, forgetAccuracy: Float)]
    /// Weight snapshots averaged into the output (0 without weight averaging).
    public var averagedSnapshots: Int
}

/// Unlearning as a ``TrainingLoop``: each step takes the next forget batch and the next
/// retain batch (two independent seeded cycles), joins them into one ``StepBatch`` tagged
/// by `groups` (0 forget, 1 retain) and hands it to the ``Unlearner``.
///
/// Every `checkEvery` steps (and after the last) the accuracy on the forget set's first
/// `checkSamples` samples is measured; with a `targetForgetAccuracy` the run stops at the
/// first check at or below it, so runs of different methods end at comparable forget
/// accuracy. With ``ForgetSmoothing/weightAveraging(every:count:)`` the output (and what is
/// checked) is the uniform average of the last `count` weight snapshots, taken every
/// `every` steps (fewer until `count` were taken): a trailing window, so that a run stopped
/// at its target outputs an average of the weights that led there.
public struct UnlearningLoop<Model: Layer, Base: Optimizer>: TrainingLoop {
    public var unlearner: Unlearner<Base>
    public var forget: Dataset
    public var retain: Dataset
    public var forgetBatchSize: Int
    public var retainBatchSize: Int
    public var steps: Int
    public var learningRate: Float
    public var seed: UInt64
    public var targetForgetAccuracy: Float?
    public var checkEvery: Int
    public var checkSamples: Int

    public init(
        unlearner: Unlearner<Base>, forget: Dataset, retain: Dataset, forgetBatchSize: Int, retainBatchSize: Int, steps: Int,
        learningRate: Float, seed: UInt64, targetForgetAccuracy: Float? = nil, checkEvery: Int = 10, checkSamples: Int = 1000
    ) {
        precondition(forget.count > 0 && steps > 0 && forgetBatchSize > 0 && retainBatchSize > 0 && checkEvery > 0, "UnlearningLoop: empty forget set or non-positive sizes")
        self.unlearner = unlearner
        self.forget = forget
        self.retain = retain
        self.forgetBatchSize = forgetBatchSize
        self.retainBatchSize = retainBatchSize
        self.steps = steps
        self.learningRate = learningRate
        self.seed = seed
        self.targetForgetAccuracy = targetForgetAccuracy
        self.checkEvery = checkEvery
        self.checkSamples = checkSamples
    }

    public mutating func run(_ model: inout Model, observer: inout some LoopObserver) throws -> UnlearningOutcome {
        var forgetBatches = BatchCycle(dataset: forget, batchSize: forgetBatchSize, seed: seed)
        // A different stream for the retain set: the same seed would pair the two orders.
        var retainBatches = retain.count > 0 ? BatchCycle(dataset: retain, batchSize: retainBatchSize, seed: seed &+ 0x9E37_79B9) : nil
        let checked = LoadedCheckpoint.prefix(forget, checkSamples)
        var window: [ParameterSet] = []
        var checks: [(step: Int, forgetAccuracy: Float)] = []
        var correctSoFar = 0, seenSoFar = 0
        func output() -> Model {
            guard let first = window.first else { return model }
            var averaged = model
            averaged.update(window.dropFirst().reduce(first, +).scaled(by: 1 / Float(window.count)))
            return averaged
        }
        for step in 1...steps {
            let f = forgetBatches.next()
            var images = f.images, labels = f.labels, indices = f.indices, groups = [Int](repeating: 0, count: f.count)
            if unlearner.retainWeight != 0, let r = retainBatches?.next() {
                images = Tensor.concatenating([images, r.images], alongAxis: 0)
                labels += r.labels
                indices += r.indices
                groups += [Int](repeating: 1, count: r.count)
            }
            let batch = StepBatch(inputs: images, labels: labels, indices: indices, groups: groups, epoch: 0)
            let report = unlearner.step(&model, on: batch, learningRate: learningRate)
            guard report.forgetLoss.isFinite else {
                throw TrainingError(description: "unlearning diverged at step \(step): the forget loss is \(report.forgetLoss) (lower --lr)")
            }
            if case .weightAveraging(let every, let count) = unlearner.smoothing, step % every == 0 {
                window.append(model.parameters)
                if window.count > count { window.removeFirst() }
            }
            correctSoFar += report.forgetCorrect
            seenSoFar += report.forgetCount
            observer.batchFinished(
                BatchMetrics(
                    batch: step, samples: batch.count, loss: report.forgetLoss + unlearner.retainWeight * report.retainLoss,
                    accuracy: Float(report.forgetCorrect) / Float(report.forgetCount),
                    cumulativeAccuracy: Float(correctSoFar) / Float(seenSoFar), adaptationLoss: nil),
                of: steps)
            if step % checkEvery == 0 || step == steps {
                let accuracy = Evaluation.run(output(), on: checked).accuracy
                checks.append((step, accuracy))
                if let targetForgetAccuracy, accuracy <= targetForgetAccuracy {
                    model = output()
                    return UnlearningOutcome(steps: step, reachedTarget: true, checks: checks, averagedSnapshots: window.count)
                }
            }
        }
        model = output()
        return UnlearningOutcome(steps: steps, reachedTarget: false, checks: checks, averagedSnapshots: window.count)
    }
}
