import ArgumentParser
import Foundation
import Plateau

/// Options shared by commands that read a dataset.
struct DatasetOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Dataset: digits (embedded), mnist, fashion-mnist, multi-mnist (two tasks, see --tasks), cifar10, cifar100, or a path to a .csv/.tsv table.")
    var dataset: String?

    @Option(parsing: .unconditional, help: "Directory holding the dataset files (default: data/<dataset>); for mnist and fashion-mnist, several comma-separated domain directories are read as one dataset, their samples taken in turn (domain generalization).")
    var dataDir: String?
}

/// The defaults `train --help` shows: those of a fresh ``RunConfiguration``.
private let defaults = RunConfiguration()

/// Writes a flag's value into the configuration when the flag was given.
private func set<T>(_ value: T?, _ keyPath: WritableKeyPath<RunConfiguration, T>, in c: inout RunConfiguration) {
    if let value { c[keyPath: keyPath] = value }
}

/// `train`'s model and data options.
struct TrainModelAndDataOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Model: \(ModelFactory.names.joined(separator: ", ")) (default: \(defaults.model)).") var model: String?
    @Option(parsing: .unconditional, help: "Normalization after each hidden layer of lenet and mlp, before its ReLU: none, batch, group or layer; what tent and sar adapt in `plateau adapt` (default: \(defaults.norm)).") var norm: String?
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "LSQ quantization-aware training of every Linear and Conv2d: wXaY (X-bit weights, Y-bit inputs, 2 to 8; first and last layer at 8 bits) or wXaY-all; learned step sizes saved in the checkpoint (default: \(defaults.quantize)).") var quantize: String?
    @Option(parsing: .unconditional, help: "Use only the first N training samples (default: all).") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Fraction of training labels to corrupt, seeded (default: \(defaults.labelNoise)).") var labelNoise: Double?
    @Option(parsing: .unconditional, help: "Label noise kind: symmetric or pair (default: \(defaults.labelNoiseKind)).") var labelNoiseKind: String?
    @Option(parsing: .unconditional, help: "A CSV/TSV table's labels: integers (class indices 0..<C) or strings (class names, numbered in sorted order) (default: \(defaults.tableLabels)).") var tableLabels: String?
    @Flag(help: "Random-crop (and, for CIFAR, flip) augmentation.") var augment = false
    @Flag(inversion: .prefixedNo, help: "Shuffle the training samples every epoch (default); --no-shuffle keeps the dataset order.") var shuffle: Bool?

    func apply(to c: inout RunConfiguration) {
        set(model, \.model, in: &c); set(norm, \.norm, in: &c); set(quantize, \.quantize, in: &c); set(data.dataset, \.dataset, in: &c)
        if let directory = data.dataDir { c.dataDirectory = directory }
        if let trainLimit { c.trainLimit = trainLimit }
        set(labelNoise, \.labelNoise, in: &c); set(labelNoiseKind, \.labelNoiseKind, in: &c); set(tableLabels, \.tableLabels, in: &c)
        if augment { c.augment = true }
        if let shuffle { c.shuffle = shuffle }
    }
}

/// `train`'s optimizer options.
struct TrainOptimizerOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Method: \(MethodRegistry.standard.names.joined(separator: ", ")) (default: \(defaults.optimizer); their options are listed above).") var optimizer: String?
    @Option(parsing: .unconditional, help: "Base optimizer under a sharpness-aware rule or objective term: \(MethodRegistry.standard.baseOptimizerNames.joined(separator: ", ")) (default: \(defaults.baseOptimizer)).") var baseOptimizer: String?
    @Option(parsing: .unconditional, help: "Samples per step (default: \(defaults.batchSize)).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Learning rate, the peak for onecycle (default: \(defaults.learningRate)).") var lr: Float?
    @Option(parsing: .unconditional, help: "SGD momentum (default: \(defaults.momentum)).") var momentum: Float?
    @Flag(help: "Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "Weight decay, L2 for sgd/adam, decoupled for adamw (default: \(defaults.weightDecay)).") var weightDecay: Float?
    @Option(parsing: .unconditional, help: "Label smoothing of the cross-entropy (default: \(defaults.labelSmoothing)).") var labelSmoothing: Float?
    @Option(parsing: .unconditional, help: "Clip the final gradient to this global norm (default: no clipping).") var maxGradNorm: Float?
    @Option(parsing: .unconditional, help: "Accumulate gradients over micro-batches of this size (default: whole batches).") var microBatchSize: Int?

    func apply(to c: inout RunConfiguration) {
        set(optimizer, \.optimizer, in: &c); set(baseOptimizer, \.baseOptimizer, in: &c); set(batchSize, \.batchSize, in: &c)
        set(lr, \.learningRate, in: &c); set(momentum, \.momentum, in: &c); set(weightDecay, \.weightDecay, in: &c)
        if nesterov { c.nesterov = true }
        set(labelSmoothing, \.labelSmoothing, in: &c)
        if let maxGradNorm { c.maxGradientNorm = maxGradNorm }
        if let microBatchSize { c.microBatchSize = microBatchSize }
    }
}

