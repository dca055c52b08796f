import Foundation
import Testing

/// Issue 10: every numeric option of the measuring and comparing commands is range-checked
/// before anything is read, so a value the command cannot use is a usage error naming the
/// option — not a trap deep inside a measurement (these crashed with SIGILL, or ran for
/// hours, before the checks), and negative numbers are read as values, not as unknown flags
/// ("Missing value for '--rho'").
extension CLITests {
    static let absentCheckpoint = "/nonexistent/checkpoint.safetensors"

    @Test(arguments: [
        (["sharpness", absentCheckpoint, "--steps", "0", "--metrics", "worst"], "--steps: expected 1...100000, got 0"),
        (["sharpness", absentCheckpoint, "--m", "0", "--metrics", "msharp"], "--m: expected at least 1, got 0"),
        (["sharpness", absentCheckpoint, "--max-iterations", "0"], "--max-iterations: expected 1...100000, got 0"),
        (["sharpness", absentCheckpoint, "--rho", "-1"], "--rho: expected a finite number ≥ 0.0, got -1.0"),
        (["sharpness", absentCheckpoint, "--rho", "nan"], "--rho: expected a finite number"),
        (["sharpness", absentCheckpoint, "--tolerance", "-1"], "--tolerance: expected a finite number > 0.0"),
        (["sharpness", absentCheckpoint, "--adaptive-rho", "inf"], "--adaptive-rho: expected a finite number"),
        (["sharpness", absentCheckpoint, "--top-k", "9223372036854775807"], "--top-k: expected 1...1000"),
        (["sharpness", absentCheckpoint, "--threads", "0"], "--threads: expected 1...1024, got 0"),
        (["sharpness", absentCheckpoint, "--hessian-memory", "-1"], "--hessian-memory: expected 0...1073741824, got -1"),
        (["sharpness", absentCheckpoint, "--samples", "-3"], "--samples: expected at least 1, got -3"),
        (["sharpness", absentCheckpoint, "--noise-sigmas", "0,-1"], "--noise-sigmas: expected comma-separated numbers ≥ 0, got '-1'"),
        (["sharpness", absentCheckpoint, "--noise-draws", "0"], "--noise-draws: expected 1...10000, got 0"),
        (["sharpness", absentCheckpoint, "--ntk-samples", "1"], "--ntk-samples: expected 2...4096, got 1"),
        (["landscape", absentCheckpoint, "--grid", "9223372036854775807"], "--grid: expected 2...1001"),
        (["landscape", absentCheckpoint, "--dims", "-1"], "--dims: expected 1...2, got -1"),
        (["landscape", absentCheckpoint, "--range", "-inf:inf"], "--range: expected LOW:HIGH, two finite numbers"),
        (["compare", "--seeds", "9223372036854775807"], "--seeds: expected 1...1000"),
        (["compare", "--sharpness-rho", "nan"], "--sharpness-rho: expected a finite number"),
        (["compare", "--landscape-points", "1"], "--landscape-points: expected 2...1001, got 1"),
        (["bench", "--threads", "9223372036854775807"], "--threads: expected 1...1024"),
        (["bench", "--batch-size", "9223372036854775807"], "--batch-size: expected 1...65536"),
        (["bench", "--warmup", "-1"], "--warmup: expected 0...1000000, got -1"),
        (["demo", "--hessian-iterations", "-1"], "--hessian-iterations: expected 0...100000, got -1"),
    ])
    func outOfRangeValuesAreUsageErrorsNamingTheOption(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    /// A comparison whose runs diverge to astronomically large losses still writes its report
    /// (the chart's axis used to trap on a tick spacing that overflowed).
    @Test func aDivergedComparisonStillWritesItsReport() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("compare").path
        let result = try Self.run([
            "compare", "--optimizers", "sgd", "--seeds", "1", "--epochs", "1", "--train-limit", "32", "--lr", "1e30",
            "--sharpness-samples", "32", "--eigen-iterations", "2", "--landscape-points", "3", "--output", output,
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(FileManager.default.fileExists(atPath: output + "/report.html"))
    }
}

/// Issue 10: a table's string labels are read only when asked (`--table-labels strings`):
/// a class-name column without it is an error that says how, and with it the run trains and
/// records the mode, so `eval` reads the table the same way.
extension CLITests {
    @Test func stringLabelsOfATableAreReadOnlyWhenAsked() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var rows = "a,b,species\n"
        for i in 0..<40 { rows += "\(Double(i % 2) + 0.01 * Double(i)),\(Double(i % 3)),\(i % 2 == 0 ? "setosa" : "virginica")\n" }
        let table = directory.appendingPathComponent("iris.csv")
        try rows.write(to: table, atomically: true, encoding: .utf8)

        let refused = try Self.run(["train", "--dataset", table.path, "--epochs", "1", "--output", directory.appendingPathComponent("r1").path])
        #expect(refused.status == 1, "\(refused.error)")
        #expect(refused.error.contains("--table-labels strings"), "\(refused.error)")

        let run = directory.appendingPathComponent("r2")
        let trained = try Self.run(["train", "--dataset", table.path, "--table-labels", "strings", "--epochs", "1", "--output", run.path])
        #expect(trained.status == 0, "\(trained.error)")
        let config = try String(contentsOf: run.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(config.contains("\"table-labels\" : \"strings\""), "\(config)")
        let evaluated = try Self.run(["eval", run.appendingPathComponent("checkpoint-last.safetensors").path])
        #expect(evaluated.status == 0, "\(evaluated.error)")

        let bad = try Self.run(["train", "--dataset", table.path, "--table-labels", "names"])
        #expect(bad.status == 64 && bad.error.contains("table-labels: expected integers or strings, got 'names'"), "\(bad.error)")
    }
}
