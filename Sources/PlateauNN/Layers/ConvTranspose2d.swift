import PlateauTensor

/// A 2-D transposed convolution ("fractionally strided" convolution, Dumoulin & Visin 2016,
/// *A guide to convolution arithmetic for deep learning*), PyTorch's `nn.ConvTranspose2d`.
///
/// It is the adjoint of ``Conv2d`` with the same geometry: each input pixel scatters a
/// weighted copy of the kernel into the output,
///
///     y[n, o, :, :] = b[o] + Σ_c Σ_(i,j) x[n, c, i, j] · W[c, o, :, :] placed at (i·s − p, j·s − p),
///
/// so an `H×W` input becomes `(H − 1)·s − 2p + d·(k − 1) + output_padding + 1` per axis.
///
/// Parameters: `weight` `[in, out/groups, kh, kw]` and `bias` `[out]`, initialized as PyTorch
/// does: U(−1/√fan_in, 1/√fan_in) where PyTorch's `fan_in` for this layout is
/// `weight.size(1)·kh·kw = out/groups·kh·kw`.
public struct ConvTranspose2d: Layer {
    public var weight: Tensor
    public var bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let outputPadding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
        groups: Int = 1, bias: Bool = true, using generator: inout some RandomNumberGenerator
    ) {
        precondition(inputChannels > 0 && outputChannels > 0,
                     "ConvTranspose2d: channel counts must be positive, got \(inputChannels) -> \(outputChannels)")
        precondition(groups > 0 && inputChannels % groups == 0 && outputChannels % groups == 0,
                     "ConvTranspose2d: groups \(groups) must divide input channels \(inputChannels) and output channels \(outputChannels)")
        precondition(kernelSize.0 > 0 && kernelSize.1 > 0, "ConvTranspose2d: kernel size must be positive, got \(kernelSize)")
        precondition(stride.0 > 0 && stride.1 > 0, "ConvTranspose2d: stride must be positive, got \(stride)")
        precondition(outputPadding.0 >= 0 && outputPadding.1 >= 0
                     && outputPadding.0 < max(stride.0, dilation.0) && outputPadding.1 < max(stride.1, dilation.1),
                     "ConvTranspose2d: output padding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
        let fanIn = outputChannels / groups * kernelSize.0 * kernelSize.1
        weight = Initializer.defaultWeight(
            [inputChannels, outputChannels / groups, kernelSize.0, kernelSize.1], fanIn: fanIn, using: &generator)
        self.bias = bias ? Initializer.defaultBias(outputChannels, fanIn: fanIn, using: &generator) : nil
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        self.groups = groups
    }

    /// A square-kernel transposed convolution.
    public init(
        _ inputChannels: Int, _ outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        outputPadding: Int = 0, groups: Int = 1, bias: Bool = true, using generator: inout some RandomNumberGenerator
    ) {
        self.init(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: (kernelSize, kernelSize),
                  stride: (stride, stride), padding: (padding, padding), outputPadding: (outputPadding, outputPadding),
                  groups: groups, bias: bias, using: &generator)
    }

    public var inputChannels: Int { weight.shape[0] }
    public var outputChannels: Int { weight.shape[1] * groups }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inputChannels,
                     "ConvTranspose2d: expected [N, \(inputChannels), H, W] input, got \(input.shape)")
        return input.transposedConv2d(weight: weight, bias: bias, stride: stride, padding: padding,
                                      outputPadding: outputPadding, dilation: dilation, groups: groups)
    }
}
