import Foundation
import Testing

/// `eval --drift-from`: the mean KL(f_ref ‖ f) over the test split, the function-space
/// distance TRAM keeps small — zero from itself, positive from a model trained further.
extension CLITests {
    @Test func evalReportsTheDriftFromAReferenceCheckpoint() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = directory.appendingPathComponent("a"), second = directory.appendingPathComponent("b")
        for (run, epochs) in [(first, "1"), (second, "2")] {
            let trained = try Self.run(["train", "--dataset", "digits", "--epochs", epochs, "--train-limit", "200", "--output", run.path])
            #expect(trained.status == 0, "\(trained.error)")
        }
        let a = first.appendingPathComponent("checkpoint-last.safetensors").path
        let b = second.appendingPathComponent("checkpoint-last.safetensors").path
        func drift(_ model: String, from reference: String) throws -> Double? {
            let result = try Self.run(["eval", model, "--drift-from", reference, "--json"])
            #expect(result.status == 0, "\(result.error)")
            let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
            return object?["drift_kl"] as? Double
        }
        #expect(try drift(a, from: a) == 0)
        let moved = try #require(try drift(b, from: a))
        #expect(moved > 0 && moved.isFinite, "\(moved)")
        let missing = try Self.run(["eval", a, "--drift-from", "/nonexistent/ref.safetensors"])
        #expect(missing.status == 1 && missing.error.contains("/nonexistent/ref.safetensors"), "\(missing.error)")
    }
}
