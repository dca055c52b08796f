import PlateauTensor

/// A Vision Transformer (Dosovitskiy et al. 2021, *An Image is Worth 16x16 Words*) for
/// small images: the image is cut into p×p patches, each linearly embedded (a stride-p
/// convolution); a learned class token is prepended and a learned positional embedding
/// added; L pre-norm encoder blocks follow, then a final LayerNorm, and a linear head
/// reads the class token:
///
///     z₀ = [x_cls; x_p¹E; …; x_pᴾE] + E_pos
///     z_ℓ = Block(z_ℓ₋₁),  ℓ = 1…L
///     y  = Head(LN(z_L)[:, 0])
///
/// Names follow torchvision's `VisionTransformer` (`class_token`, `conv_proj`,
/// `encoder.pos_embedding`, `encoder.layers.encoder_layer_0.ln_1`, …, `encoder.ln`,
/// `heads.head`), so a state dictionary loads there. Initialization follows timm: class
/// token, positional embedding and every Linear/attention weight truncated-normal with
/// std 0.02 (cut at ±2σ), biases zero, LayerNorms 1/0, the patch convolution PyTorch's
/// default.
public struct VisionTransformer: Layer {
    public var classToken: Tensor
    public var patchEmbedding: Conv2d
    public var positionEmbedding: Tensor
    public var blocks: [TransformerEncoderBlock]
    public var norm: LayerNorm
    public var head: Linear
    public let imageSize: Int
    public let patchSize: Int

    public init(
        imageSize: Int, patchSize: Int, inputChannels: Int = 3, classCount: Int = 10, dimension: Int = 64,
        depth: Int = 6, headCount: Int = 4, mlpDimension: Int? = nil, dropout: Float = 0,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(imageSize > 0 && patchSize > 0 && imageSize % patchSize == 0,
                     "VisionTransformer: patch size \(patchSize) must divide image size \(imageSize)")
        precondition(depth > 0, "VisionTransformer: depth must be positive, got \(depth)")
        self.imageSize = imageSize
        self.patchSize = patchSize
        let tokens = (imageSize / patchSize) * (imageSize / patchSize) + 1
        patchEmbedding = Conv2d(inputChannels, dimension, kernelSize: patchSize, stride: patchSize, using: &generator)
        classToken = Initializer.truncatedNormal([1, 1, dimension], standardDeviation: 0.02, using: &generator)
        positionEmbedding = Initializer.truncatedNormal([1, tokens, dimension], standardDeviation: 0.02, using: &generator)
        blocks = (0..<depth).map { _ in
            var block = TransformerEncoderBlock(dimension: dimension, headCount: headCount,
                                                mlpDimension: mlpDimension ?? 4 * dimension, dropout: dropout, using: &generator)
            block.attention.inProjectionWeight = Initializer.truncatedNormal(block.attention.inProjectionWeight.shape, standardDeviation: 0.02, using: &generator)
            for path in [\TransformerEncoderBlock.attention.outProjection, \.mlp.fc1, \.mlp.fc2] {
                block[keyPath: path].weight = Initializer.truncatedNormal(block[keyPath: path].weight.shape, standardDeviation: 0.02, using: &generator)
                block[keyPath: path].bias = .zeros([block[keyPath: path].weight.shape[0]])
            }
            return block
        }
        norm = LayerNorm(dimension, epsilon: 1e-6)
        head = Linear(inputCount: dimension, outputCount: classCount, using: &generator)
        head.weight = Initializer.truncatedNormal(head.weight.shape, standardDeviation: 0.02, using: &generator)
        head.bias = .zeros([classCount])
    }

    public var dimension: Int { classToken.shape[2] }
    public var inputChannels: Int { patchEmbedding.weight.shape[1] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("class_token", &classToken)
        visitor.child("conv_proj", &patchEmbedding)
        var encoder = Encoder(positionEmbedding: positionEmbedding, blocks: blocks, norm: norm)
        visitor.child("encoder", &encoder)
        (positionEmbedding, blocks, norm) = (encoder.positionEmbedding, encoder.blocks, encoder.norm)
        visitor.child(path: ["heads", "head"], &head)
    }

    /// torchvision's `Encoder` wrapper, for the names only.
    private struct Encoder: Module {
        var positionEmbedding: Tensor
        var blocks: [TransformerEncoderBlock]
        var norm: LayerNorm

        mutating func visit(_ visitor: ModuleVisitor) {
            visitor.parameter("pos_embedding", &positionEmbedding)
            for i in blocks.indices { visitor.child(path: ["layers", "encoder_layer_\(i)"], &blocks[i]) }
            visitor.child("ln", &norm)
        }
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let c = inputChannels
        precondition(input.rank == 4 && input.shape[1] == c && input.shape[2] == imageSize && input.shape[3] == imageSize,
                     "VisionTransformer: expected [N, \(c), \(imageSize), \(imageSize)] images, got \(input.shape)")
        let (n, d) = (input.shape[0], dimension)
        let patches = patchEmbedding(input).flattened(fromAxis: 2).permuted([0, 2, 1])  // [N, P, d]
        var x = Tensor.concatenating([classToken.broadcast(to: [n, 1, d]), patches], alongAxis: 1) + positionEmbedding
        for i in blocks.indices { x = blocks[i](x) }
        let cls = norm(x).sliced(alongAxis: 1, 0..<1).reshaped(to: [n, d])
        return head(cls)
    }
}
