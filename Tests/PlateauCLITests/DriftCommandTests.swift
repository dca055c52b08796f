import Foundation
import Testing

/// `plateau drift` (issue 12, CSFA with RSGS) end to end on the tiny bar images of
/// AdaptCommandTests: a small MLP backbone, two phases, two seeds.
extension CLITests {
    @Test func driftComparesTheMethodsPerPhaseOverSeeds() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.writeBars(to: directory, count: 100, prefix: "train", seed: 11, noise: 10)
        try Self.writeBars(to: directory, count: 200, prefix: "t10k", seed: 12, noise: 10)
        let common = ["drift", "--data-dir", directory.path, "--model", "mlp", "--phases", "2", "--phase-samples", "14", "--shots", "2",
                      "--pretrain-epochs", "1", "--batch-size", "8", "--threads", "1"]
        let result = try Self.run(common + ["--seeds", "2", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        #expect(object["seeds"] as? [Int] == [0, 1])
        let layout = try #require(object["phases"] as? [[String: Any]])
        #expect(layout.map { $0["seen_classes"] as? Int } == [5, 6, 7])
        #expect(layout.map { $0["rotation_degrees"] as? Double } == [0, 15, 30])
        #expect(layout.map { $0["severity"] as? Int } == [nil, 1, 2] && layout[1]["corruption"] as? String == "gaussian_noise")
        #expect(layout.map { $0["samples"] as? Int } == [10, 12, 14], "⌊14/C⌋ images of each of the C seen classes")
        let methods = try #require(object["methods"] as? [String: [[String: Any]]])
        #expect(Set(methods.keys) == ["ncm", "calibrated", "tent", "sar", "rsgs"])
        for (name, phases) in methods {
            #expect(phases.count == 3, "\(name)")
            let accuracy = try #require(phases[1]["accuracy"] as? [String: Any], "\(name)")
            let runs = try #require(accuracy["runs"] as? [Double])
            #expect(runs.count == 2 && runs.allSatisfy { (0...1).contains($0) } && accuracy["std"] is Double, "\(name): \(accuracy)")
            #expect(phases[0]["new_class_accuracy"] == nil && phases[2]["new_class_accuracy"] is [String: Any], "\(name)")
        }
        #expect((methods["ncm"]?[1]["kept"] as? [Int]) == [0, 0], "ncm never updates")
        #expect(result.error.contains("drift seed 2/2 rsgs: batch"), "progress on standard error: \(result.error)")

        let text = try Self.run(common + ["--seeds", "1", "--methods", "ncm,rsgs"])
        #expect(text.status == 0, "\(text.error)")
        #expect(text.output.contains("| phase | drift | ncm | rsgs |") && text.output.contains("| 2 (7 classes) | 30°, gaussian_noise 2 |"),
                "\(text.output)")
    }

    @Test func driftRefusesWhatItCannotRun() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.writeBars(to: directory, count: 40, prefix: "train", seed: 13)
        try Self.writeBars(to: directory, count: 40, prefix: "t10k", seed: 14)
        for (arguments, status, message) in [
            (["--methods", "ncm,teen"], 64, "--methods: expected a comma-separated list of ncm, calibrated, tent, sar, rsgs, got 'teen'"),
            (["--methods", "sar,sar"], 64, "--methods: each method at most once"),
            (["--norm", "batch"], 64, "--norm: expected group or layer, got 'batch'"),
            (["--model", "resnet20"], 64, "--model: expected lenet or mlp"),
            (["--corruption", "snow"], 64, "--corruption: expected none or one of gaussian_noise"),
            (["--phases", "6"], 64, "--phases: expected 0...5, got 6"),
            (["--calibration-alpha", "1.5"], 64, "--calibration-alpha: expected a number in 0...1"),
            (["--lr", "0"], 64, "--lr: expected a finite number > 0.0"),
            (["--phase-samples", "500"], 64, "test images over the phases"),
        ] {
            let result = try Self.run(["drift", "--data-dir", directory.path, "--model", "mlp"] + arguments)
            #expect(result.status == status && result.error.contains(message), "\(arguments): exit \(result.status)\n\(result.error)")
        }
        let missing = try Self.run(["drift", "--data-dir", directory.appendingPathComponent("none").path])
        #expect(missing.status == 1 && missing.error.contains("--data-dir"), "\(missing.error)")
    }
}
