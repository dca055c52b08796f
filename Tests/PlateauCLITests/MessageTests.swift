import Foundation
import Testing

/// Issue 10, "Messages that do not help": eval on things that are not checkpoints, NaN
/// results, and configuration files. Each test failed before its fix.
extension CLITests {
    // MARK: - eval on things that are not checkpoints, and NaN results

    @Test func evalOnATextFileSaysItIsNotASafetensorsFile() throws {
        let file = try Self.temporaryDirectory().appendingPathComponent("NOTES.md")
        try "# Plateau\n\nPlateau is a Swift toolkit for sharpness-aware training.\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Self.run(["eval", file.path])
        #expect(result.status == 1, "\(result.error)")
        #expect(result.error.contains(file.path) && result.error.contains("not a safetensors file"), "\(result.error)")
        #expect(!result.error.contains("header length: expected"), "\(result.error)")
    }

    @Test func evalOnADirectorySaysItIsADirectory() throws {
        let run = try Self.temporaryDirectory()
        #expect(try Self.run(["train", "--epochs", "1", "--train-limit", "100", "--output", run.path]).status == 0)
        let result = try Self.run(["eval", run.path])
        #expect(result.status == 1, "\(result.error)")
        #expect(result.error.contains("is a directory") && result.error.contains("expected a checkpoint file"), "\(result.error)")
        #expect(result.error.contains("checkpoint-last.safetensors"), "the message should name the checkpoints inside: \(result.error)")
        #expect(!result.error.contains("NSCocoaErrorDomain"), "\(result.error)")
    }

    @Test func evalWithNaNWeightsIsAnError() throws {
        let run = try Self.temporaryDirectory()
        #expect(try Self.run(["train", "--epochs", "1", "--train-limit", "100", "--output", run.path]).status == 0)
        // Every float of the file's data section becomes NaN.
        let checkpoint = run.appendingPathComponent("checkpoint-last.safetensors")
        var bytes = [UInt8](try Data(contentsOf: checkpoint))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var i = 8 + headerLength
        while i + 4 <= bytes.count {
            bytes.replaceSubrange(i..<i + 4, with: [0x00, 0x00, 0xC0, 0x7F])
            i += 4
        }
        try Data(bytes).write(to: checkpoint)
        for options in [[], ["--json"], ["--stream-batch-size", "100"]] {
            let json = options
            let result = try Self.run(["eval", checkpoint.path] + options)
            #expect(result.status == 1, "json \(json): \(result.output) \(result.error)")
            #expect(result.error.contains("not a number") && result.error.contains("non-finite weights"), "\(result.error)")
            #expect(!result.output.contains("nan") && !result.error.contains("3840"), "\(result.output) \(result.error)")
        }
    }

    @Test func evalOnAnEmptyTestSetIsAnError() throws {
        let directory = try Self.temporaryDirectory()
        let run = directory.appendingPathComponent("run")
        #expect(try Self.run(["train", "--epochs", "1", "--train-limit", "100", "--output", run.path]).status == 0)
        // Two rows of 64 features: 20% of them, rounded, is no test sample.
        let table = directory.appendingPathComponent("two-rows.csv")
        let rows = [0, 9].map { label in (Array(repeating: "1", count: 64) + ["\(label)"]).joined(separator: ",") }
        try (rows.joined(separator: "\n") + "\n").write(to: table, atomically: true, encoding: .utf8)
        let result = try Self.run(["eval", run.appendingPathComponent("checkpoint-last.safetensors").path, "--dataset", table.path])
        #expect(result.status == 1, "\(result.output) \(result.error)")
        #expect(result.error.contains("empty"), "\(result.error)")
        #expect(!result.output.contains("nan"), "\(result.output)")
    }

    // MARK: - Configuration files

    @Test(arguments: [
        (#"{"epochs": "ten"}"#, #"key 'epochs': expected an integer, found a string "ten""#),
        (#"{"epochs": 2.5}"#, "key 'epochs': expected an integer, found the number 2.5"),
        (#"{"seed": -1}"#, "key 'seed': expected a non-negative integer, found the number -1"),
        (#"{"milestones": [3, [4]]}"#, "key 'milestones[1]': expected an integer (an epoch), found an array"),
        (#"{"nesterov": "yes"}"#, #"key 'nesterov': expected a boolean (true or false), found a string "yes""#),
        (#"{"learningRate": [0.1]}"#, "key 'learningRate': expected a number, found an array"),
        (#"{"lr": [0.1]}"#, "key 'lr': expected a number, found an array"),
        (#"{"batchsize": 4}"#, "unknown key 'batchsize', did you mean 'batch-size'?"),
        (#"{"optimizer": "adam", "rho": 0.1}"#, "key 'rho' is an option of sam,"),
        (#"{"momentum": 1e39}"#, "key 'momentum': expected a number within"),
        (#"{"rho": [0.1]}"#, "key 'rho': expected a boolean, number, string or null, found an array"),
        (#"[1, 2]"#, "expected a JSON object of settings, found an array"),
        (#"{"epochs": 3"#, "not valid JSON"),
    ])
    func configFileErrorsNameTheKeyAndWhatWasFound(contents: String, message: String) throws {
        let file = try Self.temporaryDirectory().appendingPathComponent("config.json")
        try contents.write(to: file, atomically: true, encoding: .utf8)
        let result = try Self.run(["train", "--config", file.path])
        #expect(result.status == 1, "\(contents): \(result.error)")
        #expect(result.error.contains("\(file.path): \(message)"), "\(contents): \(result.error)")
        for dump in ["DecodingError", "Context(", "codingPath", "not valid JSON"] where !message.contains(dump) {
            #expect(!result.error.contains(dump), "\(contents): \(result.error)")
        }
    }
}
