import PlateauTensor

/// A labelled classification dataset held in memory.
///
/// `images` has shape `[N, C, H, W]` (images) or `[N, F]` (feature vectors), float32;
/// `labels[i] ∈ 0..<classCount` is the class of sample `i`. A sample's *index* is its
/// position here; ``Batch/indices`` reports these, so per-sample state (SAF's logit memory,
/// label-noise bookkeeping) can be kept across epochs.
public struct Dataset: Sendable {
    /// A short name for logs and run records: `"mnist-train"`, `"digits-test"`.
    public var name: String
    /// All samples stacked along axis 0.
    public var images: Tensor
    /// The class of each sample, `0..<classCount`.
    public var labels: [Int]
    /// The number of classes (not all need to occur).
    public var classCount: Int
    /// Optional human-readable class names, `classNames[c]` for class `c`.
    public var classNames: [String]?

    /// Creates a dataset.
    ///
    /// - Precondition: `images` has rank ≥ 2, `images.shape[0] == labels.count`, and every
    ///   label is in `0..<classCount`.
    public init(name: String, images: Tensor, labels: [Int], classCount: Int, classNames: [String]? = nil) {
        precondition(images.rank >= 2, "Dataset \(name): images must have rank >= 2, got shape \(images.shape)")
        precondition(
            images.shape[0] == labels.count,
            "Dataset \(name): \(images.shape[0]) samples but \(labels.count) labels")
        precondition(classCount > 0, "Dataset \(name): classCount must be positive")
        precondition(
            labels.allSatisfy { $0 >= 0 && $0 < classCount },
            "Dataset \(name): a label is outside 0..<\(classCount)")
        precondition(
            classNames == nil || classNames!.count == classCount,
            "Dataset \(name): \(classNames?.count ?? 0) class names for \(classCount) classes")
        self.name = name
        self.images = images.detached
        self.labels = labels
        self.classCount = classCount
        self.classNames = classNames
    }

    /// The number of samples N.
    public var count: Int { labels.count }
    /// The shape of one sample: `[C, H, W]` or `[F]`.
    public var sampleShape: [Int] { Array(images.shape.dropFirst()) }
    /// The number of scalars in one sample.
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// The samples at `indices`, in that order (repeats allowed).
    ///
    /// - Precondition: every index is in `0..<count`.
    public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
        Dataset(
            name: name ?? self.name, images: gatherSamples(images, indices),
            labels: indices.map { labels[$0] }, classCount: classCount, classNames: classNames)
    }

    /// The same samples with other labels (for example noisy ones from ``LabelNoise``).
    public func relabeled(_ newLabels: [Int], name: String? = nil) -> Dataset {
        Dataset(name: name ?? self.name, images: images, labels: newLabels, classCount: classCount, classNames: classNames)
    }

    /// A seeded random split into `count - validationCount` training and `validationCount`
    /// validation samples. The validation samples are the first `validationCount` entries of
    /// the permutation ``Batches/permutation(count:seed:epoch:)`` with `epoch = 0`; both parts
    /// keep their original relative order, so the split of a seed never changes.
    public func split(validationCount: Int, seed: UInt64) -> (train: Dataset, validation: Dataset) {
        precondition(
            validationCount >= 0 && validationCount <= count,
            "Dataset.split: validationCount \(validationCount) outside 0...\(count)")
        let permutation = Batches.permutation(count: count, seed: seed, epoch: 0)
        let validation = permutation[..<validationCount].sorted()
        let train = permutation[validationCount...].sorted()
        return (subset(train, name: name + "-train"), subset(validation, name: name + "-validation"))
    }

    /// ``split(validationCount:seed:)`` with `validationCount = round(fraction · count)`.
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: Dataset, validation: Dataset) {
        precondition(fraction >= 0 && fraction <= 1, "Dataset.split: fraction \(fraction) outside [0, 1]")
        return split(validationCount: Int((fraction * Double(count)).rounded()), seed: seed)
    }

    /// The number of samples of each class: `histogram[c] = #{i : labels[i] == c}`.
    public var classHistogram: [Int] {
        var histogram = [Int](repeating: 0, count: classCount)
        for label in labels { histogram[label] += 1 }
        return histogram
    }
}

/// Rows `indices` of `tensor` along axis 0, copied without graph bookkeeping.
func gatherSamples(_ tensor: Tensor, _ indices: [Int]) -> Tensor {
    let n = tensor.shape[0]
    for i in indices where i < 0 || i >= n {
        preconditionFailure("index \(i) outside 0..<\(n)")
    }
    return tensor.detached.gathering(indices, alongAxis: 0)
}

