import PlateauData
import PlateauNN
import PlateauTensor

/// Segmentation scores accumulated over images: a confusion matrix of pixel classes and,
/// per class, the boundary-band intersection and union of Boundary IoU.
///
/// - Pixel accuracy: the fraction of pixels whose predicted class is the true one.
/// - Dice_c = 2·TP/(2·TP + FP + FN), IoU_c = TP/(TP + FP + FN) from the pixels of the
///   whole set; the means are over the *foreground* classes (1…C−1) that occur in the truth
///   or the prediction (a class absent from both has no score).
/// - Boundary IoU (Cheng, Girshick, Dollár, Berg & Kirillov 2021): a mask's boundary band is
///   its pixels within chessboard distance d (``bandWidth``, 2) of a pixel of another class
///   or of the image's outside; BIoU_c = |G_c^d ∩ P_c^d| / |G_c^d ∪ P_c^d| with G_c^d, P_c^d
///   the bands of class c's true and predicted masks, accumulated over the set; the mean is
///   over the foreground classes with a non-empty union.
public struct SegmentationScores: Sendable, Equatable {
    public let classCount: Int
    /// `confusion[truth · C + predicted]`: pixel counts.
    public private(set) var confusion: [Int]
    public private(set) var boundaryIntersection: [Int]
    public private(set) var boundaryUnion: [Int]
    /// d, the boundary band's width in pixels.
    public let bandWidth: Int

    public init(classCount: Int, bandWidth: Int = 2) {
        precondition(classCount >= 2 && bandWidth >= 1, "SegmentationScores: need ≥ 2 classes and a band ≥ 1 pixel")
        self.classCount = classCount
        self.bandWidth = bandWidth
        confusion = [Int](repeating: 0, count: classCount * classCount)
        boundaryIntersection = [Int](repeating: 0, count: classCount)
        boundaryUnion = [Int](repeating: 0, count: classCount)
    }

    /// Adds images of `height × width` pixels: true and predicted classes, image after image.
    public mutating func add(truth: [Int32], predicted: [Int32], height: Int, width: Int) {
        precondition(truth.count == predicted.count && truth.count % (height * width) == 0, "SegmentationScores: \(truth.count) true and \(predicted.count) predicted pixels for images of \(height)×\(width)")
        let c = classCount
        for (t, p) in zip(truth, predicted) { confusion[Int(t) * c + Int(p)] += 1 }
        let plane = height * width
        for start in stride(from: 0, to: truth.count, by: plane) {
            let t = Array(truth[start..<(start + plane)]), p = Array(predicted[start..<(start + plane)])
            let bandT = Self.boundaryBand(t, height: height, width: width, d: bandWidth)
            let bandP = Self.boundaryBand(p, height: height, width: width, d: bandWidth)
            for i in 0..<plane {
                let inT = bandT[i], inP = bandP[i]
                if inT && inP && t[i] == p[i] {
                    boundaryIntersection[Int(t[i])] += 1
                    boundaryUnion[Int(t[i])] += 1
                } else {
                    if inT { boundaryUnion[Int(t[i])] += 1 }
                    if inP { boundaryUnion[Int(p[i])] += 1 }
                }
            }
        }
    }

    /// Whether each pixel lies within chessboard distance `d` of a pixel of another class or
    /// of the outside: the window minimum or maximum of the labels differs from the pixel's,
    /// with the outside as −1 (separable sliding min/max, rows then columns).
    static func boundaryBand(_ labels: [Int32], height: Int, width: Int, d: Int) -> [Bool] {
        var rowMin = [Int32](repeating: 0, count: labels.count), rowMax = rowMin
        for y in 0..<height {
            for x in 0..<width {
                var lo = Int32.max, hi = Int32.min
                for k in (x - d)...(x + d) {
                    let v: Int32 = k < 0 || k >= width ? -1 : labels[y * width + k]
                    lo = min(lo, v); hi = max(hi, v)
                }
                rowMin[y * width + x] = lo
                rowMax[y * width + x] = hi
            }
        }
        var band = [Bool](repeating: false, count: labels.count)
        for y in 0..<height {
            for x in 0..<width {
                let label = labels[y * width + x]
                var differs = false
                for k in (y - d)...(y + d) {
                    if k < 0 || k >= height { differs = true; break }
                    if rowMin[k * width + x] != label || rowMax[k * width + x] != label { differs = true; break }
                }
                band[y * width + x] = differs
            }
        }
        return band
    }

    private func counts(_ c: Int) -> (tp: Int, fp: Int, fn: Int) {
        let k = classCount
        let tp = confusion[c * k + c]
        let predicted = (0..<k).reduce(0) { $0 + confusion[$1 * k + c] }
        let truth = (0..<k).reduce(0) { $0 + confusion[c * k + $1] }
        return (tp, predicted - tp, truth - tp)
    }

    public var pixelAccuracy: Float {
        let total = confusion.reduce(0, +)
        return total == 0 ? 0 : Float((0..<classCount).reduce(0) { $0 + confusion[$1 * classCount + $1] }) / Float(total)
    }

    /// Dice of each class, `nil` for a class absent from truth and prediction.
    public var classDice: [Float?] {
        (0..<classCount).map { c in
            let (tp, fp, fn) = counts(c)
            return tp + fp + fn == 0 ? nil : Float(2 * tp) / Float(2 * tp + fp + fn)
        }
    }

