import PlateauNN
import PlateauTensor

/// A segmentation network (images `[N, C, H, W]` → logits `[N, classes, H, W]`) with the
/// learnable σ of an uncertainty-weighted loss, when the run has one.
///
/// σ is a parameter of the model (`loss_sigma`, beside the network's own names), so every
/// optimizer updates it and every sharpness-aware rule perturbs it with the weights, as
/// UU-Mamba's SAM perturbs its loss weights; the checkpoint saves it.
public struct SegmentationNetwork: Layer {
    public var network: any Layer
    /// σᵢ of the uncertainty weighting, one per loss (`nil`: no weighting).
    public var lossSigma: Tensor?

    /// The parameter path of σ.
    public static let sigmaPath = "loss_sigma"

    public init(network: any Layer, lossSigma: Tensor? = nil) {
        self.network = network
        self.lossSigma = lossSigma
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        // The network's own paths stay at the root, so its checkpoint names are unchanged.
        network.visit(visitor)
        visitor.parameter(Self.sigmaPath, &lossSigma)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor { network(input) }
}

extension ModelFactory {
    /// The segmentation models of `plateau train --task segmentation`: the U-Net, U-Mamba
    /// (the U-Net with a Mamba layer at the bottleneck) and the U-Net with an additive
    /// decoder fused by nearest or bilinear upsampling or by FreqFusion. A new architecture
    /// is one name here and one case in ``makeSegmentation(_:inputChannels:classCount:width:levels:using:)``.
    public static let segmentationNames = ["unet"] + perPixelNames

    /// A freshly initialized segmentation network mapping `[N, inputChannels, H, W]` to
    /// per-pixel logits `[N, classCount, H, W]`.
    ///
    /// - Throws: ``ConfigurationError`` naming `model` for an unknown name, `seg-width` or
    ///   `seg-levels` for sizes the model cannot take.
    public static func makeSegmentation(
        _ name: String, inputChannels: Int, classCount: Int, width: Int, levels: Int, using generator: inout some RandomNumberGenerator
    ) throws -> any Layer {
        guard (1...256).contains(width) else { throw ConfigurationError(field: "seg-width", message: "expected 1...256 channels, got \(width)") }
        guard (2...5).contains(levels) else { throw ConfigurationError(field: "seg-levels", message: "expected 2...5 resolutions, got \(levels)") }
        switch name {
        case "unet":
            return UNet(inputChannels: inputChannels, classCount: classCount, levels: levels, width: width, using: &generator)
        case "umamba":
            return UMamba(inputChannels: inputChannels, classCount: classCount, levels: levels, width: width, using: &generator)
        case "unet-nearest", "unet-bilinear", "unet-freqfusion":
            let fusion = DecoderFusion(rawValue: String(name.dropFirst(5)))!
            return FusionUNet(inputChannels: inputChannels, classCount: classCount, levels: levels, width: width, fusion: fusion, using: &generator)
        default:
            throw ConfigurationError(field: "model", message: "--task segmentation expects one of \(segmentationNames.joined(separator: ", ")), got '\(name)'")
        }
    }
}
