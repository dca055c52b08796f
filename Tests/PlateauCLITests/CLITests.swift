import Foundation
import Testing

/// End-to-end tests of the `plateau` executable: they run the built binary as a user would
/// and check its output and exit status. Bad input must end in a clear message naming the
/// problem and a non-zero exit — never a crash.
@Suite struct CLITests {
    /// The `plateau` binary built beside the test bundle.
    static let binary: URL = {
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("plateau")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/plateau")
    }()

    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    static func run(_ arguments: [String], in directory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self), error: String(decoding: errData, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func helpListsTheSubcommands() throws {
        let result = try Self.run(["--help"])
        #expect(result.status == 0)
        for command in ["train", "eval", "adapt", "demo", "bench", "data"] {
            #expect(result.output.contains(command), "--help does not mention \(command)")
        }
    }

    @Test func trainHelpDocumentsTheOptimizerFlags() throws {
        let result = try Self.run(["train", "--help"])
        #expect(result.status == 0)
        for flag in ["--optimizer", "--rho", "--saf-lambda", "--saf-lag", "--label-noise", "--resume", "--config", "--schedule", "--overwrite", "--allow-changes"] {
            #expect(result.output.contains(flag), "train --help does not mention \(flag)")
        }
    }

    @Test(arguments: [
        (["train", "--optimizer", "bogus"], "optimizer"),
        (["train", "--epochs", "0"], "epochs"),
        (["train", "--schedule", "sometimes"], "schedule"),
        (["train", "--model", "lenet", "--dataset", "digits"], "28"),
        (["train", "--dataset", "/nonexistent/table.csv"], "/nonexistent/table.csv"),
        (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (["train", "--label-noise", "1.5"], "label-noise"),
        (["train", "--resume"], "--output"),
        (["eval", "/nonexistent/checkpoint.safetensors"], "checkpoint.safetensors"),
        (["bench", "--workloads", "nope"], "nope"),
        (["train", "--optimizer", "sam", "--rhoo", "0.1"], "did you mean --rho?"),
        (["train", "--optimizer", "sgd", "--rho", "0.1"], "an option of"),
        (["train", "--optimizer", "saf", "--saf-lag", "two"], "--saf-lag"),
        (["demo", "--optimizers", "sgd,foo"], "foo"),
        // Values that used to pass validation and then crash.
        (["train", "--lr", "-1"], "lr: expected a positive learning rate"),
        (["train", "--train-limit", "-1"], "train-limit"),
        (["compare", "--train-limit", "-1", "--output", "/tmp/plateau-never"], "train-limit"),
        (["train", "--weight-decay", "inf"], "weight-decay"),
        (["train", "--nesterov", "--momentum", "0"], "nesterov"),
        (["train", "--epochs", "3000000000"], "epochs"),
        (["train", "--schedule", "step", "--gamma", "nan"], "gamma"),
        (["train", "--optimizer", "asam", "--eta", "-1"], "eta"),
        (["train", "--optimizer", "gsam", "--rho-min", "nan"], "rho-min"),
    ])
    func badInputFailsWithAMessage(arguments: [String], mentions: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status != 0, "\(arguments) should fail")
        #expect(result.status < 128, "\(arguments) crashed with status \(result.status)")
        #expect((result.error + result.output).contains(mentions), "\(arguments): message does not mention \(mentions): \(result.error)")
    }

    @Test func corruptCheckpointIsRejectedNamingTheFile() throws {
        let directory = try Self.temporaryDirectory()
        let file = directory.appendingPathComponent("broken.safetensors")
        try Data([0x10, 0, 0, 0, 0, 0, 0, 0] + Array("{\"a\":".utf8)).write(to: file)
        let result = try Self.run(["eval", file.path])
        #expect(result.status != 0 && result.status < 128)
        #expect(result.error.contains("broken.safetensors"), "\(result.error)")
    }

    @Test func unwritableOutputDirectoryIsReported() throws {
        let result = try Self.run(["train", "--epochs", "1", "--output", "/proc/plateau-run"])
        #expect(result.status != 0 && result.status < 128)
        #expect(result.error.contains("/proc/plateau-run"), "\(result.error)")
    }

    /// A short run on the embedded digits writes the promised files, `eval` reads its
    /// checkpoint back with the accuracy the run reported, and a resumed run continues.
    @Test func trainEvalResumeRoundTrip() throws {
        let directory = try Self.temporaryDirectory()
        let run = directory.appendingPathComponent("run")
        let trained = try Self.run(["train", "--epochs", "2", "--batch-size", "64", "--output", run.path, "--seed", "3"])
        #expect(trained.status == 0, "\(trained.error)")
        for file in ["config.json", "metrics.jsonl", "metrics.csv", "checkpoint-last.safetensors", "checkpoint-best.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "missing \(file)")
        }
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let last = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        let evaluated = try Self.run(["eval", run.appendingPathComponent("checkpoint-last.safetensors").path, "--json"])
        #expect(evaluated.status == 0, "\(evaluated.error)")
        let json = try JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as! [String: Any]
        let accuracy = json["accuracy"] as! Double
        // `--json` rounds accuracies to 4 decimal places; metrics.jsonl keeps the float.
        #expect(abs(accuracy - (last["test_accuracy"] as! Double)) <= 5e-5 + 1e-7)
        #expect((accuracy * 10_000).rounded() / 10_000 == accuracy)
        let printed = evaluated.output.split(separator: "\"accuracy\":").last?.prefix { $0 != "," && $0 != "}" } ?? ""
        #expect(printed.count <= 6, "accuracy printed as \(printed)")
        #expect(json["samples"] as? Int == 360)

        let resumed = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "3"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("resuming after epoch 2"))
        let after = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(after.count == 3)
    }

