import Foundation
import PlateauData
import PlateauTensor

/// A grid of training runs: every optimizer × seed of one base configuration. Run
/// (optimizer, k) trains with seed `base.seed + k` into `output/<optimizer>-seed<k>`.
public struct ExperimentPlan: Sendable {
    public var optimizers: [String]
    public var seeds: Int
    /// The shared configuration; `optimizer`, `seed` and `output` are set per run.
    public var base: RunConfiguration
    public var output: URL
    /// Runs trained at once.
    public var jobs: Int
    /// OpenBLAS threads (process-wide: with jobs > 1 use 1).
    public var threads: Int
    /// Seconds between a training run's progress lines (0: only its epoch lines).
    public var progressInterval: Double = 10
    /// When requested (Ctrl-C), every running run stops after its current step and saves a
    /// mid-epoch checkpoint, no new run starts, and ``ExperimentRunner/run(_:log:)`` throws
    /// ``ExperimentInterrupted``; running the plan again continues every run exactly.
    public var stopToken: StopToken? = nil

    public init(optimizers: [String], seeds: Int, base: RunConfiguration, output: URL, jobs: Int, threads: Int) {
        self.optimizers = optimizers
        self.seeds = seeds
        self.base = base
        self.output = output
        self.jobs = jobs
        self.threads = threads
    }

    /// The configuration of run (optimizer, k).
    public func configuration(optimizer: String, seedIndex k: Int) -> RunConfiguration {
        var c = base
        c.optimizer = optimizer
        // The base holds the options of every compared method; each run keeps its own.
        c.methodOptions = MethodRegistry.standard.settings(base.methodOptions, for: optimizer)
        c.seed = base.seed &+ UInt64(k)
        c.output = directory(optimizer: optimizer, seedIndex: k).path
        return c
    }

    /// The run directory of run (optimizer, k).
    public func directory(optimizer: String, seedIndex k: Int) -> URL {
        output.appendingPathComponent(Self.runName(optimizer, k))
    }

    public static func runName(_ optimizer: String, _ k: Int) -> String { "\(optimizer)-seed\(k)" }
}

/// One run of an experiment after ``ExperimentRunner/run(_:log:)``.
public struct ExperimentRun: Sendable {
    public var optimizer: String
    /// The seed index k (the run's seed is the base seed + k).
    public var seedIndex: Int
    /// `<optimizer>-seed<k>`.
    public var name: String
    public var directory: URL
    /// The run's `metrics.jsonl`, one row per epoch.
    public var metrics: [EpochMetrics]
    /// Whether this invocation trained it (false: found finished and skipped).
    public var trained: Bool
}

/// The outcome of ``ExperimentRunner/run(_:log:)``.
public struct ExperimentResult: Sendable {
    public var plan: ExperimentPlan
    /// Every run, optimizers in plan order, then seeds.
    public var runs: [ExperimentRun]
    /// Wall-clock seconds spent training.
    public var trainingSeconds: Double
    /// The dataset the runs trained on, as loaded (before `trainLimit`), for measuring the
    /// runs afterwards without loading it again (see ``LoadedCheckpoint``).
    public var rawTrain: Dataset
    public var rawTest: Dataset
}

/// A training run of an experiment that failed.
public struct ExperimentError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var description: String
    public var errorDescription: String? { description }
}

/// Trains an ``ExperimentPlan`` through the ``Trainer``: resumable (a run whose metrics have
/// all epochs and whose last checkpoint exists is not redone; an interrupted one continues
/// from its last checkpoint), at most `jobs` runs at once.
public enum ExperimentRunner {
    /// Whether the run in `directory` has finished `epochs` epochs with its final checkpoint.
    public static func isFinished(_ directory: URL, epochs: Int) -> Bool {
        MetricsLog.read(from: directory).contains { $0.epoch == epochs }
            && FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoint-last.safetensors").path)
    }

