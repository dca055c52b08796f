import Foundation
import Testing

/// `plateau signals` (issue 15): range checks as usage errors, and a tiny toy run.
extension CLITests {
    @Test(arguments: [
        (["signals", "--toy", "--steps", "0"], "--steps: expected 1...10000000, got 0"),
        (["signals", "--toy", "--toy-fraction", "0"], "--toy-fraction: expected a fraction in (0, 1], got 0.0"),
        (["signals", "--toy", "--toy-alpha", "nan"], "--toy-alpha: expected a finite number"),
        (["signals", "--patch-classes", "3"], "--patch-classes: expected two different class indices like 3,8, got '3'"),
        (["signals", "--patch-classes", "3,3"], "--patch-classes: expected two different class indices"),
        (["signals", "--patch-fraction", "1.5"], "--patch-fraction: expected a fraction in (0, 1], got 1.5"),
        (["signals", "--toy", "--dataset", "mnist"], "--toy and --dataset exclude each other"),
        (["signals", "--patch-classes", "3,12"], "--patch-classes: digits has classes 0...9, got '3,12'"),
        (["signals", "--patch-size", "9"], "--patch-size: a 9-pixel patch needs images at least that large"),
        (["signals", "--toy", "--lr", "-1"], "lr"),
        (["signals", "--toy", "--top-k", "0"], "--top-k: expected 1...1000000, got 0"),
        (["signals", "--patch-value", "inf"], "--patch-value: expected a finite number"),
    ])
    func signalsRejectsValuesItCannotUse(arguments: [String], message: String) throws {
        let result = try Self.run(arguments + ["--threads", "1"])
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    /// A batch larger than the data is full-batch training, even the largest: counting its
    /// batches used to overflow and trap.
    @Test func signalsTakesAnyBatchSize() throws {
        let result = try Self.run(["signals", "--toy", "--toy-samples", "20", "--toy-dim", "4", "--steps", "2", "--threads", "1",
                                   "--batch-size", "9223372036854775807"])
        #expect(result.status == 0, "\(result.error)")
    }

    @Test func signalsOnTheToyPrintsAndWritesItsReport() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("signals.json")
        let result = try Self.run(["signals", "--toy", "--toy-samples", "50", "--toy-dim", "8", "--toy-fraction", "0.1", "--steps", "6",
                                   "--sharpness-every", "3", "--power-iterations", "3", "--lr", "0.5", "--threads", "1", "--json", "--report", file.path])
        #expect(result.status == 0, "\(result.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(object["tracked_steps"] as? [Int] == [0, 1, 2, 3, 4, 5, 6])
        #expect(object["sharpness_steps"] as? [Int] == [0, 3, 6])
        #expect((object["top_k"] as? [Int])?.count == 10)  // 5 per class carry the feature: 10 planted
        #expect(object["method"] as? String == "sgd")
        #expect(FileManager.default.fileExists(atPath: file.path))
        let plain = try Self.run(["signals", "--toy", "--toy-samples", "50", "--toy-dim", "8", "--steps", "4", "--threads", "1"])
        #expect(plain.status == 0 && plain.output.contains("precision") && plain.output.contains("antiphase correlation"), "\(plain.output)\(plain.error)")
    }
}
