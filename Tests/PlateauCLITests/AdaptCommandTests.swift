import Foundation
import Testing

/// `plateau adapt` and `train --norm` (issue 12), end to end on tiny IDX sets the test writes:
/// 28×28 images whose class is the position of a bright bar, clean for training and with
/// two "corruptions" (noise, a dimmed copy) as streams.
extension CLITests {
    /// Writes `t10k-…` (and, with `train`, `train-…`) IDX files of `count` samples into `directory`.
    static func writeBars(to directory: URL, count: Int, prefix: String, seed: UInt64, noise: Int = 0, scale: Double = 1) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        var images = [UInt8](), labels = [UInt8]()
        for _ in 0..<count {
            let label = Int(next() % 10)
            labels.append(UInt8(label))
            let top = (label / 5) * 12 + 2, left = (label % 5) * 5 + 1
            for y in 0..<28 {
                for x in 0..<28 {
                    let bar = (top..<(top + 10)).contains(y) && (left..<(left + 4)).contains(x) ? 255.0 * scale : 0
                    let jitter = noise > 0 ? Int(next() % UInt64(2 * noise + 1)) - noise : 0
                    images.append(UInt8(max(0, min(255, Int(bar) + jitter))))
                }
            }
        }
        func bigEndian(_ values: [UInt32]) -> [UInt8] { values.flatMap { v in (0..<4).map { UInt8((v >> (24 - 8 * $0)) & 0xFF) } } }
        try Data(bigEndian([2051, UInt32(count), 28, 28]) + images).write(to: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
        try Data(bigEndian([2049, UInt32(count)]) + labels).write(to: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
    }

    @Test func adaptRunsNoneTentAndSAROnATinyNormalizedLeNet() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clean = directory.appendingPathComponent("clean"), shifted = directory.appendingPathComponent("shifted")
        try Self.writeBars(to: clean, count: 96, prefix: "train", seed: 1, noise: 10)
        try Self.writeBars(to: clean, count: 32, prefix: "t10k", seed: 2, noise: 10)
        try Self.writeBars(to: shifted.appendingPathComponent("noise/5"), count: 40, prefix: "t10k", seed: 3, noise: 90)
        try Self.writeBars(to: shifted.appendingPathComponent("dim/5"), count: 24, prefix: "t10k", seed: 4, scale: 0.4)
        try Self.writeBars(to: shifted.appendingPathComponent("clean"), count: 8, prefix: "t10k", seed: 7)  // left out
        let run = directory.appendingPathComponent("run").path
        let trained = try Self.run(["train", "--model", "lenet", "--norm", "group", "--dataset", "mnist", "--data-dir", clean.path,
                                    "--epochs", "1", "--batch-size", "16", "--output", run])
        #expect(trained.status == 0, "\(trained.error)")
        let config = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(config.contains("\"norm\" : \"group\""), "\(config)")
        let checkpoint = run + "/checkpoint-last.safetensors"

        let sar = try Self.run(["adapt", checkpoint, "--method", "sar", "--data-dir", shifted.path, "--setting", "mixed", "--batch-size", "8", "--json"])
        #expect(sar.status == 0, "\(sar.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(sar.output.utf8)) as? [String: Any], "\(sar.output)")
        #expect(object["samples"] as? Int == 64 && object["batches"] as? Int == 8 && object["method"] as? String == "sar")
        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.map { $0["name"] as? String } == ["dim/5", "noise/5"] && streams.map { $0["samples"] as? Int } == [24, 40])
        #expect(object["lr"] as? Double == 0.00025 / 64 * 8 * 2, "the default rule for batch size 8")
        #expect((object["kept"] as? Int).map { (0...64).contains($0) } == true && object["resets"] is Int && object["collapse"] is Double)
        #expect(sar.error.contains("batch 8/8"), "progress on standard error: \(sar.error)")
        #expect(object["rho"] as? Double == 0.05)
        #expect(abs((object["reset_threshold"] as? Double ?? 0) - 0.2 * log(10) / log(1000)) < 1e-6, "e_m scaled to 10 classes")
        #expect(abs((object["margin"] as? Double ?? 0) - 0.4 * log(10)) < 1e-6, "E₀ = 0.4·ln 10")
        let noReset = try Self.run(["adapt", checkpoint, "--method", "sar", "--data-dir", shifted.path, "--reset-threshold", "0",
                                    "--margin", "3", "--json"])
        #expect(noReset.status == 0 && noReset.output.contains("\"resets\":0") && noReset.output.contains("\"kept\":64"),
                "E₀ 3 > ln 10 keeps every sample; threshold 0 never resets: \(noReset.output)\(noReset.error)")

        let tent = try Self.run(["adapt", checkpoint, "--method", "tent", "--data-dir", shifted.path, "--setting", "label-shift",
                                 "--batch-size", "1", "--lr", "0.01", "--limit", "10"])
        #expect(tent.status == 0, "\(tent.error)")
        #expect(tent.output.contains("dim/5: online accuracy") && tent.output.contains("overall: online accuracy")
                && tent.output.contains("over 20 samples in 20 batches"), "\(tent.output)")

        let none = try Self.run(["adapt", checkpoint, "--method", "none", "--data-dir", shifted.appendingPathComponent("dim/5").path, "--json"])
        #expect(none.status == 0 && none.output.contains("\"name\":\"5\""), "a single directory is one stream: \(none.output)\(none.error)")
    }

    @Test func adaptRefusesWhatItCannotRun() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clean = directory.appendingPathComponent("clean")
        try Self.writeBars(to: clean, count: 32, prefix: "train", seed: 5)
        try Self.writeBars(to: clean, count: 16, prefix: "t10k", seed: 6)
        let run = directory.appendingPathComponent("plain").path
        let trained = try Self.run(["train", "--model", "mlp", "--dataset", "mnist", "--data-dir", clean.path, "--epochs", "1", "--output", run])
        #expect(trained.status == 0, "\(trained.error)")
        let checkpoint = run + "/checkpoint-last.safetensors"
        let noNorm = try Self.run(["adapt", checkpoint, "--method", "tent", "--data-dir", clean.path])
        #expect(noNorm.status == 64 && noNorm.error.contains("--method tent") && noNorm.error.contains("--norm"), "\(noNorm.error)")
        let plain = try Self.run(["adapt", checkpoint, "--method", "none", "--data-dir", clean.path])
        #expect(plain.status == 0, "none needs no normalization layers: \(plain.error)")

        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        for (arguments, message) in [
            (["--data-dir", empty.path], "--data-dir: "),
            (["--data-dir", clean.path, "--setting", "wild"], "--setting: expected one of mild, label-shift, mixed, got 'wild'"),
            (["--data-dir", clean.path, "--method", "eata"], "--method: expected one of none, tent, sar, got 'eata'"),
            (["--data-dir", clean.path, "--batch-size", "0"], "--batch-size: expected 1...65536, got 0"),
            (["--data-dir", clean.path, "--lr", "-1"], "--lr: expected a finite number > 0.0"),
            (["--data-dir", clean.path, "--reset-threshold", "-0.1"], "--reset-threshold: expected a finite number ≥ 0.0"),
            (["--data-dir", clean.path, "--margin", "0"], "--margin: expected a finite number > 0.0"),
        ] {
            let result = try Self.run(["adapt", checkpoint] + arguments)
            #expect(result.status == 64 && result.error.contains(message), "\(arguments): exit \(result.status)\n\(result.error)")
        }
        let batchRun = directory.appendingPathComponent("bn").path
        let bn = try Self.run(["train", "--model", "mlp", "--norm", "batch", "--dataset", "mnist", "--data-dir", clean.path, "--epochs", "1",
                               "--batch-size", "8", "--output", batchRun])
        #expect(bn.status == 0, "\(bn.error)")
        let single = try Self.run(["adapt", batchRun + "/checkpoint-last.safetensors", "--method", "sar", "--data-dir", clean.path, "--batch-size", "1"])
        #expect(single.status == 64 && single.error.contains("--batch-size 1: mlp with --norm batch"), "\(single.error)")
        // 16 samples in batches of 5: the lone 16th joins the third batch instead of crashing BatchNorm.
        let lone = try Self.run(["adapt", batchRun + "/checkpoint-last.safetensors", "--method", "tent", "--data-dir", clean.path,
                                 "--batch-size", "5", "--json"])
        #expect(lone.status == 0 && lone.output.contains("\"batches\":3"), "\(lone.output)\(lone.error)")
        let badNorm = try Self.run(["train", "--model", "lenet", "--norm", "instance", "--epochs", "1"])
        #expect(badNorm.status == 64 && badNorm.error.contains("norm: expected one of none, batch, group, layer, got 'instance'"), "\(badNorm.error)")
        let resnetNorm = try Self.run(["train", "--model", "resnet20", "--norm", "batch", "--epochs", "1"])
        #expect(resnetNorm.status == 64 && resnetNorm.error.contains("norm: only mlp and lenet"), "\(resnetNorm.error)")
    }
}
