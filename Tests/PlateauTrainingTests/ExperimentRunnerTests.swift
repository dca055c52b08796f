import Foundation
import Testing
import PlateauTraining

@Suite("experiment runner")
struct ExperimentRunnerTests {
    static func plan(_ directory: URL) -> ExperimentPlan {
        var base = RunConfiguration()
        base.dataset = "digits"
        base.epochs = 1
        base.trainLimit = 64
        base.batchSize = 32
        return ExperimentPlan(optimizers: ["sgd"], seeds: 1, base: base, output: directory, jobs: 1, threads: 1)
    }

    @Test("a finished run whose test loss diverged to inf is read back with that row and not trained again")
    func divergedRunIsFinished() throws {
        let directory = try temporaryDirectory("experiment-inf")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try ExperimentRunner.run(Self.plan(directory)) { _ in }
        #expect(first.runs.map(\.name) == ["sgd-seed0"] && first.runs[0].trained && first.runs[0].metrics.count == 1)

        // The run's evaluation diverged: its metrics record a test loss of ∞.
        let run = first.runs[0].directory
        var rows = MetricsLog.read(from: run)
        rows[0].testLoss = .infinity
        try MetricsLog.write(rows, to: run)
        #expect(try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).contains("\"test_loss\":\"inf\""))
        #expect(ExperimentRunner.isFinished(run, epochs: 1))

        let checkpoint = run.appendingPathComponent("checkpoint-last.safetensors")
        let written = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
        let lines = Lines()
        let second = try ExperimentRunner.run(Self.plan(directory)) { lines.append($0) }
        #expect(lines.all == ["sgd-seed0: finished earlier, skipped"])
        #expect(!second.runs[0].trained)
        #expect(second.runs[0].metrics.count == 1 && second.runs[0].metrics[0].testLoss == .infinity)
        #expect(try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date == written)
    }

    @Test("a finished run made with other settings is not reused: the error names what differs")
    func runsWithOtherSettingsAreNotReused() throws {
        let directory = try temporaryDirectory("experiment-settings")
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try ExperimentRunner.run(Self.plan(directory)) { _ in }
        var changed = Self.plan(directory)
        changed.base.learningRate = 0.2
        do {
            _ = try ExperimentRunner.run(changed) { _ in }
            Issue.record("a run trained at lr 0.05 was reused for lr 0.2")
        } catch let error as ExperimentError {
            #expect(error.description.contains("--lr 0.05 (stored) vs 0.2 (asked)"), "\(error)")
            #expect(error.description.contains("0.2"))
        }
        // Settings that do not change results (threads) do not count.
        var threads = Self.plan(directory)
        threads.base.threads = 1
        #expect(try ExperimentRunner.run(threads) { _ in }.runs.allSatisfy { !$0.trained })
    }
}

/// Log lines collected from the runner's worker threads.
final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ line: String) { lock.lock(); storage.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}

extension ExperimentRunnerTests {
    @Test("a stopped comparison saves its running run mid-epoch, starts no other, and the same plan run again ends bit-identical to an uninterrupted one")
    func aStoppedComparisonContinuesExactly() throws {
        let straight = try temporaryDirectory("experiment-straight")
        let stopped = try temporaryDirectory("experiment-stopped")
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: stopped)
        }
        func plan(_ directory: URL) -> ExperimentPlan {
            var plan = Self.plan(directory)
            plan.optimizers = ["sgd", "sam"]
            plan.base.epochs = 2
            return plan
        }
        _ = try ExperimentRunner.run(plan(straight)) { _ in }

        // The stop is requested as the first run starts: it stops after its first step.
        var interrupted = plan(stopped)
        let token = StopToken()
        interrupted.stopToken = token
        let lines = Lines()
        #expect(throws: ExperimentInterrupted.self) {
            _ = try ExperimentRunner.run(interrupted) { line in
                lines.append(line)
                if line.contains("training") { _ = token.request(signal: 2) }
            }
        }
        #expect(lines.all.contains { $0.hasPrefix("sgd-seed0: stopped") }, "\(lines.all)")
        #expect(!lines.all.contains { $0.hasPrefix("sam-seed0") }, "a run started after the stop: \(lines.all)")
        let partial = try Checkpoint.read(from: interrupted.directory(optimizer: "sgd", seedIndex: 0).appendingPathComponent("checkpoint-last.safetensors"))
        #expect(partial.partialEpoch != nil)

        _ = try ExperimentRunner.run(plan(stopped)) { _ in }
        for optimizer in ["sgd", "sam"] {
            let a = try Checkpoint.read(from: plan(straight).directory(optimizer: optimizer, seedIndex: 0).appendingPathComponent("checkpoint-last.safetensors"))
            let b = try Checkpoint.read(from: plan(stopped).directory(optimizer: optimizer, seedIndex: 0).appendingPathComponent("checkpoint-last.safetensors"))
            #expect(a.model == b.model && a.optimizer.tensors == b.optimizer.tensors, "\(optimizer) differs after the stop and the rerun")
        }
    }
}
