import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The relearning attack of Fan et al. 2025: plain fine-tuning of an unlearned model on a
/// few forget samples, measuring after every step how much of the forgotten behaviour
/// came back.
///
/// Each step is one plain SGD step (no momentum, no weight decay) of the mean cross-entropy
/// on the next batch of `attackSet` (seeded order, epoch after epoch), through the same
/// ``StepEngine`` that trains. After each step the accuracy on `measured` (the forgotten
/// class's test images) is recorded; the retain accuracy only before and after.
public struct RelearningAttack<Model: Layer>: TrainingLoop {
    public var attackSet: Dataset
    public var measured: Dataset
    public var retainTest: Dataset?
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var seed: UInt64

    public init(attackSet: Dataset, measured: Dataset, retainTest: Dataset?, steps: Int, batchSize: Int, learningRate: Float, seed: UInt64) {
        precondition(attackSet.count > 0 && measured.count > 0 && steps > 0 && batchSize > 0, "RelearningAttack: empty sets or non-positive sizes")
        self.attackSet = attackSet
        self.measured = measured
        self.retainTest = retainTest
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
    }

    public mutating func run(_ model: inout Model, observer: inout some LoopObserver) throws -> RelearningCurve {
        let sgd = SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: learningRate))
        var engine = StepEngine<Model>(stepper: sgd, objective: TrainingObjective([CrossEntropyTerm()]), classCount: attackSet.classCount)
        var batches = BatchCycle(dataset: attackSet, batchSize: batchSize, seed: seed)
        var accuracy = [Evaluation.run(model, on: measured).accuracy]
        var losses: [Float] = []
        let retainBefore = retainTest.map { Evaluation.run(model, on: $0).accuracy }
        for step in 1...steps {
            let batch = batches.next()
            let report = engine.step(&model, on: batch, epoch: 0, learningRate: learningRate).report
            guard report.loss.isFinite else {
                throw TrainingError(description: "the relearning attack diverged at step \(step): the loss is \(report.loss) (lower --lr)")
            }
            losses.append(report.loss)
            accuracy.append(Evaluation.run(model, on: measured).accuracy)
            observer.batchFinished(
                BatchMetrics(batch: step, samples: batch.count, loss: report.loss, accuracy: accuracy.last!, cumulativeAccuracy: accuracy.last!, adaptationLoss: nil),
                of: steps)
        }
        return RelearningCurve(
            forgetAccuracy: accuracy, attackLoss: losses, retainAccuracyBefore: retainBefore,
            retainAccuracyAfter: retainTest.map { Evaluation.run(model, on: $0).accuracy })
    }
}

/// The outcome of a ``RelearningAttack``.
public struct RelearningCurve: Sendable, Equatable {
    /// Accuracy on the measured forget samples before the attack (index 0) and after each step.
    public var forgetAccuracy: [Float]
    /// The attack batch's loss at each step (before its update).
    public var attackLoss: [Float]
    public var retainAccuracyBefore: Float?
    public var retainAccuracyAfter: Float?

    public init(forgetAccuracy: [Float], attackLoss: [Float], retainAccuracyBefore: Float?, retainAccuracyAfter: Float?) {
        self.forgetAccuracy = forgetAccuracy
        self.attackLoss = attackLoss
        self.retainAccuracyBefore = retainAccuracyBefore
        self.retainAccuracyAfter = retainAccuracyAfter
    }

    /// The accuracy after `step` steps, `nil` past the end.
    public func accuracy(after step: Int) -> Float? { step < forgetAccuracy.count ? forgetAccuracy[step] : nil }
}

/// A loop observer that ignores every batch.
public struct QuietLoopObserver: LoopObserver {
    public init() {}
    public mutating func batchFinished(_ metrics: BatchMetrics, of batches: Int) {}
}

/// Measures for unlearning.
public enum UnlearningMetrics {
    /// Each sample's cross-entropy under `model` (evaluation mode, no gradients), in order.
    public static func sampleLosses<Model: Layer>(_ model: Model, on dataset: Dataset, batchSize: Int = 500) -> [Float] {
        var evaluated = model.training(false)
        var losses: [Float] = []
        losses.reserveCapacity(dataset.count)
        withoutGradients {
            for batch in Batches(dataset: dataset, batchSize: batchSize, shuffle: false) {
                losses += crossEntropy(logits: evaluated(batch.images), labels: batch.labels, reduction: .none).scalars
            }
        }
        return losses
    }

    /// The loss-threshold membership-inference score: the AUC of "member if the loss is
    /// below a threshold" separating `members` (forget-set training samples) from
    /// `nonMembers` (held-out samples of the same kind), i.e. P(member loss < non-member
    /// loss) + ½·P(equal) over all pairs (Mann–Whitney). 0.5: the forget samples look like
    /// data never seen; above: they are still recognisably trained on; below: they stand
    /// out by a higher loss than unseen data (over-unlearning, itself detectable).
    /// `nil` when either side is empty.
    public static func lossThresholdAUC(members: [Float], nonMembers: [Float]) -> Double? {
        guard !members.isEmpty, !nonMembers.isEmpty else { return nil }
        // Ranks over the pooled losses, ties sharing their mean rank; the member rank sum
        // counts the pairs where the member's loss is higher.
        let pooled = (members.map { ($0, true) } + nonMembers.map { ($0, false) }).sorted { $0.0 < $1.0 }
        var memberRankSum = 0.0
        var start = 0
        while start < pooled.count {
            var end = start
            while end + 1 < pooled.count && pooled[end + 1].0 == pooled[start].0 { end += 1 }
            let meanRank = Double(start + end) / 2 + 1
            for k in start...end where pooled[k].1 { memberRankSum += meanRank }
            start = end + 1
        }
        let m = Double(members.count), n = Double(nonMembers.count)
        let higherPairs = memberRankSum - m * (m + 1) / 2  // pairs (member, non-member) with member loss > non-member loss, ties ½
        return 1 - higherPairs / (m * n)
    }
}
