import Foundation
import PlateauTraining
import Testing

/// One reader for the trainer and `compare`: a diverged evaluation (test loss ∞ or NaN) is a
/// row like any other, so a finished run whose last epoch diverged counts as finished and is
/// neither retrained nor dropped from a report.
@Test func metricsWithNonFiniteValuesAreReadBackRowForRow() throws {
    let directory = try temporaryDirectory("metrics-log")
    defer { try? FileManager.default.removeItem(at: directory) }
    func row(_ epoch: Int, testLoss: Float) -> EpochMetrics {
        EpochMetrics(epoch: epoch, trainLoss: 0.5, trainAccuracy: 0.9, testLoss: testLoss, testAccuracy: 0.1, learningRate: 0.05,
                     seconds: 1, samplesPerSecond: 100, passesPerStep: 1, millisecondsPerStep: 2)
    }
    let rows = [row(1, testLoss: 0.7), row(2, testLoss: .infinity)]
    try MetricsLog.write(rows, to: directory)
    let read = MetricsLog.read(from: directory)
    #expect(read.count == 2)
    #expect(read.last?.testLoss == .infinity)
    #expect(read == rows)
}

/// The files say "inf" and "nan" in both formats, and a NaN row comes back as NaN.
@Test func nonFiniteValuesAreSpelledInBothFiles() throws {
    let directory = try temporaryDirectory("metrics-log-nan")
    defer { try? FileManager.default.removeItem(at: directory) }
    let rows = [EpochMetrics(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.9, testLoss: .nan, testAccuracy: 0.1, learningRate: 0.05,
                             seconds: 1, samplesPerSecond: 100, passesPerStep: 1, millisecondsPerStep: 2),
                EpochMetrics(epoch: 2, trainLoss: 0.5, trainAccuracy: 0.9, testLoss: .infinity, testAccuracy: 0.1, learningRate: 0.05,
                             seconds: 1, samplesPerSecond: 100, passesPerStep: 1, millisecondsPerStep: 2)]
    try MetricsLog.write(rows, to: directory)
    let read = MetricsLog.read(from: directory)
    #expect(read.map(\.epoch) == [1, 2] && read[0].testLoss.isNaN && read[1].testLoss == .infinity)
    let json = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    #expect(json[0].contains("\"test_loss\":\"nan\"") && json[1].contains("\"test_loss\":\"inf\""))
    let csv = try String(contentsOf: directory.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 3 && csv[1].split(separator: ",")[3] == "nan" && csv[2].split(separator: ",")[3] == "inf")
}

/// Both files name the per-step time `ms_per_step` (the CSV column, the TensorBoard tag and
/// `demo --json` already did), and a metrics.jsonl written under the old name
/// `milliseconds_per_step` is still read back, so an old run resumes with its history.
@Test func perStepTimeIsMsPerStepInBothFilesAndTheOldNameStillReads() throws {
    let directory = try temporaryDirectory("metrics-log-names")
    defer { try? FileManager.default.removeItem(at: directory) }
    let row = EpochMetrics(epoch: 1, trainLoss: 0.5, trainAccuracy: 0.9, testLoss: 0.7, testAccuracy: 0.1, learningRate: 0.05,
                           seconds: 1, samplesPerSecond: 100, passesPerStep: 1, millisecondsPerStep: 2.5)
    try MetricsLog.write([row], to: directory)
    let json = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    #expect(json.contains("\"ms_per_step\":2.5") && !json.contains("milliseconds"))
    let csv = try String(contentsOf: directory.appendingPathComponent("metrics.csv"), encoding: .utf8)
    #expect(csv.split(separator: "\n")[0].hasSuffix(",ms_per_step"))

    let old = #"{"epoch":1,"learning_rate":0.05,"milliseconds_per_step":3.25,"passes_per_step":1,"samples_per_second":100,"seconds":1,"test_accuracy":0.1,"test_loss":0.7,"train_accuracy":0.9,"train_loss":0.5}"#
    try Data((old + "\n").utf8).write(to: directory.appendingPathComponent("metrics.jsonl"))
    #expect(MetricsLog.read(from: directory).map(\.millisecondsPerStep) == [3.25])
}
