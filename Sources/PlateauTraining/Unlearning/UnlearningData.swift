import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// A checkpoint opened for unlearning or a relearning attack: its model, the run's data as
/// the run saw it (``LoadedCheckpoint``), the normalization to store with a derived
/// checkpoint, and the forget/retain split of both splits.
public struct UnlearningData {
    public var checkpoint: Checkpoint
    public var loaded: LoadedCheckpoint
    /// The input normalization the model expects (stored, or fitted as the run fitted it).
    public var normalization: Normalization
    public var spec: ForgetSpec
    /// The seed that drew the forget set (for fractions).
    public var forgetSeed: UInt64
    /// Positions in ``LoadedCheckpoint/train``.
    public var forgetTrain: [Int]
    public var retainTrain: [Int]
    /// Positions in ``LoadedCheckpoint/test`` (no forget test samples for a random fraction).
    public var forgetTest: [Int]
    public var retainTest: [Int]

    /// Reads the checkpoint at `url` and its data (or `dataset`/`dataDirectory`), and splits
    /// the training set by `spec` with `forgetSeed`.
    public init(contentsOf url: URL, spec: ForgetSpec, forgetSeed: UInt64, dataset: String? = nil, dataDirectory: String? = nil) throws {
        let saved = try Checkpoint.read(from: url)
        var c = saved.configuration
        if let dataset { c.dataset = dataset }
        if let dataDirectory { c.dataDirectory = dataDirectory }
        let (rawTrain, rawTest) = try c.loadDatasets()
        loaded = try LoadedCheckpoint(checkpoint: saved, configuration: c, rawTrain: rawTrain, rawTest: rawTest, source: url.path)
        checkpoint = saved
        normalization = saved.normalization ?? Normalization.fit(c.limitingTraining(rawTrain))
        if let k = spec.forgetClass, k >= loaded.train.classCount {
            throw ConfigurationError(field: "forget", message: "\(spec) names class \(k), but \(c.dataset) has \(loaded.train.classCount) classes (0...\(loaded.train.classCount - 1))")
        }
        self.spec = spec
        self.forgetSeed = forgetSeed
        (forgetTrain, retainTrain) = try spec.partition(labels: loaded.train.labels, seed: forgetSeed)
        (forgetTest, retainTest) = spec.testPartition(labels: loaded.test.labels)
    }

    /// The forget set's training samples (normalized).
    public var forgetSet: Dataset { loaded.train.subset(forgetTrain, name: "forget") }
    /// The retain set's training samples (normalized).
    public var retainSet: Dataset { loaded.train.subset(retainTrain, name: "retain") }
    /// The forgotten class's test samples, empty for a random fraction.
    public var forgetTestSet: Dataset { loaded.test.subset(forgetTest, name: "forget-test") }
    /// The other test samples (all of them for a random fraction).
    public var retainTestSet: Dataset { loaded.test.subset(retainTest, name: "retain-test") }

    /// A checkpoint of `model` that `plateau eval` reads like the original: the same run
    /// configuration and normalization, no optimizer state.
    public func checkpoint(of model: some Layer) -> Checkpoint {
        Checkpoint(
            model: model.stateDictionary, optimizer: OptimizerState(), extras: ParameterSet(), epoch: checkpoint.epoch, step: checkpoint.step,
            bestAccuracy: 0, configuration: loaded.configuration, normalization: normalization)
    }
}

/// Accuracies and the membership-inference score of a model on an unlearning split.
public struct UnlearningEvaluation: Sendable, Equatable {
    /// Accuracy on the forgotten class's test samples (`nil` for a random fraction).
    public var forgetTestAccuracy: Float?
    /// Accuracy on the other test samples.
    public var retainTestAccuracy: Float
    /// Accuracy on the forget set itself (training samples).
    public var forgetTrainAccuracy: Float
    /// ``UnlearningMetrics/lossThresholdAUC(members:nonMembers:)`` of the forget set against
    /// held-out samples of its kind: the class's test samples, or the whole test set for a
    /// random fraction.
    public var membershipAUC: Double?

    /// Measures `model` on `data`'s splits.
    public init<Model: Layer>(_ model: Model, on data: UnlearningData) {
        let forgetTest = data.forgetTestSet
        forgetTestAccuracy = forgetTest.count > 0 ? Evaluation.run(model, on: forgetTest).accuracy : nil
        retainTestAccuracy = Evaluation.run(model, on: data.retainTestSet).accuracy
        let forget = data.forgetSet
        let memberLosses = UnlearningMetrics.sampleLosses(model, on: forget)
        forgetTrainAccuracy = Evaluation.run(model, on: forget).accuracy
        let nonMembers = forgetTest.count > 0 ? forgetTest : data.loaded.test
        membershipAUC = UnlearningMetrics.lossThresholdAUC(members: memberLosses, nonMembers: UnlearningMetrics.sampleLosses(model, on: nonMembers))
    }
}
