import PlateauTensor

/// Which normalization the small models (``LeNet5``, ``MLP``) put after each hidden layer,
/// between the layer and its ReLU. `none` is the models as they were before the option
/// existed: same parameters, same random draws, same outputs.
///
/// - `batch`: ``BatchNorm`` (PyTorch `nn.BatchNorm2d` after a conv, `nn.BatchNorm1d` after a
///   linear layer).
/// - `group`: ``GroupNorm`` with the most groups, at most 32 (Wu & He's default), that leave
///   at least three channels in each: LeNet's 6 channels in 2 groups of 3, its 16 in 4 groups
///   of 4 (with so few channels 32 groups would be instance normalization), an MLP's 512
///   features in 32 groups of 16. LeNet's linear layers get ``LayerNorm`` instead.
/// - `layer`: layer normalization: ``GroupNorm`` with one group after a conv (normalizes
///   each sample over channels and positions with a per-channel affine, PyTorch
///   `nn.GroupNorm(1, C)`), ``LayerNorm`` after a linear layer.
///
/// Test-time adaptation (Tent, SAR) updates only these layers' affine parameters.
public enum NormalizationKind: String, CaseIterable, Sendable, Codable {
    case none, batch, group, layer
}

/// One normalization layer of a ``NormalizationKind``: what ``LeNet5`` and ``MLP`` hold
/// after each hidden layer. Its tensors are the wrapped layer's, under the same names
/// (`weight`, `bias`, and BatchNorm's `running_mean`, `running_var`, `num_batches_tracked`).
public enum NormLayer: Layer {
    case batch(BatchNorm)
    case group(GroupNorm)
    case layer(LayerNorm)

    /// The normalization of `kind` for conv features `[N, channels, H, W]` (`nil` for `none`).
    public static func forChannels(_ kind: NormalizationKind, _ channels: Int) -> NormLayer? {
        switch kind {
        case .none: nil
        case .batch: .batch(BatchNorm(featureCount: channels))
        case .group: .group(GroupNorm(groupCount: groupCount(channels), channelCount: channels))
        case .layer: .group(GroupNorm(groupCount: 1, channelCount: channels))
        }
    }

    /// The normalization of `kind` for features `[N, features]` (`nil` for `none`);
    /// `groupedFeatures` picks GroupNorm for `group` (as after a conv), else LayerNorm.
    public static func forFeatures(_ kind: NormalizationKind, _ features: Int, groupedFeatures: Bool = false) -> NormLayer? {
        switch kind {
        case .none: nil
        case .batch: .batch(BatchNorm(featureCount: features))
        case .group where groupedFeatures: .group(GroupNorm(groupCount: groupCount(features), channelCount: features))
        case .group, .layer: .layer(LayerNorm(features))
        }
    }

    /// The `group` kind's group count for `channels`: the largest divisor of `channels` that
    /// is at most 32 and leaves at least three channels per group (1 for fewer than 6).
    public static func groupCount(_ channels: Int) -> Int {
        let limit = max(1, min(32, channels / 3))
        return stride(from: limit, through: 1, by: -1).first { channels % $0 == 0 } ?? 1
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        switch self {
        case .batch(var norm): norm.visit(visitor); self = .batch(norm)
        case .group(var norm): norm.visit(visitor); self = .group(norm)
        case .layer(var norm): norm.visit(visitor); self = .layer(norm)
        }
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        switch self {
        case .batch(var norm):
            let output = norm(input)
            self = .batch(norm)
            return output
        case .group(let norm): return norm(input)
        case .layer(let norm): return norm(input)
        }
    }

    /// relu(norm(x)), with BatchNorm's fused kernel where it applies.
    public mutating func rectified(_ input: Tensor) -> Tensor {
        switch self {
        case .batch(var norm):
            let output = norm.rectified(input)
            self = .batch(norm)
            return output
        case .group(let norm): return norm(input).relu()
        case .layer(let norm): return norm(input).relu()
        }
    }
}

extension Optional where Wrapped == NormLayer {
    /// relu(norm(x)), or relu(x) without a normalization.
    mutating func rectified(_ input: Tensor) -> Tensor {
        guard var norm = self else { return input.relu() }
        let output = norm.rectified(input)
        self = norm
        return output
    }

    /// maxpool₂ₓ₂(relu(norm(x))). Without a normalization the ReLU runs after the pooling —
    /// max and ReLU commute (ReLU is non-decreasing), values and gradients alike — on a
    /// quarter of the elements.
    mutating func rectifiedAndPooled(_ input: Tensor) -> Tensor {
        guard self != nil else { return input.maxPool2d(kernel: (2, 2)).relu() }
        return rectified(input).maxPool2d(kernel: (2, 2))
    }
}
