import PlateauTensor

/// Synthetic label noise for robustness experiments (SAM's noisy-label results).
///
/// Exactly `round(rate · N)` samples are corrupted — chosen uniformly without replacement
/// by a ``SeededGenerator`` seeded with `seed` — so the realized noise rate is exact, and
/// the same `(labels, kind, rate, seed)` always gives the same result. Every chosen sample's
/// label really changes:
/// - ``Kind/symmetric``: the new label is uniform over the `C − 1` *other* classes;
/// - ``Kind/pairFlip``: class `c` becomes `(c + 1) mod C`.
public struct LabelNoise: Sendable, Equatable, Codable {
    /// How a corrupted label is chosen: uniformly among the other classes, or the next class.
    public enum Kind: String, Sendable, Equatable, Codable {
        case symmetric
        case pairFlip
    }

    public var kind: Kind
    /// The fraction of samples to corrupt, in `[0, 1]`.
    public var rate: Double
    public var seed: UInt64

    public init(_ kind: Kind, rate: Double, seed: UInt64) {
        precondition(rate >= 0 && rate <= 1, "LabelNoise: rate \(rate) outside [0, 1]")
        self.kind = kind
        self.rate = rate
        self.seed = seed
    }

    /// The outcome: corrupted labels and which samples were flipped, for a run to save.
    public struct Result: Sendable, Equatable, Codable {
        /// The labels after corruption, one per sample.
        public var labels: [Int]
        /// The indices of the corrupted samples, ascending.
        public var flipped: [Int]
        /// `flipped.count / labels.count`.
        public var realizedRate: Double { labels.isEmpty ? 0 : Double(flipped.count) / Double(labels.count) }
    }

    /// Corrupts `labels` (each in `0..<classCount`, `classCount ≥ 2`).
    public func apply(to labels: [Int], classCount: Int) -> Result {
        precondition(classCount >= 2, "LabelNoise: needs at least 2 classes")
        precondition(labels.allSatisfy { $0 >= 0 && $0 < classCount }, "LabelNoise: a label is outside 0..<\(classCount)")
        var generator = SeededGenerator(seed: seed)
        let n = labels.count
        let flipCount = Int((rate * Double(n)).rounded())
        // Partial Fisher–Yates: the first flipCount entries are a uniform sample.
        var order = Array(0..<n)
        for i in 0..<flipCount {
            let j = i + Int(generator.next(upperBound: UInt64(n - i)))
            order.swapAt(i, j)
        }
        let flipped = order[..<flipCount].sorted()
        var noisy = labels
        for index in flipped {
            let c = labels[index]
            switch kind {
            case .symmetric:
                let r = Int(generator.next(upperBound: UInt64(classCount - 1)))
                noisy[index] = r < c ? r : r + 1
            case .pairFlip:
                noisy[index] = (c + 1) % classCount
            }
        }
        return Result(labels: noisy, flipped: flipped)
    }

    /// `dataset` with corrupted labels, and the record of what was flipped.
    public func apply(to dataset: Dataset) -> (dataset: Dataset, result: Result) {
        let result = apply(to: dataset.labels, classCount: dataset.classCount)
        return (dataset.relabeled(result.labels), result)
    }
}
