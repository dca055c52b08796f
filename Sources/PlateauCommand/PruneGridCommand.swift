import ArgumentParser
import Foundation
import Plateau

/// `plateau connect`: mode connectivity and CKA between two checkpoints.
struct ConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Mode connectivity (mc) along the straight line between two checkpoints, and their mean linear CKA.",
        discussion: """
            Evaluates test loss and error at --points evenly spaced points of θ(t) = (1−t)θ_A + tθ_B, \
            re-estimating BatchNorm statistics on the first --bn-samples training samples at every \
            point, and reports mc = ½(L(θ_A)+L(θ_B)) − L(θ(t*)), t* the interior point farthest from \
            the endpoints' mean (Zhou et al., ICML 2023). mc < 0 means a barrier (poorly connected); \
            mc ≥ 0 a flat or convex path. Also the linear CKA between the two models' layers (every \
            hidden layer and the logits for mlp and lenet) on the first --cka-samples test samples, \
            and its mean. The data are the first checkpoint's (its dataset and normalization).

            Example:
              plateau connect runs/pruned-a/checkpoint-last.safetensors runs/pruned-b/checkpoint-last.safetensors --json
            """
    )

    @Argument(help: "Checkpoint A (t = 0).") var first: String
    @Argument(help: "Checkpoint B (t = 1), same model.") var second: String
    @OptionGroup var data: DatasetOptions
    @OptionGroup var measure: ConnectivityOptions
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
    @Flag(help: "Print the measure as JSON.") var json = false

    mutating func validate() throws {
        try measure.check()
        try OptionCheck.threads(threads)
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        try Parallelism.withThreads(threads) {
            let a = try LoadedCheckpoint(contentsOf: URL(fileURLWithPath: first), dataset: data.dataset, dataDirectory: data.dataDir)
            let saved = try Checkpoint.read(from: URL(fileURLWithPath: second))
            let (rawTrain, rawTest) = try a.configuration.loadDatasets()
            let b = try LoadedCheckpoint(checkpoint: saved, configuration: a.configuration, rawTrain: rawTrain, rawTest: rawTest, source: second)
            let result: ConnectivityMeasure
            do { result = try Connectivity.measure(a.model, b.model, train: a.train, test: a.test, settings: measure.settings) } catch let error as ConfigurationError {
                throw ValidationError("\(first) and \(second): \(error.message)")
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
                return
            }
            print("t      test loss  test error")
            for (t, (loss, error)) in zip(result.alphas, zip(result.testLoss, result.testError)) {
                print(String(format: "%.2f   %9.4f  %9.2f%%", t, loss, error * 100))
            }
            print(String(format: "mc (loss) %+.4f%@, mc (error) %+.4f", result.mc, result.mc < 0 ? " (a barrier)" : " (no barrier)", result.mcError))
            print("linear CKA per layer: " + result.layerCKA.map { String(format: "%.3f", $0) }.joined(separator: " ") + String(format: ", mean %.3f", result.meanCKA))
        }
    }
}

/// The measurement options `connect` and `prune-grid` share.
struct ConnectivityOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Points on the line between the two models, endpoints included.") var points: Int = 11
    @Option(parsing: .unconditional, help: "Test samples the path is evaluated on (default: all).") var testSamples: Int?
    @Option(parsing: .unconditional, help: "Training samples BatchNorm statistics are re-estimated on at each point.") var bnSamples: Int = 2000
    @Option(parsing: .unconditional, help: "Test samples the layers' CKA is computed on.") var ckaSamples: Int = 500

    func check() throws {
        try OptionCheck.count(points, "points", in: 3...1001)
        try OptionCheck.count(testSamples, "test-samples", in: 1...Int.max)
        try OptionCheck.count(bnSamples, "bn-samples", in: 1...Int.max)
        try OptionCheck.count(ckaSamples, "cka-samples", in: 2...Int.max)
    }

    var settings: ConnectivitySettings {
        var s = ConnectivitySettings()
        s.points = points
        s.testSamples = testSamples
        s.batchNormSamples = bnSamples
        s.ckaSamples = ckaSamples
        return s
    }
}

