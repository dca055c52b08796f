import PlateauNN
import PlateauTensor

/// Builds the named models of the CLI for a dataset's sample shape, checking that they fit.
public enum ModelFactory {
    public static let names = ["mlp", "mlp3", "mlp-512-256", "lenet", "resnet20", "resnet32", "resnet56", "wrn16-4", "wrn16-8", "wrn28-10", "vit", "mixer", "vit-tiny"]

    /// The models that take a ``NormalizationKind`` (`--norm`); the others have their own
    /// normalization (BatchNorm in the ResNets, LayerNorm in ViT and Mixer).
    public static let normalizable = ["mlp", "lenet"]

    /// The per-pixel models (`[N, classCount, H, W]` scores) that ``make(_:sampleShape:classCount:norm:using:)``
    /// builds at the bench's size: U-Mamba and the U-Net decoder variants of
    /// ``PlateauNN/FusionUNet``. Not in ``names`` (the image-classification models): `train
    /// --task segmentation` builds them by ``makeSegmentation(_:inputChannels:classCount:width:levels:using:)``.
    public static let perPixelNames = ["umamba", "unet-nearest", "unet-bilinear", "unet-freqfusion"]

    /// A freshly initialized model.
    ///
    /// - Parameter norm: the normalization after each hidden layer (``normalizable`` models only).
    /// - Throws: ``ConfigurationError`` naming the model when the samples do not fit it
    ///   (LeNet-5 needs 28×28 images, ResNets need `[C, H, W]` images), or naming `norm`
    ///   when a model that does not take it is given a normalization.
    public static func make(
        _ name: String, sampleShape: [Int], classCount: Int, norm: NormalizationKind = .none,
        using generator: inout some RandomNumberGenerator
    ) throws -> any Layer {
        let features = sampleShape.reduce(1, *)
        if norm != .none, (names + perPixelNames).contains(name), !normalizable.contains(name) {
            throw ConfigurationError(
                field: "norm", message: "only \(normalizable.joined(separator: " and ")) take a normalization option, got '\(norm.rawValue)' for \(name) (which has its own); use none")
        }
        switch name {
        case "mlp":
            return MLP(sizes: [features, 512, 512, classCount], norm: norm, using: &generator)
        case "mlp3":
            // Three hidden layers, so that Muon has two hidden matrices and LANTON layers to compare.
            return MLP(sizes: [features, 512, 512, 512, classCount], norm: norm, using: &generator)
        case "mlp-512-256":
            // The pruning-regime paper's small model (Zhou et al. 2023, §13 of the seed notes).
            return MLP(sizes: [features, 512, 256, classCount], norm: norm, using: &generator)
        case "lenet":
            guard sampleShape.count == 3, sampleShape[1] == 28, sampleShape[2] == 28 else {
                throw ConfigurationError(field: "model", message: "lenet expects [C, 28, 28] images, the dataset has samples of shape \(sampleShape)")
            }
            return LeNet5(inputChannels: sampleShape[0], classCount: classCount, norm: norm, using: &generator)
        case "resnet20", "resnet32", "resnet56":
            guard sampleShape.count == 3, sampleShape[1] >= 8, sampleShape[2] >= 8 else {
                throw ConfigurationError(field: "model", message: "\(name) expects [C, H, W] images of at least 8x8, the dataset has samples of shape \(sampleShape)")
            }
            return ResNet(depth: Int(name.dropFirst(6))!, inputChannels: sampleShape[0], classCount: classCount, using: &generator)
        case "wrn16-4", "wrn16-8", "wrn28-10":
            guard sampleShape.count == 3, sampleShape[1] >= 8, sampleShape[2] >= 8 else {
                throw ConfigurationError(field: "model", message: "\(name) expects [C, H, W] images of at least 8x8, the dataset has samples of shape \(sampleShape)")
            }
            let parts = name.dropFirst(3).split(separator: "-").map { Int($0)! }
            return WideResNet(depth: parts[0], widenFactor: parts[1], classCount: classCount, inputChannels: sampleShape[0], using: &generator)
        case "vit", "mixer", "vit-tiny":
            guard sampleShape.count == 3, sampleShape[1] == sampleShape[2], sampleShape[1] % 4 == 0 else {
                throw ConfigurationError(field: "model", message: "\(name) expects square [C, H, H] images with H divisible by 4 (28x28 or 32x32), the dataset has samples of shape \(sampleShape)")
            }
            let size = sampleShape[1]
            let patch = size == 28 ? 7 : 4
            if name == "vit" {
                return VisionTransformer(imageSize: size, patchSize: patch, inputChannels: sampleShape[0], classCount: classCount, using: &generator)
            }
            if name == "vit-tiny" {
                // Depth 4 and MLP width 128 (Chen et al. 2022's tiny setting) put it at the
                // default mixer's parameter budget (139k vs 142k on 28x28x1), so the two compare.
                return VisionTransformer(imageSize: size, patchSize: patch, inputChannels: sampleShape[0], classCount: classCount,
                                         depth: 4, mlpDimension: 128, using: &generator)
            }
            return MLPMixer(imageSize: size, patchSize: patch, inputChannels: sampleShape[0], classCount: classCount, using: &generator)
        case "umamba", "unet-nearest", "unet-bilinear", "unet-freqfusion":
            guard sampleShape.count == 3, sampleShape[1] % 4 == 0, sampleShape[2] % 4 == 0, sampleShape[1] > 0, sampleShape[2] > 0 else {
                throw ConfigurationError(field: "model", message: "\(name) expects [C, H, W] images with H and W divisible by 4 (3 levels), the dataset has samples of shape \(sampleShape)")
            }
            if name == "umamba" {
                return UMamba(inputChannels: sampleShape[0], classCount: classCount, levels: 3, width: 16, using: &generator)
            }
            let fusion = DecoderFusion(rawValue: String(name.dropFirst(5)))!
            return FusionUNet(inputChannels: sampleShape[0], classCount: classCount, levels: 3, width: 16, fusion: fusion, using: &generator)
        default:
            throw ConfigurationError(field: "model", message: "expected one of \((names + perPixelNames).joined(separator: ", ")), got '\(name)'")
        }
    }
}
