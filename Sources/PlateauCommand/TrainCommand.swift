import ArgumentParser
import Foundation
import Plateau

/// Options shared by commands that read a dataset.
struct DatasetOptions: ParsableArguments {
    @Option(help: "Dataset: digits (embedded), mnist, fashion-mnist, cifar10, cifar100, or a path to a .csv/.tsv table.")
    var dataset: String?

    @Option(help: "Directory holding the dataset files (default: data/<dataset>).")
    var dataDir: String?
}

/// The defaults `train --help` shows: those of a fresh ``RunConfiguration``.
private let defaults = RunConfiguration()

/// `train`'s model and data options.
struct TrainModelAndDataOptions: ParsableArguments {
    @Option(help: "Model: \(ModelFactory.names.joined(separator: ", ")) (default: \(defaults.model)).") var model: String?
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Use only the first N training samples (default: all).") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Fraction of training labels to corrupt, seeded (default: \(defaults.labelNoise)).") var labelNoise: Double?
    @Option(help: "Label noise kind: symmetric or pair (default: \(defaults.labelNoiseKind)).") var labelNoiseKind: String?
    @Flag(help: "Random-crop (and, for CIFAR, flip) augmentation.") var augment = false
    @Flag(help: "Keep the dataset order (no shuffling).") var noShuffle = false
}

/// `train`'s optimizer options.
struct TrainOptimizerOptions: ParsableArguments {
    @Option(help: "Method: \(MethodRegistry.standard.names.joined(separator: ", ")) (default: \(defaults.optimizer); their options are listed above).") var optimizer: String?
    @Option(help: "Base optimizer under a sharpness-aware rule or objective term: \(MethodRegistry.standard.baseOptimizerNames.joined(separator: ", ")) (default: \(defaults.baseOptimizer)).") var baseOptimizer: String?
    @Option(parsing: .unconditional, help: "Samples per step (default: \(defaults.batchSize)).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Learning rate, the peak for onecycle (default: \(defaults.learningRate)).") var lr: Float?
    @Option(parsing: .unconditional, help: "SGD momentum (default: \(defaults.momentum)).") var momentum: Float?
    @Flag(help: "Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay, L2 for sgd/adam, decoupled for adamw (default: \(defaults.weightDecay)).") var weightDecay: Float?
    @Option(parsing: .unconditional, help: "Label smoothing of the cross-entropy (default: \(defaults.labelSmoothing)).") var labelSmoothing: Float?
    @Option(parsing: .unconditional, help: "Clip the final gradient to this global norm (default: no clipping).") var maxGradNorm: Float?
    @Option(parsing: .unconditional, help: "Accumulate gradients over micro-batches of this size (default: whole batches).") var microBatchSize: Int?
}

/// `train`'s epochs and learning-rate schedule.
struct TrainScheduleOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Epochs to train (default: \(defaults.epochs)).") var epochs: Int?
    @Option(help: "Learning-rate schedule: \(RunConfiguration.schedules.joined(separator: ", ")) (default: \(defaults.schedule)).") var schedule: String?
    @Option(parsing: .unconditional, help: "Linear warm-up epochs before the schedule (default: \(defaults.warmupEpochs)).") var warmupEpochs: Int?
    @Option(parsing: .unconditional, help: "Decay every this many epochs, step schedule (default: \(defaults.stepEpochs)).") var stepEpochs: Int?
    @Option(help: "Comma-separated milestone epochs (multistep schedule).") var milestones: String?
    @Option(parsing: .unconditional, help: "Decay factor of step/multistep schedules (default: \(defaults.gamma)).") var gamma: Float?
}

/// `train`'s options common to the sharpness-aware rules (each method's own options are
/// parsed from the remaining arguments through the method table).
struct TrainSharpnessAwareOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "m-sharpness: an independent perturbation per chunk of m samples, any sharpness-aware rule (default: the whole batch). Each method's own options (--rho, --saf-start, …) are listed above.") var mSharpness: Int?
}

/// `train`'s run options (the run directory's --output and --resume are listed under OPTIONS).
struct TrainRunOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Random seed (default: \(defaults.seed)).") var seed: UInt64?
    @Option(help: "Read the run configuration from this JSON file (flags override it).") var config: String?
    @Option(help: "Start from the weights of this checkpoint.") var initialWeights: String?
    @Option(parsing: .unconditional, help: "Steps between TensorBoard scalars in the run directory's event file, 0: none (default: \(defaults.tensorboardInterval)).") var tensorboardInterval: Int?
    @Option(parsing: .unconditional, help: "Compute threads; results are the same for any count (default: \(defaults.threads)).") var threads: Int?
}

