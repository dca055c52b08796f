import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The losses `--seg-loss` combines.
public enum SegmentationLossKind: String, Sendable, CaseIterable, Codable {
    /// Soft Dice + cross-entropy, equal weights.
    case diceCE = "dice+ce"
    /// Soft Dice + cross-entropy + focal (γ), equal weights.
    case diceCEFocal = "dice+ce+focal"
    /// Σᵢ Lᵢ/(2σᵢ²) + log(1 + σᵢ²) over Dice, cross-entropy and focal, σ learnable (UU-Mamba).
    case uncertainty

    /// The names of the losses, in σ's order.
    public var components: [String] {
        switch self {
        case .diceCE: ["dice", "ce"]
        case .diceCEFocal, .uncertainty: ["dice", "ce", "focal"]
        }
    }
}

/// The data loss of a segmentation run, one ``ObjectiveTerm``: per-pixel losses against the
/// masks of the training samples, found through the batch's sample indices (so batches,
/// shuffling and sharpness-aware chunks need nothing new).
///
/// A sample's value is its cross-entropy and focal loss (means over its pixels) plus the
/// Dice loss of the rows evaluated together (nnU-Net's batch Dice: one value, added to each
/// row, so the mean over rows is the batch's loss). Under ``SegmentationLossKind/uncertainty``
/// each of the three is weighted by σ read from the model's tracked parameters
/// (``SegmentationNetwork/sigmaPath``): gradients reach σ at w and at w + ε alike.
public struct SegmentationLossTerm: ObjectiveTerm {
    public let kind: SegmentationLossKind
    public let diceForm: DiceForm
    public let focalGamma: Float
    /// Per-pixel classes of every training sample (the dataset's masks, sample order).
    let masks: [Int32]
    let pixelsPerImage: Int

    public init(kind: SegmentationLossKind, training: SegmentationDataset, diceForm: DiceForm = .oneMinus, focalGamma: Float = 2) {
        self.kind = kind
        self.diceForm = diceForm
        self.focalGamma = focalGamma
        masks = training.masks
        pixelsPerImage = training.pixelsPerImage
    }

    public var name: String { "segmentation" }

    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        let (kind, form, gamma, masks, p) = (kind, diceForm, focalGamma, masks, pixelsPerImage)
        let indices = batch.indices
        return { input, _ in
            var labels: [Int32] = []
            let rows = input.selecting(indices)
            labels.reserveCapacity(rows.count * p)
            for i in rows { labels += masks[(i * p)..<((i + 1) * p)] }
            let losses = Self.components(kind, logits: input.outputs, labels: labels, diceForm: form, focalGamma: gamma)
            guard kind == .uncertainty else { return losses.dropFirst().reduce(losses[0], +) }
            guard let sigma = input.parameters?()[SegmentationNetwork.sigmaPath] else {
                preconditionFailure("SegmentationLossTerm: the uncertainty weighting needs the model's \(SegmentationNetwork.sigmaPath) parameter")
            }
            return uncertaintyWeighted(losses, sigma: sigma)
        }
    }

    /// The per-row losses in ``SegmentationLossKind/components`` order, each `[r]`.
    static func components(_ kind: SegmentationLossKind, logits: Tensor, labels: [Int32], diceForm: DiceForm, focalGamma: Float) -> [Tensor] {
        let rows = logits.shape[0]
        let dice = Tensor.ones([rows]) * softDiceLoss(logits: logits, labels: labels, form: diceForm)
        let ce = pixelwiseCrossEntropy(logits: logits, labels: labels.map(Int.init), reduction: .none)
        guard kind.components.count == 3 else { return [dice, ce] }
        return [dice, ce, pixelwiseFocalLoss(logits: logits, labels: labels, gamma: focalGamma, reduction: .none)]
    }
}
