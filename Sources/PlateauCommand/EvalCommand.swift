import ArgumentParser
import Foundation
import Plateau

/// `plateau eval`: a checkpoint's loss and accuracy on a dataset.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint: accuracy and loss on a dataset's test split.",
        discussion: "Example: plateau eval runs/lenet-saf/checkpoint-best.safetensors --dataset mnist --json"
    )

    @Argument(help: "A checkpoint written by `plateau train`.") var checkpoint: String
    @OptionGroup var data: DatasetOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        PlateauCommand.configureRuntime()
        let url = URL(fileURLWithPath: checkpoint)
        let saved = try Checkpoint.read(from: url)
        var c = saved.configuration
        if let dataset = data.dataset { c.dataset = dataset }
        if let directory = data.dataDir { c.dataDirectory = directory }
        let (train, test) = try DatasetCatalog.load(c.dataset, dataDirectory: c.dataDirectory, seed: c.seed)
        var generator = SeededGenerator(seed: 0)
        let model = try ModelFactory.make(c.model, sampleShape: test.sampleShape, classCount: max(train.classCount, test.classCount), using: &generator)
        let normalization = saved.normalization ?? Normalization.fit(train)
        let result = try evaluate(model, weights: saved.model, source: url.path, on: normalization.apply(to: test))
        if json {
            let object: [String: Any] = ["accuracy": Double(result.accuracy), "loss": Double(result.loss), "samples": test.count, "dataset": c.dataset, "model": c.model]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@ on %@ test (%d samples): accuracy %.2f%%, loss %.4f", c.model, c.dataset, test.count, result.accuracy * 100, result.loss))
        }
    }

    private func evaluate<M: Layer>(_ model: M, weights: ParameterSet, source: String, on dataset: Dataset) throws -> (loss: Float, accuracy: Float) {
        var loaded = model
        try loaded.load(stateDictionary: weights, source: source)
        return Evaluation.run(loaded, on: dataset)
    }
}
