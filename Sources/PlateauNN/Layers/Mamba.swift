import Foundation
import PlateauTensor

/// A Mamba block (Gu & Dao 2023, *Mamba: Linear-Time Sequence Modeling with Selective
/// State Spaces*, arXiv:2312.00752) on sequences `[N, L, modelDimension]`:
///
///     x, z = in_proj(u)                       (each [N, L, D], D = expand · modelDimension)
///     x = SiLU(causal depthwise conv1d(x))
///     Δ = softplus(dt_proj(x_proj(x)_Δ)),  B = x_proj(x)_B,  C = x_proj(x)_C
///     y = selective scan(x, Δ, A = −exp(A_log), B, C) + D ⊙ x
///     out = out_proj(y ⊙ SiLU(z))
///
/// The scan discretizes per time step with zero-order hold on A and Euler on B, as the
/// reference: h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t B_t x_t, y_t = C_t · h_t. Δ, B and C depend
/// on the input (the "selective" part). A is diagonal with the S4D-real initialization
/// A_n = −(n + 1); Δ's bias is initialized so that softplus(bias) is log-uniform in
/// [0.001, 0.1]. The scan is sequential over L (``PlateauTensor/Tensor/linearRecurrence(decay:input:reverse:)``),
/// everything else is batched over the sequence. Parameter names follow `mamba_ssm`
/// (`in_proj`, `conv1d`, `x_proj`, `dt_proj`, `A_log`, `D`, `out_proj`); the depthwise
/// convolution's weight is stored as `[D, 1, 1, k]` (a 2-D convolution over a 1×L image).
public struct MambaBlock: Layer {
    public var inProjection: Linear
    public var convolutionWeight: Tensor
    public var convolutionBias: Tensor
    public var xProjection: Linear
    public var dtProjection: Linear
    /// log(−A), `[D, stateSize]`.
    public var logA: Tensor
    /// The skip connection D, `[D]`.
    public var skip: Tensor
    public var outProjection: Linear
    public let stateSize: Int
    public let dtRank: Int

    /// - Parameters:
    ///   - modelDimension: the feature size of the input and output sequences.
    ///   - stateSize: N in the paper (16 in the reference).
    ///   - convolutionWidth: the causal convolution's kernel (4).
    ///   - expand: D = expand · modelDimension (2).
    public init(modelDimension: Int, stateSize: Int = 16, convolutionWidth: Int = 4, expand: Int = 2,
                using generator: inout some RandomNumberGenerator) {
        precondition(modelDimension > 0 && stateSize > 0 && convolutionWidth > 0 && expand > 0,
                     "MambaBlock: sizes must be positive, got model \(modelDimension), state \(stateSize), conv \(convolutionWidth), expand \(expand)")
        let inner = expand * modelDimension
        self.stateSize = stateSize
        dtRank = (modelDimension + 15) / 16
        inProjection = Linear(inputCount: modelDimension, outputCount: 2 * inner, bias: false, using: &generator)
        convolutionWeight = Initializer.defaultWeight([inner, 1, 1, convolutionWidth], fanIn: convolutionWidth, using: &generator)
        convolutionBias = Initializer.defaultBias(inner, fanIn: convolutionWidth, using: &generator)
        xProjection = Linear(inputCount: inner, outputCount: dtRank + 2 * stateSize, bias: false, using: &generator)
        var dt = Linear(inputCount: dtRank, outputCount: inner, using: &generator)
        // The reference's Δ initialization: softplus(bias) log-uniform in [1e-3, 1e-1],
        // so that the initial time steps span slow and fast memories.
        let bias = (0..<inner).map { _ -> Float in
            let step = Swift.max(Foundation.exp(Float.random(in: 0..<1, using: &generator) * (Foundation.log(Float(0.1)) - Foundation.log(Float(0.001))) + Foundation.log(Float(0.001))), 1e-4)
            return step + Foundation.log(-Foundation.expm1(-step))
        }
        dt.bias = Tensor(bias)
        dtProjection = dt
        logA = Tensor(shape: [inner, stateSize], scalars: (0..<inner).flatMap { _ in (1...stateSize).map { Foundation.log(Float($0)) } })
        skip = .ones([inner])
        outProjection = Linear(inputCount: inner, outputCount: modelDimension, bias: false, using: &generator)
    }

