import PlateauTensor

/// A deep linear network, f(x) = W_L ⋯ W_2 W_1 x, without biases or activations: the
/// two-layer model of the opposing-signals toy (Rosenfeld & Risteski, ICLR 2024), linear in
/// its input and yet with a non-convex loss whose sharpness grows along a large feature.
/// Parameters are named `layers.0.weight`, `layers.1.weight`, ….
public struct DeepLinear: Layer {
    public var layers: [Linear]

    /// - Parameter sizes: input size, hidden widths, output size, e.g. `[50, 32, 2]`.
    public init(sizes: [Int], using generator: inout some RandomNumberGenerator) {
        precondition(sizes.count >= 2, "DeepLinear: needs at least input and output sizes, got \(sizes)")
        layers = zip(sizes, sizes.dropFirst()).map { Linear(inputCount: $0, outputCount: $1, bias: false, using: &generator) }
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.children("layers", &layers)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        var x = input.rank == 2 ? input : input.flattened()
        for layer in layers { x = layer(x) }
        return x
    }
}
