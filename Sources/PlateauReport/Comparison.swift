import Foundation
import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining

/// One (optimizer, seed) run of a comparison, as read back from its run directory.
public struct ComparisonRun: Sendable {
    public var optimizer: String
    /// The seed index k (the run's seed is the base seed + k).
    public var seedIndex: Int
    /// `<optimizer>-seed<k>`.
    public var name: String
    public var metrics: [EpochMetrics]
    public var sharpness: SharpnessSummary?
    /// Whether this invocation trained it (false: found finished and skipped).
    public var trained: Bool

    public init(optimizer: String, seedIndex: Int, name: String, metrics: [EpochMetrics], sharpness: SharpnessSummary?, trained: Bool) {
        self.optimizer = optimizer
        self.seedIndex = seedIndex
        self.name = name
        self.metrics = metrics
        self.sharpness = sharpness
        self.trained = trained
    }
}

/// What `plateau compare` runs: every optimizer × seed through the ``Trainer``, each into
/// `output/<optimizer>-seed<k>`, then sharpness on a fixed training subset.
public struct ComparisonPlan: Sendable {
    public var optimizers: [String]
    public var seeds: Int
    /// The shared configuration; `optimizer`, `seed` and `output` are set per run.
    public var base: RunConfiguration
    public var output: URL
    /// Runs trained at once.
    public var jobs: Int
    /// OpenBLAS threads (process-wide: with jobs > 1 use 1).
    public var threads: Int
    public var sharpness: SharpnessSettings
    /// Training samples the sharpness is measured on (the first N, labels as trained).
    public var sharpnessSamples: Int

    public init(optimizers: [String], seeds: Int, base: RunConfiguration, output: URL, jobs: Int, threads: Int,
                sharpness: SharpnessSettings, sharpnessSamples: Int) {
        self.optimizers = optimizers
        self.seeds = seeds
        self.base = base
        self.output = output
        self.jobs = jobs
        self.threads = threads
        self.sharpness = sharpness
        self.sharpnessSamples = sharpnessSamples
    }

    /// The configuration of run (optimizer, k).
    public func configuration(optimizer: String, seedIndex k: Int) -> RunConfiguration {
        var c = base
        c.optimizer = optimizer
        c.seed = base.seed &+ UInt64(k)
        c.output = output.appendingPathComponent(Self.runName(optimizer, k)).path
        return c
    }

    public static func runName(_ optimizer: String, _ k: Int) -> String { "\(optimizer)-seed\(k)" }
}

/// The outcome of ``Comparison/run(_:log:)``.
public struct ComparisonSummary: Sendable {
    public var plan: ComparisonPlan
    public var runs: [ComparisonRun]
    /// Wall-clock seconds of the training phase and of the sharpness phase.
    public var trainingSeconds: Double
    public var sharpnessSeconds: Double

    public init(plan: ComparisonPlan, runs: [ComparisonRun], trainingSeconds: Double, sharpnessSeconds: Double) {
        self.plan = plan
        self.runs = runs
        self.trainingSeconds = trainingSeconds
        self.sharpnessSeconds = sharpnessSeconds
    }
}

