import PlateauNN
import PlateauOptim
import PlateauTensor

/// RSGS: reliable surrogate-gap sharpness-aware minimization, the source-free adaptation of
/// CSFA (Yu, Lu & Zhang 2025, arXiv 2506.05736), read as GSAM (Zhuang et al., ICLR 2022) on
/// SAR's reliable entropy (Niu et al., ICLR 2023). The paper has no public code; this is the
/// project's reading (docs/adaptation.md lists where it fills gaps). Per batch x of n
/// samples, θ the normalization affine parameters (``NormAffineView``):
///
/// 1. z = f_θ(x); H_i = H(z_i); S = {i : H_i < E₀}, E₀ = 0.4·ln C. The batch is scored with z.
/// 2. f(θ) = mean_{i∈S} H_i(θ); g = ∇f(θ); ε = ρ·g/(‖g‖ + 10⁻¹²) (ρ = 0.05, constant).
/// 3. f_p = f(θ + ε) on the same S (one objective, so h = f_p − f is GSAM's surrogate gap);
///    g_p = ∇f(θ + ε).
/// 4. g_⊥ = g − (g·ĝ_p)·ĝ_p; d = g_p − α·g_⊥ (α = 0.1, the middle of GSAM's range).
/// 5. θ ← SGD(θ, d), momentum 0.9.
///
/// Steps 2–5 are the project's ``SharpnessAwareMinimizer`` with the ``GSAM`` rule around
/// ``SGD``, as ``SAR`` runs SAM. Unlike SAR there is no second filter (the perturbed pass keeps
/// S, so that f and f_p are the same function of θ) and no model recovery: the paper names
/// neither. An empty S gives g = g_p = 0: the step is momentum only.
public struct RSGS<Model: Layer>: TestTimeAdapter {
    public private(set) var model: Model
    /// E₀: samples at or above it are left out.
    public var margin: Float
    private var minimizer: SharpnessAwareMinimizer<GSAM, SGD>

    /// - Parameters:
    ///   - margin: E₀ (``EntropyFilter/defaultMargin(classCount:)`` for 0.4·ln C).
    ///   - rho: the radius ρ, constant over the stream (there is no learning-rate schedule).
    ///   - alpha: GSAM's α, the weight of the step along −g_⊥ that shrinks the surrogate gap.
    /// - Throws: ``AdaptationError`` when `model` has no normalization layers.
    public init(model: Model, learningRate: Float, margin: Float, rho: Float = 0.05, alpha: Float = 0.1, momentum: Float = 0.9) throws {
        try AdaptationError.requireNormParameters(model, method: "rsgs")
        self.model = model.training(true)
        self.margin = margin
        minimizer = SharpnessAwareMinimizer(
            rule: GSAM(radius: .constant(rho), alpha: alpha), base: SGD(learningRate: learningRate, momentum: momentum))
    }

    public mutating func adapt(_ images: Tensor) -> AdaptationStep {
        let n = images.shape[0], margin = margin
        var logits = Tensor(0), loss = Float.nan, kept: [Int] = []
        var view = NormAffineView(model: model)
        minimizer.step(&view, batchSize: n) { (m: inout NormAffineView<Model>, request: LossRequest) -> Tensor in
            precondition(request.samples == nil, "RSGS: the minimizer runs without micro-batches or m-sharpness")
            let outputs = m(images)
            let entropies = predictionEntropies(outputs)
            if request.point == .parameters {
                logits = outputs.detached
                let values = entropies.detached.scalars
                kept = EntropyFilter.kept(values, below: margin)
                loss = kept.isEmpty ? .nan : kept.reduce(Float(0)) { $0 + values[$1] } / Float(kept.count)
            }
            return entropies * EntropyFilter.meanWeights(kept: kept, count: n)
        }
        model = view.model
        return AdaptationStep(logits: logits, loss: loss, kept: kept.count)
    }
}
