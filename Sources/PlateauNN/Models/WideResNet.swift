import PlateauTensor

/// The pre-activation wide basic block of Wide ResNets (Zagoruyko & Komodakis 2016, *Wide
/// Residual Networks*; pre-activation after He et al. 2016, *Identity Mappings in Deep
/// Residual Networks*):
///
///     out = conv2(Dropout(ReLU(bn2(conv1(ReLU(bn1(x)))))))
///     y   = out + x                        when the shape is unchanged
///     y   = out + convShortcut(ReLU(bn1(x)))  otherwise (1×1 conv with the block's stride)
///
/// As in the common PyTorch implementation (xternalz/WideResNet-pytorch), a projecting
/// block feeds the *activated* input to its shortcut. Names: `bn1`, `conv1`, `bn2`, `conv2`,
/// `convShortcut`.
public struct WideBasicBlock: Layer {
    public var bn1: BatchNorm
    public var conv1: Conv2d
    public var bn2: BatchNorm
    public var conv2: Conv2d
    public var convShortcut: Conv2d?
    public var dropout: Dropout
    public let inputChannels: Int
    public let outputChannels: Int

    public init(inputChannels: Int, outputChannels: Int, stride: Int, dropRate: Float = 0, using generator: inout some RandomNumberGenerator) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        bn1 = BatchNorm(featureCount: inputChannels)
        conv1 = Conv2d(inputChannels, outputChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &generator)
        bn2 = BatchNorm(featureCount: outputChannels)
        conv2 = Conv2d(outputChannels, outputChannels, kernelSize: 3, padding: 1, bias: false, using: &generator)
        // The reference implementation only projects when the channel count changes.
        convShortcut = inputChannels == outputChannels ? nil
            : Conv2d(inputChannels, outputChannels, kernelSize: 1, stride: stride, bias: false, using: &generator)
        precondition(inputChannels != outputChannels || stride == 1,
                     "WideBasicBlock: a stride-\(stride) block must change the channel count (got \(inputChannels) -> \(outputChannels))")
        dropout = Dropout(probability: dropRate, seed: generator.next())
        // He-normal with fan_out (n = k·k·out_channels), as the reference initializes every conv.
        conv1.weight = Initializer.kaimingNormal(conv1.weight.shape, fanOut: 9 * outputChannels, using: &generator)
        conv2.weight = Initializer.kaimingNormal(conv2.weight.shape, fanOut: 9 * outputChannels, using: &generator)
        if let shortcut = convShortcut {
            convShortcut!.weight = Initializer.kaimingNormal(shortcut.weight.shape, fanOut: outputChannels, using: &generator)
        }
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("bn1", &bn1)
        visitor.child("conv1", &conv1)
        visitor.child("bn2", &bn2)
        visitor.child("conv2", &conv2)
        visitor.child("convShortcut", &convShortcut)
        visitor.child("dropout", &dropout)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inputChannels,
                     "WideBasicBlock: expected [N, \(inputChannels), H, W] input, got \(input.shape)")
        let activated = bn1.rectified(input)
        var out = bn2.rectified(conv1(activated))
        out = conv2(dropout(out))
        if let convShortcut { return out + convShortcut(activated) }
        return out + input
    }
}

/// A Wide ResNet WRN-d-k for CIFAR-sized images (Zagoruyko & Komodakis 2016): a 3×3 conv
/// with 16 channels, three groups of n = (d − 4)/6 pre-activation wide basic blocks with
/// 16k, 32k, 64k channels (stride 2 entering groups 2 and 3), then BN–ReLU, global average
/// pooling and a linear classifier. WRN-28-10 has 36.5 M parameters, WRN-16-8 11.0 M.
///
/// Names follow xternalz/WideResNet-pytorch: `conv1`, `block1.layer.0.bn1`, …,
/// `block3.layer.3.conv2`, `bn1`, `fc`. Initialization as there: He-normal (fan_out) convs,
/// BatchNorm 1/0, and a zero `fc.bias`.
public struct WideResNet: Layer {
    public var conv1: Conv2d
    public var block1: [WideBasicBlock]
    public var block2: [WideBasicBlock]
    public var block3: [WideBasicBlock]
    public var bn1: BatchNorm
    public var fc: Linear

    /// - Parameters:
    ///   - depth: 6n + 4, e.g. 16, 22, 28, 40.
    ///   - widenFactor: k, the width multiplier.
    ///   - dropRate: dropout between the two convolutions of each block (0.3 in the paper's
    ///     dropout experiments).
    public init(
        depth: Int, widenFactor: Int, classCount: Int = 10, dropRate: Float = 0, inputChannels: Int = 3,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(depth >= 10 && (depth - 4) % 6 == 0, "WideResNet: depth must be 6n + 4 (16, 22, 28, 40, …), got \(depth)")
        precondition(widenFactor >= 1, "WideResNet: widen factor must be at least 1, got \(widenFactor)")
        let n = (depth - 4) / 6
        let widths = [16, 16 * widenFactor, 32 * widenFactor, 64 * widenFactor]
        conv1 = Conv2d(inputChannels, widths[0], kernelSize: 3, padding: 1, bias: false, using: &generator)
        conv1.weight = Initializer.kaimingNormal(conv1.weight.shape, fanOut: 9 * widths[0], using: &generator)
        func group(_ input: Int, _ output: Int, _ stride: Int) -> [WideBasicBlock] {
            (0..<n).map { i in
                WideBasicBlock(inputChannels: i == 0 ? input : output, outputChannels: output,
                               stride: i == 0 ? stride : 1, dropRate: dropRate, using: &generator)
            }
        }
        block1 = group(widths[0], widths[1], 1)
        block2 = group(widths[1], widths[2], 2)
        block3 = group(widths[2], widths[3], 2)
        bn1 = BatchNorm(featureCount: widths[3])
        fc = Linear(inputCount: widths[3], outputCount: classCount, using: &generator)
        fc.bias = .zeros([classCount])
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv1", &conv1)
        for i in block1.indices { visitor.child(path: ["block1", "layer", String(i)], &block1[i]) }
        for i in block2.indices { visitor.child(path: ["block2", "layer", String(i)], &block2[i]) }
        for i in block3.indices { visitor.child(path: ["block3", "layer", String(i)], &block3[i]) }
        visitor.child("bn1", &bn1)
        visitor.child("fc", &fc)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let c = conv1.weight.shape[1]
        precondition(input.rank == 4 && input.shape[1] == c && input.shape[2] >= 4 && input.shape[3] >= 4,
                     "WideResNet: expected [N, \(c), H, W] images with H, W ≥ 4, got \(input.shape)")
        var x = conv1(input)
        for i in block1.indices { x = block1[i](x) }
        for i in block2.indices { x = block2[i](x) }
        for i in block3.indices { x = block3[i](x) }
        x = bn1.rectified(x)
        // Global average pooling (the reference's avg_pool2d(8) on 32×32 input).
        return fc(x.mean(alongAxes: [2, 3]))
    }
}
