import ArgumentParser
import Foundation
import Plateau

/// `plateau adapt`: online test-time adaptation (none, Tent, SAR) of a checkpoint on the
/// test splits of an MNIST-format directory, reporting online accuracy per stream and overall.
struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Test-time adaptation of a checkpoint on shifted test streams: none, tent or sar, with online accuracy.",
        discussion: """
            Each batch is predicted first and then used for one update of the normalization layers' affine \
            parameters (train with --norm batch, group or layer). --data-dir is an MNIST-format directory with \
            a test split (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), or a directory of them such as \
            <corruption>/<severity>/ from `plateau data make mnist-c`; each is one stream (a top-level clean/ among \
            others is left out). Settings: mild (each \
            stream alone from the source model, shuffled), label-shift (each stream alone, sorted by class), mixed \
            (all streams shuffled into one, adapted continuously). Default learning rate: the SAR authors' rule, \
            0.00025 for batch size ≥ 32, else 0.00025·B/32, doubled for sar at batch size 1.
            Example: plateau adapt runs/lenet-gn/checkpoint-best.safetensors --method sar --data-dir data/mnist-c --setting mixed --json
            """
    )

    @Argument(help: "A checkpoint written by `plateau train` (a model trained with --norm, except for --method none).")
    var checkpoint: String
    @Option(parsing: .unconditional, help: "none, tent or sar.") var method: String = "sar"
    @Option(parsing: .unconditional, help: "An MNIST-format directory with a test split, or a directory of them (one stream each).")
    var dataDir: String
    @Option(parsing: .unconditional, help: "Samples per batch (1 is SAR's batch-size-1 setting).") var batchSize: Int = 64
    @Option(parsing: .unconditional, help: "mild, label-shift or mixed.") var setting: String = "mild"
    @Option(parsing: .unconditional, help: "Learning rate of the SGD step (default: the SAR authors' rule for the batch size).")
    var lr: Float?
    @Option(parsing: .unconditional, help: "SAR's SAM radius ρ.") var rho: Float = 0.05
    @Option(parsing: .unconditional, help: "SAR's entropy margin E₀ (default: 0.4·ln C, 0.921 for 10 classes).") var margin: Float?
    @Option(parsing: .unconditional, help: """
        SAR's reset threshold e_m on the moving average of the entropy (default: 0.2·ln C / ln 1000, the paper's 0.2 \
        scaled to C classes, 0.0667 for 10; 0: never reset).
        """)
    var resetThreshold: Float?
    @Option(parsing: .unconditional, help: "Use only the first N samples of each stream (default: all).") var limit: Int?
    @Option(parsing: .unconditional, help: "Predictions the collapse indicator looks back over.") var collapseWindow: Int = 500
    @Option(parsing: .unconditional, help: "Seed of the stream order.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard AdaptationMethod(rawValue: method) != nil else {
            throw ValidationError("--method: expected one of \(AdaptationMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(method)'")
        }
        guard AdaptationSetting(rawValue: setting) != nil else {
            throw ValidationError("--setting: expected one of \(AdaptationSetting.allCases.map(\.rawValue).joined(separator: ", ")), got '\(setting)'")
        }
        try OptionCheck.count(batchSize, "batch-size", in: 1...65536)
        try OptionCheck.count(limit, "limit", in: 1...Int.max)
        try OptionCheck.count(collapseWindow, "collapse-window", in: 1...1_000_000)
        try OptionCheck.threads(threads)
        if let lr { try OptionCheck.number(lr, "lr", atLeast: 0, strictly: true) }
        try OptionCheck.number(rho, "rho", atLeast: 0)
        if let margin { try OptionCheck.number(margin, "margin", atLeast: 0, strictly: true) }
        if let resetThreshold { try OptionCheck.number(resetThreshold, "reset-threshold", atLeast: 0) }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let method = AdaptationMethod(rawValue: method)!, setting = AdaptationSetting(rawValue: setting)!
        let url = URL(fileURLWithPath: checkpoint)
        let saved = try Checkpoint.read(from: url)
        let c = saved.configuration
        var streams: [AdaptationStream]
        do { streams = try AdaptationStream.discover(in: URL(fileURLWithPath: dataDir)) } catch let error as AdaptationError {
            throw ValidationError("--data-dir: \(error.message)")
        }
        if let limit { streams = streams.map { AdaptationStream(name: $0.name, dataset: LoadedCheckpoint.prefix($0.dataset, limit)) } }
        if let empty = streams.first(where: { $0.dataset.count == 0 }) {
            throw ValidationError("--data-dir: the stream \(empty.name) has no samples: nothing to adapt on")
        }
        let shape = streams[0].dataset.sampleShape
        if let other = streams.first(where: { $0.dataset.sampleShape != shape }) {
            throw RuntimeError("\(other.name): samples of shape \(other.dataset.sampleShape), but \(streams[0].name) has \(shape): one model cannot read both")
        }
        if let normalization = saved.normalization {
            try normalization.check(for: streams[0].dataset, file: url.lastPathComponent, field: "__metadata__.normalization")
            streams = streams.map { AdaptationStream(name: $0.name, dataset: normalization.apply(to: $0.dataset)) }
        } else {
            printWarning("warning: \(url.lastPathComponent) stores no input normalization; the images are used as read (0...1)")
        }
        let model = try saved.loadedModel(sampleShape: shape, classCount: streams[0].dataset.classCount, source: url.path)
        if method != .none, batchSize == 1, c.normalizationKind == .batch {
            throw ValidationError(
                "--batch-size 1: \(c.model) with --norm batch has BatchNorm after its linear layers, which cannot normalize a single "
                    + "sample in training mode (PyTorch refuses it too); adapt a --norm group or layer model at batch size 1")
        }
        if method != .none, c.normalizationKind == .batch, setting != .mixed, let single = streams.first(where: { $0.dataset.count == 1 }) {
            throw ValidationError(
                "--data-dir: the stream \(single.name) has a single sample, which BatchNorm after \(c.model)'s linear layers cannot "
                    + "normalize in training mode; give it more samples or use --setting mixed")
        }
        let learningRate = lr ?? method.defaultLearningRate(batchSize: batchSize)
        let classCount = streams[0].dataset.classCount
        let result = try Parallelism.withThreads(threads) {
            try adapt(model, method: method, setting: setting, streams: streams, learningRate: learningRate, classCount: classCount)
        }
        report(result, method: method, learningRate: learningRate, model: c.model, norm: c.norm,
               margin: margin ?? EntropyFilter.defaultMargin(classCount: classCount),
               resetThreshold: resetThreshold ?? ModelRecovery.defaultThreshold(classCount: classCount))
    }

    private func adapt<M: Layer>(
        _ model: M, method: AdaptationMethod, setting: AdaptationSetting, streams: [AdaptationStream], learningRate: Float, classCount: Int
    ) throws -> AdaptationResult {
        let margin = margin ?? EntropyFilter.defaultMargin(classCount: classCount)
        let resetThreshold = resetThreshold ?? ModelRecovery.defaultThreshold(classCount: classCount)
        if method != .none {
            do { try AdaptationError.requireNormParameters(model, method: method.rawValue) } catch let error as AdaptationError {
                throw ValidationError("--method \(method.rawValue): \(error.message)")
            }
        }
        var lastPrinted = -1
        let progress: (Int, Int) -> Void = { done, total in
            let percent = done * 100 / total
            guard percent / 10 != lastPrinted / 10 || done == total else { return }
            lastPrinted = percent
            FileHandle.standardError.write(Data("adapt \(method.rawValue) \(setting.rawValue): batch \(done)/\(total) (\(percent)%)\n".utf8))
        }
        switch method {
        case .none:
            return try adaptOnline(streams: streams, setting: setting, batchSize: batchSize, seed: seed, window: collapseWindow,
                                   makeAdapter: { NoAdaptation(model: model) }, progress: progress)
        case .tent:
            return try adaptOnline(streams: streams, setting: setting, batchSize: batchSize, seed: seed, window: collapseWindow,
                                   makeAdapter: { try Tent(model: model, learningRate: learningRate) }, progress: progress)
        case .sar:
            return try adaptOnline(streams: streams, setting: setting, batchSize: batchSize, seed: seed, window: collapseWindow,
                                   makeAdapter: { try SAR(model: model, learningRate: learningRate, margin: margin, rho: rho, resetThreshold: resetThreshold) }, progress: progress)
        }
    }

    private func report(
        _ result: AdaptationResult, method: AdaptationMethod, learningRate: Float, model: String, norm: String, margin: Float, resetThreshold: Float
    ) {
        func fields(_ a: OnlineAccuracy) -> [String: Any] {
            ["samples": a.samples, "accuracy": JSONNumbers.fraction(Float(a.accuracy)), "batches": a.batches, "resets": a.resets,
             "collapse": JSONNumbers.fraction(Float(a.collapse)), "label_concentration": JSONNumbers.fraction(Float(a.labelConcentration))]
        }
        if json {
            var object = fields(result.overall)
            object["kept"] = result.overall.kept
            object["kept_twice"] = result.overall.keptTwice
            object["method"] = method.rawValue
            object["setting"] = setting
            object["batch_size"] = batchSize
            object["lr"] = Double("\(learningRate)") ?? Double(learningRate)  // 6.25e-05, not the Float's binary tail
            object["model"] = model
            object["norm"] = norm
            object["seed"] = seed
            if method == .sar {
                object["rho"] = Double("\(rho)") ?? Double(rho)
                object["margin"] = Double("\(margin)") ?? Double(margin)
                object["reset_threshold"] = Double("\(resetThreshold)") ?? Double(resetThreshold)
            }
            object["streams"] = result.streams.map { stream in fields(stream.accuracy).merging(["name": stream.name]) { a, _ in a } }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) { print(String(decoding: data, as: UTF8.self)) }
            return
        }
        print("\(method.rawValue) on \(model) (norm \(norm)), \(setting), batch size \(batchSize), lr \(learningRate)")
        for (name, a) in result.streams {
            print(String(format: "  %@: online accuracy %.2f%% over %d samples, %d resets, collapse %.2f (labels %.2f)",
                         name, a.accuracy * 100, a.samples, a.resets, a.collapse, a.labelConcentration))
        }
        let o = result.overall
        var line = String(format: "overall: online accuracy %.2f%% over %d samples in %d batches, %d resets", o.accuracy * 100, o.samples, o.batches, o.resets)
        if method == .sar {
            line += ", \(o.kept) samples kept by the entropy filter (E₀ \(margin)), \(o.keptTwice) by both; reset threshold \(resetThreshold)"
        }
        print(line)
    }
}
