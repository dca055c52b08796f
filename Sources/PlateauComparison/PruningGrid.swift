import Foundation
import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining

/// The temperature-like hyperparameter of the dense training a ``PruningGridPlan`` varies
/// (Zhou et al. ICML 2023: larger = noisier training).
public enum TemperatureAxis: String, CaseIterable, Codable, Sendable {
    /// SAM's radius ρ (ρ = 0 trains with plain SGD, which SAM with ρ = 0 equals at half the cost).
    case rho
    /// Dense training epochs (an early-stopping point).
    case epochs
    /// Dense training batch size (smaller is hotter).
    case batchSize = "batch-size"
}

/// A temperature × density grid (Zhou et al., "A Three-regime Model of Network Pruning",
/// ICML 2023): for each temperature a dense model; for each (temperature, density) cell the
/// dense model pruned by global magnitude to the density, retrained `retrainSeeds` times
/// with different seeds, and measured (test error, mode connectivity and CKA between
/// retrained copies 0 and 1).
///
/// Layout under `output`: `dense/<temperature>/` (run directories), `cells/<temperature>-d<density>/seed<k>/`
/// (retraining runs) and `cells/…/cell.json` (the cell's measure, written atomically when
/// the cell is complete).
public struct PruningGridPlan: Sendable {
    /// The dense training (model, data, optimizer settings, epochs, batch size, seed); the
    /// axis overrides its optimizer (rho), epochs or batch size.
    public var base: RunConfiguration
    public var axis: TemperatureAxis
    public var temperatures: [Double]
    public var densities: [Double]
    /// Retraining copies per cell (at least 2 for the connectivity measures).
    public var retrainSeeds = 2
    public var retrainEpochs = 5
    /// Retraining learning rate (nil: the dense one). Retraining uses SGD with the base's
    /// momentum, weight decay, schedule and batch size.
    public var retrainLearningRate: Float? = nil
    public var output: URL
    /// Runs (dense models, then cells) processed at once, each with `threads` threads.
    public var jobs = 1
    public var threads = 1
    public var connectivity = ConnectivitySettings()
    /// Seconds between a run's progress lines (0: only epoch lines).
    public var progressInterval: Double = 30
    /// Stops every run after its current step (saved); rerunning continues.
    public var stopToken: StopToken? = nil

    public init(base: RunConfiguration, axis: TemperatureAxis, temperatures: [Double], densities: [Double], output: URL) {
        self.base = base
        self.axis = axis
        self.temperatures = temperatures
        self.densities = densities
        self.output = output
    }

    /// The directory name of a temperature: `rho0.05`, `epochs4`, `batch-size32`.
    public func label(temperature t: Double) -> String { axis.rawValue + Self.number(t) }

    /// `0.05`, `4` (integers without a fraction).
    public static func number(_ x: Double) -> String {
        x == x.rounded() && Swift.abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    /// The dense run of temperature `t`.
    public func denseConfiguration(temperature t: Double) -> RunConfiguration {
        var c = base
        switch axis {
        case .rho:
            c.optimizer = t == 0 ? "sgd" : "sam"
            c.methodOptions = t == 0 ? [:] : ["rho": .float(Float(t))]
        case .epochs: c.epochs = Int(t)
        case .batchSize: c.batchSize = Int(t)
        }
        c.output = denseDirectory(temperature: t).path
        return c
    }

    public func denseDirectory(temperature t: Double) -> URL {
        output.appendingPathComponent("dense").appendingPathComponent(label(temperature: t))
    }

    public func cellDirectory(temperature t: Double, density d: Double) -> URL {
        output.appendingPathComponent("cells").appendingPathComponent("\(label(temperature: t))-d\(Self.number(d))")
    }

    /// Retraining copy k of cell (t, d): SGD from the pruned dense checkpoint, seed
    /// base.seed + 1 + k (the data order differs between copies, and from the dense run's).
    public func retrainConfiguration(temperature t: Double, density d: Double, copy k: Int) -> RunConfiguration {
        var c = base
        c.optimizer = "sgd"
        c.methodOptions = [:]
        c.epochs = retrainEpochs
        if let retrainLearningRate { c.learningRate = retrainLearningRate }
        c.seed = base.seed &+ 1 &+ UInt64(k)
        c.initialWeights = denseDirectory(temperature: t).appendingPathComponent("checkpoint-last.safetensors").path
        c.output = cellDirectory(temperature: t, density: d).appendingPathComponent("seed\(k)").path
        return c
    }

    /// What a finished cell was computed with; a `cell.json` with other settings is not reused.
    public func cellSettings(temperature t: Double, density d: Double) -> PruningCellSettings {
        var dense = denseConfiguration(temperature: t)
        dense.output = nil
        dense.threads = 1
        return PruningCellSettings(dense: String(decoding: dense.json, as: UTF8.self), density: d, retrainSeeds: retrainSeeds,
                                   retrainEpochs: retrainEpochs, retrainLearningRate: retrainLearningRate ?? base.learningRate,
                                   connectivity: connectivity)
    }
}

/// The settings a cell's measure depends on (stored in `cell.json`).
public struct PruningCellSettings: Codable, Equatable, Sendable {
    /// The dense run's configuration as JSON.
    public var dense: String
    public var density: Double
    public var retrainSeeds: Int
    public var retrainEpochs: Int
    public var retrainLearningRate: Float
    public var connectivity: ConnectivitySettings
}

/// One measured cell of a pruning grid (`cell.json`).
public struct PruningCell: Codable, Equatable, Sendable {
    public var temperature: Double
    public var density: Double
    /// Test error of the dense model before pruning.
    public var denseTestError: Float
    /// Test error of each retrained copy, and their mean.
    public var testErrors: [Float]
    public var testError: Float
    /// Between copies 0 and 1: the path and its mc (mc < 0: a barrier), and the CKA.
    public var connectivity: ConnectivityMeasure
    public var settings: PruningCellSettings