/// `train`'s epochs and learning-rate schedule.
struct TrainScheduleOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Epochs to train (default: \(defaults.epochs)).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Learning-rate schedule: \(RunConfiguration.schedules.joined(separator: ", ")) (default: \(defaults.schedule)).") var schedule: String?
    @Option(parsing: .unconditional, help: "Linear warm-up epochs before the schedule (default: \(defaults.warmupEpochs)).") var warmupEpochs: Int?
    @Option(parsing: .unconditional, help: "Decay every this many epochs, step schedule (default: \(defaults.stepEpochs)).") var stepEpochs: Int?
    @Option(parsing: .unconditional, help: "Comma-separated milestone epochs (multistep schedule).") var milestones: String?
    @Option(parsing: .unconditional, help: "Decay factor of step/multistep schedules (default: \(defaults.gamma)).") var gamma: Float?

    func apply(to c: inout RunConfiguration) throws {
        set(epochs, \.epochs, in: &c); set(schedule, \.schedule, in: &c); set(warmupEpochs, \.warmupEpochs, in: &c)
        set(stepEpochs, \.stepEpochs, in: &c); set(gamma, \.gamma, in: &c)
        if let milestones {
            c.milestones = try milestones.split(separator: ",").map {
                guard let m = Int($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--milestones: expected comma-separated epochs, got '\(milestones)'")
                }
                return m
            }
        }
    }
}

/// `train`'s options common to the sharpness-aware rules (each method's own options are
/// parsed from the remaining arguments through the method table).
struct TrainSharpnessAwareOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "m-sharpness: an independent perturbation per chunk of m samples, any sharpness-aware rule (default: the whole batch). Each method's own options (--rho, --saf-start, …) are listed above.") var mSharpness: Int?

    func apply(to c: inout RunConfiguration) {
        if let mSharpness { c.mSharpness = mSharpness }
    }
}

/// `train`'s run options (the run directory's --output and --resume are listed under OPTIONS).
struct TrainRunOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Random seed (default: \(defaults.seed)).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Read the run configuration from this JSON or YAML file (.yaml/.yml); its keys are these flags' names, and flags override it.") var config: String?
    @Flag(help: "Print the full resolved configuration (every key, the method's options with their defaults) as JSON, or as YAML with `--print-config yaml`, and exit without training; --config reads it back.") var printConfig = false
    @Option(parsing: .unconditional, help: "Start from the weights of this checkpoint.") var initialWeights: String?
    @Option(parsing: .unconditional, help: "Steps between TensorBoard scalars in the run directory's event file, 0: none (default: \(defaults.tensorboardInterval)).") var tensorboardInterval: Int?
    @Option(parsing: .unconditional, help: "Compute threads; results are the same for any count (default: \(defaults.threads)).") var threads: Int?

    /// The run settings; `--config` is read before, by the command.
    func apply(to c: inout RunConfiguration) {
        set(seed, \.seed, in: &c); set(threads, \.threads, in: &c); set(tensorboardInterval, \.tensorboardInterval, in: &c)
        if let initialWeights { c.initialWeights = initialWeights }
    }
}

/// `plateau train`: one training run with live progress, metrics and checkpoints.
/// A command that takes `plateau train`'s option groups (train, prune, useful): one way to lay
/// them over a base configuration.
protocol TrainingFlagsCommand {
    var modelAndData: TrainModelAndDataOptions { get }
    var optimization: TrainOptimizerOptions { get }
    var scheduling: TrainScheduleOptions { get }
    var sharpnessAware: TrainSharpnessAwareOptions { get }
    var runOptions: TrainRunOptions { get }
}

