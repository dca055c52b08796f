import PlateauTensor

/// A network whose last layer is linear: outputs z = W·h + b on features h.
///
/// Methods that need per-sample gradients of the last layer read them in closed form from
/// the features (for cross-entropy, ∂ℓᵢ/∂W = (pᵢ − yᵢ) ⊗ hᵢ and ∂ℓᵢ/∂b = pᵢ − yᵢ), which
/// costs one forward pass instead of one backward pass per sample — UDIM's inconsistency
/// penalty does. A conforming model's `callAsFunction(x)` must equal `head(features(x))`.
public protocol LinearHeaded: Layer {
    /// The features h, `[N, F]`, the last layer maps to the outputs.
    mutating func features(_ input: Tensor) -> Tensor
    /// The last layer.
    var head: Linear { get }
}

extension LinearHeaded {
    /// The features and the outputs of one forward pass.
    public mutating func featuresAndOutputs(_ input: Tensor) -> (features: Tensor, outputs: Tensor) {
        let h = features(input)
        return (h, head(h))
    }
}
