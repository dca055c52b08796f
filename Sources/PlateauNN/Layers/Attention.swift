import Foundation
import PlateauTensor

/// Multi-head self-attention (Vaswani et al. 2017, *Attention Is All You Need*) with the
/// parameters and initialization of PyTorch's `nn.MultiheadAttention` (self-attention,
/// `batch_first=True`): for input X `[N, T, d]` and h heads of size d_h = d/h,
///
///     [Q K V] = X·W_inᵀ + b_in                       W_in = in_proj_weight [3d, d]
///     head_i  = softmax(Q_i·K_iᵀ / √d_h)·V_i         Q_i = columns i·d_h ..< (i+1)·d_h of Q
///     output  = [head_1 … head_h]·W_outᵀ + b_out     out_proj [d, d]
///
/// Initialization as PyTorch: `in_proj_weight` Xavier-uniform, `in_proj_bias` and
/// `out_proj.bias` zero, `out_proj.weight` the default Linear initialization.
public struct MultiHeadSelfAttention: Layer {
    /// W_in `[3d, d]`: the query, key and value projections stacked in that order.
    public var inProjectionWeight: Tensor
    /// b_in `[3d]`.
    public var inProjectionBias: Tensor?
    public var outProjection: Linear
    public let headCount: Int

    public init(dimension: Int, headCount: Int, bias: Bool = true, using generator: inout some RandomNumberGenerator) {
        precondition(dimension > 0 && headCount > 0 && dimension % headCount == 0,
                     "MultiHeadSelfAttention: head count \(headCount) must divide the dimension \(dimension)")
        self.headCount = headCount
        inProjectionWeight = Initializer.xavierUniform([3 * dimension, dimension], fanIn: dimension, fanOut: 3 * dimension, using: &generator)
        inProjectionBias = bias ? .zeros([3 * dimension]) : nil
        outProjection = Linear(inputCount: dimension, outputCount: dimension, bias: bias, using: &generator)
        if bias { outProjection.bias = .zeros([dimension]) }
    }

    public var dimension: Int { inProjectionWeight.shape[1] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("in_proj_weight", &inProjectionWeight)
        visitor.parameter("in_proj_bias", &inProjectionBias)
        visitor.child("out_proj", &outProjection)
    }

    /// The packed projections [Q K V] = X·W_inᵀ + b_in, `[N, T, 3d]`.
    private func projections(_ input: Tensor) -> Tensor {
        let d = dimension
        precondition(input.rank == 3 && input.shape[2] == d,
                     "MultiHeadSelfAttention: expected batch-first input [N, T, \(d)], got \(input.shape)")
        // The fused linear writes the bias first and accumulates the product onto it.
        return input.reshaped(to: [input.shape[0] * input.shape[1], d]).linear(weight: inProjectionWeight, bias: inProjectionBias)
            .reshaped(to: [input.shape[0], input.shape[1], 3 * d])
    }

    /// The attention probabilities softmax(Q_i·K_iᵀ/√d_h), `[N, h, T, T]`, and the output
    /// (for diagnostics; ``callAsFunction(_:)`` computes the output alone, fused).
    public func attention(_ input: Tensor) -> (weights: Tensor, output: Tensor) {
        let qkv = projections(input)
        return (qkv.multiHeadAttentionProbabilities(heads: headCount), attended(qkv))
    }

    public func callAsFunction(_ input: Tensor) -> Tensor { attended(projections(input)) }

    /// The output from the packed projections.
    private func attended(_ qkv: Tensor) -> Tensor { outProjection(qkv.multiHeadAttention(heads: headCount)) }
}

/// The position-wise feed-forward network of a transformer, Linear → GELU → Linear
/// (GELU: Hendrycks & Gimpel 2016), with timm's names `fc1`, `fc2`.
public struct FeedForward: Layer {
    public var fc1: Linear
    public var fc2: Linear

    public init(dimension: Int, hiddenDimension: Int, outputDimension: Int? = nil, using generator: inout some RandomNumberGenerator) {
        fc1 = Linear(inputCount: dimension, outputCount: hiddenDimension, using: &generator)
        fc2 = Linear(inputCount: hiddenDimension, outputCount: outputDimension ?? dimension, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("fc1", &fc1)
        visitor.child("fc2", &fc2)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor { fc2(fc1(input).gelu()) }
}

/// A pre-norm transformer encoder block (Vaswani et al. 2017 with the pre-LN placement of
/// Xiong et al. 2020; the block of ViT, Dosovitskiy et al. 2021):
///
///     x = x + Dropout(MHSA(LN₁(x)))
///     x = x + Dropout(W₂·GELU(W₁·LN₂(x) + b₁) + b₂)
///
/// Input and output `[N, T, d]`. Names follow torchvision's ViT `EncoderBlock`: `ln_1`,
/// `self_attention.*` (as `nn.MultiheadAttention`), `ln_2`, `mlp.0`, `mlp.3`; LayerNorm ε =
/// 1e-6 as there.
public struct TransformerEncoderBlock: Layer {
    public var norm1: LayerNorm
    public var attention: MultiHeadSelfAttention
    public var norm2: LayerNorm
    public var mlp: FeedForward
    public var dropout: Dropout

    public init(
        dimension: Int, headCount: Int, mlpDimension: Int, dropout: Float = 0, layerNormEpsilon: Float = 1e-6,
        using generator: inout some RandomNumberGenerator
    ) {
        norm1 = LayerNorm(dimension, epsilon: layerNormEpsilon)
        attention = MultiHeadSelfAttention(dimension: dimension, headCount: headCount, using: &generator)
        norm2 = LayerNorm(dimension, epsilon: layerNormEpsilon)
        mlp = FeedForward(dimension: dimension, hiddenDimension: mlpDimension, using: &generator)
        self.dropout = Dropout(probability: dropout, seed: generator.next())
    }

    public var dimension: Int { attention.dimension }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("ln_1", &norm1)
        visitor.child("self_attention", &attention)
        visitor.child("ln_2", &norm2)
        visitor.child(path: ["mlp", "0"], &mlp.fc1)
        visitor.child(path: ["mlp", "3"], &mlp.fc2)
        visitor.child("dropout", &dropout)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 3 && input.shape[2] == dimension,
                     "TransformerEncoderBlock: expected [N, T, \(dimension)] input, got \(input.shape)")
        let x = input + dropout(attention(norm1(input)))
        return x + dropout(mlp(norm2(x)))
    }
}
