import PlateauNN
import PlateauTensor

/// Builds the named models of the CLI for a dataset's sample shape, checking that they fit.
public enum ModelFactory {
    public static let names = ["mlp", "lenet", "resnet20", "resnet32", "resnet56"]

    /// A freshly initialized model.
    ///
    /// - Throws: ``ConfigurationError`` naming the model when the samples do not fit it
    ///   (LeNet-5 needs 28×28 images, ResNets need `[C, H, W]` images).
    public static func make(
        _ name: String, sampleShape: [Int], classCount: Int, using generator: inout some RandomNumberGenerator
    ) throws -> any Layer {
        let features = sampleShape.reduce(1, *)
        switch name {
        case "mlp":
            return MLP(sizes: [features, 512, 512, classCount], using: &generator)
        case "lenet":
            guard sampleShape.count == 3, sampleShape[1] == 28, sampleShape[2] == 28 else {
                throw ConfigurationError(field: "model", message: "lenet expects [C, 28, 28] images, the dataset has samples of shape \(sampleShape)")
            }
            return LeNet5(inputChannels: sampleShape[0], classCount: classCount, using: &generator)
        case "resnet20", "resnet32", "resnet56":
            guard sampleShape.count == 3, sampleShape[1] >= 8, sampleShape[2] >= 8 else {
                throw ConfigurationError(field: "model", message: "\(name) expects [C, H, W] images of at least 8x8, the dataset has samples of shape \(sampleShape)")
            }
            return ResNet(depth: Int(name.dropFirst(6))!, inputChannels: sampleShape[0], classCount: classCount, using: &generator)
        default:
            throw ConfigurationError(field: "model", message: "expected one of \(names.joined(separator: ", ")), got '\(name)'")
        }
    }
}
