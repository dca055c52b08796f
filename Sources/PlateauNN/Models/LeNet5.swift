import PlateauTensor

/// LeNet-5 (LeCun et al. 1998) in its common modern form for 1×28×28 input: conv 6@5×5
/// (padding 2), ReLU, max-pool 2, conv 16@5×5, ReLU, max-pool 2, then 400–120–84–classes
/// fully connected with ReLU.
///
/// With a ``NormalizationKind`` other than `none`, a normalization layer sits between each
/// of the four hidden layers and its ReLU, named `norm1` (6 channels), `norm2` (16
/// channels), `norm3` (120 features) and `norm4` (84 features): the PyTorch twin declares
/// `self.norm1 = nn.GroupNorm(2, 6)` (or `nn.BatchNorm2d(6)`, …) beside `conv1`, and its
/// forward is `pool(relu(norm1(conv1(x))))`. The convs keep their bias even before
/// BatchNorm (where it has no effect), so that every kind shares the `none` layers' names.
public struct LeNet5: LinearHeaded {
    public var conv1: Conv2d
    public var norm1: NormLayer?
    public var conv2: Conv2d
    public var norm2: NormLayer?
    public var fc1: Linear
    public var norm3: NormLayer?
    public var fc2: Linear
    public var norm4: NormLayer?
    public var fc3: Linear

    public init(
        inputChannels: Int = 1, classCount: Int = 10, norm: NormalizationKind = .none, using generator: inout some RandomNumberGenerator
    ) {
        conv1 = Conv2d(inputChannels, 6, kernelSize: 5, padding: 2, using: &generator)
        conv2 = Conv2d(6, 16, kernelSize: 5, using: &generator)
        fc1 = Linear(inputCount: 16 * 5 * 5, outputCount: 120, using: &generator)
        fc2 = Linear(inputCount: 120, outputCount: 84, using: &generator)
        fc3 = Linear(inputCount: 84, outputCount: classCount, using: &generator)
        // Normalization layers draw no random numbers: `none` keeps the weights it always had.
        norm1 = NormLayer.forChannels(norm, 6)
        norm2 = NormLayer.forChannels(norm, 16)
        norm3 = NormLayer.forFeatures(norm, 120)
        norm4 = NormLayer.forFeatures(norm, 84)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv1", &conv1)
        visitor.child("norm1", &norm1)
        visitor.child("conv2", &conv2)
        visitor.child("norm2", &norm2)
        visitor.child("fc1", &fc1)
        visitor.child("norm3", &norm3)
        visitor.child("fc2", &fc2)
        visitor.child("norm4", &norm4)
        visitor.child("fc3", &fc3)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        fc3(features(input))
    }

    /// The 84 activations `fc3` maps to the outputs.
    public mutating func features(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[2] == 28 && input.shape[3] == 28,
                     "LeNet5: expected [N, C, 28, 28] images, got \(input.shape)")
        var x = norm1.rectifiedAndPooled(conv1(input))
        x = norm2.rectifiedAndPooled(conv2(x)).flattened()
        x = norm3.rectified(fc1(x))
        return norm4.rectified(fc2(x))
    }

    /// `fc3`.
    public var head: Linear { fc3 }
}
