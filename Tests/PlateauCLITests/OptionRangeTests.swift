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
        (["sharpness", absentCheckpoint, "--samples", "-3"], "--samples: expected at least 1, got -3"),
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
