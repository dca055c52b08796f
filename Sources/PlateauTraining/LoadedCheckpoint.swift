import Foundation
import PlateauData
import PlateauNN
import PlateauTensor

/// A checkpoint loaded into its model, with the run's data prepared as the run saw it:
/// inputs standardized with the normalization stored in the checkpoint, and the training
/// labels corrupted exactly as the run's label noise did (same kind, rate and seed).
public struct LoadedCheckpoint {
    public var model: any Layer
    public var configuration: RunConfiguration
    /// The training split, normalized, with the labels the run trained on.
    public var train: Dataset
    /// The test split, normalized.
    public var test: Dataset

    /// Reads `url` and the dataset its configuration names (or `dataset`/`dataDirectory`).
    public init(contentsOf url: URL, dataset: String? = nil, dataDirectory: String? = nil) throws {
        let saved = try Checkpoint.read(from: url)
        var c = saved.configuration
        if let dataset { c.dataset = dataset }
        if let dataDirectory { c.dataDirectory = dataDirectory }
        let (rawTrain, rawTest) = try c.loadDatasets()
        try self.init(checkpoint: saved, configuration: c, rawTrain: rawTrain, rawTest: rawTest, source: url.path)
    }

    /// Builds from an already read checkpoint and raw (unnormalized) splits.
    public init(checkpoint saved: Checkpoint, configuration c: RunConfiguration, rawTrain: Dataset, rawTest: Dataset, source: String) throws {
        guard c.tasks == 1 else {
            throw ConfigurationError(
                field: "tasks", message: "\(source) is a multi-task checkpoint (\(c.tasks) tasks): the sharpness measures, landscapes and adaptation take single-task models; evaluate it with `plateau eval`")
        }
        var train = c.limitingTraining(rawTrain)
        // The stored normalization must fit the data before anything is built from it.
        try saved.normalization?.check(
            for: train, file: URL(fileURLWithPath: source).lastPathComponent, field: "__metadata__.normalization")
        var stored = saved
        stored.configuration = c
        let model = try stored.loadedModel(sampleShape: train.sampleShape, classCount: max(train.classCount, rawTest.classCount), source: source)
        let normalization = saved.normalization ?? Normalization.fit(train)
        train = normalization.apply(to: train)
        if let noise = c.labelNoiseModel { train = noise.apply(to: train).0 }
        self.model = model
        self.configuration = c
        self.train = train
        self.test = normalization.apply(to: rawTest)
    }

    /// The first `count` samples of `split` (a fixed subset: the same samples every time).
    public static func prefix(_ split: Dataset, _ count: Int?) -> Dataset {
        guard let count, count < split.count else { return split }
        return split.subset(Array(0..<count), name: split.name)
    }
}
