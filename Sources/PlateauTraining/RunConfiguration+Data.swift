import PlateauData

// How a configuration shapes its training data, shared by the trainer and by
// `LoadedCheckpoint`, which must see the data exactly as the run did.
extension RunConfiguration {
    /// The label noise the run applies to its (normalized) training set, or nil for none.
    var labelNoiseModel: LabelNoise? {
        guard labelNoise > 0 else { return nil }
        return LabelNoise(labelNoiseKind == "pair" ? .pairFlip : .symmetric, rate: labelNoise, seed: seed &+ 7919)
    }

    /// The training and test sets the configuration names (before ``limitingTraining(_:)``).
    public func loadDatasets() throws -> (train: Dataset, test: Dataset) {
        try DatasetCatalog.load(dataset, dataDirectory: dataDirectory, seed: seed, tableLabels: tableLabels == "strings" ? .strings : .integers)
    }

    /// The first `trainLimit` samples of `dataset` (all of them without a limit).
    func limitingTraining(_ dataset: Dataset) -> Dataset {
        guard let limit = trainLimit, limit < dataset.count else { return dataset }
        return dataset.subset(Array(0..<limit), name: dataset.name)
    }
}
