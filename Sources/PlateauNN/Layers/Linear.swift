import PlateauTensor

/// A fully connected layer, y = x·Wᵀ + b, with W of shape `[outputCount, inputCount]`
/// (PyTorch's `nn.Linear` layout and initialization). Accepts any leading batch axes.
public struct Linear: Layer {
    public var weight: Tensor
    public var bias: Tensor?
    /// LSQ quantizers in quantized mode (``Module/quantize(_:)``); `nil`: floating point.
    public var quantizer: LayerQuantization?

    public init(inputCount: Int, outputCount: Int, bias: Bool = true, using generator: inout some RandomNumberGenerator) {
        precondition(inputCount > 0 && outputCount > 0, "Linear: sizes must be positive, got \(inputCount) -> \(outputCount)")
        weight = Initializer.defaultWeight([outputCount, inputCount], fanIn: inputCount, using: &generator)
        self.bias = bias ? Initializer.defaultBias(outputCount, fanIn: inputCount, using: &generator) : nil
    }

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "Linear: bias must be [\(weight.shape[0])], got \(bias!.shape)")
        self.weight = weight
        self.bias = bias
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
        visitor.quantizable(&quantizer, weight: weight)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let inputCount = weight.shape[1]
        precondition(input.rank >= 1 && input.shape.last == inputCount,
                     "Linear: expected input with last dimension \(inputCount), got shape \(input.shape)")
        let flat = input.rank == 2 ? input : input.reshaped(to: [-1, inputCount])
        let output: Tensor
        if let quantizer {
            if let integer = quantizer.integerOutput(flat, { x, w in x.matmul(w, transposingOther: true) }) {
                output = bias.map { integer + $0 } ?? integer
            } else {
                output = quantizer.quantizedInput(flat).linear(weight: quantizer.quantizedWeight(weight), bias: bias)
            }
        } else {
            output = flat.linear(weight: weight, bias: bias)
        }
        return input.rank == 2 ? output : output.reshaped(to: Array(input.shape.dropLast()) + [weight.shape[0]])
    }
}
