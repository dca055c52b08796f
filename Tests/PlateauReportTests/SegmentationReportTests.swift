import Foundation
import Testing
import PlateauTraining
@testable import PlateauReport

/// The segmentation report: well-formed, with input, truth and prediction drawn per sample.
@Suite struct SegmentationReportTests {
    @Test func reportDrawsEachSampleAsThreeImagesAndChartsSigma() throws {
        var metrics = EpochMetrics(epoch: 1, trainLoss: 1, trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.5, learningRate: 0.1,
                                   seconds: 1, samplesPerSecond: 1, passesPerStep: 2, millisecondsPerStep: 1)
        var scores = SegmentationScores(classCount: 3)
        let truth: [Int32] = [0, 1, 1, 2, 0, 0, 2, 2, 1, 1, 0, 0, 0, 0, 2, 0]
        scores.add(truth: truth, predicted: truth.reversed(), height: 4, width: 4)
        metrics.segmentation = SegmentationEpochMetrics(scores: scores, losses: ["dice", "ce", "focal"], sigma: [0.9, 1.1, 1.2])
        var second = metrics
        second.epoch = 2
        let sample = SegmentationSample(height: 4, width: 4, input: (0..<16).map { Float($0) / 15 }, truth: truth, prediction: truth.reversed())
        var c = RunConfiguration()
        c.optimizer = "sam"
        let summary = SegmentationSummary(configuration: c, options: SegmentationOptions(), metrics: [metrics, second], samples: [sample, sample], classCount: 3)
        let html = SegmentationReport(summary).html()
        _ = try XMLChecker(html)
        #expect(html.components(separatedBy: "aria-label=\"prediction\"").count == 3)
        #expect(html.contains("σᵢ of the uncertainty weighting") && html.contains("sam over sgd"))
        // Runs of one colour are one rect: the first row of the truth (0, 1, 1, 2) is three rects.
        let truthImage = SegmentationReport.sampleFigures(sample).truth
        let firstRow = truthImage.components(separatedBy: "\n")[1]
        #expect(firstRow.components(separatedBy: "<rect").count - 1 == 3)
    }
}
