import Foundation
import Testing

/// `plateau data make mnist-seg` and `plateau train --task segmentation` end to end on the
/// synthetic MNIST of ``DataMakeTests``.
@Suite struct SegmentationCLITests {
    @Test func makeTrainAndReportASegmentationRun() throws {
        let directory = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("src"), data = directory.appendingPathComponent("seg")
        try DataMakeTests.writeSource(source)
        let made = try CLITests.run(["data", "make", "mnist-seg", "--from", source.path, "--output", data.path, "--train-count", "6", "--test-count", "3"])
        #expect(made.status == 0, "\(made.error)")
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("train-masks-idx3-ubyte").path))
        let run = directory.appendingPathComponent("run")
        let trained = try CLITests.run([
            "train", "--task", "segmentation", "--data-dir", data.path, "--seg-width", "2", "--seg-levels", "2", "--epochs", "1",
            "--batch-size", "3", "--seg-loss", "uncertainty", "--optimizer", "sam", "--seg-sample-images", "1", "--output", run.path,
        ])
        #expect(trained.status == 0, "\(trained.error)")
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"mean_dice\"") && metrics.contains("\"sigma\""))
        let csv = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("epoch,") && csv.contains(",mean_iou,boundary_iou,sigma_dice,sigma_ce,sigma_focal"))
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(report.contains("test image 0: input") && report.contains("σᵢ of the uncertainty weighting"))
    }

    @Test func segmentationFlagsAreChecked() throws {
        let loose = try CLITests.run(["train", "--seg-loss", "dice+ce", "--epochs", "1"])
        #expect(loose.status == 64 && loose.error.contains("--task segmentation"), "\(loose.error)")
        let badLoss = try CLITests.run(["train", "--task", "segmentation", "--seg-loss", "dice"])
        #expect(badLoss.status == 64 && badLoss.error.contains("dice+ce+focal"), "\(badLoss.error)")
        let badModel = try CLITests.run(["train", "--task", "segmentation", "--model", "lenet", "--data-dir", "/nonexistent"])
        #expect(badModel.status == 64 && badModel.error.contains("unet"), "\(badModel.error)")
        let noData = try CLITests.run(["train", "--task", "segmentation", "--data-dir", "/nonexistent/seg"])
        #expect(noData.status != 0 && noData.error.contains("train-images-idx3-ubyte"), "\(noData.error)")
    }
}
