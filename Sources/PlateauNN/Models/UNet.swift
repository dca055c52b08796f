import PlateauTensor

/// The U-Net double convolution: (3×3 conv → BatchNorm → ReLU) × 2, convolutions without
/// bias. Names follow milesial/Pytorch-UNet's `DoubleConv`: `double_conv.0` (conv),
/// `double_conv.1` (BN), `double_conv.3`, `double_conv.4`.
public struct DoubleConv: Layer {
    public var conv1: Conv2d
    public var bn1: BatchNorm
    public var conv2: Conv2d
    public var bn2: BatchNorm

    public init(inputChannels: Int, outputChannels: Int, using generator: inout some RandomNumberGenerator) {
        conv1 = Conv2d(inputChannels, outputChannels, kernelSize: 3, padding: 1, bias: false, using: &generator)
        bn1 = BatchNorm(featureCount: outputChannels)
        conv2 = Conv2d(outputChannels, outputChannels, kernelSize: 3, padding: 1, bias: false, using: &generator)
        bn2 = BatchNorm(featureCount: outputChannels)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child(path: ["double_conv", "0"], &conv1)
        visitor.child(path: ["double_conv", "1"], &bn1)
        visitor.child(path: ["double_conv", "3"], &conv2)
        visitor.child(path: ["double_conv", "4"], &bn2)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        // Each ReLU fused into the batch norm before it (one pass each way instead of two).
        bn2.rectified(conv2(bn1.rectified(conv1(input))))
    }
}

/// A small U-Net (Ronneberger, Fischer & Brox 2015, *U-Net: Convolutional Networks for
/// Biomedical Image Segmentation*) with same-padded convolutions: an encoder of `levels`
/// resolutions (double conv; 2×2 max-pool between levels, channels doubling from `width`),
/// a decoder that upsamples with a stride-2 2×2 ``ConvTranspose2d`` halving the channels,
/// concatenates the encoder feature map of the same resolution (skip connection) and
/// applies a double conv, and a 1×1 output convolution to per-pixel class scores
/// `[N, classCount, H, W]`.
///
/// Names follow milesial/Pytorch-UNet (`inc`, `down1.maxpool_conv.1.double_conv.0`, …,
/// `up1.up`, `up1.conv.double_conv.0`, …, `outc.conv`); PyTorch default initialization.
public struct UNet: Layer {
    public var inc: DoubleConv
    /// Encoder steps, `down1`…: max-pool then double conv.
    public var down: [DoubleConv]
    /// Decoder upsampling, `up1.up`…: channels c → c/2, resolution doubled.
    public var upsample: [ConvTranspose2d]
    /// Decoder double convs, `up1.conv`…, on the concatenation [skip, upsampled].
    public var up: [DoubleConv]
    public var outc: Conv2d
    public let levels: Int

    /// - Parameters:
    ///   - levels: the number of resolutions (2–5; the paper uses 5); input sides must be
    ///     divisible by 2^(levels − 1).
    ///   - width: channels at the first level (64 in the paper), doubled at each level.
    public init(inputChannels: Int = 1, classCount: Int = 2, levels: Int = 3, width: Int = 16,
                using generator: inout some RandomNumberGenerator) {
        UNetEncoder.validate("UNet", levels: levels, width: width, inputChannels: inputChannels, classCount: classCount)
        self.levels = levels
        let channels = UNetEncoder.channels(width: width, levels: levels)
        (inc, down) = UNetEncoder.make(inputChannels: inputChannels, channels: channels, using: &generator)
        var upsample: [ConvTranspose2d] = []
        var up: [DoubleConv] = []
        for level in stride(from: levels - 1, to: 0, by: -1) {
            upsample.append(ConvTranspose2d(channels[level], channels[level - 1], kernelSize: 2, stride: 2, using: &generator))
            up.append(DoubleConv(inputChannels: 2 * channels[level - 1], outputChannels: channels[level - 1], using: &generator))
        }
        self.upsample = upsample
        self.up = up
        outc = Conv2d(channels[0], classCount, kernelSize: 1, using: &generator)
    }

    public var inputChannels: Int { inc.conv1.weight.shape[1] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        UNetEncoder.visit(visitor, inc: &inc, down: &down)
        for i in up.indices {
            visitor.child(path: ["up\(i + 1)", "up"], &upsample[i])
            visitor.child(path: ["up\(i + 1)", "conv"], &up[i])
        }
        visitor.child(path: ["outc", "conv"], &outc)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        decoded(UNetEncoder.features(of: input, model: "UNet", inc: &inc, down: &down))
    }

    /// The expanding path: from the encoder's feature maps (finest first) to class scores.
    mutating func decoded(_ features: [Tensor]) -> Tensor {
        var skips = features
        var x = skips.removeLast()
        for i in up.indices {
            let skip = skips.removeLast()
            x = up[i](Tensor.concatenating([skip, upsample[i](x)], alongAxis: 1))
        }
        return outc(x)
    }
}
