import PlateauTensor

/// Data augmentation on image batches `[B, C, H, W]`, drawing randomness only from the
/// generator passed in (use a ``SeededGenerator`` for reproducible runs).
///
/// - ``Step/randomCrop(padding:)``: per sample, draw offsets `dy, dx` uniformly in
///   `−p...p` and set `out[c, y, x] = in[c, y + dy, x + dx]`, or 0 where that falls outside
///   the image — the same as zero-padding by `p` on each side and cropping `H × W` back.
/// - ``Step/horizontalFlip(probability:)``: per sample, with probability `q` (one
///   `Double.random(in: 0..<1)` draw per sample), `out[c, y, x] = in[c, y, W − 1 − x]`.
/// - ``Step/normalize(_:)``: ``Normalization`` per channel (no randomness).
///
/// Steps apply in order. The usual CIFAR recipe is
/// `[.randomCrop(padding: 4), .horizontalFlip(), .normalize(statistics)]`: padding happens in
/// pixel space, before normalization, as in torchvision.
public struct Augmentation: Sendable {
    /// One transformation of the pipeline; see ``Augmentation`` for the formulas.
    public enum Step: Sendable {
        case randomCrop(padding: Int)
        case horizontalFlip(probability: Double = 0.5)
        case normalize(Normalization)
    }

    public var steps: [Step]

    public init(_ steps: [Step]) { self.steps = steps }

    /// The batch with augmented images; labels and indices are unchanged.
    public func apply(to batch: Batch, using generator: inout some RandomNumberGenerator) -> Batch {
        var result = batch
        result.images = apply(to: batch.images, using: &generator)
        return result
    }

    /// Augmented images.
    public func apply(to images: Tensor, using generator: inout some RandomNumberGenerator) -> Tensor {
        var images = images
        for step in steps {
            switch step {
            case .randomCrop(let padding):
                images = Augmentation.randomCrop(images, padding: padding, using: &generator)
            case .horizontalFlip(let probability):
                images = Augmentation.randomHorizontalFlip(images, probability: probability, using: &generator)
            case .normalize(let statistics):
                images = statistics.apply(to: images)
            }
        }
        return images
    }

    /// Random crop with zero padding (see the type's documentation).
    public static func randomCrop(_ images: Tensor, padding: Int, using generator: inout some RandomNumberGenerator) -> Tensor {
        precondition(images.rank == 4, "randomCrop: expected [B, C, H, W], got \(images.shape)")
        precondition(padding >= 0, "randomCrop: negative padding")
        let b = images.shape[0]
        let offsets = (0..<b).map { _ in
            (Int.random(in: -padding...padding, using: &generator), Int.random(in: -padding...padding, using: &generator))
        }
        return shifted(images, offsets: offsets)
    }

    /// Each sample moved so that `out[c, y, x] = in[c, y + dy, x + dx]` (0 outside).
    public static func shifted(_ images: Tensor, offsets: [(dy: Int, dx: Int)]) -> Tensor {
        precondition(images.rank == 4 && offsets.count == images.shape[0], "shifted: one offset per sample")
        return images.shiftingSamples(by: offsets)
    }

    /// Flips each sample left–right with probability `probability`.
    public static func randomHorizontalFlip(
        _ images: Tensor, probability: Double = 0.5, using generator: inout some RandomNumberGenerator
    ) -> Tensor {
        precondition(images.rank == 4, "randomHorizontalFlip: expected [B, C, H, W], got \(images.shape)")
        let mask = (0..<images.shape[0]).map { _ in Double.random(in: 0..<1, using: &generator) < probability }
        return flippedHorizontally(images, where: mask)
    }

    /// Flips left–right the samples `s` with `mask[s]` (all of them by default).
    public static func flippedHorizontally(_ images: Tensor, where mask: [Bool]? = nil) -> Tensor {
        precondition(images.rank == 4, "flippedHorizontally: expected [B, C, H, W], got \(images.shape)")
        let mask = mask ?? [Bool](repeating: true, count: images.shape[0])
        precondition(mask.count == images.shape[0], "flippedHorizontally: one mask entry per sample")
        return images.flippingSamplesHorizontally(where: mask)
    }
}
