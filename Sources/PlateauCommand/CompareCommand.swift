import ArgumentParser
import Foundation
import Plateau

/// `plateau compare`: optimizers × seeds through the trainer, sharpness at the end, and a report.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train several optimizers over several seeds, measure sharpness, write an HTML report.",
        discussion: """
            Runs every (optimizer, seed) through the trainer into <output>/<optimizer>-seed<k> \
            (seed = --seed + k). Resumable: a run whose metrics have all epochs is not redone, an \
            interrupted one continues from its last checkpoint. At most --jobs runs train at once \
            (default: one per core, each with one BLAS thread). At the end, each run's top Hessian \
            eigenvalue, ρ-sharpness, weight norm and 1-D filter-normalized landscape are measured on the same \
            first --sharpness-samples training samples (cached in sharpness.json), and \
            <output>/report.html (self-contained, inline SVG), report.md and figures/*.svg are written.

            Example:
              plateau compare --optimizers sgd,sam,saf --model mlp --dataset mnist --epochs 10 --seeds 3 --label-noise 0.4
            """
    )

    @Option(parsing: .unconditional, help: "Comma-separated optimizers (any of \(MethodRegistry.standard.names.joined(separator: ", ")); their options, e.g. --rho 0.1 or --saf-lambda 1, apply to the methods that have them).") var optimizers: String = "sgd,sam,saf"
    @Option(parsing: .unconditional, help: "Model: \(ModelFactory.names.joined(separator: ", ")).") var model: String = "mlp"
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Epochs per run.") var epochs: Int = 10
    @Option(parsing: .unconditional, help: "Seeds per optimizer.") var seeds: Int = 3
    @Option(parsing: .unconditional, help: "Base seed (run k uses seed + k).") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Fraction of training labels to corrupt (symmetric, seeded per run).") var labelNoise: Double = 0
    @Option(parsing: .unconditional, help: "Samples per step.") var batchSize: Int = 128
    @Option(parsing: .unconditional, help: "Learning rate.") var lr: Float = 0.05
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Float = 0.9
    @Option(parsing: .unconditional, help: "Weight decay.") var weightDecay: Float = 5e-4
    @Option(parsing: .unconditional, help: "Learning-rate schedule: \(RunConfiguration.schedules.joined(separator: ", ")).") var schedule: String = "cosine"
    @Option(parsing: .unconditional, help: "Use only the first N training samples.") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Run directory of the comparison.") var output: String = "runs/compare"
    @Option(parsing: .unconditional, help: "Runs trained at once (default: one per core).") var jobs: Int?
    @Option(parsing: .unconditional, help: "Compute threads per run (default: 1 when runs share the cores, else one per core).") var threads: Int?
    @Option(parsing: .unconditional, help: "Training samples for the sharpness measures.") var sharpnessSamples: Int = 1000
    @Option(parsing: .unconditional, help: "ρ of the reported ρ-sharpness.") var sharpnessRho: Float = 0.05
    @Option(parsing: .unconditional, help: "Power-iteration cap for λ_max.") var eigenIterations: Int = 100
    @Option(parsing: .unconditional, help: "Points of the 1-D landscape on [-1, 1] (0 skips it).") var landscapePoints: Int = 41
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions

    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    mutating func validate() throws {
        try OptionCheck.count(seeds, "seeds", in: 1...1000)
        try OptionCheck.count(jobs, "jobs", in: 1...OptionCheck.maximumThreads)
        try OptionCheck.threads(threads)
        try OptionCheck.count(sharpnessSamples, "sharpness-samples", in: 1...Int.max)
        try OptionCheck.number(sharpnessRho, "sharpness-rho", atLeast: 0)
        try OptionCheck.count(eigenIterations, "eigen-iterations", in: 1...100_000)
        if landscapePoints != 0 { try OptionCheck.count(landscapePoints, "landscape-points", in: 2...1001) }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let methods = optimizers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !methods.isEmpty else { throw ValidationError("--optimizers: give at least one optimizer") }
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
        c.labelNoise = labelNoise
        c.trainLimit = trainLimit
        c.seed = seed
        let methodSettings: MethodSettings
        do { methodSettings = try MethodRegistry.standard.settings(fromArguments: methodArguments, for: methods) } catch {
            throw ValidationError(error.description)
        }
        c.methodOptions = methodSettings
        for method in methods {
            var check = c
            check.optimizer = method
            check.methodOptions = MethodRegistry.standard.settings(methodSettings, for: method)
            do { try check.validate() } catch { throw ValidationError("\(error)") }
            if let warning = MethodRegistry.standard.inactiveTermWarning(for: check) { printWarning(warning) }
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let runCount = methods.count * seeds
        let concurrent = max(1, jobs ?? min(cores, runCount))
        let blasThreads = max(1, threads ?? (concurrent > 1 ? 1 : cores))
        var settings = SharpnessSettings()
        settings.rho = sharpnessRho
        settings.maximumIterations = eigenIterations
        settings.landscapePoints = landscapePoints
        settings.batchSize = 500
        var plan = ComparisonPlan(
            optimizers: methods, seeds: seeds, base: c, output: URL(fileURLWithPath: output), jobs: concurrent, threads: blasThreads,
            sharpness: settings, sharpnessSamples: sharpnessSamples)
        plan.experiment.progressInterval = progressOptions.progressInterval
        print("compare: \(methods.joined(separator: ", ")) × \(seeds) seed\(seeds == 1 ? "" : "s") = \(runCount) runs of \(model) on \(c.dataset), \(epochs) epochs; \(concurrent) at once, \(blasThreads) BLAS thread\(blasThreads == 1 ? "" : "s") each; output \(output)")
        let lock = NSLock()
        // Ctrl-C and SIGTERM stop every run after its current step, saved; rerunning continues.
        let signals = StopSignals()
        defer { signals.stop() }
        plan.experiment.stopToken = signals.token
        let result: ComparisonSummary
        do {
            result = try Comparison.run(plan) { line in
                lock.lock()
                print(line)
                fflush(nil)
                lock.unlock()
            }
        } catch let stopped as ExperimentInterrupted {
            print("\(StopSignals.name(of: stopped.signal)): \(stopped.description)")
            throw ExitCode(StopSignals.exitStatus(for: stopped.signal))
        }
        let note = "plateau " + CommandLine.arguments.dropFirst().joined(separator: " ")
        try ComparisonReport(result, note: note).write(to: plan.experiment.output)
        print(String(format: "training %.1f s, sharpness %.1f s; wrote %@/report.html and report.md", result.trainingSeconds, result.sharpnessSeconds, output))
    }
}