    /// Trains the runs of `plan` that are not finished; `log` receives progress lines (from
    /// several threads when `jobs` > 1).
    public static func run(_ plan: ExperimentPlan, log: @escaping @Sendable (String) -> Void) throws -> ExperimentResult {
        try FileManager.default.createDirectory(at: plan.output, withIntermediateDirectories: true)
        let c = plan.base
        let (rawTrain, rawTest) = try c.loadDatasets()
        let trainSet = c.limitingTraining(rawTrain)

        var pending: [(String, Int)] = []
        var skipped: Set<String> = []
        for optimizer in plan.optimizers {
            for k in 0..<plan.seeds {
                let name = ExperimentPlan.runName(optimizer, k)
                // A run trained (or started) with other settings is never reused as this one.
                let stored = plan.directory(optimizer: optimizer, seedIndex: k).appendingPathComponent("config.json")
                if FileManager.default.fileExists(atPath: stored.path) {
                    // More epochs than a run has is an extension: it resumes; anything else is another run.
                    let recorded = try RunConfiguration.load(from: stored), asked = plan.configuration(optimizer: optimizer, seedIndex: k)
                    var ignored: Set<String> = ["threads", "output", "tensorboard-interval"]
                    if recorded.epochs <= asked.epochs { ignored.insert("epochs") }
                    let differences = recorded.differences(from: asked, ignoring: ignored)
                    if !differences.isEmpty {
                        let list = differences.map { "--\($0.key) \($0.stored) (stored) vs \($0.given) (asked)" }.joined(separator: ", ")
                        throw ExperimentError(description: "\(stored.path): the run was made with other settings: \(list). Use another --output, or remove \(stored.deletingLastPathComponent().path) to train it again.")
                    }
                }
                if isFinished(plan.directory(optimizer: optimizer, seedIndex: k), epochs: c.epochs) {
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
            while !(plan.stopToken?.isRequested ?? false), let (optimizer, k) = queue.next() {
                let configuration = plan.configuration(optimizer: optimizer, seedIndex: k)
                let name = ExperimentPlan.runName(optimizer, k)
                let directory = plan.directory(optimizer: optimizer, seedIndex: k)
                let resume = FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoint-last.safetensors").path)
                do {
                    let number = (plan.optimizers.firstIndex(of: optimizer) ?? 0) * plan.seeds + k + 1
                    log("\(name): \(resume ? "resuming" : "training") (run \(number) of \(plan.optimizers.count * plan.seeds), \(configuration.epochs) epochs)")
                    var trainer = try Trainer(configuration: configuration, train: trainSet, test: rawTest, output: directory, resume: resume)
                    trainer.stopToken = plan.stopToken
                    var observer = PrefixedLog(name: name, log: log, epochs: configuration.epochs, interval: plan.progressInterval)
                    let summary = try trainer.run(observer: &observer)
                    log(String(format: "%@: done, test accuracy %.2f%%, %.3f ms/step", name, summary.finalTestAccuracy * 100, summary.millisecondsPerStep))
                } catch let stopped as TrainingInterrupted {
                    log("\(name): stopped \(stopped.position), saved")
                } catch {
                    queue.fail("\(name): \(error)")
                }
            }
            }
        }
        if let failure = queue.failures.first { throw ExperimentError(description: failure) }
        if let signal = plan.stopToken?.signal { throw ExperimentInterrupted(output: plan.output, signal: signal) }
        let trainingSeconds = seconds(ContinuousClock.now - trainingStart)

        let runs = plan.optimizers.flatMap { optimizer in
            (0..<plan.seeds).map { k in
                let name = ExperimentPlan.runName(optimizer, k)
                let directory = plan.directory(optimizer: optimizer, seedIndex: k)
                return ExperimentRun(optimizer: optimizer, seedIndex: k, name: name, directory: directory,
                                     metrics: MetricsLog.read(from: directory), trained: !skipped.contains(name))
            }
        }
        return ExperimentResult(plan: plan, runs: runs, trainingSeconds: trainingSeconds, rawTrain: rawTrain, rawTest: rawTest)
    }
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

/// Epoch lines, and a progress line every `interval` seconds, prefixed with the run name:
/// runs in parallel share the console, so these are whole lines, never a redrawn bar.
private struct PrefixedLog: TrainingObserver {
    let name: String
    let log: @Sendable (String) -> Void
    let epochs: Int
    private let start = ContinuousClock.now
    private var estimator = RunTimeEstimator()
    private var schedule: ProgressSchedule

    init(name: String, log: @escaping @Sendable (String) -> Void, epochs: Int, interval: Double) {
        self.name = name
        self.log = log
        self.epochs = epochs
        schedule = ProgressSchedule(interval: interval, start: 0)
    }

    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {
        let time = seconds(ContinuousClock.now - start)
        estimator.stepFinished(epoch: epoch, step: step, at: time)
        guard schedule.isDue(at: time) else { return }
        let total = max(epochs, epoch + 1)
        log(ProgressLine(label: name + ":", epoch: epoch + 1, epochs: total, step: step, steps: steps, loss: loss, accuracy: accuracy,
                         samplesPerSecond: samplesPerSecond, elapsed: time,
                         remaining: estimator.remaining(epoch: epoch, step: step, of: steps, epochs: total)).plain)
    }

    mutating func epochFinished(_ m: EpochMetrics, of epochs: Int) {
        estimator.epochFinished(at: seconds(ContinuousClock.now - start))
        log(String(format: "%@: epoch %d/%d  train loss %.4f acc %.2f%%  test acc %.2f%%  %.2f ms/step",
                   name, m.epoch, epochs, m.trainLoss, m.trainAccuracy * 100, m.testAccuracy * 100, m.millisecondsPerStep))
    }

    mutating func message(_ text: String) { log("\(name): \(text)") }
}

/// A comparison stopped by a signal: every run that was training saved a mid-epoch
/// checkpoint, the rest had not started; the same plan run again continues them exactly.
public struct ExperimentInterrupted: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var output: URL
    /// The signal that stopped it (SIGINT, SIGTERM).
    public var signal: Int32

    public init(output: URL, signal: Int32) {
        self.output = output
        self.signal = signal
    }

    public var description: String {
        "the comparison in \(output.path) stopped; every run in progress is saved. Run the same command again to continue it."
    }

    public var errorDescription: String? { description }
}
