import Foundation
import PlateauNN

/// Everything that defines a training run. It is written to the run directory as
/// `config.json` and accepted back by `plateau train --config` (JSON or YAML), so a run can
/// be repeated exactly or resumed. Its keys are the names of `plateau train`'s flags
/// (`batch-size`, `lr`, `rho`, …); files written before that spelled the common fields in
/// camelCase (`batchSize`, `learningRate`) and are still read.
public struct RunConfiguration: Codable, Sendable, Equatable {
    // Data
    public var model = "mlp"
    /// `digits`, `mnist`, `fashion-mnist`, `cifar10`, `cifar100`, or a path to a CSV/TSV table.
    public var dataset = "digits"
    public var dataDirectory: String? = nil
    /// Training samples capped to this many (`nil`: all), e.g. for quick experiments.
    public var trainLimit: Int? = nil
    public var labelNoise: Double = 0
    public var labelNoiseKind = "symmetric"
    /// How a CSV/TSV table's label column is read: `integers` (class indices, the default) or
    /// `strings` (class names, numbered in sorted order). Never guessed: one stray non-integer
    /// label must not silently renumber every class.
    public var tableLabels = "integers"
    /// The normalization after each hidden layer of `lenet` and `mlp`: a
    /// ``NormalizationKind`` name (`none`, `batch`, `group`, `layer`). `none`, the default,
    /// is the models as they were before the option, so older runs and checkpoints load as
    /// they were written.
    public var norm = "none"
    /// LSQ quantization-aware training of every Linear and Conv2d: `none` (the default,
    /// floating point), `wXaY` (X-bit weights, Y-bit inputs, 2…8; the first and last layer
    /// at 8 bits) or `wXaY-all` (those too). See ``/PlateauNN/QuantizationSpec``.
    public var quantize = "none"
    /// Augment the training images as their dataset declares (``DatasetCatalog/Entry/augmentation``).
    public var augment = false
    public var shuffle = true

    // Optimization
    public var epochs = 10
    public var batchSize = 128
    /// The method: a name in ``MethodRegistry`` (`sgd`, `adam`, `adamw`, a sharpness-aware
    /// rule such as `sam`, or an objective term such as `saf`).
    public var optimizer = "sgd"
    /// The base optimizer under a sharpness-aware method: `sgd`, `adam` or `adamw`.
    public var baseOptimizer = "sgd"
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var nesterov = false
    public var weightDecay: Float = 0
    public var schedule = "constant"
    public var warmupEpochs = 0
    public var stepEpochs = 30
    public var milestones: [Int] = []
    public var gamma: Float = 0.1
    public var labelSmoothing: Float = 0
    public var maxGradientNorm: Float? = nil
    public var microBatchSize: Int? = nil

    /// m for m-sharpness: an independent perturbation per chunk of m samples (any rule).
    public var mSharpness: Int? = nil

    // Multi-task (issue 14): tasks > 1 trains one head per task of a multi-task dataset.
    /// T, the number of tasks (1: single-task training). See `RunConfiguration+MultiTask.swift`.
    public var tasks = 1
    /// How the tasks' gradients of the shared parameters combine: a name in
    /// ``/PlateauOptim/GradientAggregators`` (`ew`, `pcgrad`, `mgda`, `cagrad`).
    public var aggregator = "ew"

    /// The method's own options by name (`rho`, `esam-beta`, `saf-lambda`, …), as the
    /// method's entry in ``MethodRegistry`` declares them; what is absent takes the
    /// method's default. In `config.json` they sit beside the other keys.
    public var methodOptions: MethodSettings = [:]

    // Run
    public var seed: UInt64 = 0
    /// Threads for Plateau's compute (products, convolutions, elementwise loops). Results do
    /// not depend on it; a resumed run keeps it only as the speed it was started with.
    public var threads = 2
    public var output: String? = nil
    public var initialWeights: String? = nil
    /// Steps between the per-step scalars of the TensorBoard event file in the run directory
    /// (0: no event file). Per-epoch metrics are written at every epoch's end either way.
    public var tensorboardInterval = 1

