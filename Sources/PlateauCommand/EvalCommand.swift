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
    @Flag(help: "Print one JSON object (one per batch with --stream-batch-size).") var json = false
    @Option(parsing: .unconditional, help: "Evaluate as a stream of batches of this size, in order, printing each batch's loss and accuracy.")
    var streamBatchSize: Int?
    @Option(parsing: .unconditional, help: "Also report how far the model's function drifted from this checkpoint's: the mean KL(f_ref(x) ‖ f(x)) over the test split (e.g. from the pre-trained model after fine-tuning).")
    var driftFrom: String?

    func run() throws {
        PlateauCommand.configureRuntime()
        let url = URL(fileURLWithPath: checkpoint)
        let saved = try Checkpoint.read(from: url)
        var c = saved.configuration
        if let dataset = data.dataset { c.dataset = dataset }
        if let directory = data.dataDir { c.dataDirectory = directory }
        let (train, test) = try c.loadDatasets()
        // Loaded once: evaluation, streaming and the drift all read this model.
        let model = try saved.loadedModel(sampleShape: test.sampleShape, classCount: max(train.classCount, test.classCount), source: url.path)
        guard test.count > 0 else {
            throw RuntimeError("the test split of \(c.dataset) is empty: nothing to evaluate (a table's test split is 20% of its rows)")
        }
        try saved.normalization?.check(for: test, file: url.lastPathComponent, field: "__metadata__.normalization")
        let nonFinite = saved.model.entries.filter { $0.value.hasNonFinite }.map(\.key)
        guard nonFinite.isEmpty else {
            throw RuntimeError(
                "\(url.lastPathComponent): the checkpoint has non-finite weights (not a number or infinite) in "
                    + "\(nonFinite.prefix(5).joined(separator: ", "))\(nonFinite.count > 5 ? ", …" : ""): its loss and accuracy would be NaN")
        }
        let normalization = saved.normalization ?? Normalization.fit(train)
        if c.tasks > 1 {  // EvalCommand+MultiTask.swift
            try evaluateTasks(model, configuration: c, test: normalization.apply(to: test), classCount: max(train.classCount, test.classCount), checkpoint: url)
            return
        }
        if let streamBatchSize {
            guard streamBatchSize > 0 else { throw ValidationError("--stream-batch-size: expected a positive number, got \(streamBatchSize)") }
            try stream(model, on: normalization.apply(to: test), batchSize: streamBatchSize)
            return
        }
        let result = Evaluation.run(model, on: normalization.apply(to: test))
        guard result.loss.isFinite, result.accuracy.isFinite else {
            throw RuntimeError("\(url.lastPathComponent): the loss on \(c.dataset) is \(result.loss), not a number (the inputs or the model overflow)")
        }
        let drift = try driftFrom.map { try self.drift(of: model, normalization: normalization, on: test, from: $0) }
        if json {
            var object: [String: Any] = ["accuracy": JSONNumbers.fraction(result.accuracy), "loss": Double(result.loss), "samples": test.count, "dataset": c.dataset, "model": c.model]
            if let drift { object["drift_kl"] = Double(drift) }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@ on %@ test (%d samples): accuracy %.2f%%, loss %.4f", c.model, c.dataset, test.count, result.accuracy * 100, result.loss))
            if let drift { print(String(format: "drift from %@: mean KL(f_ref ‖ f) %.5f", driftFrom!, drift)) }
        }
    }

    /// Mean KL(f_ref ‖ f) over `test` from the checkpoint at `path`, each model on its own
    /// normalization of the samples.
    private func drift(of model: any Layer, normalization: Normalization, on test: Dataset, from path: String) throws -> Float {
        let referenceURL = URL(fileURLWithPath: path)
        let reference = try Checkpoint.read(from: referenceURL)
        let referenceModel = try reference.loadedModel(sampleShape: test.sampleShape, classCount: test.classCount, source: referenceURL.path)
        try reference.normalization?.check(for: test, file: referenceURL.lastPathComponent, field: "__metadata__.normalization")
        let referenceNormalization = reference.normalization ?? normalization
        func opened<M: Layer, R: Layer>(_ m: M, _ r: R) -> Float {
            Evaluation.drift(of: m, from: r, on: test, normalize: { normalization.apply(to: $0) }, normalizeReference: { referenceNormalization.apply(to: $0) })
        }
        let value = opened(model, referenceModel)
        guard value.isFinite else { throw RuntimeError("--drift-from \(path): the divergence is \(value) (do the two models output the same classes?)") }
        return value
    }

    private func stream(_ model: any Layer, on dataset: Dataset, batchSize: Int) throws {
        func opened<M: Layer>(_ model: M) throws -> StreamResult {
            var loaded = model
            var loop = StreamLoop<M>(dataset: dataset, batchSize: batchSize)
            var printer = BatchPrinter(json: json)
            return try loop.run(&loaded, observer: &printer)
        }
        let result = try opened(model)
        if !json { print(String(format: "online accuracy %.2f%% over %d samples in %d batches", result.accuracy * 100, result.samples, result.batches.count)) }
    }
}

/// Prints a stream's batches as they finish: a table row, or a JSON line.
struct BatchPrinter: LoopObserver {
    var json: Bool
    mutating func batchFinished(_ metrics: BatchMetrics, of batches: Int) {
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = .sortedKeys
            // A diverged model's loss is inf/nan: spelled as strings, as metrics.jsonl does.
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            var rounded = metrics  // accuracies as every --json prints them
            rounded.accuracy = Float(JSONNumbers.fraction(metrics.accuracy))
            rounded.cumulativeAccuracy = Float(JSONNumbers.fraction(metrics.cumulativeAccuracy))
            if let data = try? encoder.encode(rounded) { print(String(decoding: data, as: UTF8.self)) }
        } else {
            print(String(format: "batch %d/%d: %d samples, loss %.4f, accuracy %.2f%%, online %.2f%%", metrics.batch, batches, metrics.samples,
                         metrics.loss, metrics.accuracy * 100, metrics.cumulativeAccuracy * 100))
        }
    }
}
