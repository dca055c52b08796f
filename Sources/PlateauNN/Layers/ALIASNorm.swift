import PlateauTensor

/// ALIAS normalization (Choi, Park, Lee & Choo 2021, *VITON-HD: High-Resolution Virtual
/// Try-On via Misalignment-Aware Normalization*, CVPR; `ALIASNorm` in the reference
/// `networks.py`), on an activation x `[N, C, H, W]` with a segmentation map S
/// `[N, S, H', W']` and a misalignment mask M `[N, 1, H', W']` (1 where misaligned):
///
/// 1. noise: x' = x + n ⊙ s, with one standard normal map n `[N, 1, H, W]` per sample
///    shared across channels and a learned per-channel scale s (zeros at first);
/// 2. parameter-free normalization: with `regionwise`, ``maskNormalized(_:mask:epsilon:)``
///    (the misaligned region and the rest normalized separately, each to zero mean and
///    unit variance within itself); otherwise instance normalization;
/// 3. spatial modulation: a = ReLU(conv3×3(S)), γ = conv3×3(a), β = conv3×3(a), and the
///    output x̂ ⊙ (1 + γ) + β (so γ = β = 0 is the identity on x̂).
///
/// Without `regionwise` this is SPADE (Park et al. 2019) with noise: the baseline ALIAS is
/// compared against. S and M are nearest-resized to H×W. The layer owns a seeded generator
/// for the noise, so runs are reproducible.
public struct ALIASNorm: Module {
    public var noiseScale: Tensor
    public var shared: Conv2d
    public var gamma: Conv2d
    public var beta: Conv2d
    public var generator: SeededGenerator
    public let regionwise: Bool
    public var epsilon: Float = 1e-5

    /// - Parameters:
    ///   - channels: C of the normalized activation.
    ///   - segmentationChannels: channels of the modulation input S.
    ///   - hiddenChannels: the shared modulation convolution's width (128 in the reference).
    ///   - regionwise: MaskNorm (ALIAS) rather than instance normalization (SPADE).
    public init(channels: Int, segmentationChannels: Int, hiddenChannels: Int = 32, regionwise: Bool = true, seed: UInt64 = 0,
                using generator: inout some RandomNumberGenerator) {
        precondition(channels > 0 && segmentationChannels > 0 && hiddenChannels > 0,
                     "ALIASNorm: channel counts must be positive, got \(channels), \(segmentationChannels), \(hiddenChannels)")
        noiseScale = .zeros([channels])
        shared = Conv2d(segmentationChannels, hiddenChannels, kernelSize: 3, padding: 1, using: &generator)
        gamma = Conv2d(hiddenChannels, channels, kernelSize: 3, padding: 1, using: &generator)
        beta = Conv2d(hiddenChannels, channels, kernelSize: 3, padding: 1, using: &generator)
        self.generator = SeededGenerator(seed: seed)
        self.regionwise = regionwise
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("noise_var", &noiseScale)
        visitor.child("conv_shared", &shared)
        visitor.child("conv_gamma", &gamma)
        visitor.child("conv_beta", &beta)
    }

    /// The normalized and modulated activation; `mask` is required when `regionwise`.
    public mutating func callAsFunction(_ x: Tensor, segmentation: Tensor, mask: Tensor?) -> Tensor {
        let c = noiseScale.shape[0]
        precondition(x.rank == 4 && x.shape[1] == c, "ALIASNorm: expected [N, \(c), H, W], got \(x.shape)")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        precondition(segmentation.rank == 4 && segmentation.shape[0] == n && segmentation.shape[1] == shared.weight.shape[1],
                     "ALIASNorm: expected a segmentation map [\(n), \(shared.weight.shape[1]), H, W], got \(segmentation.shape)")
        let noise = Tensor.randomNormal([n, 1, h, w], using: &generator)
        let noisy = x + noise * noiseScale.reshaped(to: [1, c, 1, 1])
        let normalized: Tensor
        if regionwise {
            guard let mask else { preconditionFailure("ALIASNorm: a region-wise (ALIAS) normalization needs a misalignment mask") }
            precondition(mask.rank == 4 && mask.shape[0] == n && mask.shape[1] == 1,
                         "ALIASNorm: expected a mask [\(n), 1, H, W], got \(mask.shape)")
            normalized = Self.maskNormalized(noisy, mask: resized(mask, h, w), epsilon: epsilon)
        } else {
            normalized = Self.instanceNormalized(noisy, epsilon: epsilon)
        }
        return modulated(normalized, segmentation: resized(segmentation, h, w))
    }

    /// x̂ ⊙ (1 + γ(S)) + β(S).
    public func modulated(_ normalized: Tensor, segmentation: Tensor) -> Tensor {
        let hidden = shared(segmentation).relu()
        return normalized * (1 + gamma(hidden)) + beta(hidden)
    }

    private func resized(_ map: Tensor, _ h: Int, _ w: Int) -> Tensor {
        map.shape[2] == h && map.shape[3] == w ? map : map.upsampledNearest(to: (h, w))
    }

    /// Each (sample, channel) plane normalized over H×W to zero mean and unit (biased)
    /// variance.
    public static func instanceNormalized(_ x: Tensor, epsilon: Float = 1e-5) -> Tensor {
        let centered = x - x.mean(alongAxes: [2, 3], keepingDimensions: true)
        return centered / (centered.square().mean(alongAxes: [2, 3], keepingDimensions: true) + epsilon).sqrt()
    }

    /// MaskNorm: the region `mask` (values in {0, 1}, `[N, 1, H, W]`) and its complement
    /// are normalized separately. For a region m with mean μ_m, the outside is filled with
    /// μ_m, so that instance normalization sees the region's statistics, and the result is
    /// scaled by √(area/HW), so that the region ends with zero mean and unit variance within
    /// itself (and exactly 0 outside); the two results are added. An empty region
    /// contributes 0, so an all-ones mask gives instance normalization.
    public static func maskNormalized(_ x: Tensor, mask: Tensor, epsilon: Float = 1e-5) -> Tensor {
        precondition(x.rank == 4 && mask.rank == 4 && mask.shape == [x.shape[0], 1, x.shape[2], x.shape[3]],
                     "maskNormalized: expected x [N, C, H, W] and mask [N, 1, H, W], got \(x.shape) and \(mask.shape)")
        let pixels = Float(x.shape[2] * x.shape[3])
        func region(_ m: Tensor) -> Tensor {
            let area = m.sum(alongAxes: [2, 3], keepingDimensions: true)
            let mean = (x * m).sum(alongAxes: [2, 3], keepingDimensions: true) / area.maximum(1)
            let filled = x * m + (1 - m) * mean
            return instanceNormalized(filled, epsilon: epsilon) * (area / pixels).sqrt()
        }
        return region(mask) + region(1 - mask)
    }
}
