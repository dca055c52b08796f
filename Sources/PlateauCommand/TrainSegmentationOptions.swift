import ArgumentParser
import Foundation
import Plateau

/// `train`'s per-pixel task: `--task segmentation` and its loss and network options.
struct TrainSegmentationOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "classification (default) or segmentation: per-pixel classes from a mnist-seg directory (--data-dir; --model \(ModelFactory.segmentationNames.joined(separator: ", ")), default unet); docs/segmentation.md.") var task: String?
    @Option(parsing: .unconditional, help: "Segmentation loss: \(SegmentationLossKind.allCases.map(\.rawValue).joined(separator: ", ")) (uncertainty: Σ Lᵢ/(2σᵢ²) + log(1 + σᵢ²) over Dice, CE and focal, σ learnable) (default: dice+ce).") var segLoss: String?
    @Option(parsing: .unconditional, help: "Segmentation: the U-Net's channels at its first level, doubled per level (default: 8).") var segWidth: Int?
    @Option(parsing: .unconditional, help: "Segmentation: the U-Net's resolutions, 2-5 (default: 3).") var segLevels: Int?
    @Option(parsing: .unconditional, help: "Segmentation: Dice enters as one-minus (1 − dc, default) or reference (−dc, the UU-Mamba code's form, which lets σ_Dice collapse).") var segDiceForm: String?
    @Option(parsing: .unconditional, help: "Segmentation: the focal loss's γ (default: 2).") var segFocalGamma: Float?
    @Option(parsing: .unconditional, help: "Segmentation: σᵢ's starting value (default: 1).") var segSigmaInit: Float?
    @Option(parsing: .unconditional, help: "Segmentation: test images drawn in report.html (default: 4).") var segSampleImages: Int?

    var isSegmentation: Bool { task == "segmentation" }

    func validate() throws {
        if let task, !["classification", "segmentation"].contains(task) {
            throw ValidationError("--task: expected classification or segmentation, got '\(task)'")
        }
        let given = [segLoss != nil, segWidth != nil, segLevels != nil, segDiceForm != nil, segFocalGamma != nil, segSigmaInit != nil, segSampleImages != nil]
        if !isSegmentation, given.contains(true) { throw ValidationError("the --seg-* options need --task segmentation") }
        if let segLoss, SegmentationLossKind(rawValue: segLoss) == nil {
            throw ValidationError("--seg-loss: expected one of \(SegmentationLossKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(segLoss)'")
        }
    }

    /// The options with `model` (nil: unet).
    func options(model: String?) throws -> SegmentationOptions {
        var o = SegmentationOptions()
        if let model { o.model = model }
        if let segLoss { o.loss = SegmentationLossKind(rawValue: segLoss)! }
        if let segWidth { o.width = segWidth }
        if let segLevels { o.levels = segLevels }
        if let segDiceForm { o.diceForm = segDiceForm }
        if let segFocalGamma { o.focalGamma = segFocalGamma }
        if let segSigmaInit { o.sigmaInit = segSigmaInit }
        if let segSampleImages { o.sampleImages = segSampleImages }
        do { try o.validate() } catch { throw ValidationError("\(error)") }
        return o
    }

    /// Trains the segmentation run `c` describes and writes its report.
    func run(_ c: RunConfiguration, model: String?, progressInterval: Double) throws {
        let options = try options(model: model)
        guard let directory = c.dataDirectory else {
            throw ValidationError("--task segmentation needs --data-dir, a directory made by `plateau data make mnist-seg`")
        }
        let output = URL(fileURLWithPath: c.output ?? "runs/\(options.model)-segmentation-\(c.optimizer)")
        if FileManager.default.fileExists(atPath: output.appendingPathComponent(RunDirectory.configurationFile).path) {
            throw ValidationError("--output: \(output.path) already holds a run (config.json); choose a new directory")
        }
        let (train, test) = try MNISTSegmentation.loadDirectory(URL(fileURLWithPath: directory))
        try Parallelism.withThreads(c.threads) {
            let trainer = try SegmentationTrainer(configuration: c, options: options, train: train, test: test, output: output)
            var progress = ConsoleProgress(epochs: c.epochs, interval: progressInterval)
            let summary = try trainer.run(observer: &progress)
            try writeAtomically(Data(SegmentationReport(summary).html().utf8), to: output.appendingPathComponent("report.html"))
            if let final = summary.final {
                progress.message(String(format: "final test pixel accuracy %.2f%%, mean Dice %.4f, mIoU %.4f, Boundary IoU %.4f", final.pixelAccuracy * 100, final.meanDice, final.meanIoU, final.boundaryIoU)
                    + (final.sigma.map { "; σ " + zip(final.losses, $0).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: ", ") } ?? "")
                    + "; wrote \(output.path)/report.html")
            }
        }
    }
}
