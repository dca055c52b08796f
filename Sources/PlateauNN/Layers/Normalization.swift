import PlateauTensor

/// Layer normalization (Ba, Kiros & Hinton 2016, *Layer Normalization*), PyTorch's
/// `nn.LayerNorm`: each sample is normalized over its trailing `normalizedShape` axes,
///
///     y = (x − E[x]) / √(Var[x] + ε) · γ + β,
///
/// with the biased variance, and γ (`weight`, ones) and β (`bias`, zeros) of shape
/// `normalizedShape`. Built from differentiable operations, so it has exact higher-order
/// derivatives.
public struct LayerNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public let normalizedShape: [Int]
    public var epsilon: Float

    public init(normalizedShape: [Int], epsilon: Float = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        precondition(!normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 },
                     "LayerNorm: normalized shape must be non-empty with positive extents, got \(normalizedShape)")
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = elementwiseAffine ? .ones(normalizedShape) : nil
        self.bias = elementwiseAffine && bias ? .zeros(normalizedShape) : nil
    }

    /// Normalization over the last axis of size `featureCount`.
    public init(_ featureCount: Int, epsilon: Float = 1e-5) {
        self.init(normalizedShape: [featureCount], epsilon: epsilon)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let k = normalizedShape.count
        precondition(input.rank >= k && Array(input.shape.suffix(k)) == normalizedShape,
                     "LayerNorm: expected input of shape [..., \(normalizedShape.map(String.init).joined(separator: ", "))], got \(input.shape)")
        if let weight, let bias { return input.layerNormalized(scale: weight, offset: bias, epsilon: epsilon) }
        let axes = Array((input.rank - k)..<input.rank)
        let centered = input - input.mean(alongAxes: axes, keepingDimensions: true)
        let variance = centered.square().mean(alongAxes: axes, keepingDimensions: true)
        var output = centered / (variance + epsilon).sqrt()
        if let weight { output = output * weight }
        if let bias { output = output + bias }
        return output
    }
}

/// Group normalization (Wu & He 2018, *Group Normalization*), PyTorch's `nn.GroupNorm`:
/// the C channels of `[N, C, *]` input are split into G groups of C/G channels, and each
/// (sample, group) is normalized over its channels and spatial positions,
///
///     y = (x − E[x]) / √(Var[x] + ε) · γ_c + β_c,
///
/// with the biased variance and per-channel γ (`weight`, ones) and β (`bias`, zeros).
/// Independent of the batch, so identical in training and evaluation.
public struct GroupNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public let groupCount: Int
    public let channelCount: Int
    public var epsilon: Float

    public init(groupCount: Int, channelCount: Int, epsilon: Float = 1e-5, affine: Bool = true) {
        precondition(groupCount > 0 && channelCount > 0 && channelCount % groupCount == 0,
                     "GroupNorm: group count \(groupCount) must divide channel count \(channelCount)")
        self.groupCount = groupCount
        self.channelCount = channelCount
        self.epsilon = epsilon
        weight = affine ? .ones([channelCount]) : nil
        bias = affine ? .zeros([channelCount]) : nil
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank >= 2 && input.shape[1] == channelCount,
                     "GroupNorm: expected [N, \(channelCount), *] input, got \(input.shape)")
        let n = input.shape[0]
        let grouped = input.reshaped(to: [n, groupCount, -1])
        let centered = grouped - grouped.mean(alongAxis: 2, keepingDimensions: true)
        let variance = centered.square().mean(alongAxis: 2, keepingDimensions: true)
        var output = (centered / (variance + epsilon).sqrt()).reshaped(to: input.shape)
        let channelShape = [1, channelCount] + [Int](repeating: 1, count: input.rank - 2)
        if let weight { output = output * weight.reshaped(to: channelShape) }
        if let bias { output = output + bias.reshaped(to: channelShape) }
        return output
    }
}
