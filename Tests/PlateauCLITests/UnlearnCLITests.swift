import Foundation
import Testing

/// `plateau unlearn` and `plateau relearn` (issue 14).
extension CLITests {
    @Test(arguments: [
        (["unlearn", "x.safetensors", "--forget", "class:x", "--output", "/tmp/plateau-never"], "--forget"),
        (["unlearn", "x.safetensors", "--forget", "class:7", "--method", "rmu", "--output", "/tmp/plateau-never"], "--method"),
        (["unlearn", "x.safetensors", "--forget", "class:7", "--smoothing", "sharp", "--output", "/tmp/plateau-never"], "--smoothing"),
        (["unlearn", "x.safetensors", "--forget", "class:7", "--steps", "5", "--epochs", "1", "--output", "/tmp/plateau-never"], "--steps and --epochs"),
        (["relearn", "a.safetensors", "b.safetensors", "--labels", "one"], "--labels"),
        (["relearn", "a.safetensors", "--forget", "random:0"], "--forget"),
    ])
    func unlearnUsageErrors(arguments: [String], option: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.status) \(result.error)")
        #expect(result.error.contains("Error: \(option)"), "\(arguments): \(result.error)")
    }

    /// Train, unlearn a class, evaluate the result with `eval`, attack it with `relearn`.
    @Test func unlearnThenRelearn() throws {
        let directory = try Self.temporaryDirectory()
        let run = directory.appendingPathComponent("run"), unlearned = directory.appendingPathComponent("unlearned")
        let trained = try Self.run(["train", "--dataset", "digits", "--epochs", "1", "--train-limit", "200", "--output", run.path])
        #expect(trained.status == 0, "\(trained.error)")
        let checkpoint = run.appendingPathComponent("checkpoint-last.safetensors").path
        let unlearn = try Self.run(["unlearn", checkpoint, "--forget", "class:3", "--steps", "3", "--smoothing", "sam", "--output", unlearned.path, "--json"])
        #expect(unlearn.status == 0, "\(unlearn.error)")
        let object = try JSONSerialization.jsonObject(with: Data(unlearn.output.utf8)) as? [String: Any]
        #expect(object?["forget"] as? String == "class:3" && object?["steps"] as? Int == 3 && object?["smoothing"] as? String == "sam")
        #expect((object?["before"] as? [String: Any])?["membership_auc"] != nil)
        let output = unlearned.appendingPathComponent("checkpoint.safetensors").path
        #expect(try Self.run(["eval", output]).status == 0)
        // The forget set comes from unlearn.json beside the checkpoint.
        let report = directory.appendingPathComponent("report")
        let relearn = try Self.run(["relearn", output, output, "--labels", "a,b", "--samples", "4", "--steps", "2", "--json", "--output", report.path])
        #expect(relearn.status == 0, "\(relearn.error)")
        let runs = (try JSONSerialization.jsonObject(with: Data(relearn.output.utf8)) as? [String: Any])?["runs"] as? [[String: Any]]
        #expect(runs?.count == 2 && (runs?[0]["forget_accuracy"] as? [Double])?.count == 3 && runs?[0]["forget"] as? String == "class:3")
        for file in ["relearn.json", "relearn.svg", "relearn.html"] {
            #expect(FileManager.default.fileExists(atPath: report.appendingPathComponent(file).path), "\(file)")
        }
        // Without unlearn.json, relearn needs --forget.
        let missing = try Self.run(["relearn", checkpoint, "--samples", "4", "--steps", "1"])
        #expect(missing.status == 64 && missing.error.contains("--forget"), "\(missing.error)")
    }
}
