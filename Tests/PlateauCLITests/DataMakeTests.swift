import Foundation
import Testing

/// `plateau data make` end to end on a synthetic 20 + 10 image MNIST written here: progress
/// lines, output-directory rules, errors naming the file, and training on what it writes.
@Suite struct DataMakeTests {
    static func bigEndian(_ value: Int) -> [UInt8] {
        [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// A tiny MNIST directory: bars of varying length, labels cycling through 0…9.
    static func writeSource(_ directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (split, n) in [("train", 20), ("t10k", 10)] {
            var images = bigEndian(2051) + bigEndian(n) + bigEndian(28) + bigEndian(28)
            for i in 0..<n {
                for y in 0..<28 {
                    for x in 0..<28 { images.append((9..<19).contains(x) && (4 + i % 6..<24).contains(y) ? UInt8(120 + 6 * i) : 0) }
                }
            }
            let labels = bigEndian(2049) + bigEndian(n) + (0..<n).map { UInt8($0 % 10) }
            try Data(images).write(to: directory.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(labels).write(to: directory.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
    }

    @Test func coloredMNISTIsWrittenWithProgressAndTrainsAnMLP() throws {
        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("src"), output = directory.appendingPathComponent("colored")
        try Self.writeSource(source)
        let made = try CLITests.run(["data", "make", "colored-mnist", "--from", source.path, "--output", output.path, "--seed", "1"])
        #expect(made.status == 0, "\(made.error)")
        let lines = made.output.split(separator: "\n")
        #expect(lines.count == 4, "\(made.output)")
        for (line, environment) in zip(lines, ["plus90 (+90%)", "plus80 (+80%)", "minus90 (-90%)"]) {
            #expect(line.hasPrefix(environment), "\(line)")
        }
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("manifest.json").path))
        let run = directory.appendingPathComponent("run")
        let trained = try CLITests.run([
            "train", "--dataset", "mnist", "--data-dir", output.appendingPathComponent("plus90").path, "--model", "mlp",
            "--epochs", "1", "--batch-size", "4", "--output", run.path,
        ])
        #expect(trained.status == 0, "\(trained.error)")
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.json").path))
    }

    @Test func anExistingOutputIsRefusedUnlessItIsAnEarlierOutputAndOverwriteIsGiven() throws {
        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("src"), output = directory.appendingPathComponent("rot")
        try Self.writeSource(source)
        let arguments = ["data", "make", "rotated-mnist", "--from", source.path, "--output", output.path]
        let first = try CLITests.run(arguments)
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.split(separator: "\n").filter { $0.contains("images rotated by") }.count == 6, "\(first.output)")
        let again = try CLITests.run(arguments)
        #expect(again.status == 1)
        #expect(again.error.contains("is not empty") && again.error.contains("--overwrite"), "\(again.error)")
        let replaced = try CLITests.run(arguments + ["--overwrite", "--seed", "2"])
        #expect(replaced.status == 0, "\(replaced.error)")
        let manifest = try String(contentsOf: output.appendingPathComponent("manifest.json"), encoding: .utf8)
        #expect(manifest.contains("\"seed\" : 2"))

        // --overwrite never removes a folder that is not a `data make` output.
        let other = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: other.appendingPathComponent("notes.txt"))
        let refused = try CLITests.run(["data", "make", "multi-mnist", "--from", source.path, "--output", other.path, "--overwrite"])
        #expect(refused.status == 1)
        #expect(refused.error.contains("no manifest.json"), "\(refused.error)")
        #expect(FileManager.default.fileExists(atPath: other.appendingPathComponent("notes.txt").path))
    }

    @Test func mnistCWritesTheChosenCorruptionsAndLoadsForTraining() throws {
        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("src"), output = directory.appendingPathComponent("c")
        try Self.writeSource(source)
        let made = try CLITests.run([
            "data", "make", "mnist-c", "--from", source.path, "--output", output.path, "--corruptions", "fog,contrast", "--severities", "5",
        ])
        #expect(made.status == 0, "\(made.error)")
        #expect(made.output.contains("fog/5: 10 test images (a 1.2, grid 5.0)"), "\(made.output)")
        let entries = try FileManager.default.contentsOfDirectory(atPath: output.path).sorted()
        #expect(entries == ["clean", "contrast", "fog", "manifest.json"])
        let evaluated = try CLITests.run([
            "train", "--dataset", "mnist", "--data-dir", output.appendingPathComponent("fog/5").path, "--model", "mlp",
            "--epochs", "1", "--batch-size", "4", "--output", directory.appendingPathComponent("run").path,
        ])
        #expect(evaluated.status == 0, "\(evaluated.error)")
    }

    @Test func badInputIsNamed() throws {
        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("src")
        try Self.writeSource(source)
        try FileManager.default.removeItem(at: source.appendingPathComponent("train-labels-idx1-ubyte"))
        let missing = try CLITests.run(["data", "make", "mnist-c", "--from", source.path, "--output", directory.appendingPathComponent("o").path])
        #expect(missing.status == 1)
        #expect(missing.error.contains("train-labels-idx1-ubyte"), "\(missing.error)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("o").path), "output created before --from was checked")
        for (arguments, text) in [
            (["data", "make", "snowy-mnist"], "unknown kind 'snowy-mnist'"),
            (["data", "make", "mnist-c", "--corruptions", "snow"], "unknown corruption 'snow'"),
            (["data", "make", "mnist-c", "--severities", "6"], "--severities"),
            (["data", "make", "multi-mnist", "--size", "30"], "--size"),
        ] {
            let result = try CLITests.run(arguments + ["--from", source.path, "--output", directory.appendingPathComponent("x").path])
            #expect(result.status == 64, "\(arguments): \(result.status)")
            #expect(result.error.contains(text), "\(arguments): \(result.error)")
        }
    }
}
