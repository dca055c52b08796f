import PlateauTensor

/// A 2-D convolution layer (PyTorch's `nn.Conv2d`: weight `[out, in/groups, kh, kw]`,
/// default Kaiming-uniform initialization). Input `[N, C, H, W]`.
public struct Conv2d: Layer {
    public var weight: Tensor
    public var bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int
    /// LSQ quantizers in quantized mode (``Module/quantize(_:)``); `nil`: floating point.
    public var quantizer: LayerQuantization?

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(inputChannels > 0 && outputChannels > 0, "Conv2d: channel counts must be positive, got \(inputChannels) -> \(outputChannels)")
        precondition(groups > 0 && inputChannels % groups == 0 && outputChannels % groups == 0,
                     "Conv2d: groups \(groups) must divide input channels \(inputChannels) and output channels \(outputChannels)")
        precondition(kernelSize.0 > 0 && kernelSize.1 > 0, "Conv2d: kernel size must be positive, got \(kernelSize)")
        let fanIn = inputChannels / groups * kernelSize.0 * kernelSize.1
        weight = Initializer.defaultWeight([outputChannels, inputChannels / groups, kernelSize.0, kernelSize.1], fanIn: fanIn, using: &generator)
        self.bias = bias ? Initializer.defaultBias(outputChannels, fanIn: fanIn, using: &generator) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// A square-kernel convolution.
    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        groups: Int = 1, bias: Bool = true, using generator: inout some RandomNumberGenerator
    ) {
        self.init(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: (kernelSize, kernelSize),
                  stride: (stride, stride), padding: (padding, padding), groups: groups, bias: bias, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
        visitor.quantizable(&quantizer, weight: weight)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        if let quantizer {
            if let integer = quantizer.integerOutput(input, { x, w in
                x.conv2d(weight: w, bias: nil, stride: stride, padding: padding, dilation: dilation, groups: groups)
            }) {
                return bias.map { integer + $0.reshaped(to: [1, -1, 1, 1]) } ?? integer
            }
            return quantizer.quantizedInput(input).conv2d(
                weight: quantizer.quantizedWeight(weight), bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        return input.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}
