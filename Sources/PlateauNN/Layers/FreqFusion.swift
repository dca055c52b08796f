import Foundation
import PlateauTensor

/// FreqFusion (Chen, Fu, Gu, Zheng & Chen 2024, *Frequency-aware Feature Fusion for Dense
/// Image Prediction*, TPAMI, arXiv:2408.12879): fuses a low-resolution decoder feature
/// X_l `[N, C, H, W]` into a high-resolution encoder feature X_h `[N, C, 2H, 2W]`.
///
/// - **Adaptive low-pass filter**: both features are compressed by 1×1 convolutions (Z_l,
///   Z_h); a 3×3 convolution predicts k²-tap kernels from each, the low-resolution ones are
///   nearest-upsampled and added, and each pixel's taps are softmax-normalized, weighted by
///   a 2-D Hamming window and renormalized: a spatially varying low-pass kernel (non-negative,
///   summing to 1). X_l is upsampled by CARAFE-style reassembly with it: output pixel p is
///   Σ_taps K_p(tap) · X_l(⌊p/2⌋ + tap).
/// - **Adaptive high-pass filter**: the same construction with 3×3 kernels at full
///   resolution gives a low-pass K_hp; X_h' = X_h + (X_h − K_hp ∗ X_h), i.e. the high
///   frequencies of X_h are added back (boundary sharpening).
/// - **Offset resampling**: from each compressed feature and its cosine similarity to its 8
///   neighbours at dilation 2, convolutions predict a 2-D offset per high-resolution pixel
///   (offset ⊙ σ(scope), as the reference), and the upsampled X_l is resampled there by
///   bilinear ``PlateauTensor/Tensor/gridSampled(offsets:)``, replacing features that are
///   inconsistent with their neighbours by similar ones.
///
/// Returns X_h' + X_l↑. Simplifications against the reference (stated so that results are
/// read correctly): one kernel group, the "semi-conv" low-pass path (without the reference's
/// high-pass pre-enhancement of Z_h), offsets predicted directly at high resolution (the
/// reference predicts 4 sub-pixel offsets per low-resolution pixel and pixel-shuffles
/// them), no GroupNorm before the offset generator, and replicate padding for the kernels.
public struct FreqFusion: Module {
    public var compressHigh: Conv2d
    public var compressLow: Conv2d
    public var lowPassEncoder: Conv2d
    public var highPassEncoder: Conv2d
    public var offsetHigh: Conv2d?
    public var offsetLow: Conv2d?
    public var scopeHigh: Conv2d?
    public var scopeLow: Conv2d?
    public let lowPassSize: Int
    public let highPassSize: Int

    /// - Parameters:
    ///   - channels: C of both inputs.
    ///   - compressedChannels: C_c of the kernel and offset predictors (64 in the reference).
    ///   - lowPassSize, highPassSize: the kernel sides k_lp (5) and k_hp (3), odd.
    ///   - offsets: whether to add the offset resampling.
    public init(channels: Int, compressedChannels: Int = 16, lowPassSize: Int = 5, highPassSize: Int = 3, offsets: Bool = true,
                using generator: inout some RandomNumberGenerator) {
        precondition(channels > 0 && compressedChannels > 0, "FreqFusion: channel counts must be positive, got \(channels), \(compressedChannels)")
        precondition(lowPassSize > 0 && lowPassSize % 2 == 1 && highPassSize > 0 && highPassSize % 2 == 1,
                     "FreqFusion: kernel sizes must be odd and positive, got \(lowPassSize), \(highPassSize)")
        self.lowPassSize = lowPassSize
        self.highPassSize = highPassSize
        compressHigh = Conv2d(channels, compressedChannels, kernelSize: 1, using: &generator)
        compressLow = Conv2d(channels, compressedChannels, kernelSize: 1, using: &generator)
        // As the reference, kernel predictors start near zero so that the first kernels are
        // the Hamming window itself (a fixed smooth low-pass).
        func small(_ input: Int, _ output: Int, std: Float) -> Conv2d {
            var conv = Conv2d(input, output, kernelSize: 3, padding: 1, using: &generator)
            conv.weight = Tensor.randomNormal(conv.weight.shape, standardDeviation: std, using: &generator)
            conv.bias = .zeros([output])
            return conv
        }
        lowPassEncoder = small(compressedChannels, lowPassSize * lowPassSize, std: 1e-3)
        highPassEncoder = small(compressedChannels, highPassSize * highPassSize, std: 1e-3)
        if offsets {
            offsetHigh = small(compressedChannels + 8, 2, std: 1e-3)
            offsetLow = small(compressedChannels + 8, 2, std: 1e-3)
            scopeHigh = small(compressedChannels + 8, 2, std: 0)
            scopeLow = small(compressedChannels + 8, 2, std: 0)
        }
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("hr_channel_compressor", &compressHigh)
        visitor.child("lr_channel_compressor", &compressLow)
        visitor.child("content_encoder", &lowPassEncoder)
        visitor.child("content_encoder2", &highPassEncoder)
        visitor.child("offset_hr", &offsetHigh)
        visitor.child("offset_lr", &offsetLow)
        visitor.child("scope_hr", &scopeHigh)
        visitor.child("scope_lr", &scopeLow)
    }

