import PlateauTensor

/// A multilayer perceptron: Linear–ReLU blocks and a final Linear, on flattened input.
/// Parameters are named `layers.0.weight`, `layers.1.weight`, … (ReLUs hold no parameters).
///
/// With a ``NormalizationKind`` other than `none`, hidden layer i is followed by `norms.i`
/// before its ReLU (PyTorch twin: `self.norms = nn.ModuleList([...])` beside `self.layers`,
/// `relu(norms[i](layers[i](x)))`): `batch` is `nn.BatchNorm1d`, `group` is
/// `nn.GroupNorm(G, F)` with the largest G ≤ 32 dividing the width F, `layer` is `nn.LayerNorm(F)`.
public struct MLP: LinearHeaded {
    public var layers: [Linear]
    /// One per hidden layer, or empty without normalization.
    public var norms: [NormLayer]

    /// - Parameter sizes: input size, hidden sizes, output size, e.g. `[784, 512, 512, 10]`.
    /// - Parameter norm: the normalization after each hidden layer.
    public init(sizes: [Int], norm: NormalizationKind = .none, using generator: inout some RandomNumberGenerator) {
        precondition(sizes.count >= 2, "MLP: needs at least input and output sizes, got \(sizes)")
        layers = zip(sizes, sizes.dropFirst()).map { Linear(inputCount: $0, outputCount: $1, using: &generator) }
        norms = sizes.dropFirst().dropLast().compactMap { NormLayer.forFeatures(norm, $0, groupedFeatures: true) }
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.children("layers", &layers)
        visitor.children("norms", &norms)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        layers[layers.count - 1](features(input))
    }

    /// The last hidden layer's activations (the flattened input when there is none).
    public mutating func features(_ input: Tensor) -> Tensor {
        let expected = layers[0].weight.shape[1]
        var x = input.rank == 2 ? input : input.flattened()
        precondition(x.shape[1] == expected, "MLP: expected \(expected) input features, got input of shape \(input.shape)")
        for i in 0..<(layers.count - 1) {
            x = layers[i](x)
            x = norms.isEmpty ? x.relu() : norms[i].rectified(x)
        }
        return x
    }

    /// The final Linear.
    public var head: Linear { layers[layers.count - 1] }
}
