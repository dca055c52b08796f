import PlateauTensor

/// Equal weights (EW): the plain sum Σ_i g_i, the gradient of the summed task losses.
public struct EqualWeights: GradientAggregator {
    public init() {}
    public var name: String { "ew" }
    public func aggregate(_ gradients: [ParameterSet]) -> ParameterSet {
        precondition(!gradients.isEmpty, "EqualWeights: no gradients")
        var sum = gradients[0]
        for g in gradients.dropFirst() { sum = sum + g }
        return sum
    }
}
