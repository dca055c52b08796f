import PlateauTensor

/// A fully connected layer, y = x·Wᵀ + b, with W of shape `[outputCount, inputCount]`
/// (PyTorch's `nn.Linear` layout and initialization). Accepts any leading batch axes.
public struct Linear: Layer {
    public var weight: Tensor
    public var bias: Tensor?

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
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let inputCount = weight.shape[1]
        precondition(input.rank >= 1 && input.shape.last == inputCount,
                     "Linear: expected input with last dimension \(inputCount), got shape \(input.shape)")
        let flat = input.rank == 2 ? input : input.reshaped(to: [-1, inputCount])
        let output = flat.linear(weight: weight, bias: bias)
        return input.rank == 2 ? output : output.reshaped(to: Array(input.shape.dropLast()) + [weight.shape[0]])
    }
}
