import Foundation
import Testing

/// `plateau federate` (issue 18, DFedSAM): settings no run can use are usage errors naming
/// the option; a tiny run writes its files.
extension CLITests {
    @Test(arguments: [
        (["federate", "--clients", "1"], "--clients: expected 2...10000, got 1"),
        (["federate", "--alpha", "0"], "--alpha: expected a finite number > 0.0, got 0.0"),
        (["federate", "--alpha", "-0.5"], "--alpha: expected a finite number > 0.0"),
        (["federate", "--clients", "5", "--topology", "regular", "--degree", "3"], "--degree: no 3-regular graph on 5 clients exists"),
        (["federate", "--clients", "4", "--topology", "regular", "--degree", "4"], "--degree: a 4-regular graph on 4 clients needs 1 ≤ degree ≤ 3"),
        (["federate", "--topology", "star"], "--topology: expected one of ring, grid, regular, full, got 'star'"),
        (["federate", "--method", "dfedsam", "--gossip-steps", "2"], "--gossip-steps: dfedsam gossips once per round"),
        (["federate", "--method", "dfedsam-mgs", "--gossip-steps", "1"], "--gossip-steps: dfedsam-mgs mixes more than once per round"),
        (["federate", "--method", "fedavg"], "--method: expected one of dfedavg, dfedsam, dfedsam-mgs, got 'fedavg'"),
        (["federate", "--method", "dfedavg", "--rho", "0.1"], "--rho: dfedavg takes plain SGD steps"),
        (["federate", "--local-steps", "0"], "--local-steps: expected 1...1000000, got 0"),
    ])
    func federateRejectsBadSettingsNamingTheOption(arguments: [String], message: String) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): exit \(result.status)\n\(result.error)")
        #expect(result.error.contains(message), "\(arguments):\n\(result.error)")
    }

    @Test func federateRunsAndWritesItsFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = directory.appendingPathComponent("fed")
        let result = try Self.run([
            "federate", "--dataset", "digits", "--clients", "3", "--rounds", "2", "--local-steps", "1", "--method", "dfedsam-mgs",
            "--gossip-steps", "2", "--test-limit", "50", "--hessian-iterations", "2", "--hessian-samples", "32", "--threads", "1",
            "--output", run.path,
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("final: mean local accuracy"))
        #expect(result.error.contains("client  samples  class histogram"))
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("summary.json"))) as? [String: Any]
        #expect(summary?["lambda_max"] as? Double != nil)
        #expect(summary?["gossip_steps"] as? Int == 2)
        let clients = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("clients.json"))) as? [String: Any]
        let histograms = (clients?["clients"] as? [[String: Any]])?.compactMap { $0["class_histogram"] as? [Int] } ?? []
        #expect(histograms.count == 3)
        #expect(histograms.flatMap { $0 }.reduce(0, +) > 0)
        let rows = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3)  // header and two rounds
    }
}