/// `plateau train`: one training run with live progress, metrics and checkpoints.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model with any optimizer of the family.",
        discussion: """
            Writes into the run directory (--output): config.json (accepted back by --config), \
            metrics.jsonl and metrics.csv (one row per epoch), checkpoint-last.safetensors and \
            checkpoint-best.safetensors (PyTorch state_dict names), and label-noise.json when \
            labels were corrupted. --resume continues an interrupted run bit-identically.

            Options left out take config.json's value with --config or --resume, otherwise the \
            default shown. Sharpness-aware rules and objective terms run over --base-optimizer; \
            their own options (--rho, --saf-lambda, …) are listed below.

            Examples:
              plateau train --model mlp --dataset digits --epochs 20 \\
                --optimizer sam --rho 0.05
              plateau train --model lenet --dataset mnist --optimizer saf \\
                --epochs 10 --output runs/lenet-saf
              plateau train --output runs/lenet-saf --resume

            \(MethodRegistry.standard.helpText())
            """
    )

    @OptionGroup(title: "Model and data") var modelAndData: TrainModelAndDataOptions
    @OptionGroup(title: "Optimizer") var optimization: TrainOptimizerOptions
    @OptionGroup(title: "Schedule") var scheduling: TrainScheduleOptions
    @OptionGroup(title: "Sharpness-aware") var sharpnessAware: TrainSharpnessAwareOptions
    @OptionGroup(title: "Run") var runOptions: TrainRunOptions

    @Option(help: "Run directory for config, metrics and checkpoints.") var output: String?
    @Flag(help: "Continue the run in --output from its last checkpoint.") var resume = false
    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    // The groups' values under the names the configuration code reads.
    var data: DatasetOptions { modelAndData.data }
    var model: String? { modelAndData.model }
    var trainLimit: Int? { modelAndData.trainLimit }
    var labelNoise: Double? { modelAndData.labelNoise }
    var labelNoiseKind: String? { modelAndData.labelNoiseKind }
    var augment: Bool { modelAndData.augment }
    var noShuffle: Bool { modelAndData.noShuffle }
    var optimizer: String? { optimization.optimizer }
    var baseOptimizer: String? { optimization.baseOptimizer }
    var batchSize: Int? { optimization.batchSize }
    var lr: Float? { optimization.lr }
    var momentum: Float? { optimization.momentum }
    var nesterov: Bool { optimization.nesterov }
    var weightDecay: Float? { optimization.weightDecay }
    var labelSmoothing: Float? { optimization.labelSmoothing }
    var maxGradNorm: Float? { optimization.maxGradNorm }
    var microBatchSize: Int? { optimization.microBatchSize }
    var epochs: Int? { scheduling.epochs }
    var schedule: String? { scheduling.schedule }
    var warmupEpochs: Int? { scheduling.warmupEpochs }
    var stepEpochs: Int? { scheduling.stepEpochs }
    var milestones: String? { scheduling.milestones }
    var gamma: Float? { scheduling.gamma }
    var mSharpness: Int? { sharpnessAware.mSharpness }
    var seed: UInt64? { runOptions.seed }
    var initialWeights: String? { runOptions.initialWeights }
    var config: String? { runOptions.config }
    var tensorboardInterval: Int? { runOptions.tensorboardInterval }
    var threads: Int? { runOptions.threads }

    func makeConfiguration() throws -> RunConfiguration {
        var c = RunConfiguration()
        if let config { c = try RunConfiguration.load(from: URL(fileURLWithPath: config)) }
        else if resume, let output { c = try RunConfiguration.load(from: URL(fileURLWithPath: output).appendingPathComponent("config.json")) }
        func set<T>(_ value: T?, _ keyPath: WritableKeyPath<RunConfiguration, T>) { if let value { c[keyPath: keyPath] = value } }
        // A configuration file's method options belong to its method: switching methods on the
        // command line keeps only those the new method also has.
        if let optimizer, optimizer != c.optimizer { c.methodOptions = MethodRegistry.standard.settings(c.methodOptions, for: optimizer) }
        set(data.dataset, \.dataset); if let d = data.dataDir { c.dataDirectory = d }
        set(model, \.model); set(epochs, \.epochs); set(batchSize, \.batchSize); set(optimizer, \.optimizer)
        set(baseOptimizer, \.baseOptimizer); set(lr, \.learningRate); set(momentum, \.momentum)
        if nesterov { c.nesterov = true }
        set(weightDecay, \.weightDecay); set(schedule, \.schedule); set(warmupEpochs, \.warmupEpochs)
        set(stepEpochs, \.stepEpochs); set(gamma, \.gamma); set(labelSmoothing, \.labelSmoothing)
        if let milestones {
            c.milestones = try milestones.split(separator: ",").map {
                guard let m = Int($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--milestones: expected comma-separated epochs, got '\(milestones)'")
                }
                return m
            }
        }
        if let maxGradNorm { c.maxGradientNorm = maxGradNorm }
        if let microBatchSize { c.microBatchSize = microBatchSize }
        set(labelNoise, \.labelNoise); set(labelNoiseKind, \.labelNoiseKind)
        if augment { c.augment = true }
        if noShuffle { c.shuffle = false }
        if let trainLimit { c.trainLimit = trainLimit }
        if let mSharpness { c.mSharpness = mSharpness }
        set(seed, \.seed); set(threads, \.threads); set(tensorboardInterval, \.tensorboardInterval)
        if let output { c.output = output }
        if let initialWeights { c.initialWeights = initialWeights }
        do {
            c.methodOptions.merge(try MethodRegistry.standard.settings(fromArguments: methodArguments, for: [c.optimizer])) { $1 }
        } catch { throw ValidationError(error.description) }
        do { try c.validate() } catch { throw ValidationError("\(error)") }  // a setting no run can use: a usage error (64)
        return c
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        if resume && output == nil { throw ValidationError("--resume needs --output, the run directory to continue") }
        let c = try makeConfiguration()
        if let warning = MethodRegistry.standard.inactiveTermWarning(for: c) { printWarning(warning) }
        try Parallelism.withThreads(c.threads) {
        let trainer = try Trainer.prepare(c, output: c.output.map { URL(fileURLWithPath: $0) }, resume: resume)
        var progress = ConsoleProgress()
        progress.message("training \(c.model) on \(c.dataset) (\(trainer.train.count) train / \(trainer.test.count) test samples) with \(c.optimizer)\(c.output.map { ", run directory \($0)" } ?? "")")
        let summary = try trainer.run(observer: &progress)
        progress.message(String(format: "final test accuracy %.2f%% (best %.2f%%), %.2f ms/step", summary.finalTestAccuracy * 100, summary.bestTestAccuracy * 100, summary.millisecondsPerStep))
        }
    }
}
