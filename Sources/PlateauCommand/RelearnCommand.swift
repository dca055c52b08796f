import ArgumentParser
import Foundation
import Plateau

/// `plateau relearn`: the relearning attack on unlearned checkpoints — plain SGD on a few
/// forget samples, with the forget accuracy after every step — and the curves side by side.
struct RelearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relearn",
        abstract: "Relearning attack: fine-tune unlearned checkpoints on N forget samples and record the forget accuracy per step.",
        discussion: """
            Each checkpoint's forget set is read from the unlearn.json beside it (or given with --forget and \
            --forget-seed). The attack draws --samples of the forget set's training samples (seeded by --seed, the same \
            samples for checkpoints with the same forget set) and takes --steps plain SGD steps (no momentum) of \
            cross-entropy on batches of them; after every step it measures the accuracy on the forgotten class's test \
            images (for a random:F forget set, on the forget samples the attack did not use). Several checkpoints give \
            one chart; checkpoints sharing a label (seeds of one method) are drawn as their mean with a ±1 std band. \
            --output writes relearn.json, relearn.svg and relearn.html.
            Example: plateau relearn runs/unlearn-npo/checkpoint.safetensors runs/unlearn-sam/checkpoint.safetensors --labels npo,npo+sam --samples 100 --steps 100 --output runs/relearn
            """
    )

    @Argument(help: "Checkpoints written by `plateau unlearn`.") var checkpoints: [String]
    @Option(parsing: .unconditional, help: "Comma-separated labels, one per checkpoint (default: each checkpoint's directory name).") var labels: String?
    @Option(parsing: .unconditional, help: "Forget samples the attack trains on.") var samples: Int = 100
    @Option(parsing: .unconditional, help: "Attack steps.") var steps: Int = 100
    @Option(parsing: .unconditional, help: "Learning rate of the attack's SGD.") var lr: Float = 0.01
    @Option(parsing: .unconditional, help: "Samples per attack step (at most --samples).") var batchSize: Int = 32
    @Option(parsing: .unconditional, help: "Seed of the attack samples' draw and order.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "The forget set (default: from unlearn.json beside each checkpoint).") var forget: String?
    @Option(parsing: .unconditional, help: "The seed that drew a fractional forget set (default: from unlearn.json, else 0).") var forgetSeed: UInt64?
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Directory for relearn.json, relearn.svg and relearn.html.") var output: String?
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !checkpoints.isEmpty else { throw ValidationError("expected at least one checkpoint") }
        try OptionCheck.count(samples, "samples", in: 1...10_000_000)
        try OptionCheck.count(steps, "steps", in: 1...1_000_000)
        try OptionCheck.count(batchSize, "batch-size", in: 1...65536)
        try OptionCheck.threads(threads)
        try OptionCheck.number(lr, "lr", atLeast: 0, strictly: true)
        if let forget {
            do { _ = try ForgetSpec(parsing: forget) } catch let error as ConfigurationError { throw ValidationError("--forget: \(error.message)") }
        }
        if let labels, labelList(labels).count != checkpoints.count {
            throw ValidationError("--labels: expected \(checkpoints.count) comma-separated labels (one per checkpoint), got \(labelList(labels).count)")
        }
    }

    private func labelList(_ text: String) -> [String] { text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }

    /// The forget spec and seed of `url`'s unlearning: the options, else its unlearn.json.
    private func forgetSetting(of url: URL) throws -> (ForgetSpec, UInt64) {
        let file = url.deletingLastPathComponent().appendingPathComponent("unlearn.json")
        var recorded: [String: Any] = [:]
        if let bytes = FileManager.default.contents(atPath: file.path) {
            guard let object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else {
                throw RuntimeError("\(file.path): not a JSON object (expected the unlearn.json written by plateau unlearn)")
            }
            recorded = object
        }
        let text: String
        if let forget { text = forget } else {
            guard let value = recorded["forget"] else {
                throw ValidationError("--forget: \(url.path) has no unlearn.json beside it naming its forget set; give --forget (e.g. class:7)")
            }
            guard let string = value as? String else { throw RuntimeError("\(file.path): field forget: expected a string like class:7, found \(value)") }
            text = string
        }
        let spec: ForgetSpec
        do { spec = try ForgetSpec(parsing: text) } catch let error as ConfigurationError {
            throw RuntimeError("\(forget == nil ? file.path + ": field forget" : "--forget"): \(error.message)")
        }
        let recordedSeed = (recorded["seed"] as? NSNumber).map { $0.uint64Value }
        return (spec, forgetSeed ?? recordedSeed ?? 0)
    }

    struct Run {
        var label: String
        var checkpoint: String
        var spec: ForgetSpec
        var measured: String
        var curve: RelearningCurve
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let names = labels.map(labelList) ?? checkpoints.map { URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent }
        var runs: [Run] = []
        for (path, label) in zip(checkpoints, names) {
            let url = URL(fileURLWithPath: path)
            let (spec, forgetSeed) = try forgetSetting(of: url)
            let data: UnlearningData
            do {
                data = try UnlearningData(contentsOf: url, spec: spec, forgetSeed: forgetSeed, dataset: self.data.dataset, dataDirectory: self.data.dataDir)
            } catch let error as ConfigurationError where error.field == "forget" {
                throw RuntimeError("\(path): \(error.message)")
            }
            let forgetSet = data.forgetSet
            guard samples <= forgetSet.count else {
                throw ValidationError("--samples: expected at most the \(forgetSet.count) samples of \(path)'s forget set (\(spec)), got \(samples)")
            }
            let chosen = Array(Batches.permutation(count: forgetSet.count, seed: seed, epoch: 0).prefix(samples)).sorted()
            let attackSet = forgetSet.subset(chosen, name: "attack")
            let measured: Dataset, description: String
            if spec.forgetClass != nil {
                measured = data.forgetTestSet
                description = "class \(spec.forgetClass!) test images (\(measured.count))"
            } else {
                let used = Set(chosen)
                measured = forgetSet.subset(forgetSet.labels.indices.filter { !used.contains($0) }, name: "forget-unused")
                description = "forget samples not used by the attack (\(measured.count))"
            }
            guard measured.count > 0 else {
                throw ValidationError("--samples: the attack uses all \(forgetSet.count) forget samples, leaving none to measure; use fewer")
            }
            let curve = try Parallelism.withThreads(threads) { () throws -> RelearningCurve in
                func opened<M: Layer>(_ model: M) throws -> RelearningCurve {
                    var attacked = model
                    var attack = RelearningAttack<M>(
                        attackSet: attackSet, measured: measured, retainTest: data.retainTestSet, steps: steps, batchSize: min(batchSize, samples),
                        learningRate: lr, seed: seed)
                    var quiet = QuietLoopObserver()
                    return try attack.run(&attacked, observer: &quiet)
                }
                return try opened(data.loaded.model)
            }
            runs.append(Run(label: label, checkpoint: path, spec: spec, measured: description, curve: curve))
            if !json {
                let at = Set([10, 50, 100, steps]).sorted().compactMap { step in curve.accuracy(after: step).map { String(format: "%.1f%% after %d", $0 * 100, step) } }
                print(String(format: "%@: forget accuracy %.1f%% before, %@ steps; retain %.1f%% → %.1f%%", label, curve.forgetAccuracy[0] * 100,
                             at.joined(separator: ", "),
                             (curve.retainAccuracyBefore ?? 0) * 100, (curve.retainAccuracyAfter ?? 0) * 100))
            }
        }
        let object = report(runs)
        if json { print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)) }
        if let output {
            let directory = URL(fileURLWithPath: output)
            do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw RuntimeError("--output: cannot create \(output): \(error.localizedDescription)")
            }
            var entries: [RelearningReport.Entry] = []
            for run in runs {
                if let index = entries.firstIndex(where: { $0.label == run.label }) { entries[index].curves.append(run.curve) } else {
                    entries.append(RelearningReport.Entry(label: run.label, curves: [run.curve]))
                }
            }
            let report = RelearningReport(
                entries: entries, note: "Plain SGD on \(samples) forget samples, \(steps) steps, lr \(lr), batch \(min(batchSize, samples)), seed \(seed); measured on \(runs[0].measured).")
            try writeAtomically(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), to: directory.appendingPathComponent("relearn.json"))
            try writeAtomically(Data(report.svg.utf8), to: directory.appendingPathComponent("relearn.svg"))
            try writeAtomically(Data(report.html.utf8), to: directory.appendingPathComponent("relearn.html"))
            if !json { print("wrote \(directory.appendingPathComponent("relearn.html").path)") }
        }
    }

    private func report(_ runs: [Run]) -> [String: Any] {
        [
            "attack": ["samples": samples, "steps": steps, "lr": Double("\(lr)")!, "batch_size": min(batchSize, samples), "seed": seed, "optimizer": "sgd"],
            "runs": runs.map { run -> [String: Any] in
                var fields: [String: Any] = [
                    "label": run.label, "checkpoint": run.checkpoint, "forget": run.spec.description, "measured": run.measured,
                    "forget_accuracy": run.curve.forgetAccuracy.map { JSONNumbers.fraction($0) },
                    "attack_loss": run.curve.attackLoss.map { Double("\($0)")! },
                ]
                for step in [10, 50, 100] { if let a = run.curve.accuracy(after: step) { fields["after_\(step)"] = JSONNumbers.fraction(a) } }
                if let r = run.curve.retainAccuracyBefore { fields["retain_before"] = JSONNumbers.fraction(r) }
                if let r = run.curve.retainAccuracyAfter { fields["retain_after"] = JSONNumbers.fraction(r) }
                return fields
            },
        ]
    }
}