/// Per-channel standardization `x' = (x − mean[c]) / std[c]`.
///
/// For images `[N, C, H, W]` a channel is axis 1 and the statistics run over N·H·W values;
/// for feature vectors `[N, F]` each feature is its own channel. `std` is the population
/// standard deviation; a channel whose std is below `1e-8` (a constant pixel, such as the
/// digits' border) gets std 1, so it is only centred. Fit on the training set and apply the
/// same statistics to validation and test sets.
public struct Normalization: Sendable, Equatable, Codable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "Normalization: \(mean.count) means, \(std.count) stds")
        precondition(std.allSatisfy { $0 > 0 }, "Normalization: std must be positive")
        self.mean = mean
        self.std = std
    }

    enum CodingKeys: String, CodingKey { case mean, std }

    /// Decodes and validates: as many means as stds, at least one channel, finite means,
    /// finite stds > 0 (a stored file can hold anything; ``init(mean:std:)`` would trap).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mean = try c.decode([Float].self, forKey: .mean)
        let std = try c.decode([Float].self, forKey: .std)
        if let problem = Self.problem(mean: mean, std: std) {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: c.codingPath, debugDescription: problem))
        }
        self.mean = mean
        self.std = std
    }

    /// What is wrong with these statistics, or `nil` when they can standardize data.
    static func problem(mean: [Float], std: [Float]) -> String? {
        if mean.count != std.count { return "\(mean.count) means but \(std.count) stds" }
        if mean.isEmpty { return "no channels" }
        if let c = mean.firstIndex(where: { !$0.isFinite }) { return "mean[\(c)] = \(mean[c])" }
        if let c = std.firstIndex(where: { !($0 > 0 && $0.isFinite) }) { return "std[\(c)] = \(std[c])" }
        return nil
    }

    /// Throws a ``DataError`` naming `file` and `field` unless these statistics are valid and
    /// have one channel per channel of `dataset` (axis 1).
    public func check(for dataset: Dataset, file: String, field: String) throws {
        let expected = "as many finite means as finite stds > 0"
        if let problem = Self.problem(mean: mean, std: std) {
            throw DataError(.invalidHeader, file: file, field: field, expected: expected, found: problem)
        }
        let channels = channelLayout(dataset.images.shape).channels
        guard mean.count == channels else {
            throw DataError(
                .countMismatch, file: file, field: field,
                expected: "\(channels) channels (the \(dataset.name) data, samples of \(dataset.sampleShape))",
                found: "\(mean.count) channels")
        }
    }

    /// The statistics of `images` (`[N, C, H, W]` or `[N, F]`), accumulated in double precision.
    public static func fit(_ images: Tensor) -> Normalization {
        let (channels, spatial) = channelLayout(images.shape)
        let n = images.shape[0]
        var sum = [Double](repeating: 0, count: channels)
        var squares = [Double](repeating: 0, count: channels)
        let x = images.scalars
        for s in 0..<n {
            for c in 0..<channels {
                let base = (s * channels + c) * spatial
                var partial: Double = 0, partialSquares: Double = 0
                for v in x[base..<(base + spatial)] {
                    let v = Double(v)
                    partial += v
                    partialSquares += v * v
                }
                sum[c] += partial
                squares[c] += partialSquares
            }
        }
        let total = Double(max(n * spatial, 1))
        let mean = sum.map { $0 / total }
        let std = zip(squares, mean).map { sq, m -> Float in
            let s = Float(max(sq / total - m * m, 0).squareRoot())
            return s < 1e-8 ? 1 : s
        }
        return Normalization(mean: mean.map { Float($0) }, std: std)
    }

    /// ``fit(_:)`` on a dataset's images.
    public static func fit(_ dataset: Dataset) -> Normalization { fit(dataset.images) }

    /// `images` standardized channel by channel.
    public func apply(to images: Tensor) -> Tensor {
        let (channels, _) = channelLayout(images.shape)
        precondition(channels == mean.count, "Normalization: \(mean.count) channels fitted, tensor has \(channels)")
        // (x − mean[c]) · (1 / std[c]): two broadcast passes, each rounding as the one
        // expression would.
        let statisticsShape = [1, channels] + [Int](repeating: 1, count: images.rank - 2)
        let inverse = std.map { 1 / $0 }
        return withoutGradients {
            (images.detached - Tensor(shape: statisticsShape, scalars: mean)) * Tensor(shape: statisticsShape, scalars: inverse)
        }
    }

    /// The dataset with standardized images.
    public func apply(to dataset: Dataset) -> Dataset {
        var result = dataset
        result.images = apply(to: dataset.images)
        return result
    }
}

/// (channels, values per channel per sample) of `[N, C, ...]` (rank ≥ 3) or `[N, F]`.
func channelLayout(_ shape: [Int]) -> (channels: Int, spatial: Int) {
    precondition(shape.count >= 2, "expected [N, C, H, W] or [N, F], got \(shape)")
    if shape.count == 2 { return (shape[1], 1) }
    return (shape[1], shape.dropFirst(2).reduce(1, *))
}

extension Dataset: CustomStringConvertible {
    /// `digits: 1797 samples of [1, 8, 8], 10 classes`.
    public var description: String { "\(name): \(count) samples of \(sampleShape), \(classCount) classes" }
}