    /// A resume with fewer epochs than the run has done is refused before anything is
    /// written (it used to crash after rewriting config.json, and every later resume too).
    @Test func resumeWithFewerEpochsIsRefusedAndTheRunStaysResumable() throws {
        let run = try Self.temporaryDirectory().appendingPathComponent("run")
        #expect(try Self.run(["train", "--epochs", "2", "--output", run.path]).status == 0)
        let config = try Data(contentsOf: run.appendingPathComponent("config.json"))
        let fewer = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "1"])
        #expect(fewer.status == 64, "status \(fewer.status): \(fewer.error)")
        #expect(fewer.error.contains("2 epochs done"), "\(fewer.error)")
        #expect(try Data(contentsOf: run.appendingPathComponent("config.json")) == config, "config.json was rewritten")
        let more = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "3"])
        #expect(more.status == 0, "\(more.error)")
        #expect(more.output.contains("resuming after epoch 2"))
    }

    /// A resume that changes the run's settings names them and needs --allow-changes;
    /// epochs (growing), threads and the TensorBoard interval may change.
    @Test func resumeWithChangedSettingsNeedsAllowChanges() throws {
        let run = try Self.temporaryDirectory().appendingPathComponent("run")
        #expect(try Self.run(["train", "--epochs", "1", "--optimizer", "sam", "--output", run.path]).status == 0)
        let config = try Data(contentsOf: run.appendingPathComponent("config.json"))
        let changed = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "2", "--lr", "0.1", "--rho", "0.2"])
        #expect(changed.status == 64, "status \(changed.status): \(changed.error)")
        for text in ["config.json", "--lr 0.05 → 0.1", "--rho 0.05 → 0.2", "--allow-changes"] {
            #expect(changed.error.contains(text), "\(changed.error) does not mention \(text)")
        }
        #expect(try Data(contentsOf: run.appendingPathComponent("config.json")) == config, "config.json was rewritten")
        let same = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "2", "--threads", "1", "--tensorboard-interval", "0"])
        #expect(same.status == 0, "\(same.error)")
        let allowed = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "3", "--lr", "0.1", "--allow-changes"])
        #expect(allowed.status == 0, "\(allowed.error)")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as? [String: Any]
        #expect(saved?["lr"] as? Double == 0.1)
    }

    /// Training into a directory that holds a run is refused unless --resume or
    /// --overwrite; --overwrite removes the old run's files and nothing else.
    @Test func trainingOverAnExistingRunNeedsOverwrite() throws {
        let run = try Self.temporaryDirectory().appendingPathComponent("run")
        #expect(try Self.run(["train", "--epochs", "1", "--output", run.path]).status == 0)
        let notes = run.appendingPathComponent("notes.txt")
        try Data("mine".utf8).write(to: notes)
        let metrics = try Data(contentsOf: run.appendingPathComponent("metrics.jsonl"))
        let again = try Self.run(["train", "--epochs", "2", "--output", run.path])
        #expect(again.status == 64, "status \(again.status): \(again.error)")
        for text in [run.path, "already holds a run", "--resume", "--overwrite"] {
            #expect(again.error.contains(text), "\(again.error) does not mention \(text)")
        }
        #expect(try Data(contentsOf: run.appendingPathComponent("metrics.jsonl")) == metrics, "the old run was touched")
        #expect(try Self.run(["train", "--output", run.path, "--resume", "--overwrite"]).status == 64)

        func eventFiles() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.hasPrefix("events.out.tfevents.") } }
        #expect(try eventFiles().count == 1)
        Thread.sleep(forTimeInterval: 1.1)  // event files are named by the second
        let replaced = try Self.run(["train", "--epochs", "2", "--output", run.path, "--overwrite", "--tensorboard-interval", "0"])
        #expect(replaced.status == 0, "\(replaced.error)")
        #expect(try eventFiles().isEmpty, "the old run's event file was kept")
        #expect(FileManager.default.fileExists(atPath: notes.path), "--overwrite removed a file that is not the run's")
        let rows = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 2)
    }

    /// Without --output a run goes into a fresh runs/<model>-<method>-<yyyymmdd>-<n>.
    @Test func trainingWithoutOutputWritesIntoAFreshRunDirectory() throws {
        let directory = try Self.temporaryDirectory()
        let first = try Self.run(["train", "--epochs", "1", "--tensorboard-interval", "0"], in: directory)
        #expect(first.status == 0, "\(first.error)")
        let second = try Self.run(["train", "--epochs", "1", "--optimizer", "sam", "--tensorboard-interval", "0"], in: directory)
        #expect(second.status == 0, "\(second.error)")
        let third = try Self.run(["train", "--epochs", "1", "--tensorboard-interval", "0"], in: directory)
        #expect(third.status == 0, "\(third.error)")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("runs").path).sorted()
        #expect(names.count == 3, "\(names)")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        let today = formatter.string(from: Date())
        #expect(names == ["mlp-sam-\(today)-1", "mlp-sgd-\(today)-1", "mlp-sgd-\(today)-2"], "\(names)")
        #expect(first.output.contains("runs/mlp-sgd-\(today)-1"), "\(first.output)")
        #expect(third.output.contains("runs/mlp-sgd-\(today)-2"), "\(third.output)")
        for name in names {
            let run = directory.appendingPathComponent("runs").appendingPathComponent(name)
            for file in ["config.json", "metrics.jsonl", "checkpoint-last.safetensors"] {
                #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(name) has no \(file)")
            }
        }
        // A run that fails before writing anything leaves no directory behind.
        #expect(try Self.run(["train", "--model", "lenet"], in: directory).status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("runs").path).count == 3)
        let empty = try Self.temporaryDirectory()
        #expect(try Self.run(["train", "--model", "lenet"], in: empty).status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).isEmpty, "runs/ was left behind")
    }

    /// A run directory is locked while training: a second training there fails naming the
    /// process; a lock whose process is gone is taken over with a message and removed at the end.
    @Test func runDirectoryIsLockedWhileTraining() throws {
        let run = try Self.temporaryDirectory().appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let lock = run.appendingPathComponent(".lock")
        // A live process holds it: this test's.
        let live = ProcessInfo.processInfo.processIdentifier
        try Data("\(live)\n".utf8).write(to: lock)
        let busy = try Self.run(["train", "--epochs", "1", "--output", run.path])
        #expect(busy.status == 1, "status \(busy.status): \(busy.error)")
        #expect(busy.error.contains("in use by process \(live)"), "\(busy.error)")
        #expect(busy.error.contains(".lock"), "\(busy.error)")
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("config.json").path))

        // Two real trainings: the second stops, naming the first.
        try FileManager.default.removeItem(at: lock)
        let shared = run.deletingLastPathComponent().appendingPathComponent("shared")
        let first = Process()
        first.executableURL = Self.binary
        first.arguments = ["train", "--epochs", "1000", "--tensorboard-interval", "0", "--output", shared.path]
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        // SIGKILL: a process spawned here may have SIGTERM blocked.
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        let sharedLock = shared.appendingPathComponent(".lock")
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: sharedLock.path) { Thread.sleep(forTimeInterval: 0.1) }
        let second = try Self.run(["train", "--epochs", "1", "--output", shared.path, "--overwrite"])
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(second.status == 1, "status \(second.status): \(second.error)")
        #expect(second.error.contains("in use by process \(first.processIdentifier)"), "\(second.error)")

        // A process that has exited: its lock is stale.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/true")
        try holder.run()
        holder.waitUntilExit()
        try Data("\(holder.processIdentifier)\n".utf8).write(to: lock)
        let taken = try Self.run(["train", "--epochs", "1", "--output", run.path])
        #expect(taken.status == 0, "\(taken.error)")
        #expect(taken.output.contains("stale lock") && taken.output.contains("\(holder.processIdentifier)"), "\(taken.output)")
        #expect(!FileManager.default.fileExists(atPath: lock.path), "the lock was left behind")
    }

    /// --resume where there is nothing to resume says so and how to start, instead of
    /// "file doesn't exist", and creates nothing.
    @Test func resumeWithNothingToResumeSaysHowToStart() throws {
        let directory = try Self.temporaryDirectory()
        let empty = directory.appendingPathComponent("empty"), missing = directory.appendingPathComponent("missing")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        for run in [empty, missing] {
            let result = try Self.run(["train", "--output", run.path, "--resume"])
            #expect(result.status == 64, "status \(result.status): \(result.error)")
            for text in ["nothing to resume in \(run.path)", "no config.json", "plateau train --output \(run.path)"] {
                #expect(result.error.contains(text), "\(result.error) does not mention \(text)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: missing.path), "--resume created the directory")
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).isEmpty)

        // A run that was started but has no checkpoint yet.
        let started = directory.appendingPathComponent("started")
        try FileManager.default.createDirectory(at: started, withIntermediateDirectories: true)
        try Data("{\"epochs\": 2}".utf8).write(to: started.appendingPathComponent("config.json"))
        let result = try Self.run(["train", "--output", started.path, "--resume"])
        #expect(result.status == 64, "status \(result.status): \(result.error)")
        for text in ["nothing to resume in \(started.path)", "no checkpoint yet", "--overwrite"] {
            #expect(result.error.contains(text), "\(result.error) does not mention \(text)")
        }
        #expect(!result.error.contains("doesn’t exist") && !result.error.contains("doesn't exist"), "\(result.error)")
    }

    /// Label noise is saved with the run (which samples were corrupted), so runs compare.
    @Test func labelNoiseIsSavedWithTheRun() throws {
        let run = try Self.temporaryDirectory().appendingPathComponent("noisy")
        let result = try Self.run(["train", "--epochs", "1", "--label-noise", "0.25", "--output", run.path])
        #expect(result.status == 0, "\(result.error)")
        let data = try Data(contentsOf: run.appendingPathComponent("label-noise.json"))
        let saved = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let flipped = saved["flipped"] as! [Int]
        #expect(flipped.count == 359)  // round(0.25 × 1,437)
        #expect((saved["labels"] as! [Int]).count == 1437)
    }

    /// The analysis commands on a short digits run: `sharpness` prints the promised JSON
    /// keys, `landscape` writes its CSV and SVG, and `compare` writes its reports and skips
    /// a finished run when called again.
    @Test func analysisCommandsEndToEnd() throws {
        let directory = try Self.temporaryDirectory()
        let run = directory.appendingPathComponent("run")
        #expect(try Self.run(["train", "--epochs", "1", "--output", run.path]).status == 0)
        let checkpoint = run.appendingPathComponent("checkpoint-last.safetensors").path

        let sharpness = try Self.run(["sharpness", checkpoint, "--samples", "64", "--metrics", "eigen,trace,rho", "--max-iterations", "5", "--json"])
        #expect(sharpness.status == 0, "\(sharpness.error)")
        let object = try JSONSerialization.jsonObject(with: Data(sharpness.output.split(separator: "\n").last!.utf8)) as! [String: Any]
        for key in ["eigenvalues", "trace", "rho_sharpness", "samples"] { #expect(object[key] != nil, "missing \(key)") }
        #expect((object["rho_sharpness"] as! Double) >= 0)
        // `bn_mode` is spelled as the --bn-mode flag takes it (it said "evaluation").
        #expect(object["bn_mode"] as? String == "eval")
        let trainMode = try Self.run(["sharpness", checkpoint, "--samples", "64", "--metrics", "rho", "--bn-mode", "train", "--json"])
        let trainObject = try JSONSerialization.jsonObject(with: Data(trainMode.output.split(separator: "\n").last!.utf8)) as! [String: Any]
        #expect(trainObject["bn_mode"] as? String == "train")
        // Issue 17's diagnostics on the same checkpoint (an MLP: per-layer groups, ReLU units).
        let diagnostics = try Self.run(["sharpness", checkpoint, "--samples", "32", "--metrics", "blocks,sparsity,weightnorm,noise,ntk",
                                        "--max-iterations", "3", "--noise-sigmas", "0,0.05", "--noise-draws", "1", "--ntk-samples", "8", "--json"])
        #expect(diagnostics.status == 0, "\(diagnostics.error)")
        let diagnosed = try JSONSerialization.jsonObject(with: Data(diagnostics.output.split(separator: "\n").last!.utf8)) as! [String: Any]
        #expect(diagnosed["block_names"] as? [String] == ["layers.0", "layers.1", "layers.2"])
        #expect((diagnosed["active_fraction"] as? [String: Double])?.count == 2)
        #expect((diagnosed["weight_norm"] as? Double ?? 0) > 0)
        #expect((diagnosed["noise_loss"] as? [Double])?.first == diagnosed["loss"] as? Double)
        #expect(diagnosed["ntk_samples"] as? Int == 8)
        #expect(diagnosed["ntk_condition_number"] != nil)

        let output = directory.appendingPathComponent("line").path
        let landscape = try Self.run(["landscape", checkpoint, "--samples", "64", "--dims", "1", "--grid", "5", "--output", output, "--quiet"])
        #expect(landscape.status == 0, "\(landscape.error)")
        let csv = try String(contentsOfFile: output + ".csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 6)  // header + 5 points
        #expect(try String(contentsOfFile: output + ".svg", encoding: .utf8).contains("<svg"))

        let comparison = directory.appendingPathComponent("compare")
        let arguments = ["compare", "--optimizers", "sgd,sam", "--model", "mlp", "--dataset", "digits", "--epochs", "1", "--seeds", "1",
                         "--sharpness-samples", "64", "--eigen-iterations", "3", "--landscape-points", "5", "--output", comparison.path]
        let first = try Self.run(arguments)
        #expect(first.status == 0, "\(first.error)")
        let html = try String(contentsOf: comparison.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("sam") && html.contains("sgd"))
        #expect(FileManager.default.fileExists(atPath: comparison.appendingPathComponent("report.md").path))
        let metrics = comparison.appendingPathComponent("sgd-seed0/metrics.jsonl")
        let before = try FileManager.default.attributesOfItem(atPath: metrics.path)[.modificationDate] as! Date
        #expect(try Self.run(arguments).status == 0)
        let after = try FileManager.default.attributesOfItem(atPath: metrics.path)[.modificationDate] as! Date
        #expect(before == after, "a finished run was trained again")
    }

    @Test func configFileIsAcceptedBack() throws {
        let directory = try Self.temporaryDirectory()
        let first = directory.appendingPathComponent("a"), second = directory.appendingPathComponent("b")
        #expect(try Self.run(["train", "--epochs", "1", "--optimizer", "sam", "--rho", "0.07", "--output", first.path]).status == 0)
        let again = try Self.run(["train", "--config", first.appendingPathComponent("config.json").path, "--output", second.path])
        #expect(again.status == 0, "\(again.error)")
        let a = try String(contentsOf: first.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let b = try String(contentsOf: second.appendingPathComponent("metrics.csv"), encoding: .utf8)
        // Same configuration and seed: the same numbers (timings aside).
        func numbers(_ csv: String) -> [String] { csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",").prefix(6).joined(separator: ",") } }
        #expect(numbers(a) == numbers(b))
        // The method's options are written with the flags' names, defaults resolved.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: first.appendingPathComponent("config.json"))) as? [String: Any]
        #expect(config?["rho"] as? Double == 0.07)
    }

    @Test func identicalRunsWriteByteIdenticalFiles() throws {
        // Two processes, the same run (same relative --output, so the same config): the
        // checkpoints' metadata JSON must not follow the process's dictionary order.
        let first = try Self.temporaryDirectory(), second = try Self.temporaryDirectory()
        defer { for d in [first, second] { try? FileManager.default.removeItem(at: d) } }
        let arguments = ["train", "--epochs", "1", "--optimizer", "esam", "--label-noise", "0.2", "--output", "run"]
        #expect(try Self.run(arguments, in: first).status == 0)
        #expect(try Self.run(arguments, in: second).status == 0)
        for file in ["checkpoint-last.safetensors", "checkpoint-best.safetensors", "label-noise.json", "config.json"] {
            let a = try Data(contentsOf: first.appendingPathComponent("run/\(file)"))
            let b = try Data(contentsOf: second.appendingPathComponent("run/\(file)"))
            #expect(a == b, "\(file) differs between identical runs")
        }
    }

    @Test func extremeButValidValuesTrain() throws {
        // An infinite clipping norm means no clipping; a batch larger than the dataset is one
        // step per epoch (its step count must not overflow).
        for arguments in [["--max-grad-norm", "inf"], ["--batch-size", "9223372036854775807"]] {
            let result = try Self.run(["train", "--epochs", "1", "--train-limit", "200"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.error)")
        }
    }

    @Test func methodsListsEveryMethodWithItsOptions() throws {
        let result = try Self.run(["methods"])
        #expect(result.status == 0)
        for text in ["sgd", "sam", "esam", "--esam-beta", "saf", "--saf-lag", "mesa", "--ema-decay"] {
            #expect(result.output.contains(text), "methods does not mention \(text)")
        }
    }

    @Test func evalStreamsPerBatchMetrics() throws {
        let directory = try Self.temporaryDirectory()
        #expect(try Self.run(["train", "--epochs", "1", "--output", directory.path]).status == 0)
        let result = try Self.run(["eval", directory.appendingPathComponent("checkpoint-last.safetensors").path, "--stream-batch-size", "100", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 4, "360 test samples in batches of 100")
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any]
        #expect(last?["samples"] as? Int == 60)
        #expect(last?["cumulative_accuracy"] != nil)
        // Batches of 70: accuracies such as 59/70 are rounded to 4 decimals, as in every --json.
        let sevens = try Self.run(["eval", directory.appendingPathComponent("checkpoint-last.safetensors").path, "--stream-batch-size", "70", "--json"])
        for line in sevens.output.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["accuracy", "cumulative_accuracy"] {
                let value = try #require(object[key] as? Double)
                #expect(abs((value * 10_000).rounded() / 10_000 - value) < 1e-7, "\(key) \(value) in \(line)")
            }
        }
    }

    @Test func demoPrintsTheComparisonTable() throws {
        let result = try Self.run(["demo", "--epochs", "1", "--hessian-iterations", "2", "--optimizers", "sgd,sam,saf"])
        #expect(result.status == 0, "\(result.error)")
        for method in ["sgd", "sam", "saf"] { #expect(result.output.contains("\n" + method)) }
        #expect(result.output.contains("top Hessian eigenvalue"))
    }

    /// `demo --json`: accuracies rounded to 4 decimal places, no float noise such as
    /// 0.9722222089767456, and the per-step time named `ms_per_step` as in metrics files.
    @Test func demoJSONRoundsAccuracies() throws {
        let result = try Self.run(["demo", "--epochs", "1", "--hessian-iterations", "0", "--optimizers", "sgd", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let line = try #require(result.output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let accuracy = try #require(object["test_accuracy"] as? Double)
        #expect((accuracy * 10_000).rounded() / 10_000 == accuracy)
        let text = try #require(line.split(separator: "\"test_accuracy\":").last?.prefix { $0 != "," && $0 != "}" })
        #expect(text.count <= 6, "\(text)")
        #expect(object["ms_per_step"] != nil)
    }

    /// Not a terminal (this pipe): besides the epoch lines, a plain progress line at most
    /// every --progress-interval seconds, with the epoch, step, loss and the time left; none
    /// with 0 (as before, and as a run shorter than the default 10 s shows).
    @Test func trainPrintsProgressLinesIntoAPipe() throws {
        let directory = try Self.temporaryDirectory()
        let often = try Self.run(["train", "--epochs", "2", "--output", directory.appendingPathComponent("a").path, "--progress-interval", "0.000001"])
        #expect(often.status == 0, "\(often.error)")
        let lines = often.output.split(separator: "\n").filter { $0.hasPrefix("epoch ") && $0.contains(" ETA ") }
        #expect(lines.count >= 20, "a line per step of the 2 × 12 steps: \(often.output)")
        #expect(lines.first?.hasPrefix("epoch 1/2  1/12 loss ") == true && lines.last?.hasPrefix("epoch 2/2 12/12 ") == true, "\(lines)")
        #expect(!often.output.contains("\u{1B}") && !often.output.contains("\r"), "no terminal control in a pipe")
        let never = try Self.run(["train", "--epochs", "1", "--output", directory.appendingPathComponent("b").path, "--progress-interval", "0"])
        #expect(never.status == 0 && !never.output.contains(" ETA "), "\(never.output)")
        let bad = try Self.run(["train", "--epochs", "1", "--output", directory.appendingPathComponent("c").path, "--progress-interval", "-1"])
        #expect(bad.status != 0 && bad.error.contains("--progress-interval"), "\(bad.error)")
    }
}