/// Runs a ``ComparisonPlan``: resumable (a run whose metrics have all epochs is not redone;
/// an interrupted one continues from its last checkpoint), at most `jobs` runs at once.
public enum Comparison {
    /// The metrics a run directory holds (`metrics.jsonl`), or [] when there are none.
    public static func metrics(in directory: URL) -> [EpochMetrics] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return text.split(separator: "\n").compactMap { try? decoder.decode(EpochMetrics.self, from: Data($0.utf8)) }
    }

    /// Whether the run in `directory` has finished `epochs` epochs with its final checkpoint.
    public static func isFinished(_ directory: URL, epochs: Int) -> Bool {
        metrics(in: directory).contains { $0.epoch == epochs }
            && FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoint-last.safetensors").path)
    }

    public static func run(_ plan: ComparisonPlan, log: @escaping @Sendable (String) -> Void) throws -> ComparisonSummary {
        try FileManager.default.createDirectory(at: plan.output, withIntermediateDirectories: true)
        let c = plan.base
        let (rawTrain, rawTest) = try DatasetCatalog.load(c.dataset, dataDirectory: c.dataDirectory, seed: c.seed)
        var train = rawTrain
        if let limit = c.trainLimit, limit < train.count { train = train.subset(Array(0..<limit), name: train.name) }
        let trainSet = train

        var pending: [(String, Int)] = []
        var skipped: Set<String> = []
        for optimizer in plan.optimizers {
            for k in 0..<plan.seeds {
                let name = ComparisonPlan.runName(optimizer, k)
                if isFinished(plan.output.appendingPathComponent(name), epochs: c.epochs) {
                    skipped.insert(name)
                    log("\(name): finished earlier, skipped")
                } else {
                    pending.append((optimizer, k))
                }
            }
        }

        // Training, `jobs` at a time, each worker with `threads` threads (a task-local: the
        // workers of concurrentPerform bind their own).
        let trainingStart = ContinuousClock.now
        let queue = WorkQueue(pending)
        let workers = max(1, min(plan.jobs, pending.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            Parallelism.withThreads(plan.threads) {
            while let (optimizer, k) = queue.next() {
                let configuration = plan.configuration(optimizer: optimizer, seedIndex: k)
                let name = ComparisonPlan.runName(optimizer, k)
                let directory = URL(fileURLWithPath: configuration.output!)
                let resume = FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoint-last.safetensors").path)
                do {
                    log("\(name): \(resume ? "resuming" : "training") (\(configuration.epochs) epochs)")
                    let trainer = try Trainer(configuration: configuration, train: trainSet, test: rawTest, output: directory, resume: resume)
                    var observer = PrefixedLog(name: name, log: log)
                    let summary = try trainer.run(observer: &observer)
                    log(String(format: "%@: done, test accuracy %.2f%%, %.3f ms/step", name, summary.finalTestAccuracy * 100, summary.millisecondsPerStep))
                } catch {
                    queue.fail("\(name): \(error)")
                }
            }
            }
        }
        if let failure = queue.failures.first { throw ComparisonError(description: failure) }
        let trainingSeconds = seconds(ContinuousClock.now - trainingStart)

        // Sharpness of every run on the same first N training samples (cached per run).
        return try Parallelism.withThreads(max(plan.threads, plan.jobs)) {
        let sharpnessStart = ContinuousClock.now
        var runs: [ComparisonRun] = []
        for optimizer in plan.optimizers {
            for k in 0..<plan.seeds {
                let name = ComparisonPlan.runName(optimizer, k)
                let directory = plan.output.appendingPathComponent(name)
                let cache = directory.appendingPathComponent("sharpness.json")
                var sharpness = try? JSONDecoder().decode(SharpnessSummary.self, from: Data(contentsOf: cache))
                if sharpness == nil || !skipped.contains(name) || sharpness?.samples != min(plan.sharpnessSamples, trainSet.count) {
                    let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent("checkpoint-last.safetensors"))
                    let loaded = try LoadedCheckpoint(checkpoint: checkpoint, configuration: checkpoint.configuration, rawTrain: rawTrain, rawTest: rawTest, source: directory.path)
                    let subset = LoadedCheckpoint.prefix(loaded.train, plan.sharpnessSamples)
                    let measured = SharpnessProbe.measure(loaded.model, on: subset, settings: plan.sharpness)
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try encoder.encode(measured).write(to: cache, options: .atomic)
                    log(String(format: "%@: λ_max %.3f, ρ-sharpness %.4f (%d samples, %.1fs)", name, measured.eigenvalues.first ?? .nan,
                               measured.rhoSharpness ?? .nan, measured.samples, measured.seconds))
                    sharpness = measured
                }
                runs.append(ComparisonRun(optimizer: optimizer, seedIndex: k, name: name, metrics: metrics(in: directory),
                                          sharpness: sharpness, trained: !skipped.contains(name)))
            }
        }
        return ComparisonSummary(plan: plan, runs: runs, trainingSeconds: trainingSeconds, sharpnessSeconds: seconds(ContinuousClock.now - sharpnessStart))
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

/// A failed comparison run.
public struct ComparisonError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var description: String
    public var errorDescription: String? { description }
}

/// Hands out work items to worker threads and collects failures.
private final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(String, Int)]
    private(set) var failures: [String] = []

    init(_ items: [(String, Int)]) { self.items = items.reversed() }

    func next() -> (String, Int)? {
        lock.lock()
        defer { lock.unlock() }
        return failures.isEmpty ? items.popLast() : nil
    }

    func fail(_ message: String) {
        lock.lock()
        failures.append(message)
        lock.unlock()
    }
}

/// Epoch lines prefixed with the run name (runs in parallel share the console).
private struct PrefixedLog: TrainingObserver {
    let name: String
    let log: @Sendable (String) -> Void

    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {}

    mutating func epochFinished(_ m: EpochMetrics, of epochs: Int) {
        log(String(format: "%@: epoch %d/%d  train loss %.4f acc %.2f%%  test acc %.2f%%  %.2f ms/step",
                   name, m.epoch, epochs, m.trainLoss, m.trainAccuracy * 100, m.testAccuracy * 100, m.millisecondsPerStep))
    }

    mutating func message(_ text: String) { log("\(name): \(text)") }
}
