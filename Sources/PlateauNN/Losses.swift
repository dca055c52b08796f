import PlateauTensor

/// How a per-sample loss is combined over the batch.
public enum Reduction: Sendable {
    /// One loss per sample, shape `[N]`.
    case none
    case mean
    case sum
}

func reduce(_ losses: Tensor, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .none: losses
    case .mean: losses.mean()
    case .sum: losses.sum()
    }
}

/// Cross-entropy between logits `[N, C]` and integer labels, with optional label
/// smoothing ε (Szegedy et al. 2016): the target is (1 − ε)·onehot + ε/C, as PyTorch.
public func crossEntropy(logits: Tensor, labels: [Int], labelSmoothing: Float = 0, reduction: Reduction = .mean) -> Tensor {
    precondition(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
    precondition(logits.shape[0] == labels.count, "crossEntropy: \(logits.shape[0]) rows of logits but \(labels.count) labels")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: label smoothing must be in [0, 1], got \(labelSmoothing)")
    let classes = logits.shape[1]
    for label in labels where label < 0 || label >= classes {
        preconditionFailure("crossEntropy: label \(label) out of range 0..<\(classes)")
    }
    var target = Tensor.oneHot(labels, classCount: classes)
    if labelSmoothing > 0 { target = target * (1 - labelSmoothing) + labelSmoothing / Float(classes) }
    let perSample = -(logits.logSoftmax(alongAxis: 1) * target).sum(alongAxis: 1)
    return reduce(perSample, reduction)
}

/// Cross-entropy per pixel of dense logits `[N, C, H, W]` (segmentation) against integer
/// labels, one per pixel in N, H, W order (`N·H·W` of them). A sample's loss is the mean over
/// its H·W pixels of −log softmax(z[n, :, h, w])[y[n, h, w]], so `.mean` is the mean over all
/// pixels: PyTorch's `F.cross_entropy` on `[N, C, H, W]` logits and `[N, H, W]` labels.
/// Computed along the class axis in place, without moving the classes last.
public func pixelwiseCrossEntropy(logits: Tensor, labels: [Int], reduction: Reduction = .mean) -> Tensor {
    precondition(logits.rank == 4, "pixelwiseCrossEntropy: logits must be [N, C, H, W], got \(logits.shape)")
    let (classes, plane) = (logits.shape[1], logits.shape[2] * logits.shape[3])
    precondition(labels.count == logits.shape[0] * plane,
                 "pixelwiseCrossEntropy: \(logits.shape[0] * plane) pixels of logits \(logits.shape) but \(labels.count) labels")
    var target = [Float](repeating: 0, count: logits.count)
    for (i, label) in labels.enumerated() {
        precondition(label >= 0 && label < classes, "pixelwiseCrossEntropy: label \(label) out of range 0..<\(classes)")
        let (sample, pixel) = i.quotientAndRemainder(dividingBy: plane)
        target[(sample * classes + label) * plane + pixel] = 1
    }
    let perPixel = -(logits.logSoftmax(alongAxis: 1) * Tensor(shape: logits.shape, scalars: target)).sum(alongAxis: 1)  // [N, H, W]
    return reduce(perPixel.mean(alongAxes: [1, 2]), reduction)
}

/// Negative log-likelihood of log-probabilities `[N, C]` at integer labels.
public func negativeLogLikelihood(logProbabilities: Tensor, labels: [Int], reduction: Reduction = .mean) -> Tensor {
    precondition(logProbabilities.rank == 2 && logProbabilities.shape[0] == labels.count,
                 "negativeLogLikelihood: expected [\(labels.count), C] log-probabilities, got \(logProbabilities.shape)")
    let perSample = -(logProbabilities * Tensor.oneHot(labels, classCount: logProbabilities.shape[1])).sum(alongAxis: 1)
    return reduce(perSample, reduction)
}

/// Mean squared error, (prediction − target)², reduced over all but the batch axis per sample.
public func meanSquaredError(predictions: Tensor, targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    precondition(predictions.shape == targets.shape, "meanSquaredError: prediction shape \(predictions.shape) differs from target shape \(targets.shape)")
    let squared = (predictions - targets).square()
    if reduction == .none { return squared.rank <= 1 ? squared : squared.mean(alongAxes: Array(1..<squared.rank)) }
    return reduce(squared, reduction)
}

/// Binary cross-entropy on logits, max(z, 0) − z·y + log(1 + e^−|z|) (stable form, PyTorch's
/// `binary_cross_entropy_with_logits`).
public func binaryCrossEntropy(logits: Tensor, targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    precondition(logits.shape == targets.shape, "binaryCrossEntropy: logits \(logits.shape) differ from targets \(targets.shape)")
    let losses = logits.relu() - logits * targets + ((-logits.abs()).exp() + 1).log()
    if reduction == .none { return losses.rank <= 1 ? losses : losses.mean(alongAxes: Array(1..<losses.rank)) }
    return reduce(losses, reduction)
}

/// τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ)) per sample, the distillation form used by
/// SAF and MESA (Hinton et al. 2015): gradients flow into `student` only.
public func klDivergence(studentLogits: Tensor, teacherLogits: Tensor, temperature: Float = 1, reduction: Reduction = .mean) -> Tensor {
    precondition(studentLogits.shape == teacherLogits.shape && studentLogits.rank == 2,
                 "klDivergence: expected equal [N, C] logits, got \(studentLogits.shape) and \(teacherLogits.shape)")
    precondition(temperature > 0, "klDivergence: temperature must be positive, got \(temperature)")
    return reduce(studentLogits.temperedKLDivergence(from: teacherLogits.detached, temperature: temperature), reduction)
}

/// The fraction of rows whose largest logit is at the label.
public func accuracy(logits: Tensor, labels: [Int]) -> Float {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count, "accuracy: expected [\(labels.count), C] logits, got \(logits.shape)")
    guard !labels.isEmpty else { return 0 }
    let predictions = logits.argmax(alongAxis: 1)
    return Float(zip(predictions, labels).filter { $0 == $1 }.count) / Float(labels.count)
}