    public init() {}

    /// ``norm`` as a kind (`none` for an unknown name, which ``validate(using:)`` rejects).
    public var normalizationKind: NormalizationKind { NormalizationKind(rawValue: norm) ?? .none }

    /// The values of ``tableLabels``.
    public static let tableLabelModes = ["integers", "strings"]

    public static let schedules = ["constant", "step", "multistep", "cosine", "onecycle"]

    /// Rejects values no run can use, naming the field and what was expected; the method
    /// and its options are checked against `registry`.
    public func validate(using registry: MethodRegistry = .standard) throws {
        func fail(_ field: String, _ message: String) -> ConfigurationError { ConfigurationError(field: field, message: message) }
        guard ModelFactory.names.contains(model) else { throw fail("model", "expected one of \(ModelFactory.names.joined(separator: ", ")), got '\(model)'") }
        guard epochs > 0, epochs <= 1_000_000 else { throw fail("epochs", "expected a number of epochs in 1...1000000, got \(epochs)") }
        guard batchSize > 0 else { throw fail("batch-size", "expected a positive number, got \(batchSize)") }
        _ = try registry.baseEntry(self)
        _ = try registry.resolvedOptions(for: self)
        guard Self.schedules.contains(schedule) else { throw fail("schedule", "expected one of \(Self.schedules.joined(separator: ", ")), got '\(schedule)'") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("lr", "expected a positive learning rate, got \(learningRate)") }
        guard momentum >= 0, momentum < 1 else { throw fail("momentum", "expected a value in [0, 1), got \(momentum)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw fail("weight-decay", "expected a finite value ≥ 0, got \(weightDecay)") }
        guard !nesterov || momentum > 0 else { throw fail("nesterov", "Nesterov momentum needs --momentum > 0, got \(momentum)") }
        guard gamma > 0, gamma.isFinite else { throw fail("gamma", "expected a finite decay factor > 0, got \(gamma)") }
        if let trainLimit, trainLimit < 1 { throw fail("train-limit", "expected a positive number of samples, got \(trainLimit)") }
        guard (0..<1).contains(labelNoise) else { throw fail("label-noise", "expected a rate in [0, 1), got \(labelNoise)") }
        guard Self.tableLabelModes.contains(tableLabels) else {
            throw fail("table-labels", "expected \(Self.tableLabelModes.joined(separator: " or ")), got '\(tableLabels)'")
        }
        guard let kind = NormalizationKind(rawValue: norm) else {
            throw fail("norm", "expected one of \(NormalizationKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(norm)'")
        }
        guard kind == .none || ModelFactory.normalizable.contains(model) else {
            throw fail("norm", "only \(ModelFactory.normalizable.joined(separator: " and ")) take a normalization, got '\(norm)' for \(model) (which has its own); use none")
        }
        if quantize != "none", QuantizationSpec(parsing: quantize) == nil {
            throw fail("quantize", "expected none, wXaY or wXaY-all with 2 to 8 bits (w4a4, w3a3-all), got '\(quantize)'")
        }
        guard ["symmetric", "pair"].contains(labelNoiseKind) else { throw fail("label-noise-kind", "expected symmetric or pair, got '\(labelNoiseKind)'") }
        guard warmupEpochs >= 0, warmupEpochs < epochs || warmupEpochs == 0 else { throw fail("warmup-epochs", "expected fewer warm-up epochs than epochs (\(epochs)), got \(warmupEpochs)") }
        guard (0...1).contains(labelSmoothing) else { throw fail("label-smoothing", "expected a value in [0, 1], got \(labelSmoothing)") }
        if let microBatchSize, microBatchSize <= 0 { throw fail("micro-batch-size", "expected a positive number, got \(microBatchSize)") }
        if let mSharpness, mSharpness <= 0 { throw fail("m-sharpness", "expected a positive chunk size, got \(mSharpness)") }
        if let maxGradientNorm, !(maxGradientNorm > 0) { throw fail("max-grad-norm", "expected a positive norm (inf: no clipping), got \(maxGradientNorm)") }
        guard tensorboardInterval >= 0 else { throw fail("tensorboard-interval", "expected a number of steps ≥ 0 (0: no event file), got \(tensorboardInterval)") }
        guard (1...1024).contains(threads) else { throw fail("threads", "expected 1...1024, got \(threads)") }
        if schedule == "multistep", milestones.isEmpty { throw fail("milestones", "the multistep schedule needs at least one milestone epoch") }
        try validateMultiTask(using: registry)
    }

    /// Reads a configuration written by a run or by hand, JSON or YAML (by the file's
    /// extension, else its content; missing fields take defaults). Keys are checked as
    /// ``decode(_:source:format:registry:)`` describes.
    public static func load(from url: URL, registry: MethodRegistry = .standard) throws -> RunConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError(field: url.path, message: "cannot read the configuration file: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path, format: ConfigurationFormat(path: url.path, content: data), registry: registry)
    }

    /// Decodes a configuration file (as ``load(from:registry:)`` does), with errors naming
    /// `source` (and, for YAML, the line). `format` nil: decided by the content.
    ///
    /// Strict: a key that is neither a field nor an option of the file's method is an error
    /// suggesting the nearest key; an option of other methods names the methods it belongs
    /// to. Files written before the method table (camelCase keys, every method's fields)
    /// keep only their method's options.
    public static func decode(
        _ data: Data, source: String, format: ConfigurationFormat? = nil, registry: MethodRegistry = .standard
    ) throws -> RunConfiguration {
        let format = format ?? ConfigurationFormat(content: data)
        var json = data, lines: [String: Int] = [:]
        if format == .yaml { (json, lines) = try jsonFromYAML(data, source: source) }
        func location(_ key: String?) -> String { key.flatMap { lines[$0] }.map { "\(source):\($0)" } ?? source }
        let configuration: RunConfiguration
        do {
            configuration = try RunConfiguration.decoder.decode(RunConfiguration.self, from: json)
        } catch let error as DecodingError {
            let (key, message) = describe(error, in: json, format: format)
            throw ConfigurationError(field: location(key), message: message)
        } catch {
            throw ConfigurationError(field: source, message: "\(error)")
        }
        if let (key, message) = unknownKey(in: json, of: configuration, registry: registry) {
            throw ConfigurationError(field: location(key), message: message)
        }
        return configuration
    }

    /// The first key of the file `json` (decoded as `c`) that no setting of `c` reads, and why.
    static func unknownKey(in json: Data, of c: RunConfiguration, registry: MethodRegistry) -> (String, String)? {
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else { return nil }
        let legacy = isLegacyFile(object.keys)
        // An unknown method is reported by `validate`, naming the choices: its options cannot be checked.
        guard let method = try? registry.entry(named: c.optimizer) else { return nil }
        let options = method.options.map(\.name)
        for key in object.keys.sorted() {
            if let field = CodingKeys(fileKey: key) {
                if key != field.rawValue, object[field.rawValue] != nil {
                    return (key, "key '\(key)' is the old spelling of '\(field.rawValue)', which the file also sets; keep one")
                }
                continue
            }
            if legacy, legacyOptions[key] != nil { continue }  // another method's field of an old file: dropped
            let name = legacyOptions[key]?.0 ?? key
            if options.contains(name) { continue }
            let owners = registry.entries.filter { $0.options.contains { $0.name == name } }.map(\.name)
            if !owners.isEmpty {
                return (key, "key '\(key)' is an option of \(owners.joined(separator: ", ")), not of the file's method \(c.optimizer)"
                    + (options.isEmpty ? ", which has no options of its own" : " (its options: \(options.joined(separator: ", ")))"))
            }
            // Old spellings count as near names too, suggested in the new spelling.
            let candidates = CodingKeys.allCases.flatMap { [$0.rawValue, $0.legacyName] } + options
            let near = nearestName(to: key, among: candidates).map { CodingKeys(fileKey: $0)?.rawValue ?? $0 }
            return (key, "unknown key '\(key)'" + (near.map { ", did you mean '\($0)'?" } ?? "")
                + " (the keys are `plateau train`'s flags; `plateau train --print-config` lists them)")
        }
        return nil
    }

    /// Whether a file was written before the method table: it holds every method's fields.
    static func isLegacyFile(_ keys: some Sequence<String>) -> Bool { keys.contains("safTemperature") }

    /// A decoding error as people read it: `key 'epochs': expected an integer, found a
    /// string "ten"` — the key path, the type the key has, and what the file holds there —
    /// with the top-level key it concerns. Only a file that does not parse at all is "not
    /// valid JSON".
    static func describe(_ error: DecodingError, in data: Data, format: ConfigurationFormat = .json) -> (key: String?, message: String) {
        let context: DecodingError.Context
        var expected: String? = nil
        switch error {
        case .typeMismatch(let type, let c): context = c; expected = typeDescription(type)
        case .valueNotFound(let type, let c): context = c; expected = typeDescription(type)
        case .keyNotFound(let key, let c): return (c.codingPath.first?.stringValue, "\(keyPath(c.codingPath)): missing key '\(key.stringValue)'")
        case .dataCorrupted(let c): context = c
        @unknown default: return (nil, "\(error)")
        }
        let path = context.codingPath
        guard !path.isEmpty else {
            if expected != nil {
                let object = format == .yaml ? "a YAML mapping of settings (key: value lines)" : "a JSON object of settings"
                return (nil, "expected \(object), found \(describeJSON(value(at: [], in: data)))")
            }
            // Foundation reports a number that does not fit its field (2.5 or -1 for an
            // integer, 1e39 for a Float) as invalid data without a key: find the key.
            if let misfit = numberMisfit(in: data) { return misfit }
            return (nil, "not valid JSON: \((context.underlyingError as NSError?)?.localizedDescription ?? context.debugDescription)")
        }
        let found = value(at: path, in: data)
        let declared = expectedType(ofKey: path)
        return (path[0].stringValue, "key '\(keyPath(path))': expected \(declared ?? expected ?? "a boolean, number, string or null"), found \(describeJSON(found))")
    }

    /// The first number of a parsed file that its field's type cannot hold: its key, described.
    static func numberMisfit(in data: Data) -> (key: String, message: String)? {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        func fits(_ value: Any, integer: Bool, nonNegative: Bool = false) -> Bool {
            guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return true }  // a type error, reported by the decoder
            let d = number.doubleValue
            if integer { return d == d.rounded() && abs(d) < 9.2e18 && (!nonNegative || d >= 0) }
            return abs(d) <= Double(Float.greatestFiniteMagnitude)
        }
        for key in object.keys.sorted() {
            guard let field = CodingKeys(fileKey: key), let value = object[key] else { continue }
            var bad: (path: String, value: Any)? = nil
            switch field {
            case .epochs, .batchSize, .warmupEpochs, .stepEpochs, .threads, .tensorboardInterval, .trainLimit, .microBatchSize, .mSharpness, .tasks:
                if !fits(value, integer: true) { bad = (key, value) }
            case .seed:
                if !fits(value, integer: true, nonNegative: true) { bad = (key, value) }
            case .milestones:
                for (i, element) in ((value as? [Any]) ?? []).enumerated() where !fits(element, integer: true) { bad = ("\(key)[\(i)]", element); break }
            case .labelNoise, .learningRate, .momentum, .weightDecay, .gamma, .labelSmoothing, .maxGradientNorm:
                if !fits(value, integer: false) {
                    return (key, "key '\(key)': expected a number within ±\(Float.greatestFiniteMagnitude), found the number \(value)")
                }
            default: break
            }
            if let bad {
                let expected = field == .milestones ? "an integer (an epoch)" : expectedType(ofKey: [AnyCodingKey(key)]) ?? "an integer"
                return (key, "key '\(bad.path)': expected \(expected), found \(describeJSON(bad.value))")
            }
        }
        return nil
    }

    /// `milestones[1]`, `epochs`.
    static func keyPath(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }

    /// What a field of the file must hold, from the field's Swift type (a method option: nil).
    static func expectedType(ofKey path: [any CodingKey]) -> String? {
        guard let first = path.first, let key = CodingKeys(fileKey: first.stringValue) else { return nil }
        switch key {
        case .epochs, .batchSize, .warmupEpochs, .stepEpochs, .threads, .tensorboardInterval, .tasks: return "an integer"
        case .trainLimit, .microBatchSize, .mSharpness: return "an integer or null"
        case .seed: return "a non-negative integer"
        case .labelNoise, .learningRate, .momentum, .weightDecay, .gamma, .labelSmoothing: return "a number"
        case .maxGradientNorm: return "a number, \"inf\" or null"
        case .augment, .shuffle, .nesterov: return "a boolean (true or false)"
        case .milestones: return path.count > 1 ? "an integer (an epoch)" : "an array of integers (epochs)"
        case .dataDirectory, .output, .initialWeights: return "a string or null"
        case .model, .dataset, .optimizer, .baseOptimizer, .labelNoiseKind, .tableLabels, .norm, .quantize, .schedule, .aggregator: return "a string"
        }
    }

    static func typeDescription(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type, is Int?.Type, is UInt64?.Type: "an integer"
        case is Float.Type, is Double.Type, is Float?.Type, is Double?.Type: "a number"
        case is Bool.Type: "a boolean (true or false)"
        case is String.Type, is String?.Type: "a string"
        default: "a value of type \(type)"
        }
    }

