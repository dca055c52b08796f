import PlateauTensor

/// A U-Net with Mamba layers in the encoder, after U-Mamba (Ma, Li & Wang 2024, *U-Mamba:
/// Enhancing Long-range Dependency for Biomedical Image Segmentation*, arXiv:2401.04722;
/// used by UU-Mamba, Tsai et al. 2024): the ``UNet`` of the same constructor, with a
/// ``MambaLayer`` after the double convolution of each of the `mambaLevels` deepest encoder
/// levels, where the feature map is flattened to a sequence of H·W pixels so that the
/// selective scan mixes information across the whole image.
///
/// The default puts one Mamba layer at the bottleneck only: there the sequence is
/// (H/2^(levels−1))·(W/2^(levels−1)) long, and the scan's `[N, L, D, S]` state tensors stay
/// small; U-Mamba's encoder variant puts one in every stage. Names are the U-Net's plus
/// `mamba{level}.…`.
public struct UMamba: Layer {
    public var unet: UNet
    /// Mamba layers of the encoder levels `levels − mambaLevels ..< levels`, deepest last.
    public var mamba: [MambaLayer]
    public let mambaLevels: Int

    /// - Parameters:
    ///   - levels, width: as ``UNet``.
    ///   - mambaLevels: how many of the deepest encoder levels get a Mamba layer (1...levels).
    ///   - stateSize: the scan's state size per channel.
    public init(inputChannels: Int = 1, classCount: Int = 2, levels: Int = 3, width: Int = 16, mambaLevels: Int = 1,
                stateSize: Int = 16, using generator: inout some RandomNumberGenerator) {
        precondition((1...levels).contains(mambaLevels), "UMamba: mambaLevels must be in 1...\(levels), got \(mambaLevels)")
        unet = UNet(inputChannels: inputChannels, classCount: classCount, levels: levels, width: width, using: &generator)
        self.mambaLevels = mambaLevels
        mamba = ((levels - mambaLevels)..<levels).map { MambaLayer(channels: width << $0, stateSize: stateSize, using: &generator) }
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        unet.visit(visitor)
        let first = unet.levels - mambaLevels
        for i in mamba.indices { visitor.child("mamba\(first + i)", &mamba[i]) }
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let first = unet.levels - mambaLevels
        let features = UNetEncoder.features(of: input, model: "UMamba", inc: &unet.inc, down: &unet.down) { x, level in
            level >= first ? mamba[level - first](x) : x
        }
        return unet.decoded(features)
    }
}
