import Foundation
import Plateau
import Testing

/// The opposing-signals tracker and its report (issue 15).
@Suite("signal tracker") struct SignalTrackerTests {
    struct Silent: TrainingObserver {
        mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {}
        mutating func epochFinished(_ metrics: EpochMetrics, of epochs: Int) {}
        mutating func message(_ text: String) {}
    }

    @Test func theTrackerMeasuresAtTheAskedStepsAndTheEnd() throws {
        let toy = OpposingSignalsToy(samplesPerClass: 40, dimension: 6, fraction: 0.1, seed: 2)
        var c = RunConfiguration()
        c.batchSize = 30  // 80 samples: batches of 30, 30, 20 — steps cross epochs
        c.learningRate = 0.01
        c.momentum = 0
        c.threads = 1
        let tracker = try SignalTracker(configuration: c, steps: 7, trackEvery: 3, sharpnessEvery: 5, sharpnessSamples: 40, powerIterations: 3)
        var g = SeededGenerator(seed: 0)
        var network = DeepLinear(sizes: [6, 4, 2], using: &g)
        let before = network.parameters
        var observer = Silent()
        let t = try tracker.run(&network, on: toy.dataset, tracked: [0, 5, 9], observer: &observer)
        #expect(t.trackedSteps == [0, 3, 6, 7])
        #expect(t.losses.count == 4 && t.losses.allSatisfy { $0.count == 3 })
        #expect(t.sharpnessSteps == [0, 5, 7] && t.lambdaMax.count == 3 && t.lambdaMax.allSatisfy { $0 > 0 })
        #expect(t.divergedAtStep == nil)
        #expect(network.parameters.values != before.values)

        let report = OpposingSignalsReport(method: "sgd", trajectory: t, groupA: [5, 70], groupB: [9], k: 2, steps: 7)
        #expect(report.topK.count == 2 && report.topK.allSatisfy { [0, 5, 9].contains($0) })
        #expect(report.chancePrecision == 2.0 / 3.0)  // 5 and 9 of the three tracked are planted (70 is not tracked)
        #expect(report.lambdaEta == t.lambdaMax.map { $0 * 0.01 })
        #expect(report.groupALoss == t.losses.map { Double($0[1]) })
        #expect(try JSONSerialization.jsonObject(with: report.json) is [String: Any])
    }

    @Test func aDivergingRunStopsWhereTheLossBecameNonFinite() throws {
        let toy = OpposingSignalsToy(samplesPerClass: 20, dimension: 4, alpha: 1000, fraction: 0.1, seed: 2)
        var c = RunConfiguration()
        c.batchSize = 40
        c.learningRate = 1000
        c.momentum = 0
        c.threads = 1
        let tracker = try SignalTracker(configuration: c, steps: 50)
        var g = SeededGenerator(seed: 0)
        var network = DeepLinear(sizes: [4, 4, 2], using: &g)
        var observer = Silent()
        let t = try tracker.run(&network, on: toy.dataset, tracked: Array(0..<40), observer: &observer)
        let step = try #require(t.divergedAtStep)
        #expect(step < 50 && t.trackedSteps.last! < step)
        #expect(throws: ConfigurationError.self) { try SignalTracker(configuration: c, steps: 0) }
        #expect(throws: ConfigurationError.self) { try SignalTracker(configuration: c, steps: 5, trackEvery: 0) }
    }
}
