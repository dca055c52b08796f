import ArgumentParser
import Foundation
import Plateau

/// `plateau useful`: USEFUL's train → cluster → upsample → retrain (issue 15).
struct UsefulCommand: ParsableCommand, TrainingFlagsCommand {
    static let configuration = CommandConfiguration(
        commandName: "useful",
        abstract: "USEFUL: upsample the examples not learned early, then train again from scratch.",
        discussion: """
            Nguyen et al. (NeurIPS 2024). Trains --useful-epoch epochs (the separating epoch), \
            splits each class's training examples in two by k-means (k = 2, k-means++, seeded) \
            on the network's outputs, duplicates the cluster with the higher mean loss once, \
            and restarts training from scratch (same seed and settings, --epochs epochs) on \
            the enlarged set. --upsample random is the control: as many examples per class, \
            drawn uniformly; --upsample none the baseline, one training on the same data. --shortcut F pastes a class-specific 3x3 patch on a fraction F of \
            each class's training images (none on the test images): the simplicity-bias variant.

            The run directory (--output) holds the final run as `plateau train` writes it, \
            the separating run in separating/, and useful.json: the duplicated examples' \
            indices, each class's cluster sizes and mean losses, the patched examples, and \
            the accuracies. Every `plateau train` option applies (to both trainings).

            Example:
              plateau useful --dataset mnist --data-dir data/mnist --train-limit 10000 \\
                --epochs 6 --useful-epoch 1 --optimizer sam --rho 0.05 --output runs/useful-sam
            """
    )

    @OptionGroup(title: "Model and data") var modelAndData: TrainModelAndDataOptions
    @OptionGroup(title: "Optimizer") var optimization: TrainOptimizerOptions
    @OptionGroup(title: "Schedule") var scheduling: TrainScheduleOptions
    @OptionGroup(title: "Sharpness-aware") var sharpnessAware: TrainSharpnessAwareOptions
    @OptionGroup(title: "Run") var runOptions: TrainRunOptions
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions

    @Option(parsing: .unconditional, help: "The separating epoch: epochs trained before the clustering, 1...--epochs.") var usefulEpoch: Int
    @Option(parsing: .unconditional, help: "Which examples to duplicate: useful (the higher-loss k-means cluster of each class), random (as many per class, uniformly; the control) or none (the baseline: one training on the same data, shortcut included).") var upsample: String = "useful"
    @Option(parsing: .unconditional, help: "Fraction of each class's training images given a class-specific shortcut patch, 0...1 (default: 0, none).") var shortcut: Double = 0
    @Option(parsing: .unconditional, help: "Run directory (final run, separating/, useful.json).") var output: String?
    @Flag(help: "Replace the runs in --output and its separating/ (their run files; nothing else).") var overwrite = false
    @Flag(help: "Print useful.json's content as one JSON object instead of the progress lines.") var json = false
    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    mutating func validate() throws {
        try OptionCheck.count(usefulEpoch, "useful-epoch", in: 1...1_000_000)
        guard UsefulSelection.Rule(rawValue: upsample) != nil else {
            throw ValidationError("--upsample: expected useful, random or none, got '\(upsample)'")
        }
        guard shortcut.isFinite, (0...1).contains(shortcut) else { throw ValidationError("--shortcut: expected a fraction in 0...1, got \(shortcut)") }
        if runOptions.printConfig { throw ValidationError("--print-config applies to `plateau train`; `plateau useful` takes the same keys with --config") }
    }

    func makeConfiguration() throws -> RunConfiguration {
        var c = RunConfiguration()
        if let config = runOptions.config { c = try RunConfiguration.load(from: URL(fileURLWithPath: config)) }
        try applyTrainingFlags(to: &c)
        if let output { c.output = output }
        do {
            c.methodOptions.merge(try MethodRegistry.standard.settings(fromArguments: methodArguments, for: try MethodRegistry.standard.optionOwnerNames(of: c))) { $1 }
        } catch { throw ValidationError(error.description) }
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        guard usefulEpoch <= c.epochs else {
            throw ValidationError("--useful-epoch: expected a separating epoch in 1...\(c.epochs) (--epochs), got \(usefulEpoch)")
        }
        return c
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let c = try makeConfiguration()
        let rule = UsefulSelection.Rule(rawValue: upsample)!
        try Parallelism.withThreads(c.threads) {
            let directory = c.output.map { URL(fileURLWithPath: $0) }
            var run: UsefulRun
            do {
                run = try UsefulRun(configuration: c, separatingEpoch: usefulEpoch, rule: rule, shortcutFraction: shortcut, output: directory)
            } catch let error as ConfigurationError { throw ValidationError(error.description) }
            run.runDirectoryPolicy = RunDirectoryPolicy(existingRun: overwrite ? .overwrite : .refuse, allowsChangedSettings: false)
            if let directory, !overwrite {
                // Refused before anything is trained: a finished first phase would otherwise be wasted.
                for candidate in [directory, directory.appendingPathComponent(UsefulRun.separatingDirectory)] where RunDirectory.holdsRun(candidate) {
                    throw ValidationError("--output: \(candidate.path) already holds a run; replace it with --overwrite or choose another --output")
                }
            }
            var progress = ConsoleProgress(epochs: c.epochs, quiet: json, interval: progressOptions.progressInterval)
            let signals = StopSignals()
            defer { signals.stop() }
            run.stopToken = signals.token
            progress.message("USEFUL on \(c.dataset) with \(c.optimizer): separating epoch \(usefulEpoch), upsampling \(rule.rawValue), then \(c.epochs) epochs from scratch\(c.output.map { ", run directory \($0)" } ?? " (no --output: nothing written)")")
            let report: UsefulReport
            do { report = try run.run(observer: &progress) } catch let stopped as TrainingInterrupted {
                progress.message("\(StopSignals.name(of: stopped.signal)): stopped; `plateau useful` does not resume, run it again with --overwrite")
                throw ExitCode(StopSignals.exitStatus(for: stopped.signal))
            }
            let perClass = report.selection.classes.map { "\($0.label):\($0.upsampled)/\($0.examples)" }.joined(separator: " ")
            progress.message("duplicated per class (label:upsampled/examples): \(perClass)")
            if let fraction = report.upsampledWithoutShortcut {
                progress.message(String(format: "%.1f%% of the duplicated examples lack the shortcut patch (%.1f%% of all training examples do)",
                                        fraction * 100, (1 - Double(report.shortcutPatched.count) / Double(report.trainingExamples)) * 100))
            }
            progress.message(String(format: "final test accuracy %.2f%% (best %.2f%%)", (report.finalTestAccuracy ?? 0) * 100, (report.bestTestAccuracy ?? 0) * 100))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            }
        }
    }
}
