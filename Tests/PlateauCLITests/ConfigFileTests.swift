import Foundation
import Testing

/// Issue 10: configuration keys are the flags' names, `--config` reads YAML, and
/// `--print-config` prints what a run would use.
extension CLITests {
    @Test(arguments: ["json", "yaml"])
    func printConfigPrintsEverythingWritesNothingAndReadsBack(format: String) throws {
        let directory = try Self.temporaryDirectory()
        let printed = try Self.run(["train", "--optimizer", "saf", "--lr", "0.1", "--print-config", format, "--saf-lambda", "0.5"], in: directory)
        #expect(printed.status == 0, "\(printed.error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "--print-config wrote files")
        // The method's options with their defaults, and the flags given.
        for text in ["saf-tau", "saf-lag", "saf-start", "max-grad-norm", "train-limit"] {
            #expect(printed.output.contains(text), "\(text) missing:\n\(printed.output)")
        }
        let file = directory.appendingPathComponent("printed.\(format)")
        try printed.output.write(to: file, atomically: true, encoding: .utf8)
        let again = try Self.run(["train", "--config", file.path, "--print-config", format], in: directory)
        #expect(again.status == 0, "\(again.error)")
        #expect(again.output == printed.output)
        #expect(again.output.contains(format == "json" ? #""lr" : 0.1"# : "lr: 0.1"), "\(again.output)")
        #expect(again.output.contains(format == "json" ? #""saf-lambda" : 0.5"# : "saf-lambda: 0.5"), "\(again.output)")
    }

    /// One spelling: every key `--print-config` writes is a flag of `train --help`.
    @Test func everyConfigurationKeyIsATrainFlag() throws {
        let help = try Self.run(["train", "--help"]).output
        let printed = try Self.run(["train", "--optimizer", "mesa", "--print-config", "yaml"])
        #expect(printed.status == 0, "\(printed.error)")
        let keys = printed.output.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: ":").first.map(String.init) }
        #expect(keys.count > 30)
        for key in keys {
            #expect([" ", "\n", ",", "/"].contains { help.contains("--\(key)\($0)") }, "no flag --\(key) in train --help")
        }
    }

    @Test func aMistypedKeyIsAnErrorNamingTheNearestKey() throws {
        let file = try Self.temporaryDirectory().appendingPathComponent("run.yaml")
        try "epochs: 3\nbatchsize: 4\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Self.run(["train", "--config", file.path])
        #expect(result.status == 1, "\(result.error)")
        #expect(result.error.contains("\(file.path):2: unknown key 'batchsize', did you mean 'batch-size'?"), "\(result.error)")
    }

    /// The README's YAML example is a configuration `--config` accepts.
    @Test func theReadmesYAMLExampleIsAccepted() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let blocks = text.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(!blocks.isEmpty, "README.md has no YAML example")
        for block in blocks {
            let file = try Self.temporaryDirectory().appendingPathComponent("example.yaml")
            try block.write(to: file, atomically: true, encoding: .utf8)
            let result = try Self.run(["train", "--config", file.path, "--print-config"])
            #expect(result.status == 0, "\(block)\n\(result.error)")
        }
    }
}

extension CLITests {
    /// A run directory written before the keys were the flags' names (camelCase
    /// config.json) still resumes, with no setting reported as changed.
    @Test func aRunWithACamelCaseConfigStillResumes() throws {
        let run = try Self.temporaryDirectory().appendingPathComponent("run")
        let first = try Self.run(["train", "--epochs", "1", "--optimizer", "sam", "--batch-size", "64", "--max-grad-norm", "5", "--output", run.path])
        #expect(first.status == 0, "\(first.error)")
        let file = run.appendingPathComponent("config.json")
        var text = try String(contentsOf: file, encoding: .utf8)
        let old = ["\"batch-size\"": "\"batchSize\"", "\"lr\"": "\"learningRate\"", "\"max-grad-norm\"": "\"maxGradientNorm\"",
                   "\"tensorboard-interval\"": "\"tensorboardInterval\"", "\"weight-decay\"": "\"weightDecay\"", "\"base-optimizer\"": "\"baseOptimizer\""]
        for (new, camel) in old {
            #expect(text.contains(new), "config.json has no \(new)")
            text = text.replacingOccurrences(of: new, with: camel)
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
        let resumed = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.error)")
        let changed = try Self.run(["train", "--output", run.path, "--resume", "--epochs", "3", "--batch-size", "32"])
        #expect(changed.status == 64 && changed.error.contains("--batch-size 64 → 32"), "\(changed.error)")
    }
}
