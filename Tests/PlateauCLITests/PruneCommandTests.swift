import Foundation
import Testing

/// `plateau prune` (issue 15, three-regime pruning): range checks as usage errors, and a
/// tiny end-to-end prune → retrain → resume → eval.
extension CLITests {
    @Test(arguments: [
        (["prune", absentCheckpoint, "--density", "0", "--retrain-epochs", "1", "--output", "x"], "--density: expected a fraction of weights to keep in (0, 1], got 0.0"),
        (["prune", absentCheckpoint, "--density", "1.5", "--retrain-epochs", "1", "--output", "x"], "--density: expected a fraction of weights to keep in (0, 1], got 1.5"),
        (["prune", absentCheckpoint, "--density", "nan", "--retrain-epochs", "1", "--output", "x"], "--density: expected a fraction"),
        (["prune", absentCheckpoint, "--density", "0.5", "--retrain-epochs", "0", "--output", "x"], "--retrain-epochs: expected 1...1000000, got 0"),
        (["prune", absentCheckpoint, "--density", "0.5", "--retrain-epochs", "1", "--epochs", "3", "--output", "x"], "--epochs: `plateau prune` trains --retrain-epochs epochs"),
    ])
    func pruneRejectsValuesItCannotUse(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    @Test func pruneRetrainsWithTheMasksAndItsCheckpointsCarryThem() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dense = directory.appendingPathComponent("dense").path, pruned = directory.appendingPathComponent("pruned").path
        let common = ["--train-limit", "100", "--batch-size", "50", "--threads", "1", "--tensorboard-interval", "0"]
        let trained = try Self.run(["train", "--dataset", "digits", "--epochs", "1", "--output", dense] + common)
        #expect(trained.status == 0, "\(trained.error)")
        let arguments = ["prune", dense + "/checkpoint-last.safetensors", "--density", "0.1", "--optimizer", "sgd", "--seed", "3", "--output", pruned] + common
        let result = try Self.run(arguments + ["--retrain-epochs", "1"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("kept") || result.output.contains("kept"), "\(result.output)\n\(result.error)")
        let again = try Self.run(arguments + ["--retrain-epochs", "1"])
        #expect(again.status == 64 && again.error.contains("already holds a run"), "\(again.error)")
        let resumed = try Self.run(arguments + ["--retrain-epochs", "2", "--resume"])
        #expect(resumed.status == 0, "\(resumed.error)")
        // The safetensors header: mask tensors beside the model's, and the resumed epoch count.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: pruned + "/checkpoint-last.safetensors"))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<8 + length)) as? [String: Any])
        #expect(header.keys.contains { $0.hasPrefix("mask.") }, "\(header.keys.sorted())")
        #expect((header["__metadata__"] as? [String: String])?["epoch"] == "2")
        let evaluated = try Self.run(["eval", pruned + "/checkpoint-last.safetensors", "--json"])
        #expect(evaluated.status == 0, "\(evaluated.error)")
    }
}