    public init(temperature: Double, density: Double, denseTestError: Float, testErrors: [Float], testError: Float,
                connectivity: ConnectivityMeasure, settings: PruningCellSettings) {
        self.temperature = temperature
        self.density = density
        self.denseTestError = denseTestError
        self.testErrors = testErrors
        self.testError = testError
        self.connectivity = connectivity
        self.settings = settings
    }
}

/// The regimes of Zhou et al.: I (a barrier between retrained copies, mc < 0), II-A (well
/// connected, dissimilar representations: CKA below the threshold) and II-B (well
/// connected and similar).
public enum PruningRegime: String, Codable, Sendable {
    case poorlyConnected = "I"
    case connectedDissimilar = "II-A"
    case connectedSimilar = "II-B"

    /// The regime of one cell.
    public static func of(mc: Float, cka: Double, ckaThreshold: Double) -> PruningRegime {
        mc < 0 ? .poorlyConnected : cka < ckaThreshold ? .connectedDissimilar : .connectedSimilar
    }

    /// The default CKA threshold between II-A and II-B: the median mean-CKA of the well
    /// connected cells (0.5 when there is none). The paper draws this boundary by eye; a
    /// median splits the connected cells of any grid into two non-empty groups.
    public static func medianThreshold(_ cells: [PruningCell]) -> Double {
        let values = cells.filter { $0.connectivity.mc >= 0 }.map(\.connectivity.meanCKA).sorted()
        guard !values.isEmpty else { return 0.5 }
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

/// The outcome of ``PruningGrid/run(_:log:)``: every cell in temperature-major order.
public struct PruningGridResult: Sendable {
    public var plan: PruningGridPlan
    public var cells: [PruningCell]
    /// Cells measured by this invocation (the rest were found finished and skipped).
    public var computed: Int
    public var seconds: Double

    public init(plan: PruningGridPlan, cells: [PruningCell], computed: Int, seconds: Double) {
        self.plan = plan
        self.cells = cells
        self.computed = computed
        self.seconds = seconds
    }
}

/// Runs a ``PruningGridPlan``: resumable at every level. A dense or retraining run that
/// finished is not redone and an interrupted one continues from its last checkpoint
/// (``ExperimentRunner/isFinished(_:epochs:)``); a cell whose `cell.json` exists with the
/// same settings is not recomputed at all.
public enum PruningGrid {
    public static func run(_ plan: PruningGridPlan, log: @escaping @Sendable (String) -> Void) throws -> PruningGridResult {
        let start = ContinuousClock.now
        guard plan.retrainSeeds >= 2 else {
            throw ConfigurationError(field: "retrain-seeds", message: "expected at least 2 retraining copies per cell (mc and CKA compare two), got \(plan.retrainSeeds)")
        }
        try FileManager.default.createDirectory(at: plan.output, withIntermediateDirectories: true)
        let (rawTrain, rawTest) = try plan.base.loadDatasets()
        let trainSet = LoadedCheckpoint.prefix(rawTrain, plan.base.trainLimit)

        var pendingCells: [(Double, Double)] = []
        var done: [String: PruningCell] = [:]
        for t in plan.temperatures {
            for d in plan.densities {
                if let cell = try finishedCell(plan, temperature: t, density: d) {
                    done[key(t, d)] = cell
                    log("\(plan.label(temperature: t)) d\(PruningGridPlan.number(d)): finished earlier, skipped")
                } else {
                    pendingCells.append((t, d))
                }
            }
        }
        // Dense models that a pending cell needs, in parallel; then the cells.
        let denseNeeded = plan.temperatures.filter { t in pendingCells.contains { $0.0 == t } }
        try parallel(denseNeeded, plan: plan) { t in
            try train(plan.denseConfiguration(temperature: t), name: "dense \(plan.label(temperature: t))", train: trainSet, test: rawTest,
                      masks: nil, plan: plan, log: log)
        }
        let measured = Locked<[String: PruningCell]>([:])
        try parallel(pendingCells, plan: plan) { (t, d) in
            let cell = try computeCell(plan, temperature: t, density: d, rawTrain: rawTrain, rawTest: rawTest, trainSet: trainSet, log: log)
            measured.mutate { $0[key(t, d)] = cell }
        }
        let all = done.merging(measured.value) { $1 }
        let cells = plan.temperatures.flatMap { t in plan.densities.compactMap { all[key(t, $0)] } }
        return PruningGridResult(plan: plan, cells: cells, computed: measured.value.count, seconds: seconds(ContinuousClock.now - start))
    }

    /// The stored measure of cell (t, d) if it was finished with the plan's settings.
    ///
    /// - Throws: ``PruningGridError`` when it was finished with other settings (it is never
    ///   silently replaced), or when `cell.json` is unreadable.
    public static func finishedCell(_ plan: PruningGridPlan, temperature t: Double, density d: Double) throws -> PruningCell? {
        let file = plan.cellDirectory(temperature: t, density: d).appendingPathComponent("cell.json")
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        let cell: PruningCell
        do { cell = try decoder.decode(PruningCell.self, from: Data(contentsOf: file)) } catch {
            throw PruningGridError("\(file.path): not a pruning-grid cell (\(error)); remove it to compute the cell again")
        }
        guard cell.settings == plan.cellSettings(temperature: t, density: d) else {
            throw PruningGridError("\(file.path): the cell was computed with other settings (dense training, retraining or measurement). Use another --output, or remove \(file.deletingLastPathComponent().path) to compute it again.")
        }
        return cell
    }

    private static func computeCell(
        _ plan: PruningGridPlan, temperature t: Double, density d: Double, rawTrain: Dataset, rawTest: Dataset, trainSet: Dataset,
        log: @escaping @Sendable (String) -> Void
    ) throws -> PruningCell {
        let name = "\(plan.label(temperature: t)) d\(PruningGridPlan.number(d))"
        let denseURL = plan.denseDirectory(temperature: t).appendingPathComponent("checkpoint-last.safetensors")
        let denseCheckpoint = try Checkpoint.read(from: denseURL)
        let dense = try LoadedCheckpoint(checkpoint: denseCheckpoint, configuration: denseCheckpoint.configuration, rawTrain: rawTrain,
                                         rawTest: rawTest, source: denseURL.path)
        let masks = try MagnitudePruning.masks(for: dense.model.parameters, density: d)
        for k in 0..<plan.retrainSeeds {
            try train(plan.retrainConfiguration(temperature: t, density: d, copy: k), name: "\(name) seed\(k)", train: trainSet, test: rawTest,
                      masks: masks, plan: plan, log: log)
        }
        let copies = try (0..<plan.retrainSeeds).map { k in
            let url = plan.cellDirectory(temperature: t, density: d).appendingPathComponent("seed\(k)/checkpoint-last.safetensors")
            let saved = try Checkpoint.read(from: url)
            return try LoadedCheckpoint(checkpoint: saved, configuration: saved.configuration, rawTrain: rawTrain, rawTest: rawTest, source: url.path)
        }
        let errors = copies.map { 1 - Evaluation.run($0.model, on: $0.test).accuracy }
        let measure = try Connectivity.measure(copies[0].model, copies[1].model, train: copies[0].train, test: copies[0].test, settings: plan.connectivity)
        let cell = PruningCell(
            temperature: t, density: d, denseTestError: 1 - Evaluation.run(dense.model, on: dense.test).accuracy, testErrors: errors,
            testError: errors.reduce(0, +) / Float(errors.count), connectivity: measure, settings: plan.cellSettings(temperature: t, density: d))
        try writeAtomically(encoder.encode(cell), to: plan.cellDirectory(temperature: t, density: d).appendingPathComponent("cell.json"))
        log(String(format: "%@: test error %.2f%% (dense %.2f%%), mc %+.4f, mean CKA %.3f", name, cell.testError * 100, cell.denseTestError * 100,
                   measure.mc, measure.meanCKA))
        return cell
    }

    /// Trains (or resumes, or skips when finished) one run directory.
    private static func train(
        _ c: RunConfiguration, name: String, train: Dataset, test: Dataset, masks: ParameterSet?, plan: PruningGridPlan,
        log: @escaping @Sendable (String) -> Void
    ) throws {
        let directory = URL(fileURLWithPath: c.output!)
        let stored = directory.appendingPathComponent("config.json")
        if FileManager.default.fileExists(atPath: stored.path) {
            let recorded = try RunConfiguration.load(from: stored)
            let differences = recorded.differences(from: c)
            if !differences.isEmpty {
                let list = differences.map { "--\($0.key) \($0.stored) (stored) vs \($0.given) (asked)" }.joined(separator: ", ")
                throw PruningGridError("\(stored.path): the run was made with other settings: \(list). Use another --output, or remove \(directory.path) to train it again.")
            }
        }
        if ExperimentRunner.isFinished(directory, epochs: c.epochs) { return }
        if let stop = plan.stopToken, stop.isRequested { throw StopRequested() }
        let resume = FileManager.default.fileExists(atPath: directory.appendingPathComponent("checkpoint-last.safetensors").path)
        log("\(name): \(resume ? "resuming" : "training") (\(c.epochs) epochs, \(c.optimizer))")
        var trainer = try Trainer(configuration: c, train: train, test: test, output: directory, resume: resume)
        trainer.masks = masks
        trainer.stopToken = plan.stopToken
        var observer = EpochLog(name: name, log: log)
        let summary = try trainer.run(observer: &observer)
        log(String(format: "%@: done, test accuracy %.2f%%", name, summary.finalTestAccuracy * 100))
    }

    /// `body` over `items`, `plan.jobs` at a time; the first error (or a stop) is rethrown
    /// after the running items end, and no new item starts after it.
    private static func parallel<Item: Sendable>(_ items: [Item], plan: PruningGridPlan, _ body: @escaping @Sendable (Item) throws -> Void) throws {
        guard !items.isEmpty else { return }
        let queue = Locked<(next: Int, failure: (any Error)?)>((0, nil))
        DispatchQueue.concurrentPerform(iterations: max(1, min(plan.jobs, items.count))) { _ in
            Parallelism.withThreads(plan.threads) {
                while true {
                    let index: Int? = queue.mutate { state in
                        guard state.failure == nil, state.next < items.count, !(plan.stopToken?.isRequested ?? false) else { return nil }
                        defer { state.next += 1 }
                        return state.next
                    }
                    guard let index else { return }
                    do { try body(items[index]) } catch is TrainingInterrupted {
                        // Saved mid-run; the stop is reported below.
                    } catch is StopRequested {
                    } catch { queue.mutate { if $0.failure == nil { $0.failure = error } } }
                }
            }
        }
        if let failure = queue.value.failure { throw failure }
        if let stop = plan.stopToken, stop.isRequested { throw ExperimentInterrupted(output: plan.output, signal: stop.signal ?? 0) }
    }

    private static func key(_ t: Double, _ d: Double) -> String { "\(t)|\(d)" }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    private static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    private static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}

/// A failed or inconsistent pruning grid (a run or cell made with other settings, a damaged
/// `cell.json`), with what to do about it.
public struct PruningGridError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var description: String
    public var errorDescription: String? { description }

    public init(_ description: String) { self.description = description }
}

/// A stop requested before a run started: nothing to save.
private struct StopRequested: Error {}

/// A value shared between worker threads behind a lock.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }

    func mutate<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&stored)
    }
}

/// Epoch lines prefixed with the run's name (runs in parallel share the console).
private struct EpochLog: TrainingObserver {
    let name: String
    let log: @Sendable (String) -> Void

    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {}

    mutating func epochFinished(_ m: EpochMetrics, of epochs: Int) {
        log(String(format: "%@: epoch %d/%d  train loss %.4f  test acc %.2f%%", name, m.epoch, epochs, m.trainLoss, m.testAccuracy * 100))
    }

    mutating func message(_ text: String) { log("\(name): \(text)") }
}