    /// The JSON value at `path` in `data`, if the file parses.
    static func value(at path: [any CodingKey], in data: Data) -> Any? {
        var current: Any? = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        for key in path {
            if let index = key.intValue, let array = current as? [Any] { current = array.indices.contains(index) ? array[index] : nil }
            else if let object = current as? [String: Any] { current = object[key.stringValue] }
            else { return nil }
        }
        return current
    }

    /// `a string "ten"`, `the number 1.5`, `an array`, `null`.
    static func describeJSON(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "null"
        case let string as String: return "a string \"\(string)\""
        case let number as NSNumber:
            if String(cString: number.objCType) == "c" { return "the boolean \(number.boolValue)" }
            return "the number \(number)"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "\(value!)"
        }
    }

    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Infinite values are valid here (an unlimited clipping norm); plain JSON cannot hold
        // them, and a failed encoding used to write "{}" — every field silently reset.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    /// The decoder for ``json``'s output (non-finite numbers as "inf", "-inf", "nan").
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    public init(from decoder: any Decoder) throws {
        // Every field is optional in the file: what is missing keeps its default. A field is
        // read under its flag's name, or under its old camelCase name in older files.
        self.init()
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        func key(_ field: CodingKeys) -> AnyCodingKey {
            let new = AnyCodingKey(field.rawValue)
            return c.contains(new) ? new : AnyCodingKey(field.legacyName)
        }
        func read<T: Decodable>(_ field: CodingKeys, _ value: inout T) throws {
            if let decoded = try c.decodeIfPresent(T.self, forKey: key(field)) { value = decoded }
        }
        func readOptional<T: Decodable>(_ field: CodingKeys, _ value: inout T?) throws {
            if c.contains(key(field)) { value = try c.decodeIfPresent(T.self, forKey: key(field)) }
        }
        try read(.model, &model); try read(.dataset, &dataset); try readOptional(.dataDirectory, &dataDirectory)
        try readOptional(.trainLimit, &trainLimit); try read(.labelNoise, &labelNoise); try read(.labelNoiseKind, &labelNoiseKind)
        try read(.tableLabels, &tableLabels); try read(.norm, &norm); try read(.quantize, &quantize)
        try read(.augment, &augment); try read(.shuffle, &shuffle); try read(.epochs, &epochs); try read(.batchSize, &batchSize)
        try read(.optimizer, &optimizer); try read(.baseOptimizer, &baseOptimizer); try read(.learningRate, &learningRate)
        try read(.momentum, &momentum); try read(.nesterov, &nesterov); try read(.weightDecay, &weightDecay)
        try read(.schedule, &schedule); try read(.warmupEpochs, &warmupEpochs); try read(.stepEpochs, &stepEpochs)
        try read(.milestones, &milestones); try read(.gamma, &gamma); try read(.labelSmoothing, &labelSmoothing)
        try readOptional(.maxGradientNorm, &maxGradientNorm); try readOptional(.microBatchSize, &microBatchSize)
        try readOptional(.mSharpness, &mSharpness); try read(.seed, &seed); try read(.threads, &threads); try readOptional(.output, &output)
        try readOptional(.initialWeights, &initialWeights); try read(.tensorboardInterval, &tensorboardInterval)
        try read(.tasks, &tasks); try read(.aggregator, &aggregator)

        // Every other key is a method option (``decode(_:source:format:registry:)`` rejects
        // those the method lacks). Files written before options moved into the method table
        // spelled them in camelCase and held every method's fields: those are translated, and
        // kept only for the method the file names.
        let legacy = Self.isLegacyFile(c.allKeys.map(\.stringValue))
        for key in c.allKeys where CodingKeys(fileKey: key.stringValue) == nil {
            let value = try c.decode(SettingValue.self, forKey: key)
            if let (name, methods) = Self.legacyOptions[key.stringValue] {
                if !legacy || (methods.contains(optimizer) && value != .null) { methodOptions[name] = value }
            } else {
                methodOptions[key.stringValue] = value
            }
        }
    }

    /// The method fields of files written before the method table: camelCase key → option
    /// name and the methods that read it.
    static let legacyOptions: [String: (String, [String])] = [
        "rho": ("rho", ["sam", "asam", "gsam", "looksam", "esam", "wsam", "fsam"]), "eta": ("eta", ["asam"]),
        "alpha": ("alpha", ["gsam", "looksam"]), "rhoMin": ("rho-min", ["gsam"]), "lookInterval": ("k", ["looksam"]),
        "esamBeta": ("esam-beta", ["esam"]), "esamGamma": ("esam-gamma", ["esam"]), "wsamGamma": ("wsam-gamma", ["wsam"]),
        "fsamSigma": ("fsam-sigma", ["fsam"]), "fsamLambda": ("fsam-lambda", ["fsam"]),
        "safLambda": ("saf-lambda", ["saf", "mesa"]), "safTemperature": ("saf-tau", ["saf", "mesa"]), "safLag": ("saf-lag", ["saf"]),
        "safStart": ("saf-start", ["saf", "mesa"]), "safHalfPrecision": ("saf-half", ["saf"]), "emaDecay": ("ema-decay", ["mesa"]),
    ]

    /// Method options added after runs were recorded without them, with the value that gives
    /// such a run its old behaviour: issue 10 made the official code's forms of ESAM and
    /// FriendlySAM the defaults, and a run started before continues in the form it began with.
    static let optionsAddedLater: [(method: String, option: String, previous: SettingValue)] = [
        ("esam", "esam-form", "plateau"), ("fsam", "fsam-form", "paper"),
    ]

    /// Before resuming the run whose configuration was recorded at `recorded` (a run
    /// directory's `config.json`, which lists every option of its method): an option the
    /// recording lacks because it did not exist yet, and that this configuration does not
    /// set, takes the value that keeps the run's old behaviour (``optionsAddedLater``).
    /// Nothing changes when the file is missing or names another method.
    public mutating func keepBehaviourOfRecordedRun(_ recorded: URL) {
        guard let previous = try? RunConfiguration.load(from: recorded), previous.optimizer == optimizer else { return }
        for added in Self.optionsAddedLater where added.method == optimizer {
            if previous.methodOptions[added.option] == nil && methodOptions[added.option] == nil {
                methodOptions[added.option] = added.previous
            }
        }
    }

    /// The file's keys: each field under its `plateau train` flag's name.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, dataset, dataDirectory = "data-dir", trainLimit = "train-limit", labelNoise = "label-noise"
        case labelNoiseKind = "label-noise-kind", tableLabels = "table-labels", norm, quantize, augment, shuffle, epochs, batchSize = "batch-size", optimizer
        case baseOptimizer = "base-optimizer", learningRate = "lr", momentum, nesterov, weightDecay = "weight-decay", schedule
        case warmupEpochs = "warmup-epochs", stepEpochs = "step-epochs", milestones, gamma, labelSmoothing = "label-smoothing"
        case maxGradientNorm = "max-grad-norm", microBatchSize = "micro-batch-size", mSharpness = "m-sharpness"
        case seed, threads, output, initialWeights = "initial-weights", tensorboardInterval = "tensorboard-interval"
        case tasks, aggregator

        /// The key files written before the keys became the flags' names used: the
        /// property's name (`batchSize`, `learningRate`, `maxGradientNorm`).
        var legacyName: String {
            switch self {
            case .dataDirectory: "dataDirectory"
            case .trainLimit: "trainLimit"
            case .labelNoise: "labelNoise"
            case .labelNoiseKind: "labelNoiseKind"
            case .batchSize: "batchSize"
            case .baseOptimizer: "baseOptimizer"
            case .learningRate: "learningRate"
            case .weightDecay: "weightDecay"
            case .warmupEpochs: "warmupEpochs"
            case .stepEpochs: "stepEpochs"
            case .labelSmoothing: "labelSmoothing"
            case .maxGradientNorm: "maxGradientNorm"
            case .microBatchSize: "microBatchSize"
            case .mSharpness: "mSharpness"
            case .initialWeights: "initialWeights"
            case .tensorboardInterval: "tensorboardInterval"
            default: rawValue
            }
        }

        /// The field a file's key names, in either spelling.
        init?(fileKey: String) {
            guard let field = Self(rawValue: fileKey) ?? Self.allCases.first(where: { $0.legacyName == fileKey }) else { return nil }
            self = field
        }
    }

    /// Every field's key, as `config.json` and `--print-config` spell it (the flags' names).
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model); try c.encode(dataset, forKey: .dataset)
        try c.encode(dataDirectory, forKey: .dataDirectory); try c.encode(trainLimit, forKey: .trainLimit)
        try c.encode(labelNoise, forKey: .labelNoise); try c.encode(labelNoiseKind, forKey: .labelNoiseKind)
        try c.encode(tableLabels, forKey: .tableLabels); try c.encode(norm, forKey: .norm)
        try c.encode(quantize, forKey: .quantize)
        try c.encode(augment, forKey: .augment); try c.encode(shuffle, forKey: .shuffle); try c.encode(epochs, forKey: .epochs)
        try c.encode(batchSize, forKey: .batchSize); try c.encode(optimizer, forKey: .optimizer)
        try c.encode(baseOptimizer, forKey: .baseOptimizer); try c.encode(learningRate, forKey: .learningRate)
        try c.encode(momentum, forKey: .momentum); try c.encode(nesterov, forKey: .nesterov); try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(schedule, forKey: .schedule); try c.encode(warmupEpochs, forKey: .warmupEpochs)
        try c.encode(stepEpochs, forKey: .stepEpochs); try c.encode(milestones, forKey: .milestones); try c.encode(gamma, forKey: .gamma)
        try c.encode(labelSmoothing, forKey: .labelSmoothing); try c.encode(maxGradientNorm, forKey: .maxGradientNorm)
        try c.encode(microBatchSize, forKey: .microBatchSize); try c.encode(mSharpness, forKey: .mSharpness)
        try c.encode(seed, forKey: .seed); try c.encode(threads, forKey: .threads)
        try c.encode(output, forKey: .output); try c.encode(initialWeights, forKey: .initialWeights)
        try c.encode(tensorboardInterval, forKey: .tensorboardInterval)
        try c.encode(tasks, forKey: .tasks); try c.encode(aggregator, forKey: .aggregator)
        var options = encoder.container(keyedBy: AnyCodingKey.self)
        for (name, value) in methodOptions { try options.encode(value, forKey: AnyCodingKey(name)) }
    }
}

/// A coding key for names known only at run time (method options).
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A configuration value no run can use.
public struct ConfigurationError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
    public var errorDescription: String? { description }
}
