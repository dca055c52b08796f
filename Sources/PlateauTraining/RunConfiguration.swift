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
    public var augment = false
    public var shuffle = true

    // Optimization
    public var epochs = 10
    public var batchSize = 128
    /// `sgd`, `adam`, `adamw`, or a sharpness-aware method: `sam`, `asam`, `gsam`, `looksam`,
    /// `esam`, `wsam`, `fsam`, `saf`, `mesa`.
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

    // Sharpness-aware hyperparameters (each method reads its own; nil = the method's default)
    public var rho: Float? = nil
    public var eta: Float = 0.01
    public var alpha: Float? = nil
    public var rhoMin: Float? = nil
    public var lookInterval = 5
    public var esamBeta: Float = 0.6
    public var esamGamma: Float = 0.5
    public var wsamGamma: Float = 0.9
    public var fsamSigma: Float = 1
    public var fsamLambda: Float = 0.6
    public var mSharpness: Int? = nil
    public var safLambda: Float? = nil
    public var safTemperature: Float = 5
    public var safLag = 3
    public var safStart = 5
    public var safHalfPrecision = false
    public var emaDecay: Float = 0.9998

    // Run
    public var seed: UInt64 = 0
    /// Threads for Plateau's compute (products, convolutions, elementwise loops). Results do
    /// not depend on it; a resumed run keeps it only as the speed it was started with.
    public var threads = 2
    public var output: String? = nil
    public var initialWeights: String? = nil

    public init() {}

    public static let optimizers = ["sgd", "adam", "adamw", "sam", "asam", "gsam", "looksam", "esam", "wsam", "fsam", "saf", "mesa"]
    public static let baseOptimizers = ["sgd", "adam", "adamw"]
    public static let schedules = ["constant", "step", "multistep", "cosine", "onecycle"]

    /// Rejects values no run can use, naming the field and what was expected.
    public func validate() throws {
        func fail(_ field: String, _ message: String) -> ConfigurationError { ConfigurationError(field: field, message: message) }
        guard ModelFactory.names.contains(model) else { throw fail("model", "expected one of \(ModelFactory.names.joined(separator: ", ")), got '\(model)'") }
        guard epochs > 0 else { throw fail("epochs", "expected a positive number, got \(epochs)") }
        guard batchSize > 0 else { throw fail("batch-size", "expected a positive number, got \(batchSize)") }
        guard Self.optimizers.contains(optimizer) else { throw fail("optimizer", "expected one of \(Self.optimizers.joined(separator: ", ")), got '\(optimizer)'") }
        guard Self.baseOptimizers.contains(baseOptimizer) else { throw fail("base-optimizer", "expected one of \(Self.baseOptimizers.joined(separator: ", ")), got '\(baseOptimizer)'") }
        guard Self.schedules.contains(schedule) else { throw fail("schedule", "expected one of \(Self.schedules.joined(separator: ", ")), got '\(schedule)'") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("lr", "expected a positive learning rate, got \(learningRate)") }
        guard momentum >= 0, momentum < 1 else { throw fail("momentum", "expected a value in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 else { throw fail("weight-decay", "expected a non-negative value, got \(weightDecay)") }
        guard (0..<1).contains(labelNoise) else { throw fail("label-noise", "expected a rate in [0, 1), got \(labelNoise)") }
        guard ["symmetric", "pair"].contains(labelNoiseKind) else { throw fail("label-noise-kind", "expected symmetric or pair, got '\(labelNoiseKind)'") }
        guard warmupEpochs >= 0, warmupEpochs < epochs || warmupEpochs == 0 else { throw fail("warmup-epochs", "expected fewer warm-up epochs than epochs (\(epochs)), got \(warmupEpochs)") }
        guard (0...1).contains(labelSmoothing) else { throw fail("label-smoothing", "expected a value in [0, 1], got \(labelSmoothing)") }
        if let rho, !(rho >= 0) { throw fail("rho", "expected a non-negative radius, got \(rho)") }
        if let microBatchSize, microBatchSize <= 0 { throw fail("micro-batch-size", "expected a positive number, got \(microBatchSize)") }
        if let mSharpness, mSharpness <= 0 { throw fail("m-sharpness", "expected a positive chunk size, got \(mSharpness)") }
        if let maxGradientNorm, !(maxGradientNorm > 0) { throw fail("max-grad-norm", "expected a positive norm, got \(maxGradientNorm)") }
        guard lookInterval >= 1 else { throw fail("k", "expected a positive interval, got \(lookInterval)") }
        guard esamBeta > 0, esamBeta <= 1 else { throw fail("esam-beta", "expected a value in (0, 1], got \(esamBeta)") }
        guard esamGamma > 0, esamGamma <= 1 else { throw fail("esam-gamma", "expected a value in (0, 1], got \(esamGamma)") }
        guard wsamGamma >= 0, wsamGamma < 1 else { throw fail("wsam-gamma", "expected a value in [0, 1), got \(wsamGamma)") }
        guard fsamLambda >= 0, fsamLambda < 1 else { throw fail("fsam-lambda", "expected a value in [0, 1), got \(fsamLambda)") }
        guard safTemperature > 0 else { throw fail("saf-tau", "expected a positive temperature, got \(safTemperature)") }
        guard safLag >= 1 else { throw fail("saf-lag", "expected at least 1 epoch, got \(safLag)") }
        guard safStart >= safLag else { throw fail("saf-start", "expected at least the lag (\(safLag)) so past outputs exist, got \(safStart)") }
        if let safLambda, !(safLambda >= 0) { throw fail("saf-lambda", "expected a non-negative weight, got \(safLambda)") }
        guard threads >= 1 else { throw fail("threads", "expected at least 1, got \(threads)") }
        guard emaDecay >= 0, emaDecay < 1 else { throw fail("ema-decay", "expected a value in [0, 1), got \(emaDecay)") }
        if schedule == "multistep", milestones.isEmpty { throw fail("milestones", "the multistep schedule needs at least one milestone epoch") }
    }

    /// Reads a configuration written by a run (or by hand; missing fields take defaults).
    public static func load(from url: URL) throws -> RunConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigurationError(field: url.path, message: "cannot read the configuration file: \(error.localizedDescription)")
        }
        do {
            return try RunConfiguration.decoder.decode(RunConfiguration.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ConfigurationError(field: "\(url.path): \(context.codingPath.map(\.stringValue).joined(separator: "."))", message: context.debugDescription)
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationError(field: url.path, message: "not valid JSON: \(context.debugDescription)")
        } catch {
            throw ConfigurationError(field: url.path, message: "\(error)")
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
        try readOptional(.rho, &rho); try read(.eta, &eta); try readOptional(.alpha, &alpha); try readOptional(.rhoMin, &rhoMin)
        try read(.lookInterval, &lookInterval); try read(.esamBeta, &esamBeta); try read(.esamGamma, &esamGamma)
        try read(.wsamGamma, &wsamGamma); try read(.fsamSigma, &fsamSigma); try read(.fsamLambda, &fsamLambda)
        try readOptional(.mSharpness, &mSharpness); try readOptional(.safLambda, &safLambda); try read(.safTemperature, &safTemperature)
        try read(.safLag, &safLag); try read(.safStart, &safStart); try read(.safHalfPrecision, &safHalfPrecision)
        try read(.emaDecay, &emaDecay); try read(.seed, &seed); try read(.threads, &threads); try readOptional(.output, &output)
        try readOptional(.initialWeights, &initialWeights)
    }
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