    /// IoU of each class, `nil` for a class absent from truth and prediction.
    public var classIoU: [Float?] {
        (0..<classCount).map { c in
            let (tp, fp, fn) = counts(c)
            return tp + fp + fn == 0 ? nil : Float(tp) / Float(tp + fp + fn)
        }
    }

    /// Boundary IoU of each class, `nil` for an empty union.
    public var classBoundaryIoU: [Float?] {
        (0..<classCount).map { boundaryUnion[$0] == 0 ? nil : Float(boundaryIntersection[$0]) / Float(boundaryUnion[$0]) }
    }

    private static func foregroundMean(_ values: [Float?]) -> Float {
        let present = values.dropFirst().compactMap { $0 }
        return present.isEmpty ? 0 : present.reduce(0, +) / Float(present.count)
    }

    public var meanDice: Float { Self.foregroundMean(classDice) }
    public var meanIoU: Float { Self.foregroundMean(classIoU) }
    public var meanBoundaryIoU: Float { Self.foregroundMean(classBoundaryIoU) }
}

/// Evaluation of a segmentation model (logits `[N, C, H, W]`) on a dataset.
public enum SegmentationEvaluation {
    /// The result: the mean per-pixel cross-entropy and the scores.
    public struct Result: Sendable {
        public var loss: Float
        public var scores: SegmentationScores
    }

    /// Per-pixel argmax of logits `[N, C, H, W]`, N·H·W classes.
    public static func predictions(_ logits: Tensor) -> [Int32] {
        let (n, c, plane) = (logits.shape[0], logits.shape[1], logits.shape[2] * logits.shape[3])
        let x = logits.scalars
        var result = [Int32](repeating: 0, count: n * plane)
        for s in 0..<n {
            for p in 0..<plane {
                var best = 0
                var bestValue = x[s * c * plane + p]
                for k in 1..<c where x[(s * c + k) * plane + p] > bestValue {
                    best = k
                    bestValue = x[(s * c + k) * plane + p]
                }
                result[s * plane + p] = Int32(best)
            }
        }
        return result
    }

    /// Loss and scores of `model` on `dataset`, in evaluation mode, without gradients.
    public static func run<Model: Layer>(_ model: Model, on dataset: SegmentationDataset, batchSize: Int = 100) -> Result {
        var evaluated = model.training(false)
        var scores = SegmentationScores(classCount: dataset.classCount)
        var lossSum: Double = 0
        let (h, w) = dataset.size
        withoutGradients {
            for batch in Batches(dataset: dataset.images, batchSize: batchSize, shuffle: false) {
                let logits = evaluated(batch.images)
                let truth = dataset.masks(of: batch.indices)
                lossSum += Double(pixelwiseCrossEntropy(logits: logits, labels: truth.map(Int.init), reduction: .sum).item)
                scores.add(truth: truth, predicted: predictions(logits), height: h, width: w)
            }
        }
        return Result(loss: Float(lossSum / Double(max(dataset.count, 1))), scores: scores)
    }
}

/// A segmentation epoch's test scores and the σ of its uncertainty weighting, in
/// `metrics.jsonl` under `segmentation` and as extra `metrics.csv` columns.
public struct SegmentationEpochMetrics: Codable, Sendable, Equatable {
    public var pixelAccuracy: Float
    public var meanDice: Float
    public var meanIoU: Float
    public var boundaryIoU: Float
    /// The training loss's components' names (`dice`, `ce`, `focal`), the order of ``sigma``.
    public var losses: [String]
    /// σᵢ at the epoch's end (`nil` without the uncertainty weighting).
    public var sigma: [Float]?

    public init(scores: SegmentationScores, losses: [String], sigma: [Float]?) {
        pixelAccuracy = scores.pixelAccuracy
        meanDice = scores.meanDice
        meanIoU = scores.meanIoU
        boundaryIoU = scores.meanBoundaryIoU
        self.losses = losses
        self.sigma = sigma
    }

    // `mean_iou` rather than the snake-case strategy's `mean_io_u`.
    private enum CodingKeys: String, CodingKey {
        case pixelAccuracy, meanDice, meanIoU = "meanIou", boundaryIoU = "boundaryIou", losses, sigma
    }

    /// The columns `metrics.csv` adds for `history`'s segmentation rows (none without any).
    static func csvHeader(_ history: [EpochMetrics]) -> String {
        guard let first = history.lazy.compactMap(\.segmentation).first else { return "" }
        return ",pixel_accuracy,mean_dice,mean_iou,boundary_iou" + (first.sigma == nil ? "" : first.losses.map { ",sigma_\($0)" }.joined())
    }

    static func csvCells(_ row: EpochMetrics, _ history: [EpochMetrics]) -> [String] {
        guard let first = history.lazy.compactMap(\.segmentation).first else { return [] }
        let columns = 4 + (first.sigma == nil ? 0 : first.losses.count)
        guard let s = row.segmentation else { return [String](repeating: "", count: columns) }
        return (["\(s.pixelAccuracy)", "\(s.meanDice)", "\(s.meanIoU)", "\(s.boundaryIoU)"] + (first.sigma == nil ? [] : (s.sigma ?? []).map { "\($0)" }))
    }
}
