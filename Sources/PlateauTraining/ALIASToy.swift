import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The normalization a ``ALIASToy`` generator uses.
public enum ALIASToyVariant: String, CaseIterable, Sendable {
    /// Instance normalization, modulated by the target shape S (SPADE).
    case spade
    /// Instance normalization, modulated by S and the misalignment mask M.
    case spadeMask = "spade+mask"
    /// Region-wise MaskNorm over M, modulated by S and M (ALIAS).
    case alias
}

/// A small generator: a 3×3 convolution of [warped copy, target shape], two residual blocks
/// (norm → LeakyReLU(0.2) → 3×3 conv, twice) and a 3×3 output convolution, as VITON-HD's
/// ALIAS residual blocks at toy size.
public struct ALIASToyGenerator: Module {
    public var head: Conv2d
    public var norms: [ALIASNorm]
    public var convolutions: [Conv2d]
    public var tail: Conv2d
    public let variant: ALIASToyVariant

    public init(variant: ALIASToyVariant, width: Int = 16, blocks: Int = 2, seed: UInt64, using generator: inout some RandomNumberGenerator) {
        self.variant = variant
        head = Conv2d(2, width, kernelSize: 3, padding: 1, using: &generator)
        let segmentationChannels = variant == .spade ? 1 : 2
        norms = (0..<(2 * blocks)).map {
            ALIASNorm(channels: width, segmentationChannels: segmentationChannels, hiddenChannels: width,
                      regionwise: variant == .alias, seed: seed &+ UInt64($0), using: &generator)
        }
        convolutions = (0..<(2 * blocks)).map { _ in Conv2d(width, width, kernelSize: 3, padding: 1, using: &generator) }
        tail = Conv2d(width, 1, kernelSize: 3, padding: 1, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("head", &head)
        visitor.children("norms", &norms)
        visitor.children("convs", &convolutions)
        visitor.child("tail", &tail)
    }

    /// The reconstruction `[N, 1, H, W]` from the warped copy, the target shape S and the mask M.
    public mutating func callAsFunction(warped: Tensor, shape: Tensor, mask: Tensor) -> Tensor {
        let segmentation = variant == .spade ? shape : Tensor.concatenating([shape, mask], alongAxis: 1)
        var x = head(Tensor.concatenating([warped, shape], alongAxis: 1))
        for block in 0..<(norms.count / 2) {
            var h = x
            for i in [2 * block, 2 * block + 1] {
                h = convolutions[i](norms[i](h, segmentation: segmentation, mask: mask).leakyRelu(slope: 0.2))
            }
            x = x + h
        }
        return tail(x)
    }
}

/// One example set of the toy: MNIST digits, copies shifted by a few pixels ("warped"), the
/// true foreground (ink > 0.3) as the shape to fill, and the misalignment mask
/// M = foreground XOR warped foreground: the pixels the warped copy gets wrong.
public struct ALIASToyExamples: Sendable {
    public var target: Tensor
    public var warped: Tensor
    public var shape: Tensor
    public var mask: Tensor

    /// - Parameters:
    ///   - images: `[N, 1, H, W]` in [0, 1].
    ///   - maximumShift: each copy is shifted by an independent amount in 1...maximumShift
    ///     pixels, with a random sign, along each axis (zeros shifted in).
    public init(images: Tensor, maximumShift: Int, using generator: inout some RandomNumberGenerator) {
        precondition(images.rank == 4 && images.shape[1] == 1, "ALIASToyExamples: expected [N, 1, H, W] images, got \(images.shape)")
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        var warped = [Float](repeating: 0, count: images.count)
        for s in 0..<n {
            let dy = Int.random(in: 1...maximumShift, using: &generator) * (Bool.random(using: &generator) ? 1 : -1)
            let dx = Int.random(in: 1...maximumShift, using: &generator) * (Bool.random(using: &generator) ? 1 : -1)
            for y in 0..<h where (0..<h).contains(y - dy) {
                for x in 0..<w where (0..<w).contains(x - dx) {
                    warped[(s * h + y) * w + x] = images.scalars[(s * h + y - dy) * w + x - dx]
                }
            }
        }
        let foreground = images.scalars.map { $0 > 0.3 ? Float(1) : 0 }
        let mask = zip(foreground, warped).map { f, v in f != (v > 0.3 ? 1 : 0) ? Float(1) : 0 }
        target = images
        self.warped = Tensor(shape: images.shape, scalars: warped)
        shape = Tensor(shape: images.shape, scalars: foreground)
        self.mask = Tensor(shape: images.shape, scalars: mask)
    }

    public var count: Int { target.shape[0] }

    func batch(_ indices: [Int]) -> ALIASToyExamples {
        var copy = self
        copy.target = target.gathering(indices, alongAxis: 0)
        copy.warped = warped.gathering(indices, alongAxis: 0)
        copy.shape = shape.gathering(indices, alongAxis: 0)
        copy.mask = mask.gathering(indices, alongAxis: 0)
        return copy
    }
}

/// The result of training one ``ALIASToyVariant``.
public struct ALIASToyResult: Sendable {
    public var variant: ALIASToyVariant
    public var seed: UInt64
    /// Mean |output − target| over the misaligned pixels of the test set.
    public var maskedL1: Double
    /// Mean |output − target| over all test pixels.
    public var overallL1: Double
    /// Mean |warped − target| over the misaligned test pixels: the error of copying the input.
    public var copyMaskedL1: Double
}

/// The toy of VITON-HD's ALIAS normalization (seed notes §15): reconstruct a digit from its
/// true shape and a misaligned copy, trained with an L1 loss over the whole image by Adam;
/// the test metric is the L1 error inside the misalignment mask, where the generator must
/// invent the ink rather than copy it.
public enum ALIASToy {
    public static func run(
        variant: ALIASToyVariant, train: ALIASToyExamples, test: ALIASToyExamples, steps: Int, batchSize: Int,
        learningRate: Float, width: Int, seed: UInt64
    ) -> ALIASToyResult {
        var generator = SeededGenerator(seed: seed)
        var model = ALIASToyGenerator(variant: variant, width: width, seed: seed, using: &generator)
        var optimizer = Adam(learningRate: learningRate)
        for _ in 0..<steps {
            let batch = train.batch((0..<batchSize).map { _ in Int.random(in: 0..<train.count, using: &generator) })
            let result = valueWithGradient(at: model) { (m: inout ALIASToyGenerator) in
                (m.callAsFunction(warped: batch.warped, shape: batch.shape, mask: batch.mask) - batch.target).abs().mean()
            }
            model = result.model
            var parameters = model.parameters
            optimizer.update(&parameters, along: result.gradient)
            model.update(parameters)
        }
        var masked = 0.0, overall = 0.0, copy = 0.0, maskCount = 0.0
        for start in stride(from: 0, to: test.count, by: batchSize) {
            let batch = test.batch(Array(start..<Swift.min(start + batchSize, test.count)))
            let output = withoutGradients { model(warped: batch.warped, shape: batch.shape, mask: batch.mask) }
            for i in 0..<output.count {
                let error = Double(Swift.abs(output.scalars[i] - batch.target.scalars[i]))
                overall += error
                if batch.mask.scalars[i] == 1 {
                    masked += error
                    copy += Double(Swift.abs(batch.warped.scalars[i] - batch.target.scalars[i]))
                    maskCount += 1
                }
            }
        }
        return ALIASToyResult(variant: variant, seed: seed, maskedL1: masked / Swift.max(maskCount, 1),
                              overallL1: overall / Double(test.target.count), copyMaskedL1: copy / Swift.max(maskCount, 1))
    }
}
