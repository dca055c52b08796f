import ArgumentParser
import Foundation
import Plateau

/// `plateau unlearn`: makes a trained model forget a class or a random part of its training
/// set (GA, GradDiff, NPO), optionally smoothing the forget loss (SAM, RS, GP, CR, WA) as
/// Fan et al. (ICML 2025) do to resist relearning.
struct UnlearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlearn",
        abstract: "Unlearn a forget set from a checkpoint (ga, graddiff, npo; smoothing none, sam, rs, gp, cr, wa).",
        discussion: """
            The forget set is class:K (every training sample of class K), class:K:F (a seeded fraction F of them) or \
            random:F (a seeded fraction F of the training set); the retain set is the rest. Each step descends \
            S[ℓ_f](θ) + γ·ℓ_r(θ) on a forget batch and a retain batch: ℓ_f = −CE (ga, graddiff) or NPO's \
            (2/β)·mean softplus(β(ℓ_ref − ℓ)) with the original model as reference; ℓ_r = CE; ga has γ = 0 unless given. \
            Smoothing acts on ℓ_f only, the retain gradient is always taken at θ: sam = ∇ℓ_f(θ + ρ·ĝ); rs = mean of \
            --rs-samples gradients at θ + N(0, ρ²I); gp = ∇ of ℓ_f + λ‖∇ℓ_f‖ (exact Hessian-vector product); cr = ∇ of \
            ℓ_f + λ‖∇ℓ_f(θ+ε) − ∇ℓ_f(θ)‖, ε = --cr-radius·ĝ held constant; wa = plain steps, output the average of the \
            last --wa-count weight snapshots taken every --wa-every steps. Writes OUTPUT/checkpoint.safetensors \
            (readable by plateau eval and plateau relearn) and OUTPUT/unlearn.json (forget spec, settings, accuracies \
            and membership-inference AUC before and after).
            Example: plateau unlearn runs/lenet/checkpoint-last.safetensors --forget class:7 --method npo --smoothing sam --rho 0.01 --target-forget-accuracy 0.05 --output runs/unlearn-sam
            """
    )

    @Argument(help: "A checkpoint written by `plateau train`.") var checkpoint: String
    @Option(parsing: .unconditional, help: "class:K, class:K:F or random:F.") var forget: String
    @Option(parsing: .unconditional, help: "ga, graddiff or npo.") var method: String = "npo"
    @Option(parsing: .unconditional, help: "none, sam, rs, gp, cr or wa (on the forget loss only).") var smoothing: String = "none"
    @Option(parsing: .unconditional, help: "SAM's radius ρ, or RS's noise σ.") var rho: Float = 0.01
    @Option(parsing: .unconditional, help: "NPO's β.") var beta: Float = 0.1
    @Option(parsing: .unconditional, help: "γ, the weight of the retain loss (default: 0 for ga, 1 otherwise).") var retainWeight: Float?
    @Option(parsing: .unconditional, help: "λ of gp (default 0.01) or cr (default 10).") var penalty: Float?
    @Option(parsing: .unconditional, help: "cr's finite-difference radius h (ε = h·ĝ).") var crRadius: Float = 0.01
    @Option(parsing: .unconditional, help: "rs's noise draws per step.") var rsSamples: Int = 3
    @Option(parsing: .unconditional, help: "wa's snapshot interval in steps.") var waEvery: Int = 5
    @Option(parsing: .unconditional, help: "wa's number of snapshots averaged (a trailing window).") var waCount: Int = 6
    @Option(parsing: .unconditional, help: "Maximum optimizer steps (default 200, or --epochs over the forget set).") var steps: Int?
    @Option(parsing: .unconditional, help: "Passes over the forget set instead of --steps.") var epochs: Int?
    @Option(parsing: .unconditional, help: "Stop at the first check whose forget-set accuracy is at or below this fraction.") var targetForgetAccuracy: Float?
    @Option(parsing: .unconditional, help: "Steps between checks of the forget-set accuracy.") var checkEvery: Int = 10
    @Option(parsing: .unconditional, help: "Forget samples a check measures (the first N of the forget set).") var checkSamples: Int = 1000
    @Option(parsing: .unconditional, help: "sgd or adam.") var optimizer: String = "sgd"
    @Option(parsing: .unconditional, help: "Learning rate.") var lr: Float = 0.01
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Float = 0.9
    @Option(parsing: .unconditional, help: "Forget samples per step.") var batchSize: Int = 32
    @Option(parsing: .unconditional, help: "Retain samples per step (default: --batch-size).") var retainBatchSize: Int?
    @Option(parsing: .unconditional, help: "Seed of the forget set's draw, the batch order and rs's noise.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Directory for checkpoint.safetensors and unlearn.json.") var output: String
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
    @Flag(help: "Print the unlearn.json object instead of a summary.") var json = false

    func validate() throws {
        guard UnlearningMethod(rawValue: method) != nil else {
            throw ValidationError("--method: expected one of \(UnlearningMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(method)'")
        }
        guard ["none", "sam", "rs", "gp", "cr", "wa"].contains(smoothing) else {
            throw ValidationError("--smoothing: expected one of none, sam, rs, gp, cr, wa, got '\(smoothing)'")
        }
        guard ["sgd", "adam"].contains(optimizer) else { throw ValidationError("--optimizer: expected sgd or adam, got '\(optimizer)'") }
        do { _ = try ForgetSpec(parsing: forget) } catch let error as ConfigurationError { throw ValidationError("--forget: \(error.message)") }
        guard steps == nil || epochs == nil else { throw ValidationError("--steps and --epochs: give one, not both") }
        try OptionCheck.count(steps, "steps", in: 1...10_000_000)
        try OptionCheck.count(epochs, "epochs", in: 1...100_000)
        try OptionCheck.count(rsSamples, "rs-samples", in: 1...1000)
        try OptionCheck.count(waEvery, "wa-every", in: 1...1_000_000)
        try OptionCheck.count(waCount, "wa-count", in: 1...10_000)
        try OptionCheck.count(checkEvery, "check-every", in: 1...1_000_000)
        try OptionCheck.count(checkSamples, "check-samples", in: 1...10_000_000)
        try OptionCheck.count(batchSize, "batch-size", in: 1...65536)
        try OptionCheck.count(retainBatchSize, "retain-batch-size", in: 1...65536)
        try OptionCheck.threads(threads)
        try OptionCheck.number(rho, "rho", atLeast: 0, strictly: smoothing == "sam" || smoothing == "rs")
        try OptionCheck.number(beta, "beta", atLeast: 0, strictly: true)
        try OptionCheck.number(lr, "lr", atLeast: 0, strictly: true)
        try OptionCheck.number(momentum, "momentum", atLeast: 0)
        guard momentum < 1 else { throw ValidationError("--momentum: expected a number in [0, 1), got \(momentum)") }
        try OptionCheck.number(crRadius, "cr-radius", atLeast: 0, strictly: true)
        if let retainWeight { try OptionCheck.number(retainWeight, "retain-weight", atLeast: 0) }
        if let penalty { try OptionCheck.number(penalty, "penalty", atLeast: 0) }
        if let targetForgetAccuracy, !(0...1).contains(targetForgetAccuracy) {
            throw ValidationError("--target-forget-accuracy: expected a fraction in [0, 1], got \(targetForgetAccuracy)")
        }
    }

    var smoothingValue: ForgetSmoothing {
        switch smoothing {
        case "sam": .sam(rho: rho)
        case "rs": .randomized(sigma: rho, samples: rsSamples)
        case "gp": .gradientPenalty(lambda: penalty ?? 0.01)
        case "cr": .curvature(lambda: penalty ?? 10, radius: crRadius)
        case "wa": .weightAveraging(every: waEvery, count: waCount)
        default: .none
        }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let method = UnlearningMethod(rawValue: method)!
        let spec = try ForgetSpec(parsing: forget)
        let url = URL(fileURLWithPath: checkpoint)
        let data: UnlearningData
        do {
            data = try UnlearningData(contentsOf: url, spec: spec, forgetSeed: seed, dataset: self.data.dataset, dataDirectory: self.data.dataDir)
        } catch let error as ConfigurationError where error.field == "forget" {
            throw ValidationError("--forget: \(error.message)")
        }
        let directory = URL(fileURLWithPath: output)
        let target = directory.appendingPathComponent("checkpoint.safetensors")
        guard target.standardizedFileURL.path != url.standardizedFileURL.path else {
            throw ValidationError("--output: \(output) holds the input checkpoint; choose another directory")
        }
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw RuntimeError("--output: cannot create \(output): \(error.localizedDescription)")
        }
        let forgetCount = data.forgetTrain.count
        let stepCount = steps ?? epochs.map { $0 * max(1, forgetCount / min(batchSize, forgetCount)) } ?? 200
        let gamma = retainWeight ?? method.defaultRetainWeight
        let result = try Parallelism.withThreads(threads) { () throws -> Report in
            func opened<M: Layer>(_ model: M) throws -> Report {
                switch optimizer {
                case "adam": try unlearn(model, data: data, method: method, gamma: gamma, steps: stepCount, base: Adam(learningRate: lr))
                default: try unlearn(model, data: data, method: method, gamma: gamma, steps: stepCount, base: SGD(learningRate: lr, momentum: momentum))
                }
            }
            return try opened(data.loaded.model)
        }
        try data.checkpoint(of: result.model).write(to: target)
        var object: [String: Any] = [
            "checkpoint": checkpoint, "forget": spec.description, "forget_samples": forgetCount, "retain_samples": data.retainTrain.count,
            "method": method.rawValue, "smoothing": smoothing, "beta": Double("\(beta)")!, "retain_weight": Double("\(gamma)")!,
            "optimizer": optimizer, "lr": Double("\(lr)")!, "batch_size": batchSize, "retain_batch_size": retainBatchSize ?? batchSize,
            "seed": seed, "max_steps": stepCount, "steps": result.outcome.steps, "reached_target": result.outcome.reachedTarget,
            "before": Self.fields(result.before), "after": Self.fields(result.after),
            "checks": result.outcome.checks.map { ["step": $0.step, "forget_accuracy": JSONNumbers.fraction($0.forgetAccuracy)] },
            "seconds": (result.seconds * 10).rounded() / 10,
        ]
        if optimizer == "sgd" { object["momentum"] = Double("\(momentum)")! }
        if let targetForgetAccuracy { object["target_forget_accuracy"] = Double("\(targetForgetAccuracy)")! }
        switch smoothingValue {
        case .sam(let r): object["rho"] = Double("\(r)")!
        case .randomized(let s, let n): object["sigma"] = Double("\(s)")!; object["rs_samples"] = n
        case .gradientPenalty(let l): object["penalty"] = Double("\(l)")!
        case .curvature(let l, let h): object["penalty"] = Double("\(l)")!; object["cr_radius"] = Double("\(h)")!
        case .weightAveraging(let every, let count): object["wa_every"] = every; object["wa_count"] = count; object["wa_averaged"] = result.outcome.averagedSnapshots
        case .none: break
        }
        let text = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try writeAtomically(text, to: directory.appendingPathComponent("unlearn.json"))
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            return
        }
        print("\(method.rawValue) + \(smoothing) on \(spec) (\(forgetCount) forget, \(data.retainTrain.count) retain samples): "
              + "\(result.outcome.steps) steps\(result.outcome.reachedTarget ? " (target reached)" : "")")
        for (name, e) in [("before", result.before), ("after", result.after)] {
            print(String(format: "  %@: forget test %@, retain test %.2f%%, forget train %.2f%%, membership AUC %@", name,
                         e.forgetTestAccuracy.map { String(format: "%.2f%%", $0 * 100) } ?? "–", e.retainTestAccuracy * 100,
                         e.forgetTrainAccuracy * 100, e.membershipAUC.map { String(format: "%.3f", $0) } ?? "–"))
        }
        print("wrote \(target.path)")
    }

    static func fields(_ e: UnlearningEvaluation) -> [String: Any] {
        var object: [String: Any] = ["retain_test_accuracy": JSONNumbers.fraction(e.retainTestAccuracy), "forget_train_accuracy": JSONNumbers.fraction(e.forgetTrainAccuracy)]
        if let a = e.forgetTestAccuracy { object["forget_test_accuracy"] = JSONNumbers.fraction(a) }
        if let auc = e.membershipAUC { object["membership_auc"] = (auc * 10_000).rounded() / 10_000 }
        return object
    }

    struct Report {
        var model: any Layer
        var outcome: UnlearningOutcome
        var before: UnlearningEvaluation
        var after: UnlearningEvaluation
        var seconds: Double
    }

    private func unlearn<M: Layer, Base: Optimizer>(
        _ model: M, data: UnlearningData, method: UnlearningMethod, gamma: Float, steps: Int, base: Base
    ) throws -> Report {
        let before = UnlearningEvaluation(model, on: data)
        let forgetSet = data.forgetSet
        let referenceLosses = UnlearningMetrics.sampleLosses(model, on: forgetSet)
        let unlearner = Unlearner(method: method, beta: beta, retainWeight: gamma, smoothing: smoothingValue, base: base, referenceLosses: referenceLosses, seed: seed)
        var loop = UnlearningLoop<M, Base>(
            unlearner: unlearner, forget: forgetSet, retain: data.retainSet, forgetBatchSize: batchSize, retainBatchSize: retainBatchSize ?? batchSize,
            steps: steps, learningRate: lr, seed: seed, targetForgetAccuracy: targetForgetAccuracy, checkEvery: checkEvery, checkSamples: checkSamples)
        var unlearned = model
        var progress = StepProgress(label: "unlearn \(method.rawValue)+\(smoothing)", quiet: json)
        let start = ContinuousClock.now
        let outcome = try loop.run(&unlearned, observer: &progress)
        let elapsed = (ContinuousClock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
        return Report(model: unlearned, outcome: outcome, before: before, after: UnlearningEvaluation(unlearned, on: data), seconds: seconds)
    }
}

/// Prints a loop's progress to standard error at every tenth of its steps.
struct StepProgress: LoopObserver {
    var label: String
    var quiet: Bool
    private var lastTenth = -1

    init(label: String, quiet: Bool) {
        self.label = label
        self.quiet = quiet
    }

    mutating func batchFinished(_ metrics: BatchMetrics, of batches: Int) {
        let tenth = metrics.batch * 10 / max(batches, 1)
        guard !quiet, tenth != lastTenth else { return }
        lastTenth = tenth
        FileHandle.standardError.write(Data(String(format: "%@: step %d/%d, loss %.4f, batch accuracy %.1f%%\n", label, metrics.batch, batches, metrics.loss, metrics.accuracy * 100).utf8))
    }
}
