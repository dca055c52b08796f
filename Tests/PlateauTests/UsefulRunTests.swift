import Foundation
import Plateau
import Testing

/// USEFUL end to end on a small slice of the embedded digits (issue 15).
@Suite("USEFUL run") struct UsefulRunTests {
    struct Silent: TrainingObserver {
        var messages: [String] = []
        mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {}
        mutating func epochFinished(_ metrics: EpochMetrics, of epochs: Int) {}
        mutating func message(_ text: String) { messages.append(text) }
    }

    static func configuration() -> RunConfiguration {
        var c = RunConfiguration()
        c.dataset = "digits"
        c.trainLimit = 120
        c.epochs = 2
        c.batchSize = 40
        c.learningRate = 0.05
        c.threads = 1
        c.tensorboardInterval = 0
        return c
    }

    @Test func theRestartTrainsOnEveryExamplePlusTheDuplicatesAndRecordsThem() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-useful-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try UsefulRun(configuration: Self.configuration(), separatingEpoch: 1, shortcutFraction: 0.5, output: directory)
        var observer = Silent()
        let report = try run.run(observer: &observer)
        let upsampled = report.selection.upsampled
        #expect(!upsampled.isEmpty && upsampled.count < 120)
        #expect(report.selection.classes.map(\.upsampled).reduce(0, +) == upsampled.count)
        #expect(report.shortcutPatched.count == report.selection.classes.map { max(1, Int((0.5 * Double($0.examples)).rounded())) }.reduce(0, +))
        #expect(report.finalTestAccuracy != nil)
        // The separating run has 1 epoch, the restart 2; the file on disk is the report returned.
        #expect(MetricsLog.read(from: directory.appendingPathComponent("separating")).count == 1)
        #expect(MetricsLog.read(from: directory).count == 2)
        #expect(try UsefulReport.read(from: directory.appendingPathComponent("useful.json")) == report)
        #expect(observer.messages.contains { $0.contains("duplicating \(upsampled.count) of 120") && $0.contains("on \(120 + upsampled.count)") })

        // The random control duplicates as many examples per class, not the same ones.
        let control = try UsefulRun(configuration: Self.configuration(), separatingEpoch: 1, rule: .random, shortcutFraction: 0.5, output: nil)
        var quiet = Silent()
        let random = try control.run(observer: &quiet)
        #expect(random.selection.classes == report.selection.classes)
        #expect(random.selection.upsampled.count == upsampled.count && random.selection.upsampled != upsampled)

        // The baseline trains once on the same (patched) data: no separating run, nothing duplicated.
        let baselineDirectory = directory.appendingPathComponent("baseline")
        let baseline = try UsefulRun(configuration: Self.configuration(), separatingEpoch: 1, rule: .nothing, shortcutFraction: 0.5, output: baselineDirectory)
        let plain = try baseline.run(observer: &quiet)
        #expect(plain.selection.upsampled.isEmpty && plain.shortcutPatched == report.shortcutPatched)
        #expect(!FileManager.default.fileExists(atPath: baselineDirectory.appendingPathComponent("separating").path))
        #expect(MetricsLog.read(from: baselineDirectory).count == 2)
    }

    @Test func separatingEpochShortcutAndLabelNoiseAreChecked() {
        var c = Self.configuration()
        #expect(throws: ConfigurationError.self) { try UsefulRun(configuration: c, separatingEpoch: 3, output: nil) }
        #expect(throws: ConfigurationError.self) { try UsefulRun(configuration: c, separatingEpoch: 0, output: nil) }
        #expect(throws: ConfigurationError.self) { try UsefulRun(configuration: c, separatingEpoch: 1, shortcutFraction: 1.5, output: nil) }
        c.labelNoise = 0.2
        #expect(throws: ConfigurationError.self) { try UsefulRun(configuration: c, separatingEpoch: 1, output: nil) }
    }
}
