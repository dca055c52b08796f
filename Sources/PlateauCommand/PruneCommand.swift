import ArgumentParser
import Foundation
import Plateau

/// `plateau prune`: global magnitude pruning of a trained checkpoint, then retraining with
/// the masks kept (issue 15, three-regime pruning).
struct PruneCommand: ParsableCommand, TrainingFlagsCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a checkpoint by global weight magnitude, then retrain it with the masks kept.",
        discussion: """
            Keeps the fraction --density of the checkpoint's linear and convolution weights \
            with the largest |w| (one threshold over the whole model; biases and \
            normalization parameters are not pruned), zeroes the rest, and retrains for \
            --retrain-epochs epochs. Every pass sees the masked weights, so a pruned weight \
            gets a zero gradient (momentum, Adam's moments and a SAM perturbation never move \
            it), and the weights are re-masked after every step: pruned weights stay exactly 0.

            The retraining starts from the checkpoint's own settings (model, data, optimizer, \
            learning rate, …); every `plateau train` option overrides them (--optimizer sgd \
            --lr 0.05 --seed 1 …). --output is a normal run directory: its checkpoints carry \
            the masks (tensors mask.<parameter>), which --resume, `plateau eval` and the \
            other commands that load a checkpoint take back.

            Example:
              plateau train --dataset mnist --data-dir data/mnist --epochs 5 --output runs/dense
              plateau prune runs/dense/checkpoint-last.safetensors --density 0.1 \\
                --retrain-epochs 3 --optimizer sgd --seed 1 --output runs/pruned-0.1
            """
    )

    @Argument(help: "The checkpoint to prune (a .safetensors file written by plateau train).") var checkpoint: String
    @Option(parsing: .unconditional, help: "Fraction of the prunable weights to keep, in (0, 1] (1: no pruning).") var density: Double
    @Option(parsing: .unconditional, help: "Epochs of retraining after the pruning, 1...1000000.") var retrainEpochs: Int

    @OptionGroup(title: "Model and data") var modelAndData: TrainModelAndDataOptions
    @OptionGroup(title: "Optimizer") var optimization: TrainOptimizerOptions
    @OptionGroup(title: "Schedule") var scheduling: TrainScheduleOptions
    @OptionGroup(title: "Sharpness-aware") var sharpnessAware: TrainSharpnessAwareOptions
    @OptionGroup(title: "Run") var runOptions: TrainRunOptions
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions

    @Option(parsing: .unconditional, help: "Run directory of the retraining (config, metrics, checkpoints with the masks).") var output: String
    @Flag(help: "Continue the retraining in --output from its last checkpoint (its masks).") var resume = false
    @Flag(help: "Replace the run in --output (its run files; nothing else).") var overwrite = false
    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    mutating func validate() throws {
        guard density.isFinite, density > 0, density <= 1 else {
            throw ValidationError("--density: expected a fraction of weights to keep in (0, 1], got \(density)")
        }
        try OptionCheck.count(retrainEpochs, "retrain-epochs", in: 1...1_000_000)
        if scheduling.epochs != nil { throw ValidationError("--epochs: `plateau prune` trains --retrain-epochs epochs; drop --epochs") }
        if runOptions.initialWeights != nil { throw ValidationError("--initial-weights: `plateau prune` starts from CHECKPOINT; drop --initial-weights") }
        if runOptions.printConfig { throw ValidationError("--print-config applies to `plateau train`") }
        if overwrite && resume { throw ValidationError("--overwrite and --resume exclude each other: --resume continues the run in --output, --overwrite replaces it") }
    }

    /// The retraining's configuration: the checkpoint's (or --config's), the flags on top.
    func makeConfiguration(from saved: Checkpoint) throws -> RunConfiguration {
        var c = saved.configuration
        if let config = runOptions.config { c = try RunConfiguration.load(from: URL(fileURLWithPath: config)) }
        try applyTrainingFlags(to: &c)
        c.epochs = retrainEpochs
        c.initialWeights = checkpoint
        c.output = output
        do {
            c.methodOptions.merge(try MethodRegistry.standard.settings(fromArguments: methodArguments, for: try MethodRegistry.standard.optionOwnerNames(of: c))) { $1 }
        } catch { throw ValidationError(error.description) }
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        return c
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let saved = try Checkpoint.read(from: URL(fileURLWithPath: checkpoint))
        let c = try makeConfiguration(from: saved)
        try Parallelism.withThreads(c.threads) {
            let directory = URL(fileURLWithPath: output)
            var trainer = try Trainer.prepare(c, output: directory, resume: resume)
            trainer.runDirectoryPolicy = RunDirectoryPolicy(existingRun: overwrite ? .overwrite : .refuse, allowsChangedSettings: false)
            if let pid = RunLock.activeHolder(of: directory) { throw RunLock.inUse(directory, by: pid) }
            do { try trainer.validateRunDirectory(directory) } catch let error as ConfigurationError { throw ValidationError(error.description) }
            var progress = ConsoleProgress(epochs: c.epochs, interval: progressOptions.progressInterval)
            if !resume {
                // The masks come from the checkpoint's weights as the retraining loads them.
                let model = try saved.loadedModel(
                    sampleShape: trainer.train.sampleShape, classCount: max(trainer.train.classCount, trainer.test.classCount), source: checkpoint)
                let masks: ParameterSet
                do { masks = try MagnitudePruning.masks(for: model.parameters, density: density) } catch let error as ConfigurationError {
                    throw ValidationError(error.description)
                }
                trainer.masks = masks
                let (kept, total) = MagnitudePruning.density(of: masks)
                progress.message("pruned \(checkpoint): kept \(kept) of \(total) prunable weights (density \(String(format: "%.4g", Double(kept) / Double(total))), \(masks.count) tensors)")
            }
            progress.message("retraining \(c.model) on \(c.dataset) (\(trainer.train.count) train / \(trainer.test.count) test samples) with \(c.optimizer) for \(c.epochs) epochs, run directory \(output)")
            let signals = StopSignals()
            defer { signals.stop() }
            trainer.stopToken = signals.token
            let summary: TrainingSummary
            do { summary = try trainer.run(observer: &progress) } catch let stopped as TrainingInterrupted {
                progress.message("\(StopSignals.name(of: stopped.signal)): \(stopped.description) (continue with `plateau prune … --resume`)")
                throw ExitCode(StopSignals.exitStatus(for: stopped.signal))
            }
            progress.message(String(format: "final test accuracy %.2f%% (best %.2f%%)", summary.finalTestAccuracy * 100, summary.bestTestAccuracy * 100))
        }
    }
}
