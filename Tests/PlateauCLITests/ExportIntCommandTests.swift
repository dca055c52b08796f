import Foundation
import Testing

/// `plateau train --quantize` and `plateau export-int` (issue 16): a tiny quantized run, its
/// integer export checked against fake quantization, and a bad `--quantize`.
extension CLITests {
    @Test func quantizedRunExportsIntegerWeightsThatEvaluateAsFakeQuantization() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = directory.appendingPathComponent("run").path, plain = directory.appendingPathComponent("plain").path
        let common = ["--dataset", "digits", "--epochs", "1", "--train-limit", "100", "--batch-size", "50", "--threads", "1", "--tensorboard-interval", "0"]
        let trained = try Self.run(["train", "--quantize", "w4a4", "--optimizer", "gaqat", "--output", run] + common)
        #expect(trained.status == 0, "\(trained.error)")
        let output = directory.appendingPathComponent("int.safetensors").path
        let exported = try Self.run(["export-int", run + "/checkpoint-last.safetensors", "--output", output, "--json"])
        #expect(exported.status == 0, "\(exported.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(exported.output.utf8)) as? [String: Any])
        #expect(report["prediction_agreement"] as? Double == 1, "\(exported.output)")
        #expect((report["layers"] as? [String: Int])?["layers.1"] == 4, "\(exported.output)")
        let bad = try Self.run(["train", "--quantize", "w9a4", "--output", plain] + common)
        #expect(bad.status != 0 && bad.error.contains("quantize"), "\(bad.error)")
    }
}