/// `plateau prune-grid`: the three-regime phase diagram of pruning.
struct PruneGridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune-grid",
        abstract: "Temperature × density grid of prune-and-retrain runs: test error, mode connectivity, CKA, phase diagram.",
        discussion: """
            Zhou et al., "A Three-regime Model of Network Pruning" (ICML 2023). For every value of \
            the temperature (--temperature rho: SAM's ρ, 0 meaning plain SGD; epochs: dense training \
            epochs; batch-size: dense batch size) one dense model is trained into \
            <output>/dense/<value>. For every (temperature, density) cell it is pruned by global \
            magnitude to the density and retrained --retrain-seeds times with SGD and different seeds \
            (seed + 1 + k) into <output>/cells/<value>-d<density>/seed<k>; then the cell's test error \
            (mean of the copies), mode connectivity mc between copies 0 and 1 (test loss on a \
            --points-point line, BatchNorm re-estimated; mc < 0 is a barrier) and mean linear CKA \
            over layers are measured and saved in cell.json.

            Resumable: each finished cell's cell.json is written atomically and a rerun skips it \
            (it is never recomputed; a cell.json made with other settings is an error, not \
            overwritten); a finished dense or retraining run is reused and an interrupted one \
            continues from its last checkpoint. Ctrl-C stops every running run after its current \
            step, saved. At most --jobs runs go at once (dense models first, then cells).

            Writes <output>/grid.json, grid.csv, report.html (heat maps of error, mc and CKA with \
            the regime boundaries: I mc < 0; II-A mc ≥ 0 and CKA below --cka-threshold, default the \
            median CKA of the connected cells; II-B the rest) and figures/*.svg.

            Example (the reduced MNIST grid of docs/results.md; scripts/prune_grid.sh runs the full one):
              plateau prune-grid --dataset mnist --data-dir data/mnist --model mlp-512-256 \\
                --temperature rho --values 0,0.1,0.4 --densities 0.2,0.05,0.02 \\
                --epochs 3 --retrain-epochs 2 --train-limit 10000 --jobs 2 --output runs/prune-grid
            """
    )

    @Option(parsing: .unconditional, help: "Model: \(ModelFactory.names.joined(separator: ", ")).") var model: String = "mlp-512-256"
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Temperature axis: rho, epochs or batch-size.") var temperature: String = "rho"
    @Option(parsing: .unconditional, help: "Comma-separated temperature values (ρ ≥ 0; epochs and batch sizes ≥ 1).") var values: String = "0,0.05,0.1,0.2,0.4"
    @Option(parsing: .unconditional, help: "Comma-separated densities (kept fractions) in (0, 1].") var densities: String = "0.5,0.2,0.1,0.05,0.02"
    @Option(parsing: .unconditional, help: "Dense training epochs (the epochs axis overrides it).") var epochs: Int = 10
    @Option(parsing: .unconditional, help: "Retraining epochs after pruning.") var retrainEpochs: Int = 5
    @Option(parsing: .unconditional, help: "Retrained copies per cell (mc and CKA compare copies 0 and 1).") var retrainSeeds: Int = 2
    @Option(parsing: .unconditional, help: "Samples per step (the batch-size axis overrides it for the dense runs).") var batchSize: Int = 128
    @Option(parsing: .unconditional, help: "Learning rate of the dense training.") var lr: Float = 0.05
    @Option(parsing: .unconditional, help: "Learning rate of the retraining (default: --lr).") var retrainLr: Float?
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Float = 0.9
    @Option(parsing: .unconditional, help: "Weight decay.") var weightDecay: Float = 5e-4
    @Option(parsing: .unconditional, help: "Learning-rate schedule: \(RunConfiguration.schedules.joined(separator: ", ")).") var schedule: String = "cosine"
    @Option(parsing: .unconditional, help: "Use only the first N training samples.") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Seed of the dense runs (retraining copy k uses seed + 1 + k).") var seed: UInt64 = 0
    @OptionGroup(title: "Measurement") var measure: ConnectivityOptions
    @Option(parsing: .unconditional, help: "CKA separating regimes II-A and II-B (default: the median CKA of the cells with mc ≥ 0).") var ckaThreshold: Double?
    @Option(parsing: .unconditional, help: "Output directory of the grid.") var output: String = "runs/prune-grid"
    @Option(parsing: .unconditional, help: "Runs trained at once (default: one per core).") var jobs: Int?
    @Option(parsing: .unconditional, help: "Compute threads per run (default: 1).") var threads: Int = 1
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions

    mutating func validate() throws {
        _ = try Self.axis(temperature)
        _ = try Self.temperatures(values, axis: Self.axis(temperature))
        _ = try Self.densities(densities)
        try OptionCheck.count(epochs, "epochs", in: 1...1_000_000)
        try OptionCheck.count(retrainEpochs, "retrain-epochs", in: 1...1_000_000)
        try OptionCheck.count(retrainSeeds, "retrain-seeds", in: 2...100)
        try OptionCheck.count(batchSize, "batch-size", in: 1...Int.max)
        try OptionCheck.count(jobs, "jobs", in: 1...OptionCheck.maximumThreads)
        try OptionCheck.threads(threads)
        try measure.check()
        if let ckaThreshold, !(ckaThreshold.isFinite && ckaThreshold >= 0 && ckaThreshold <= 1) {
            throw ValidationError("--cka-threshold: expected a CKA in [0, 1], got \(ckaThreshold)")
        }
    }

    static func axis(_ text: String) throws -> TemperatureAxis {
        guard let axis = TemperatureAxis(rawValue: text) else {
            throw ValidationError("--temperature: expected one of \(TemperatureAxis.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return axis
    }

    /// A comma-separated list of distinct numbers, each checked by `problem` (nil: fine).
    static func list(_ text: String, option: String, expected: String, problem: (Double) -> Bool) throws -> [Double] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var result: [Double] = []
        for item in items {
            guard let value = Double(item), value.isFinite, !problem(value) else {
                throw ValidationError("--\(option): expected a comma-separated list of \(expected), got '\(item)' in '\(text)'")
            }
            guard !result.contains(value) else { throw ValidationError("--\(option): \(item) is listed twice in '\(text)'") }
            result.append(value)
        }
        return result
    }

    static func temperatures(_ text: String, axis: TemperatureAxis) throws -> [Double] {
        switch axis {
        case .rho: return try list(text, option: "values", expected: "radii ρ ≥ 0") { $0 < 0 }
        case .epochs, .batchSize:
            return try list(text, option: "values", expected: "whole numbers ≥ 1 (\(axis.rawValue))") { $0 < 1 || $0 != $0.rounded() || $0 > 1e9 }
        }
    }

    static func densities(_ text: String) throws -> [Double] {
        try list(text, option: "densities", expected: "densities in (0, 1]") { $0 <= 0 || $0 > 1 }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let axis = try Self.axis(temperature)
        var c = RunConfiguration()
        c.model = model
        if let dataset = data.dataset { c.dataset = dataset }
        c.dataDirectory = data.dataDir
        c.epochs = epochs
        c.batchSize = batchSize
        c.learningRate = lr
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.schedule = schedule
        c.trainLimit = trainLimit
        c.seed = seed
        c.threads = threads
        c.tensorboardInterval = 0
        var plan = PruningGridPlan(base: c, axis: axis, temperatures: try Self.temperatures(values, axis: axis), densities: try Self.densities(densities),
                                   output: URL(fileURLWithPath: output))
        for t in plan.temperatures {
            do { try plan.denseConfiguration(temperature: t).validate() } catch { throw ValidationError("\(error)") }
        }
        plan.retrainSeeds = retrainSeeds
        plan.retrainEpochs = retrainEpochs
        plan.retrainLearningRate = retrainLr
        plan.connectivity = measure.settings
        plan.jobs = max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount)
        plan.threads = threads
        plan.progressInterval = progressOptions.progressInterval
        let cells = plan.temperatures.count * plan.densities.count
        print("prune-grid: \(plan.temperatures.count) \(axis.rawValue) values × \(plan.densities.count) densities = \(cells) cells of \(model) on \(c.dataset), \(retrainSeeds) retrained copies each; \(plan.jobs) at once; output \(output)")
        let lock = NSLock()
        let signals = StopSignals()
        defer { signals.stop() }
        plan.stopToken = signals.token
        let result: PruningGridResult
        do {
            result = try PruningGrid.run(plan) { line in
                lock.lock()
                print(line)
                fflush(nil)
                lock.unlock()
            }
        } catch let stopped as ExperimentInterrupted {
            print("\(StopSignals.name(of: stopped.signal)): the grid in \(output) stopped; finished cells and every running run are saved. Run the same command again to continue it.")
            throw ExitCode(StopSignals.exitStatus(for: stopped.signal))
        }
        let note = "plateau " + CommandLine.arguments.dropFirst().joined(separator: " ")
        let report = PruningGridReport(result, ckaThreshold: ckaThreshold, note: note)
        try report.write(to: plan.output)
        for (cell, regime) in zip(result.cells, report.regimes) {
            print(String(format: "%@ %@, density %@: test error %.2f%%, mc %+.4f, mean CKA %.3f, regime %@", axis.rawValue, PruningGridPlan.number(cell.temperature),
                         PruningGridPlan.number(cell.density), cell.testError * 100, cell.connectivity.mc, cell.connectivity.meanCKA, regime.rawValue))
        }
        print(String(format: "%d cell%@ (%d computed now) in %.1f s; wrote %@/report.html, grid.json, grid.csv", result.cells.count, result.cells.count == 1 ? "" : "s", result.computed, result.seconds, output))
    }
}