extension TrainingFlagsCommand {
    /// The flags on top of `c`. A configuration's method options belong to its method and base
    /// optimizer: switching either on the command line keeps only the options the new pair
    /// also has.
    func applyTrainingFlags(to c: inout RunConfiguration) throws {
        let before = (c.optimizer, c.baseOptimizer)
        modelAndData.apply(to: &c)
        optimization.apply(to: &c)
        try scheduling.apply(to: &c)
        sharpnessAware.apply(to: &c)
        runOptions.apply(to: &c)
        if before != (c.optimizer, c.baseOptimizer) {
            let owners = (try? MethodRegistry.standard.optionOwnerNames(of: c)) ?? [c.optimizer]
            c.methodOptions = owners.reduce(into: MethodSettings()) { kept, owner in
                kept.merge(MethodRegistry.standard.settings(c.methodOptions, for: owner)) { mine, _ in mine }
            }
        }
    }
}

struct TrainCommand: ParsableCommand, TrainingFlagsCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model with any optimizer of the family.",
        discussion: """
            Writes into the run directory (--output): config.json (accepted back by --config, \
            which also reads YAML; the keys are the flags' names, see --print-config), \
            metrics.jsonl and metrics.csv (one row per epoch), checkpoint-last.safetensors and \
            checkpoint-best.safetensors (PyTorch state_dict names), label-noise.json when \
            labels were corrupted, and a TensorBoard event file. Without --output the run goes \
            into a fresh runs/<model>-<method>-<yyyymmdd>-<n>, printed at the start.

            A directory that already holds a run is never trained over silently: --resume \
            continues it bit-identically (--epochs may grow; other settings must match its \
            config.json unless --allow-changes), --overwrite removes its files (checkpoints, \
            metrics, event files, label-noise.json, config.json; nothing else) and starts anew.
            The run directory is locked while training (.lock holds the process id): a \
            second training there stops, naming that process.

            Ctrl-C (or SIGTERM) stops the run after its current step and saves it mid-epoch \
            in checkpoint-last.safetensors, prints the command that continues it and exits \
            with status 130 (143 for SIGTERM); --resume then gives exactly the run that was \
            never stopped. A second Ctrl-C quits at once, losing the unsaved part of the epoch.

            Options left out take config.json's value with --config or --resume, otherwise the \
            default shown. Sharpness-aware rules and objective terms run over --base-optimizer; \
            their own options (--rho, --saf-lambda, …) are listed below.

            Examples:
              plateau train --model mlp --dataset digits --epochs 20 \\
                --optimizer sam --rho 0.05
              plateau train --model lenet --dataset mnist --optimizer saf \\
                --epochs 10 --output runs/lenet-saf
              plateau train --output runs/lenet-saf --resume
              plateau train --model lenet --dataset multi-mnist --tasks 2 \\
                --optimizer fmtl --aggregator pcgrad --output runs/mtl-fmtl

            \(MethodRegistry.standard.helpText())
            """
    )

    @OptionGroup(title: "Model and data") var modelAndData: TrainModelAndDataOptions
    @OptionGroup(title: "Optimizer") var optimization: TrainOptimizerOptions
    @OptionGroup(title: "Schedule") var scheduling: TrainScheduleOptions
    @OptionGroup(title: "Sharpness-aware") var sharpnessAware: TrainSharpnessAwareOptions
    @OptionGroup(title: "Multi-task") var multiTask: TrainMultiTaskOptions
    @OptionGroup(title: "Segmentation") var segmentation: TrainSegmentationOptions
    @OptionGroup(title: "Run") var runOptions: TrainRunOptions
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions
    @OptionGroup(title: "Distributed") var distribution: DistributedOptions

    @Option(parsing: .unconditional, help: "Run directory for config, metrics and checkpoints (default: a fresh runs/<model>-<method>-<yyyymmdd>-<n>).") var output: String?
    @Flag(help: "Continue the run in --output from its last checkpoint (--epochs may grow; other settings must match config.json).") var resume = false
    @Flag(help: "Replace the run in --output: remove its checkpoints, metrics, event files, label-noise.json and config.json first.") var overwrite = false
    @Flag(help: "With --resume: accept settings that differ from the run's config.json.") var allowChanges = false
    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    /// The format `--print-config` was given (`--print-config yaml`), nil without the flag.
    /// The word after the flag arrives among the unrecognized arguments: argument-parser
    /// has no option whose value is optional.
    var printFormat: ConfigurationFormat? {
        guard runOptions.printConfig else { return nil }
        return formatArgument.map { ConfigurationFormat(rawValue: methodArguments[$0])! } ?? .json
    }

    /// The index among `methodArguments` of `--print-config`'s format word: the first `json`
    /// or `yaml` that is not the value of a preceding `--option`.
    private var formatArgument: Int? {
        guard runOptions.printConfig else { return nil }
        return methodArguments.indices.first { i in
            ConfigurationFormat(rawValue: methodArguments[i]) != nil
                && (i == 0 || !methodArguments[i - 1].hasPrefix("-") || methodArguments[i - 1].contains("="))
        }
    }

    func makeConfiguration() throws -> RunConfiguration {
        var c = RunConfiguration()
        if let config = runOptions.config { c = try RunConfiguration.load(from: URL(fileURLWithPath: config)) }
        else if resume, let output {
            let directory = URL(fileURLWithPath: output)
            let file = directory.appendingPathComponent(RunDirectory.configurationFile)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw ValidationError(RunDirectory.nothingToResume(directory, "it holds no \(RunDirectory.configurationFile), so no run was started there") + "; start one with `plateau train --output \(output) …`")
            }
            c = try RunConfiguration.load(from: file)
        }
        try applyTrainingFlags(to: &c)
        multiTask.apply(to: &c)
        if let output { c.output = output }
        do {
            var arguments = methodArguments
            if let format = formatArgument { arguments.remove(at: format) }
            c.methodOptions.merge(try MethodRegistry.standard.settings(fromArguments: arguments, for: try MethodRegistry.standard.optionOwnerNames(of: c))) { $1 }
        } catch { throw ValidationError(error.description) }
        // A segmentation run's model is checked against the segmentation models (SegmentationOptions).
        var checked = c
        if segmentation.isSegmentation { checked.model = ModelFactory.names[0] }
        do { try checked.validate() } catch { throw ValidationError("\(error)") }  // a setting no run can use: a usage error (64)
        return c
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        if resume && output == nil { throw ValidationError("--resume needs --output, the run directory to continue") }
        if allowChanges && !resume { throw ValidationError("--allow-changes applies to --resume only") }
        if overwrite && resume { throw ValidationError("--overwrite and --resume exclude each other: --resume continues the run in --output, --overwrite replaces it") }
        let c = try makeConfiguration()
        if let format = printFormat {
            print(try c.printed(as: format), terminator: "")
            return
        }
        if segmentation.isSegmentation {
            if distribution.distributed == .mpi { throw ValidationError("--distributed mpi: segmentation runs train in one process; drop --distributed") }
            if resume { throw ValidationError("--resume: a segmentation run cannot be resumed; start it again") }
            var c = c
            c.dataset = "mnist-seg"
            return try segmentation.run(c, model: modelAndData.model, progressInterval: progressOptions.progressInterval)
        }
        if distribution.distributed == .mpi {
            guard c.output != nil else { throw ValidationError("--distributed mpi needs --output: every rank must name the same run directory") }
            try Self.runDistributed { try train(c, communicator: $0) }
            return
        }
        try train(c, communicator: nil)
    }

    /// The training itself; under `communicator` (data-parallel, one rank of several) only
    /// rank 0 prints and writes.
    private func train(_ configuration: RunConfiguration, communicator: (any Communicator)?) throws {
        var c = configuration
        let writer = communicator?.isWriter ?? true
        if writer, let warning = MethodRegistry.standard.inactiveTermWarning(for: c) { printWarning(warning) }
        try Parallelism.withThreads(c.threads) {
        var trainer = try Trainer.prepare(c, output: c.output.map { URL(fileURLWithPath: $0) }, resume: resume)
        trainer.runDirectoryPolicy = RunDirectoryPolicy(existingRun: overwrite ? .overwrite : .refuse, allowsChangedSettings: allowChanges)
        if let communicator { trainer.dataParallel = DataParallelism(communicator: communicator, epsilon: distribution.samEpsilon) }
        var progress = ConsoleProgress(epochs: c.epochs, quiet: !writer, interval: progressOptions.progressInterval, epochLines: writer)
        // A run is never trained and thrown away: without --output it gets a fresh directory.
        var fresh: [URL] = []
        if trainer.output == nil {
            let hadParent = FileManager.default.fileExists(atPath: "runs")
            let directory = try Self.claimFreshRunDirectory(model: c.model, method: c.optimizer)
            fresh = [directory] + (hadParent ? [] : [directory.deletingLastPathComponent()])
            c.output = directory.relativePath
            trainer.configuration.output = c.output
            trainer.output = directory
            progress.message("no --output: writing the run into \(directory.relativePath)")
        }
        if writer, let output = trainer.output {
            // A directory in use is reported first (the trainer takes the lock itself).
            if let pid = RunLock.activeHolder(of: output) { throw RunLock.inUse(output, by: pid) }
            // Refusals are usage errors (exit 64), before anything is written.
            do { try trainer.validateRunDirectory(output) } catch let error as ConfigurationError { throw ValidationError(error.description) }
        }
        progress.message("training \(c.model) on \(c.dataset) (\(trainer.train.count) train / \(trainer.test.count) test samples) with \(c.optimizer)\(c.output.map { ", run directory \($0)" } ?? "")"
            + (communicator.map { ", data-parallel over \($0.size) MPI rank\($0.size == 1 ? "" : "s") (ε \(distribution.samEpsilon.rawValue))" } ?? ""))
        // Ctrl-C and SIGTERM stop the run after its current step, saved (`--resume` continues it).
        let signals = StopSignals()
        defer { signals.stop() }
        trainer.stopToken = signals.token
        let summary: TrainingSummary
        do { summary = try trainer.run(observer: &progress) } catch let stopped as TrainingInterrupted {
            progress.message("\(StopSignals.name(of: stopped.signal)): \(stopped.description)")
            if communicator != nil, let output = c.output {
                progress.message("Data-parallel: continue it on any number of ranks with mpirun -np N plateau train --output \(output) --resume --distributed mpi")
            }
            throw ExitCode(StopSignals.exitStatus(for: stopped.signal))  // as a shell reports a process ended by the signal
        } catch {
            // A fresh directory the run never wrote into is not left behind (nor runs/, if new).
            for directory in fresh where (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.isEmpty == true {
                try? FileManager.default.removeItem(at: directory)
            }
            throw error
        }
        progress.message(String(format: "final test accuracy %.2f%% (best %.2f%%), %.2f ms/step", summary.finalTestAccuracy * 100, summary.bestTestAccuracy * 100, summary.millisecondsPerStep)
            + (summary.finalTaskTestAccuracies.map { tasks in
                "; the mean of the tasks' " + tasks.enumerated().map { String(format: "task %d %.2f%%", $0.offset + 1, $0.element * 100) }.joined(separator: ", ")
            } ?? ""))
        }
    }

    /// Creates `runs/<model>-<method>-<yyyymmdd>-<n>` (relative to the working directory)
    /// with the first free n, atomically: a concurrent training takes the next number.
    static func claimFreshRunDirectory(model: String, method: String, now: Date = Date()) throws -> URL {
        let parent = URL(fileURLWithPath: "runs")
        do { try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw ConfigurationError(field: "output", message: "cannot create \(parent.path) for the run (give --output): \(error.localizedDescription)")
        }
        let day = Calendar(identifier: .gregorian).dateComponents(in: .current, from: now)
        let date = String(format: "%04d%02d%02d", day.year ?? 0, day.month ?? 0, day.day ?? 0)
        let stem = "\(model)-\(method)-\(date)-"
        for n in 1...100_000 {
            let name = stem + String(n)
            // mkdir(2) fails if the name exists: the directory is ours alone.
            if mkdir("runs/" + name, 0o777) == 0 { return URL(fileURLWithPath: "runs/" + name) }
            guard errno == EEXIST else {
                throw ConfigurationError(field: "output", message: "cannot create runs/\(name) for the run (give --output): \(String(cString: strerror(errno)))")
            }
        }
        throw ConfigurationError(field: "output", message: "runs/ holds too many runs named \(stem)<n>; give --output")
    }
}
