import Foundation
import Testing

@Suite struct BenchCLITests {
    @Test func unetRowsCarryPeakMemoryAndSkipSAF() throws {
        let result = try CLITests.run([
            "bench", "--workloads", "unet,mixer", "--optimizers", "sgd,saf", "--steps", "1", "--block-size", "1",
            "--warmup", "0", "--batch-size", "2", "--skip-ceiling", "--json",
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("saf is skipped on unet"))
        let rows = result.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rows.map { "\($0["workload"] ?? "")/\($0["optimizer"] ?? "")" } == ["unet/sgd", "mixer/sgd", "mixer/saf"])
        for row in rows {
            let peak = row["peak_rss_bytes"] as? Int ?? 0
            #expect(peak > 1 << 20, "peak_rss_bytes \(peak) in \(row)")
        }
    }
}