    public var innerDimension: Int { skip.shape[0] }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("in_proj", &inProjection)
        visitor.parameter("conv1d.weight", &convolutionWeight)
        visitor.parameter("conv1d.bias", &convolutionBias)
        visitor.child("x_proj", &xProjection)
        visitor.child("dt_proj", &dtProjection)
        visitor.parameter("A_log", &logA)
        visitor.parameter("D", &skip)
        visitor.child("out_proj", &outProjection)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let model = outProjection.weight.shape[0], inner = innerDimension
        precondition(input.rank == 3 && input.shape[2] == model,
                     "MambaBlock: expected a sequence [N, L, \(model)], got \(input.shape)")
        let (n, length) = (input.shape[0], input.shape[1])
        let xz = inProjection(input)
        var x = xz.sliced(alongAxis: 2, 0..<inner)
        let z = xz.sliced(alongAxis: 2, inner..<(2 * inner))
        x = causalConvolution(x, length: length).silu()
        let projected = xProjection(x)
        let delta = dtProjection(projected.sliced(alongAxis: 2, 0..<dtRank)).softplus()
        let b = projected.sliced(alongAxis: 2, dtRank..<(dtRank + stateSize))
        let c = projected.sliced(alongAxis: 2, (dtRank + stateSize)..<(dtRank + 2 * stateSize))
        let y = Self.selectiveScan(x, delta: delta, a: -logA.exp(), b: b, c: c, d: skip)
        precondition(y.shape == [n, length, inner])
        return outProjection(y * z.silu())
    }

    /// The depthwise convolution over time, left-padded so that output t sees inputs ≤ t.
    private func causalConvolution(_ x: Tensor, length: Int) -> Tensor {
        let (n, inner) = (x.shape[0], x.shape[2]), width = convolutionWeight.shape[3]
        let image = x.permuted([0, 2, 1]).reshaped(to: [n, inner, 1, length])
        let convolved = image.conv2d(weight: convolutionWeight, bias: convolutionBias, padding: (0, width - 1), groups: inner)
        return convolved.sliced(alongAxis: 3, 0..<length).reshaped(to: [n, inner, length]).permuted([0, 2, 1])
    }

    /// The selective scan: for x, Δ `[N, L, D]`, A `[D, S]`, B, C `[N, L, S]` and D `[D]`,
    ///
    ///     h_t = exp(Δ_t ⊙ A) ⊙ h_{t−1} + (Δ_t ⊙ x_t) ⊗ B_t,   y_t = h_t · C_t + D ⊙ x_t,
    ///
    /// with h `[N, D, S]` starting at zero. Returns y `[N, L, D]`.
    public static func selectiveScan(_ x: Tensor, delta: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor {
        // The engine's scan checks x, Δ, A, B and C.
        let scanned = Tensor.selectiveScan(x, delta: delta, a: a, b: b, c: c)
        precondition(d.shape == [x.shape[2]], "selectiveScan: D must be [\(x.shape[2])], got \(d.shape)")
        return scanned + x * d
    }
}

/// A Mamba layer on a feature map, as U-Mamba's encoder uses it: `[N, C, H, W]` is read as
/// the sequence of its H·W pixels in raster order, layer-normalized over channels, passed
/// through a ``MambaBlock`` and added back (a residual, so that the layer starts close to
/// the identity and the convolutional path keeps working while the scan trains).
public struct MambaLayer: Layer {
    public var norm: LayerNorm
    public var mamba: MambaBlock

    public init(channels: Int, stateSize: Int = 16, using generator: inout some RandomNumberGenerator) {
        norm = LayerNorm(channels)
        mamba = MambaBlock(modelDimension: channels, stateSize: stateSize, using: &generator)
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("norm", &norm)
        visitor.child("mamba", &mamba)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == norm.normalizedShape[0],
                     "MambaLayer: expected [N, \(norm.normalizedShape[0]), H, W], got \(input.shape)")
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let sequence = input.reshaped(to: [n, c, h * w]).permuted([0, 2, 1])
        let mixed = mamba(norm(sequence))
        return input + mixed.permuted([0, 2, 1]).reshaped(to: [n, c, h, w])
    }
}
