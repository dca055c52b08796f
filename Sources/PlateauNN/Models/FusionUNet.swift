import PlateauTensor

/// How a ``FusionUNet`` decoder merges a coarse feature into the next finer one.
public enum DecoderFusion: String, CaseIterable, Sendable {
    /// Nearest-neighbour upsampling, then addition.
    case nearest
    /// Bilinear upsampling, then addition.
    case bilinear
    /// ``FreqFusion`` (adaptive low-pass upsampling, high-pass sharpening of the skip,
    /// offset resampling).
    case freqFusion = "freqfusion"
}

/// A U-Net whose decoder fuses by addition, FPN-style, so that the upsampling operator is
/// the only difference between variants (the comparison FreqFusion's paper makes): the
/// encoder is ``UNet``'s (double convs, 2×2 max-pool, channels doubling from `width`); each
/// decoder step maps the coarse feature to the skip's channels with a 1×1 convolution,
/// fuses it with the skip (``DecoderFusion``) and applies a double conv; a 1×1 convolution
/// gives per-pixel class scores `[N, classCount, H, W]`.
public struct FusionUNet: Layer {
    public var inc: DoubleConv
    public var down: [DoubleConv]
    /// 1×1 lateral convolutions, c_level → c_(level−1), deepest first.
    public var lateral: [Conv2d]
    /// FreqFusion modules, deepest first (``DecoderFusion/freqFusion`` only).
    public var fusion: [FreqFusion]
    public var up: [DoubleConv]
    public var outc: Conv2d
    public let levels: Int
    public let fusionKind: DecoderFusion

    public init(inputChannels: Int = 1, classCount: Int = 2, levels: Int = 3, width: Int = 16, fusion kind: DecoderFusion,
                using generator: inout some RandomNumberGenerator) {
        UNetEncoder.validate("FusionUNet", levels: levels, width: width, inputChannels: inputChannels, classCount: classCount)
        self.levels = levels
        fusionKind = kind
        let channels = UNetEncoder.channels(width: width, levels: levels)
        (inc, down) = UNetEncoder.make(inputChannels: inputChannels, channels: channels, using: &generator)
        var lateral: [Conv2d] = [], fusion: [FreqFusion] = [], up: [DoubleConv] = []
        for level in stride(from: levels - 1, to: 0, by: -1) {
            lateral.append(Conv2d(channels[level], channels[level - 1], kernelSize: 1, using: &generator))
            if kind == .freqFusion {
                fusion.append(FreqFusion(channels: channels[level - 1], compressedChannels: Swift.min(channels[level - 1], 16), using: &generator))
            }
            up.append(DoubleConv(inputChannels: channels[level - 1], outputChannels: channels[level - 1], using: &generator))
        }
        self.lateral = lateral
        self.fusion = fusion
        self.up = up
        outc = Conv2d(channels[0], classCount, kernelSize: 1, using: &generator)
    }

    public var inputChannels: Int { inc.conv1.weight.shape[1] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        UNetEncoder.visit(visitor, inc: &inc, down: &down)
        for i in up.indices {
            visitor.child(path: ["up\(i + 1)", "lateral"], &lateral[i])
            if i < fusion.count { visitor.child(path: ["up\(i + 1)", "freqfusion"], &fusion[i]) }
            visitor.child(path: ["up\(i + 1)", "conv"], &up[i])
        }
        visitor.child(path: ["outc", "conv"], &outc)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        var skips = UNetEncoder.features(of: input, model: "FusionUNet", inc: &inc, down: &down)
        var x = skips.removeLast()
        for i in up.indices {
            let skip = skips.removeLast(), coarse = lateral[i](x)
            let size = (skip.shape[2], skip.shape[3])
            let fused: Tensor
            switch fusionKind {
            case .nearest: fused = skip + coarse.upsampledNearest(to: size)
            case .bilinear: fused = skip + coarse.upsampledBilinear(to: size)
            case .freqFusion: fused = fusion[i](high: skip, low: coarse)
            }
            x = up[i](fused)
        }
        return outc(x)
    }
}
