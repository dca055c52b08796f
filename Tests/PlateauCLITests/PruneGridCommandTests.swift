import Foundation
import Testing

/// `plateau prune-grid` and `plateau connect` (issue 15, three-regime pruning): list and
/// range errors name their option; a tiny grid end to end, then rerun (every cell reused),
/// and `connect` on two of its retrained copies.
extension CLITests {
    @Test(arguments: [
        (["prune-grid", "--densities", "0.5,abc"], "--densities: expected a comma-separated list of densities in (0, 1], got 'abc' in '0.5,abc'"),
        (["prune-grid", "--densities", "0.5,1.5"], "--densities: expected a comma-separated list of densities in (0, 1], got '1.5'"),
        (["prune-grid", "--densities", "0.2,,0.1"], "--densities: expected a comma-separated list of densities in (0, 1], got ''"),
        (["prune-grid", "--densities", "0.2,0.2"], "--densities: 0.2 is listed twice"),
        (["prune-grid", "--values", "0,-0.1"], "--values: expected a comma-separated list of radii ρ ≥ 0, got '-0.1'"),
        (["prune-grid", "--temperature", "epochs", "--values", "1,2.5"], "--values: expected a comma-separated list of whole numbers ≥ 1 (epochs), got '2.5'"),
        (["prune-grid", "--temperature", "lr"], "--temperature: expected one of rho, epochs, batch-size, got 'lr'"),
        (["prune-grid", "--retrain-seeds", "1"], "--retrain-seeds: expected 2...100, got 1"),
        (["prune-grid", "--cka-threshold", "2"], "--cka-threshold: expected a CKA in [0, 1], got 2.0"),
        (["prune-grid", "--points", "2"], "--points: expected 3...1001, got 2"),
        (["connect", "a", "b", "--cka-samples", "1"], "--cka-samples: expected at least 2, got 1"),
    ])
    func pruneGridRejectsListsItCannotUse(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    @Test func pruneGridRunsResumesAndConnectMeasuresTwoCopies() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("grid").path
        let arguments = ["prune-grid", "--dataset", "digits", "--model", "mlp", "--values", "0.05", "--densities", "0.3", "--epochs", "1",
                         "--retrain-epochs", "1", "--train-limit", "60", "--batch-size", "30", "--points", "3", "--test-samples", "50",
                         "--bn-samples", "30", "--cka-samples", "20", "--jobs", "1", "--output", output]
        let first = try Self.run(arguments)
        #expect(first.status == 0, "\(first.output)\n\(first.error)")
        #expect(first.output.contains("1 cell (1 computed now)"), "\(first.output)")
        for file in ["grid.json", "grid.csv", "report.html", "figures/mc.svg", "figures/regimes.svg", "cells/rho0.05-d0.3/cell.json"] {
            #expect(FileManager.default.fileExists(atPath: output + "/" + file), "\(file)")
        }
        let again = try Self.run(arguments)
        #expect(again.status == 0 && again.output.contains("1 cell (0 computed now)"), "\(again.output)\n\(again.error)")
        let cell = output + "/cells/rho0.05-d0.3/"
        let connected = try Self.run(["connect", cell + "seed0/checkpoint-last.safetensors", cell + "seed1/checkpoint-last.safetensors",
                                      "--points", "3", "--test-samples", "50", "--bn-samples", "30", "--cka-samples", "20", "--threads", "1", "--json"])
        #expect(connected.status == 0, "\(connected.error)")
        let measure = try #require(try JSONSerialization.jsonObject(with: Data(connected.output.utf8)) as? [String: Any])
        #expect((measure["layerCKA"] as? [Double])?.count == 3)
        #expect((measure["alphas"] as? [Double])?.count == 3)
    }
}