    /// X_h' + X_l↑ for X_h `[N, C, 2H, 2W]` (`high`) and X_l `[N, C, H, W]` (`low`).
    public func callAsFunction(high: Tensor, low: Tensor) -> Tensor {
        let c = compressHigh.weight.shape[1]
        precondition(low.rank == 4 && low.shape[1] == c, "FreqFusion: expected low-resolution [N, \(c), H, W], got \(low.shape)")
        let (n, h, w) = (low.shape[0], low.shape[2], low.shape[3])
        precondition(high.shape == [n, c, 2 * h, 2 * w], "FreqFusion: expected high-resolution [\(n), \(c), \(2 * h), \(2 * w)], got \(high.shape)")
        let zh = compressHigh(high), zl = compressLow(low)
        let size = (2 * h, 2 * w)
        let lowPass = Self.normalizedKernels(lowPassEncoder(zh) + lowPassEncoder(zl).upsampledNearest(to: size), side: lowPassSize)
        var upsampled = Self.reassembled(low, kernels: lowPass, side: lowPassSize, upsampling: true)
        let highPass = Self.normalizedKernels(highPassEncoder(zh) + highPassEncoder(zl).upsampledNearest(to: size), side: highPassSize)
        let sharpened = high + (high - Self.reassembled(high, kernels: highPass, side: highPassSize, upsampling: false))
        if let offsetHigh, let offsetLow, let scopeHigh, let scopeLow {
            let sh = Tensor.concatenating([zh, Self.localSimilarity(zh)], alongAxis: 1)
            let sl = Tensor.concatenating([zl, Self.localSimilarity(zl)], alongAxis: 1)
            let offsets = (offsetHigh(sh) + offsetLow(sl).upsampledNearest(to: size))
                * (scopeHigh(sh) + scopeLow(sl).upsampledNearest(to: size)).sigmoid()
            upsampled = upsampled.gridSampled(offsets: offsets)
        }
        return sharpened + upsampled
    }

    /// Per-pixel kernels `[N, k², H, W]` from raw scores: softmax over the k² taps, times
    /// a k×k Hamming window, renormalized to sum 1.
    public static func normalizedKernels(_ scores: Tensor, side k: Int) -> Tensor {
        precondition(scores.rank == 4 && scores.shape[1] == k * k, "normalizedKernels: expected [N, \(k * k), H, W] scores, got \(scores.shape)")
        let window1 = (0..<k).map { i -> Float in
            k == 1 ? 1 : 0.54 - 0.46 * Foundation.cos(2 * Float.pi * Float(i) / Float(k - 1))
        }
        let window = Tensor(shape: [1, k * k, 1, 1], scalars: window1.flatMap { a in window1.map { a * $0 } })
        let weighted = scores.softmax(alongAxis: 1) * window
        return weighted / weighted.sum(alongAxis: 1, keepingDimensions: true)
    }

    /// CARAFE-style reassembly: output pixel p of `[N, C, H', W']` is Σ_taps K_p(tap) ·
    /// X(q + tap) with q = p (or ⌊p/2⌋ when `upsampling`, H' = 2H), X replicate-padded
    /// (the engine's fused ``PlateauTensor/Tensor/reassembled(kernels:side:upsampling:)``).
    public static func reassembled(_ x: Tensor, kernels: Tensor, side k: Int, upsampling: Bool) -> Tensor {
        x.reassembled(kernels: kernels, side: k, upsampling: upsampling)
    }

    /// The cosine similarity of each pixel's feature vector with those of its 8 neighbours
    /// at distance 2 (replicate at the border): `[N, 8, H, W]`.
    public static func localSimilarity(_ z: Tensor) -> Tensor {
        let (h, w) = (z.shape[2], z.shape[3])
        let unit = z / (z.square().sum(alongAxis: 1, keepingDimensions: true) + 1e-6).sqrt()
        var maps: [Tensor] = []
        for dy in [-2, 0, 2] {
            for dx in [-2, 0, 2] where dy != 0 || dx != 0 {
                let shifted = unit.gathering((0..<h).map { Swift.min(Swift.max($0 + dy, 0), h - 1) }, alongAxis: 2)
                    .gathering((0..<w).map { Swift.min(Swift.max($0 + dx, 0), w - 1) }, alongAxis: 3)
                maps.append((unit * shifted).sum(alongAxis: 1, keepingDimensions: true))
            }
        }
        return Tensor.concatenating(maps, alongAxis: 1)
    }
}
