import ArgumentParser
import Foundation
import Plateau

/// `plateau demo`: the main job on the embedded dataset — optimizers side by side.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Compare optimizers on the embedded UCI digits: accuracy, cost and flatness.",
        discussion: """
            Trains the same MLP (64-512-512-10) from the same initialization with each optimizer \
            on the embedded UCI optical digits (1,437 train / 360 test, 8x8), then prints test \
            accuracy, time per step relative to SGD, forward-backward passes per step, and the \
            top Hessian eigenvalue of the training loss at the end (lower is flatter). Needs no \
            download and writes nothing.
            """
    )

    @Option(parsing: .unconditional, help: "Comma-separated optimizers (any of \(MethodRegistry.standard.names.joined(separator: ", ")); method options such as --rho or --saf-lambda apply to the methods that have them).")
    var optimizers: String = "sgd,sam,saf"
    @Option(parsing: .unconditional, help: "Epochs per optimizer.") var epochs: Int = 40
    @Option(parsing: .unconditional, help: "Samples per step.") var batchSize: Int = 64
    @Option(parsing: .unconditional, help: "Learning rate.") var lr: Float = 0.05
    @Option(parsing: .unconditional, help: "Fraction of training labels to corrupt.") var labelNoise: Double = 0
    @Option(parsing: .unconditional, help: "Random seed (weights, shuffling, noise).") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Power-iteration steps for the Hessian eigenvalue (0 skips it).") var hessianIterations: Int = 20
    @Flag(help: "Print one JSON object per optimizer instead of the table.") var json = false
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions

    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    mutating func validate() throws {
        try OptionCheck.count(hessianIterations, "hessian-iterations", in: 0...100_000)
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        try Parallelism.withThreads(1) {  // tiny matrices: threads cost more than they give
        let methods = optimizers.split(separator: ",").map(String.init)
        guard !methods.isEmpty else { throw ValidationError("--optimizers: give at least one optimizer") }
        // Every method and option is checked before anything trains.
        let methodSettings: MethodSettings
        do { methodSettings = try MethodRegistry.standard.settings(fromArguments: methodArguments, for: methods) } catch {
            throw ValidationError("\(error)")
        }
        let configurations = try methods.map { method in
            var c = RunConfiguration()
            c.model = "mlp"
            c.dataset = "digits"
            c.optimizer = method
            c.methodOptions = MethodRegistry.standard.settings(methodSettings, for: method)
            c.epochs = epochs
            c.batchSize = batchSize
            c.learningRate = lr
            c.schedule = "cosine"
            c.weightDecay = 5e-4
            c.labelNoise = labelNoise
            c.seed = seed
            if ["adam", "adamw"].contains(method) { c.learningRate = min(lr, 1e-3) }
            do { try c.validate() } catch { throw ValidationError("\(error)") }
            if let warning = MethodRegistry.standard.inactiveTermWarning(for: c) { printWarning(warning) }
            return c
        }
        let split = try DigitsSplit()
        // The trainer normalizes with training statistics; the eigenvalue is measured on the same inputs.
        let normalizedTrain = Normalization.fit(split.train).apply(to: split.train)
        var rows: [(String, TrainingSummary, Float?)] = []
        var progress = ConsoleProgress(quiet: json)
        progress.message("UCI digits: \(split.train.count) train / \(split.test.count) test samples, MLP 64-512-512-10, \(epochs) epochs, batch \(batchSize), lr \(lr), cosine schedule\(labelNoise > 0 ? ", \(Int(labelNoise * 100))% label noise" : "")")
        for (index, (method, c)) in zip(methods, configurations).enumerated() {
            progress.message("— \(method) (\(index + 1) of \(methods.count))")
            // The bar (or a line every --progress-interval in a log) of this run; its result line follows.
            var runProgress = ConsoleProgress(epochs: c.epochs, quiet: json, interval: progressOptions.progressInterval,
                                              label: "\(method) \(index + 1)/\(methods.count)", epochLines: false)
            let trainer = try Trainer(configuration: c, train: split.train, test: split.test, output: nil)
            let (summary, model) = try trainer.runReturningModel(observer: &runProgress)
            progress.message(String(format: "  test accuracy %.2f%%, %.3f ms/step", summary.finalTestAccuracy * 100, summary.millisecondsPerStep))
            var eigenvalue: Float? = nil
            if hessianIterations > 0 { eigenvalue = try topEigenvalue(model, on: normalizedTrain) }
            rows.append((method, summary, eigenvalue))
        }
        let baseline = rows.first { $0.0 == "sgd" }?.1.millisecondsPerStep
        if json {
            for (method, s, eigenvalue) in rows {
                var object: [String: Any] = [
                    "optimizer": method, "test_accuracy": JSONNumbers.fraction(s.finalTestAccuracy), "ms_per_step": s.millisecondsPerStep,
                    "passes_per_step": s.metrics.last?.passesPerStep ?? 0,
                ]
                if let baseline { object["ratio_vs_sgd"] = s.millisecondsPerStep / baseline }
                if let eigenvalue { object["top_hessian_eigenvalue"] = eigenvalue }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        print("")
        print("optimizer   test acc   ms/step   vs SGD   passes/step   top Hessian eigenvalue")
        for (method, s, eigenvalue) in rows {
            let ratio = baseline.map { String(format: "%5.2fx", s.millisecondsPerStep / $0) } ?? "    -"
            print(method.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: "  %7.2f%%  %8.3f   %@   %11.2f   %@", s.finalTestAccuracy * 100, s.millisecondsPerStep, ratio,
                           s.metrics.last?.passesPerStep ?? 0, eigenvalue.map { String(format: "%10.2f", $0) } ?? "         -"))
        }
        }
    }

    /// λ_max of the training loss on the first 512 training samples, evaluation mode.
    private func topEigenvalue(_ model: any Layer, on dataset: Dataset) throws -> Float {
        func estimate<M: Layer>(_ model: M) -> Float {
            let subset = dataset.subset(Array(0..<min(512, dataset.count)))
            var generator = SeededGenerator(seed: seed &+ 17)
            let result = HessianEigenvalues.top(1, of: model.training(false), maximumIterations: hessianIterations, using: &generator) { (m: inout M) in
                crossEntropy(logits: m(subset.images), labels: subset.labels)
            }
            return result[0].value
        }
        return estimate(model)
    }
}
