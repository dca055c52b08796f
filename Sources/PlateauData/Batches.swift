import PlateauTensor

/// One mini-batch: `images` stacks the samples along axis 0 (`[B, C, H, W]` or `[B, F]`),
/// `labels[j]` is the class of sample `j`, and `indices[j]` is its position in the dataset
/// the batch was drawn from — the key for per-sample state such as SAF's stored outputs.
public struct Batch: Sendable {
    public var images: Tensor
    public var labels: [Int]
    public var indices: [Int]

    public init(images: Tensor, labels: [Int], indices: [Int]) {
        precondition(images.shape.first == labels.count && labels.count == indices.count, "Batch: sizes disagree")
        self.images = images
        self.labels = labels
        self.indices = indices
    }

    /// The number of samples B.
    public var count: Int { labels.count }
}

/// The mini-batches of one epoch over a dataset, as a `Sequence` of ``Batch``.
///
/// Order: with `shuffle`, epoch `e` of seed `s` visits the samples in the order
/// ``permutation(count:seed:epoch:)`` — a Fisher–Yates shuffle driven by a
/// ``SeededGenerator`` seeded from `(s, e)` alone, so any epoch can be reproduced without
/// replaying the earlier ones (resuming a run from a checkpoint). Without `shuffle` the order
/// is `0, 1, …, N−1`. Consecutive runs of `batchSize` samples form the batches; the last one
/// is smaller unless `dropLast`, in which case it is omitted.
public struct Batches: Sequence, Sendable {
    public let dataset: Dataset
    public let batchSize: Int
    public let order: [Int]

    public init(dataset: Dataset, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0, epoch: Int = 0) {
        precondition(batchSize > 0, "Batches: batchSize must be positive")
        self.dataset = dataset
        self.batchSize = batchSize
        let full = shuffle ? Batches.permutation(count: dataset.count, seed: seed, epoch: epoch) : Array(0..<dataset.count)
        self.order = dropLast ? Array(full.prefix(full.count / batchSize * batchSize)) : full
    }

    /// The number of batches in the epoch.
    public var count: Int { order.count / batchSize + (order.count % batchSize == 0 ? 0 : 1) }
    public var underestimatedCount: Int { count }

    /// Batch number `k` of the epoch.
    public subscript(k: Int) -> Batch {
        precondition(k >= 0 && k < count, "Batches: batch \(k) outside 0..<\(count)")
        let indices = Array(order[(k * batchSize)..<Swift.min(order.count, (k + 1) * batchSize)])
        return Batch(
            images: gatherSamples(dataset.images, indices), labels: indices.map { dataset.labels[$0] }, indices: indices)
    }

    public func makeIterator() -> BatchIterator { BatchIterator(batches: self) }

    /// A permutation of `0..<count` determined by `(seed, epoch)` only: Fisher–Yates with a
    /// ``SeededGenerator`` whose seed is SplitMix64-mixed from `seed` and `epoch`.
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var generator = SeededGenerator(seed: mix(seed, UInt64(bitPattern: Int64(epoch))))
        var order = Array(0..<count)
        // Explicit Fisher–Yates (the standard library's shuffle algorithm is not specified).
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(generator.next(upperBound: UInt64(i + 1)))
                order.swapAt(i, j)
            }
        }
        return order
    }
}

/// Iterates the batches of a ``Batches`` in order, assembling each on demand.
public struct BatchIterator: IteratorProtocol, Sendable {
    let batches: Batches
    var position = 0

    public mutating func next() -> Batch? {
        guard position < batches.count else { return nil }
        defer { position += 1 }
        return batches[position]
    }
}

extension Dataset {
    /// The batches of one epoch; see ``Batches``.
    public func batches(size: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0, epoch: Int = 0) -> Batches {
        Batches(dataset: self, batchSize: size, shuffle: shuffle, dropLast: dropLast, seed: seed, epoch: epoch)
    }
}

/// SplitMix64 finalizer of `a` combined with `b`: distinct `(a, b)` pairs give unrelated seeds.
func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    func finalize(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    return finalize(finalize(a) ^ (b &* 0xD6E8_FEB8_6659_FD93))
}
