import Foundation

/// Everything that defines a training run. It is written to the run directory as
/// `config.json` and accepted back by `plateau train --config`, so a run can be repeated
/// exactly or resumed.
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
        guard ["symmetric", "pair"].contains(labelNoiseKind) else { throw fail("label-noise-kind", "expected symmetric or pair, got '\(labelNoiseKind)'") }
        guard warmupEpochs >= 0, warmupEpochs < epochs || warmupEpochs == 0 else { throw fail("warmup-epochs", "expected fewer warm-up epochs than epochs (\(epochs)), got \(warmupEpochs)") }
        guard (0...1).contains(labelSmoothing) else { throw fail("label-smoothing", "expected a value in [0, 1], got \(labelSmoothing)") }
        if let microBatchSize, microBatchSize <= 0 { throw fail("micro-batch-size", "expected a positive number, got \(microBatchSize)") }
        if let mSharpness, mSharpness <= 0 { throw fail("m-sharpness", "expected a positive chunk size, got \(mSharpness)") }
        if let maxGradientNorm, !(maxGradientNorm > 0) { throw fail("max-grad-norm", "expected a positive norm (inf: no clipping), got \(maxGradientNorm)") }
        guard tensorboardInterval >= 0 else { throw fail("tensorboard-interval", "expected a number of steps ≥ 0 (0: no event file), got \(tensorboardInterval)") }
        guard threads >= 1 else { throw fail("threads", "expected at least 1, got \(threads)") }
        if schedule == "multistep", milestones.isEmpty { throw fail("milestones", "the multistep schedule needs at least one milestone epoch") }
    }

    /// Reads a configuration written by a run (or by hand; missing fields take defaults).
    public static func load(from url: URL) throws -> RunConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError(field: url.path, message: "cannot read the configuration file: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path)
    }

    /// Decodes a configuration's JSON (as ``load(from:)`` does), with errors naming `source`.
    public static func decode(_ data: Data, source: String) throws -> RunConfiguration {
        do {
            return try RunConfiguration.decoder.decode(RunConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw ConfigurationError(field: source, message: describe(error, in: data))
        } catch {
            throw ConfigurationError(field: source, message: "\(error)")
        }
    }

    /// A decoding error as people read it: `key 'epochs': expected an integer, found a
    /// string "ten"` — the key path, the type the key has, and what the file holds there.
    /// Only a file that does not parse at all is "not valid JSON".
    static func describe(_ error: DecodingError, in data: Data) -> String {
        let context: DecodingError.Context
        var expected: String? = nil
        switch error {
        case .typeMismatch(let type, let c): context = c; expected = typeDescription(type)
        case .valueNotFound(let type, let c): context = c; expected = typeDescription(type)
        case .keyNotFound(let key, let c): return "\(keyPath(c.codingPath)): missing key '\(key.stringValue)'"
        case .dataCorrupted(let c): context = c
        @unknown default: return "\(error)"
        }
        let path = context.codingPath
        guard !path.isEmpty else {
            if expected != nil { return "expected a JSON object of settings, found \(describeJSON(value(at: [], in: data)))" }
            // Foundation reports a number that does not fit its field (2.5 or -1 for an
            // integer, 1e39 for a Float) as invalid data without a key: find the key.
            if let misfit = numberMisfit(in: data) { return misfit }
            return "not valid JSON: \((context.underlyingError as NSError?)?.localizedDescription ?? context.debugDescription)"
        }
        let found = value(at: path, in: data)
        let declared = expectedType(ofKey: path)
        return "key '\(keyPath(path))': expected \(declared ?? expected ?? "a boolean, number, string or null"), found \(describeJSON(found))"
    }

    /// The first number of a parsed file that its field's type cannot hold, described.
    static func numberMisfit(in data: Data) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        func fits(_ value: Any, integer: Bool, nonNegative: Bool = false) -> Bool {
            guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return true }  // a type error, reported by the decoder
            let d = number.doubleValue
            if integer { return d == d.rounded() && abs(d) < 9.2e18 && (!nonNegative || d >= 0) }
            return abs(d) <= Double(Float.greatestFiniteMagnitude)
        }
        for key in object.keys.sorted() {
            guard let field = CodingKeys(stringValue: key), let value = object[key] else { continue }
            var bad: (path: String, value: Any)? = nil
            switch field {
            case .epochs, .batchSize, .warmupEpochs, .stepEpochs, .threads, .tensorboardInterval, .trainLimit, .microBatchSize, .mSharpness:
                if !fits(value, integer: true) { bad = (key, value) }
            case .seed:
                if !fits(value, integer: true, nonNegative: true) { bad = (key, value) }
            case .milestones:
                for (i, element) in ((value as? [Any]) ?? []).enumerated() where !fits(element, integer: true) { bad = ("\(key)[\(i)]", element); break }
            case .labelNoise, .learningRate, .momentum, .weightDecay, .gamma, .labelSmoothing, .maxGradientNorm:
                if !fits(value, integer: false) {
                    return "key '\(key)': expected a number within ±\(Float.greatestFiniteMagnitude), found the number \(value)"
                }
            default: break
            }
            if let bad {
                let expected = field == .milestones ? "an integer (an epoch)" : expectedType(ofKey: [AnyCodingKey(key)]) ?? "an integer"
                return "key '\(bad.path)': expected \(expected), found \(describeJSON(bad.value))"
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
        guard let first = path.first, let key = CodingKeys(stringValue: first.stringValue) else { return nil }
        switch key {
        case .epochs, .batchSize, .warmupEpochs, .stepEpochs, .threads, .tensorboardInterval: return "an integer"
        case .trainLimit, .microBatchSize, .mSharpness: return "an integer or null"
        case .seed: return "a non-negative integer"
        case .labelNoise, .learningRate, .momentum, .weightDecay, .gamma, .labelSmoothing: return "a number"
        case .maxGradientNorm: return "a number, \"inf\" or null"
        case .augment, .shuffle, .nesterov: return "a boolean (true or false)"
        case .milestones: return path.count > 1 ? "an integer (an epoch)" : "an array of integers (epochs)"
        case .dataDirectory, .output, .initialWeights: return "a string or null"
        case .model, .dataset, .optimizer, .baseOptimizer, .labelNoiseKind, .schedule: return "a string"
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
        // Every field is optional in the file: what is missing keeps its default.
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let decoded = try c.decodeIfPresent(T.self, forKey: key) { value = decoded }
        }
        func readOptional<T: Decodable>(_ key: CodingKeys, _ value: inout T?) throws {
            if c.contains(key) { value = try c.decodeIfPresent(T.self, forKey: key) }
        }
        try read(.model, &model); try read(.dataset, &dataset); try readOptional(.dataDirectory, &dataDirectory)
        try readOptional(.trainLimit, &trainLimit); try read(.labelNoise, &labelNoise); try read(.labelNoiseKind, &labelNoiseKind)
        try read(.augment, &augment); try read(.shuffle, &shuffle); try read(.epochs, &epochs); try read(.batchSize, &batchSize)
        try read(.optimizer, &optimizer); try read(.baseOptimizer, &baseOptimizer); try read(.learningRate, &learningRate)
        try read(.momentum, &momentum); try read(.nesterov, &nesterov); try read(.weightDecay, &weightDecay)
        try read(.schedule, &schedule); try read(.warmupEpochs, &warmupEpochs); try read(.stepEpochs, &stepEpochs)
        try read(.milestones, &milestones); try read(.gamma, &gamma); try read(.labelSmoothing, &labelSmoothing)
        try readOptional(.maxGradientNorm, &maxGradientNorm); try readOptional(.microBatchSize, &microBatchSize)
        try readOptional(.mSharpness, &mSharpness); try read(.seed, &seed); try read(.threads, &threads); try readOptional(.output, &output)
        try readOptional(.initialWeights, &initialWeights); try read(.tensorboardInterval, &tensorboardInterval)

        // Every other key is a method option. Files written before options moved into the
        // method table spelled them in camelCase and held every method's fields: those are
        // translated, and kept only for the method the file names.
        let all = try decoder.container(keyedBy: AnyCodingKey.self)
        let fieldNames = Set(CodingKeys.allCases.map(\.stringValue))
        let legacy = all.allKeys.contains { $0.stringValue == "safTemperature" }
        for key in all.allKeys where !fieldNames.contains(key.stringValue) {
            let value = try all.decode(SettingValue.self, forKey: key)
            if legacy {
                guard let (name, methods) = Self.legacyOptions[key.stringValue] else { continue }
                if methods.contains(optimizer), value != .null { methodOptions[name] = value }
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, dataset, dataDirectory, trainLimit, labelNoise, labelNoiseKind, augment, shuffle
        case epochs, batchSize, optimizer, baseOptimizer, learningRate, momentum, nesterov, weightDecay, schedule
        case warmupEpochs, stepEpochs, milestones, gamma, labelSmoothing, maxGradientNorm, microBatchSize, mSharpness
        case seed, threads, output, initialWeights, tensorboardInterval
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model); try c.encode(dataset, forKey: .dataset)
        try c.encodeIfPresent(dataDirectory, forKey: .dataDirectory); try c.encodeIfPresent(trainLimit, forKey: .trainLimit)
        try c.encode(labelNoise, forKey: .labelNoise); try c.encode(labelNoiseKind, forKey: .labelNoiseKind)
        try c.encode(augment, forKey: .augment); try c.encode(shuffle, forKey: .shuffle); try c.encode(epochs, forKey: .epochs)
        try c.encode(batchSize, forKey: .batchSize); try c.encode(optimizer, forKey: .optimizer)
        try c.encode(baseOptimizer, forKey: .baseOptimizer); try c.encode(learningRate, forKey: .learningRate)
        try c.encode(momentum, forKey: .momentum); try c.encode(nesterov, forKey: .nesterov); try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(schedule, forKey: .schedule); try c.encode(warmupEpochs, forKey: .warmupEpochs)
        try c.encode(stepEpochs, forKey: .stepEpochs); try c.encode(milestones, forKey: .milestones); try c.encode(gamma, forKey: .gamma)
        try c.encode(labelSmoothing, forKey: .labelSmoothing); try c.encodeIfPresent(maxGradientNorm, forKey: .maxGradientNorm)
        try c.encodeIfPresent(microBatchSize, forKey: .microBatchSize); try c.encodeIfPresent(mSharpness, forKey: .mSharpness)
        try c.encode(seed, forKey: .seed); try c.encode(threads, forKey: .threads)
        try c.encodeIfPresent(output, forKey: .output); try c.encodeIfPresent(initialWeights, forKey: .initialWeights)
        try c.encode(tensorboardInterval, forKey: .tensorboardInterval)
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
