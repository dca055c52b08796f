import PlateauTensor

/// One MLP-Mixer layer (Tolstikhin et al. 2021, *MLP-Mixer: An all-MLP Architecture for
/// Vision*): on X `[N, S, C]` (S patches, C channels),
///
///     U = X + (MLP_tok(LN₁(X)ᵀ))ᵀ      token mixing: one MLP over the S patches, per channel
///     Y = U + MLP_ch(LN₂(U))           channel mixing: one MLP over the C channels, per patch
///
/// with MLP = Linear → GELU → Linear. Names follow timm's `MixerBlock`: `norm1`,
/// `mlp_tokens.fc1/fc2`, `norm2`, `mlp_channels.fc1/fc2`.
public struct MixerBlock: Layer {
    public var norm1: LayerNorm
    public var tokenMixing: FeedForward
    public var norm2: LayerNorm
    public var channelMixing: FeedForward

    public init(patchCount: Int, channelCount: Int, tokenHiddenDimension: Int, channelHiddenDimension: Int,
                using generator: inout some RandomNumberGenerator) {
        norm1 = LayerNorm(channelCount, epsilon: 1e-6)
        tokenMixing = FeedForward(dimension: patchCount, hiddenDimension: tokenHiddenDimension, using: &generator)
        norm2 = LayerNorm(channelCount, epsilon: 1e-6)
        channelMixing = FeedForward(dimension: channelCount, hiddenDimension: channelHiddenDimension, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("norm1", &norm1)
        visitor.child("mlp_tokens", &tokenMixing)
        visitor.child("norm2", &norm2)
        visitor.child("mlp_channels", &channelMixing)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let s = tokenMixing.fc1.weight.shape[1], c = channelMixing.fc1.weight.shape[1]
        precondition(input.rank == 3 && input.shape[1] == s && input.shape[2] == c,
                     "MixerBlock: expected [N, \(s), \(c)] input, got \(input.shape)")
        let u = input + tokenMixing(norm1(input).transposed).transposed
        return u + channelMixing(norm2(u))
    }
}

/// A small MLP-Mixer (Tolstikhin et al. 2021): non-overlapping p×p patches are embedded by
/// a stride-p convolution to `[N, S, C]`, pass through L ``MixerBlock``s, a final LayerNorm,
/// global average pooling over patches, and a linear head.
///
/// Names follow timm's `MlpMixer` (`stem.proj`, `blocks.0.norm1`, …, `norm`, `head`), and
/// so does initialization: Xavier-uniform MLP weights with zero biases and a zero head
/// (timm zero-initializes the classifier); the patch stem keeps PyTorch's default
/// initialization (timm uses LeCun-normal there).
/// Default hidden sizes are timm's ratios: 0.5·C for token mixing, 4·C for channel mixing.
public struct MLPMixer: Layer {
    public var stem: Conv2d
    public var blocks: [MixerBlock]
    public var norm: LayerNorm
    public var head: Linear
    public let imageSize: Int
    public let patchSize: Int

    public init(
        imageSize: Int, patchSize: Int, inputChannels: Int = 3, classCount: Int = 10, dimension: Int = 64,
        depth: Int = 4, tokenHiddenDimension: Int? = nil, channelHiddenDimension: Int? = nil,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(imageSize > 0 && patchSize > 0 && imageSize % patchSize == 0,
                     "MLPMixer: patch size \(patchSize) must divide image size \(imageSize)")
        precondition(depth > 0, "MLPMixer: depth must be positive, got \(depth)")
        self.imageSize = imageSize
        self.patchSize = patchSize
        let patches = (imageSize / patchSize) * (imageSize / patchSize)
        stem = Conv2d(inputChannels, dimension, kernelSize: patchSize, stride: patchSize, using: &generator)
        blocks = (0..<depth).map { _ in
            var block = MixerBlock(patchCount: patches, channelCount: dimension,
                                   tokenHiddenDimension: tokenHiddenDimension ?? max(dimension / 2, 1),
                                   channelHiddenDimension: channelHiddenDimension ?? 4 * dimension, using: &generator)
            for path in [\MixerBlock.tokenMixing.fc1, \.tokenMixing.fc2, \.channelMixing.fc1, \.channelMixing.fc2] {
                let shape = block[keyPath: path].weight.shape
                block[keyPath: path].weight = Initializer.xavierUniform(shape, fanIn: shape[1], fanOut: shape[0], using: &generator)
                block[keyPath: path].bias = .zeros([shape[0]])
            }
            return block
        }
        norm = LayerNorm(dimension, epsilon: 1e-6)
        head = Linear(weight: .zeros([classCount, dimension]), bias: .zeros([classCount]))
    }

    public var inputChannels: Int { stem.weight.shape[1] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child(path: ["stem", "proj"], &stem)
        visitor.children("blocks", &blocks)
        visitor.child("norm", &norm)
        visitor.child("head", &head)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let c = inputChannels
        precondition(input.rank == 4 && input.shape[1] == c && input.shape[2] == imageSize && input.shape[3] == imageSize,
                     "MLPMixer: expected [N, \(c), \(imageSize), \(imageSize)] images, got \(input.shape)")
        var x = stem(input).flattened(fromAxis: 2).permuted([0, 2, 1])  // [N, S, C]
        for block in blocks { x = block(x) }
        return head(norm(x).mean(alongAxis: 1))
    }
}
