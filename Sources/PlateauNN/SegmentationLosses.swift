import PlateauTensor

/// The one-hot targets `[N, C, H, W]` of per-pixel classes (N·H·W of them, N, H, W order).
public func pixelOneHot(_ labels: [Int32], shape: [Int]) -> Tensor {
    precondition(shape.count == 4, "pixelOneHot: expected [N, C, H, W], got \(shape)")
    let (classes, plane) = (shape[1], shape[2] * shape[3])
    precondition(labels.count == shape[0] * plane, "pixelOneHot: \(labels.count) labels for \(shape[0] * plane) pixels of \(shape)")
    var target = [Float](repeating: 0, count: shape.reduce(1, *))
    for (i, label) in labels.enumerated() {
        precondition(label >= 0 && Int(label) < classes, "pixelOneHot: label \(label) out of range 0..<\(classes)")
        let (sample, pixel) = i.quotientAndRemainder(dividingBy: plane)
        target[(sample * classes + Int(label)) * plane + pixel] = 1
    }
    return Tensor(shape: shape, scalars: target)
}

/// How the soft Dice coefficient dc enters a loss.
public enum DiceForm: String, Sendable, CaseIterable {
    /// 1 − dc ∈ [0, 1]: a loss ≥ 0, so the uncertainty weighting L/(2σ²) stays bounded below.
    case oneMinus = "one-minus"
    /// −dc ∈ [−1, 0], as UU-Mamba's reference code (nnU-Net's `MemoryEfficientSoftDiceLoss`)
    /// returns it. Kept only to reproduce that bug: under the uncertainty weighting the
    /// Dice term's L/(2σ²) → −∞ as σ → 0, so training drives σ_Dice to 0.
    case negative = "reference"
}

/// Soft Dice loss of dense logits `[N, C, H, W]` against per-pixel classes, in nnU-Net's
/// *batch Dice* form: with p = softmax over classes and y the one-hot targets, for each
/// foreground class c (class 0, the background, is excluded)
///
///     dc_c = (2·Σ p_c·y_c + s) / (Σ p_c + Σ y_c + s),   sums over every pixel of the batch,
///
/// and the loss is 1 − mean_c dc_c (``DiceForm/oneMinus``; s = `smooth`, 1e-5 as nnU-Net).
/// Returns a scalar tensor. Reference: Milletari, Navab & Ahmadi 2016, *V-Net*; Isensee et
/// al. 2021, *nnU-Net*.
public func softDiceLoss(logits: Tensor, labels: [Int32], smooth: Float = 1e-5, form: DiceForm = .oneMinus) -> Tensor {
    precondition(logits.rank == 4 && logits.shape[1] >= 2, "softDiceLoss: logits must be [N, C ≥ 2, H, W], got \(logits.shape)")
    let classes = logits.shape[1]
    let target = pixelOneHot(labels, shape: logits.shape).sliced(alongAxis: 1, 1..<classes)
    let probabilities = logits.softmax(alongAxis: 1).sliced(alongAxis: 1, 1..<classes)
    let intersection = (probabilities * target).sum(alongAxes: [0, 2, 3])
    let predicted = probabilities.sum(alongAxes: [0, 2, 3])
    let truth = target.sum(alongAxes: [0, 2, 3])
    let dice = ((intersection * 2 + smooth) / (predicted + truth + smooth)).mean()
    switch form {
    case .oneMinus: return 1 - dice
    case .negative: return -dice
    }
}

/// Focal loss per pixel (Lin et al. 2017, *Focal Loss for Dense Object Detection*):
/// −(1 − p_t)^γ · log p_t with p_t the softmax probability of the pixel's class, one
/// softmax (UU-Mamba's reference applies it twice, which flattens the probabilities). A
/// sample's loss is the mean over its pixels; `.mean` is the mean over all pixels.
public func pixelwiseFocalLoss(logits: Tensor, labels: [Int32], gamma: Float = 2, reduction: Reduction = .mean) -> Tensor {
    precondition(logits.rank == 4, "pixelwiseFocalLoss: logits must be [N, C, H, W], got \(logits.shape)")
    precondition(gamma >= 0 && gamma.isFinite, "pixelwiseFocalLoss: γ must be finite and ≥ 0, got \(gamma)")
    let target = pixelOneHot(labels, shape: logits.shape)
    let logTrue = (logits.logSoftmax(alongAxis: 1) * target).sum(alongAxis: 1)  // [N, H, W]
    let miss = 1 - logTrue.exp()
    // γ = 2 (the default) as a product: pow's derivative at 1 − p_t = 0 needs no special case.
    let weight = gamma == 2 ? miss.square() : (gamma == 0 ? Tensor.ones(miss.shape) : miss.maximum(0).pow(gamma))
    return reduce((-(weight * logTrue)).mean(alongAxes: [1, 2]), reduction)
}

/// The uncertainty-weighted sum of losses (Kendall, Gal & Cipolla 2018, in UU-Mamba's form
/// with a regularizer that stays ≥ 0): Σᵢ Lᵢ/(2σᵢ²) + log(1 + σᵢ²).
///
/// - Parameters:
///   - losses: the Lᵢ, each of the same shape (scalars, or one value per sample).
///   - sigma: σ, shape `[losses.count]`, learnable (gradients reach it).
public func uncertaintyWeighted(_ losses: [Tensor], sigma: Tensor) -> Tensor {
    precondition(sigma.shape == [losses.count], "uncertaintyWeighted: σ must be [\(losses.count)], got \(sigma.shape)")
    let variance = sigma.square()
    var total: Tensor? = nil
    for (i, loss) in losses.enumerated() {
        let v = variance.sliced(alongAxis: 0, i..<(i + 1))
        let term = loss / (v * 2) + (v + 1).log()
        total = total.map { $0 + term } ?? term
    }
    return total!
}
