import Foundation
import Testing

/// `plateau useful` (issue 15): range checks as usage errors, and a tiny end-to-end run.
extension CLITests {
    @Test(arguments: [
        (["useful", "--useful-epoch", "0"], "--useful-epoch: expected 1...1000000, got 0"),
        (["useful", "--useful-epoch", "1", "--upsample", "all"], "--upsample: expected useful, random or none, got 'all'"),
        (["useful", "--useful-epoch", "1", "--shortcut", "1.5"], "--shortcut: expected a fraction in 0...1, got 1.5"),
        (["useful", "--useful-epoch", "1", "--shortcut", "nan"], "--shortcut: expected a fraction in 0...1"),
        (["useful", "--useful-epoch", "5", "--epochs", "3"], "--useful-epoch: expected a separating epoch in 1...3 (--epochs), got 5"),
        (["useful", "--useful-epoch", "1", "--rho", "0.1"], "rho"),
    ])
    func usefulRejectsValuesItCannotUse(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    @Test func usefulWritesItsReportAndRefusesToTrainOverIt() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("run").path
        let arguments = ["useful", "--dataset", "digits", "--train-limit", "100", "--epochs", "2", "--useful-epoch", "1",
                         "--batch-size", "50", "--threads", "1", "--tensorboard-interval", "0", "--output", output, "--json"]
        let result = try Self.run(arguments)
        #expect(result.status == 0, "\(result.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(object["rule"] as? String == "useful")
        #expect(object["separating_epoch"] as? Int == 1)
        #expect(object["training_examples"] as? Int == 100)
        #expect(FileManager.default.fileExists(atPath: output + "/useful.json"))
        #expect(FileManager.default.fileExists(atPath: output + "/separating/checkpoint-last.safetensors"))
        let again = try Self.run(arguments)
        #expect(again.status == 64 && again.error.contains("already holds a run"), "\(again.error)")
        #expect(try Self.run(arguments + ["--overwrite", "--upsample", "random"]).status == 0)
    }
}
