import PlateauTensor

/// LeNet-5 (LeCun et al. 1998) in its common modern form for 1×28×28 input: conv 6@5×5
/// (padding 2), ReLU, max-pool 2, conv 16@5×5, ReLU, max-pool 2, then 400–120–84–classes
/// fully connected with ReLU.
public struct LeNet5: Layer {
    public var conv1: Conv2d
    public var conv2: Conv2d
    public var fc1: Linear
    public var fc2: Linear
    public var fc3: Linear

    public init(inputChannels: Int = 1, classCount: Int = 10, using generator: inout some RandomNumberGenerator) {
        conv1 = Conv2d(inputChannels, 6, kernelSize: 5, padding: 2, using: &generator)
        conv2 = Conv2d(6, 16, kernelSize: 5, using: &generator)
        fc1 = Linear(inputCount: 16 * 5 * 5, outputCount: 120, using: &generator)
        fc2 = Linear(inputCount: 120, outputCount: 84, using: &generator)
        fc3 = Linear(inputCount: 84, outputCount: classCount, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv1", &conv1)
        visitor.child("conv2", &conv2)
        visitor.child("fc1", &fc1)
        visitor.child("fc2", &fc2)
        visitor.child("fc3", &fc3)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[2] == 28 && input.shape[3] == 28,
                     "LeNet5: expected [N, C, 28, 28] images, got \(input.shape)")
        var x = conv1(input).relu().maxPool2d(kernel: (2, 2))
        x = conv2(x).relu().maxPool2d(kernel: (2, 2)).flattened()
        return fc3(fc2(fc1(x).relu()).relu())
    }
}
