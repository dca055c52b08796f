import PlateauTensor

/// A lookup table of learned vectors (PyTorch's `nn.Embedding`; Bengio et al. 2003, *A
/// Neural Probabilistic Language Model*): index i maps to row i of `weight`
/// `[count, dimension]`, initialized N(0, 1) as in PyTorch. The gradient of a row is the
/// sum of the upstream gradients at every position that looked it up.
public struct Embedding: Layer {
    public var weight: Tensor

    public init(count: Int, dimension: Int, using generator: inout some RandomNumberGenerator) {
        precondition(count > 0 && dimension > 0, "Embedding: count and dimension must be positive, got \(count) x \(dimension)")
        weight = Tensor.randomNormal([count, dimension], using: &generator)
    }

    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: weight must be [count, dimension], got \(weight.shape)")
        self.weight = weight
    }

    public var count: Int { weight.shape[0] }
    public var dimension: Int { weight.shape[1] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
    }

    /// The rows at `indices`, shape `[indices.count, dimension]`.
    public func callAsFunction(_ indices: [Int]) -> Tensor {
        for i in indices where i < 0 || i >= count {
            preconditionFailure("Embedding: index \(i) out of range 0..<\(count)")
        }
        return weight.gathering(indices, alongAxis: 0)
    }

    /// Looks up a tensor of integer-valued indices of any shape S, giving `S + [dimension]`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let indices = input.scalars.map { value -> Int in
            precondition(value == value.rounded() && value >= 0 && value < Float(count),
                         "Embedding: expected integer indices in 0..<\(count), got \(value) in input of shape \(input.shape)")
            return Int(value)
        }
        return self(indices).reshaped(to: input.shape + [dimension])
    }
}
