import Foundation
import PlateauAnalysis
import PlateauComparison
import PlateauReport
import PlateauTraining
import Testing

@Suite("compare")
struct CompareTests {
    static func plan(_ directory: URL, epochs: Int) -> ComparisonPlan {
        var base = RunConfiguration()
        base.dataset = "digits"
        base.epochs = epochs
        base.trainLimit = 192
        base.batchSize = 64
        var sharpness = SharpnessSettings()
        sharpness.maximumIterations = 4
        sharpness.landscapePoints = 5
        return ComparisonPlan(optimizers: ["sgd", "sam"], seeds: 1, base: base, output: directory, jobs: 2, threads: 1,
                              sharpness: sharpness, sharpnessSamples: 48)
    }

    @Test("a finished run is not redone; an extended one resumes; the report carries the runs")
    func resume() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-compare-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }

        let first = try Comparison.run(Self.plan(directory, epochs: 1)) { _ in }
        #expect(first.runs.map(\.name) == ["sgd-seed0", "sam-seed0"])
        #expect(first.runs.allSatisfy { $0.trained && $0.metrics.count == 1 && $0.sharpness?.eigenvalues.count == 1 })
        #expect(ExperimentRunner.isFinished(directory.appendingPathComponent("sgd-seed0"), epochs: 1))
        let checkpoint = directory.appendingPathComponent("sgd-seed0/checkpoint-last.safetensors")
        let written = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date

        var lines: [String] = []
        let log = LockedLines()
        let second = try Comparison.run(Self.plan(directory, epochs: 1)) { log.append($0) }
        lines = log.lines
        #expect(second.runs.allSatisfy { !$0.trained })
        #expect(lines.contains("sgd-seed0: finished earlier, skipped") && lines.contains("sam-seed0: finished earlier, skipped"))
        #expect(try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date == written)
        #expect(second.runs.map { $0.metrics } == first.runs.map { $0.metrics })
        #expect(second.runs.map { $0.sharpness } == first.runs.map { $0.sharpness })  // cached sharpness.json

        // Asking for a second epoch continues each run from its checkpoint.
        let third = try Comparison.run(Self.plan(directory, epochs: 2)) { _ in }
        #expect(third.runs.allSatisfy { $0.trained && $0.metrics.count == 2 })
        #expect(third.runs[0].metrics[0] == first.runs[0].metrics[0])

        let report = ComparisonReport(third)
        try report.write(to: directory)
        let html = try String(contentsOf: directory.appendingPathComponent("report.html"), encoding: .utf8)
        let parsed = try XMLChecker(html)
        let accuracy = String(format: "%.2f", third.runs[0].metrics[1].testAccuracy * 100)
        #expect(parsed.text.contains(accuracy))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("report.md").path))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("figures/landscape-1d.svg").path))
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ line: String) { lock.lock(); storage.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
