import PlateauTensor

/// The basic residual block of CIFAR ResNets (He et al. 2016, §4.2): two 3×3 conv–BN
/// layers with a ReLU between and after the sum. When the shape changes the shortcut is
/// the paper's option A — subsample by 2 and zero-pad the new channels — which adds no
/// parameters (ResNet-20 has 0.27 M).
public struct BasicBlock: Layer {
    public var conv1: Conv2d
    public var bn1: BatchNorm
    public var conv2: Conv2d
    public var bn2: BatchNorm
    public let stride: Int
    public let inputChannels: Int
    public let outputChannels: Int

    public init(inputChannels: Int, outputChannels: Int, stride: Int, using generator: inout some RandomNumberGenerator) {
        conv1 = Conv2d(inputChannels, outputChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &generator)
        bn1 = BatchNorm(featureCount: outputChannels)
        conv2 = Conv2d(outputChannels, outputChannels, kernelSize: 3, padding: 1, bias: false, using: &generator)
        bn2 = BatchNorm(featureCount: outputChannels)
        self.stride = stride
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        for w in [\BasicBlock.conv1.weight, \BasicBlock.conv2.weight] {
            self[keyPath: w] = Initializer.kaimingNormal(self[keyPath: w].shape, fanOut: outputChannels * 9, using: &generator)
        }
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv1", &conv1)
        visitor.child("bn1", &bn1)
        visitor.child("conv2", &conv2)
        visitor.child("bn2", &bn2)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let out = bn1.rectified(conv1(input))
        var shortcut = input
        if stride != 1 || inputChannels != outputChannels {
            shortcut = input.subsampled(by: (stride, stride))
            let extra = outputChannels - inputChannels
            shortcut = shortcut.padded(alongAxis: 1, before: extra / 2, after: extra - extra / 2)
        }
        // bn2, the sum and the ReLU as one operation.
        return bn2.rectified(conv2(out), adding: shortcut)
    }
}

/// A CIFAR-style ResNet of depth 6n + 2 (He et al. 2016): a 3×3 conv with 16 channels,
/// three stages of n basic blocks with 16, 32, 64 channels (stride 2 between stages),
/// global average pooling and a linear classifier. Depth 20, 32, 56 give ResNet-20/32/56.
public struct ResNet: Layer {
    public var conv1: Conv2d
    public var bn1: BatchNorm
    public var layer1: [BasicBlock]
    public var layer2: [BasicBlock]
    public var layer3: [BasicBlock]
    public var linear: Linear

    public init(depth: Int, inputChannels: Int = 3, classCount: Int = 10, using generator: inout some RandomNumberGenerator) {
        precondition(depth >= 8 && (depth - 2) % 6 == 0, "ResNet: depth must be 6n + 2 (20, 32, 56, …), got \(depth)")
        let n = (depth - 2) / 6
        conv1 = Conv2d(inputChannels, 16, kernelSize: 3, padding: 1, bias: false, using: &generator)
        conv1.weight = Initializer.kaimingNormal(conv1.weight.shape, fanOut: 16 * 9, using: &generator)
        bn1 = BatchNorm(featureCount: 16)
        func stage(_ input: Int, _ output: Int, _ stride: Int) -> [BasicBlock] {
            (0..<n).map { i in
                BasicBlock(inputChannels: i == 0 ? input : output, outputChannels: output, stride: i == 0 ? stride : 1, using: &generator)
            }
        }
        layer1 = stage(16, 16, 1)
        layer2 = stage(16, 32, 2)
        layer3 = stage(32, 64, 2)
        linear = Linear(inputCount: 64, outputCount: classCount, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv1", &conv1)
        visitor.child("bn1", &bn1)
        visitor.children("layer1", &layer1)
        visitor.children("layer2", &layer2)
        visitor.children("layer3", &layer3)
        visitor.child("linear", &linear)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == conv1.weight.shape[1],
                     "ResNet: expected [N, \(conv1.weight.shape[1]), H, W] images, got \(input.shape)")
        var x = bn1.rectified(conv1(input))
        for i in layer1.indices { x = layer1[i](x) }
        for i in layer2.indices { x = layer2[i](x) }
        for i in layer3.indices { x = layer3[i](x) }
        return linear(x.mean(alongAxes: [2, 3]))
    }
}
