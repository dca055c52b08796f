import PlateauTensor

/// A multilayer perceptron: Linear–ReLU blocks and a final Linear, on flattened input.
/// Parameters are named `layers.0.weight`, `layers.1.weight`, … (ReLUs hold no parameters).
public struct MLP: Layer {
    public var layers: [Linear]

    /// - Parameter sizes: input size, hidden sizes, output size, e.g. `[784, 512, 512, 10]`.
    public init(sizes: [Int], using generator: inout some RandomNumberGenerator) {
        precondition(sizes.count >= 2, "MLP: needs at least input and output sizes, got \(sizes)")
        layers = zip(sizes, sizes.dropFirst()).map { Linear(inputCount: $0, outputCount: $1, using: &generator) }
    }

    public mutating func visit(_ visitor: ModuleVisitor) { visitor.children("layers", &layers) }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let expected = layers[0].weight.shape[1]
        var x = input.rank == 2 ? input : input.flattened()
        precondition(x.shape[1] == expected, "MLP: expected \(expected) input features, got input of shape \(input.shape)")
        for (i, layer) in layers.enumerated() {
            x = layer(x)
            if i < layers.count - 1 { x = x.relu() }
        }
        return x
    }
}
