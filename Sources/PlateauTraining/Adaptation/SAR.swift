import Foundation
import PlateauNN
import PlateauOptim
import PlateauTensor

/// SAR: sharpness-aware and reliable entropy minimization (Niu, Wu, Zhang, Wen, Chen, Zhao
/// & Tan, ICLR 2023, *Towards Stable Test-Time Adaptation in Dynamic Wild World*), as the
/// authors' code runs it. Per batch x of n samples, θ the normalization affine parameters:
///
/// 1. z = f_θ(x) on the whole batch; H_i = H(z_i); S₁ = {i : H_i < E₀}, E₀ = 0.4·ln C.
///    The batch is scored with z (before any update).
/// 2. g = ∇_θ mean_{i∈S₁} H_i; ε = ρ·g/(‖g‖ + 10⁻¹²) with ρ = 0.05 (SAM, Foret et al. 2021).
/// 3. H'_i = H(f_{θ+ε}(x)_i) on the whole batch again; S₂ = {i ∈ S₁ : H'_i < E₀};
///    L₂ = mean_{i∈S₂} H'_i.
/// 4. θ ← SGD(θ, ∇_θ L₂ at θ+ε), momentum 0.9.
/// 5. Model recovery (``ModelRecovery``): ema ← 0.9·ema + 0.1·L₂ (the first L₂ starts it;
///    skipped when S₂ is empty); when ema < 0.2 the model returns to its source weights,
///    the optimizer to a fresh state, and the average starts over.
///
/// Steps 2–4 are the project's ``SharpnessAwareMinimizer`` with the ``SAM`` rule around
/// ``SGD``, run on a ``NormAffineView`` so that ε and the update touch θ only. Its driver
/// differentiates the mean of per-sample losses; the loss closure returns H_i·n/|S| on S and
/// 0 elsewhere (``EntropyFilter/meanWeights(kept:count:)``), whose mean is the filtered mean.
/// Both passes run on the whole batch, as in the official code, so BatchNorm's batch
/// statistics are those of all n samples. An empty S₁ gives g = 0, so ε = 0 and the step is
/// momentum only — as in the official code, where the empty mean's gradient is zero.
public struct SAR<Model: Layer>: TestTimeAdapter {
    public private(set) var model: Model
    /// The weights recovery returns to (the model as given, in training mode).
    public let source: Model
    /// E₀: samples at or above it are left out of both passes.
    public var margin: Float
    public var recovery: ModelRecovery
    /// Times the model was reset to its source weights.
    public private(set) var resets = 0
    private var minimizer: SharpnessAwareMinimizer<SAM, SGD>
    private let learningRate: Float, momentum: Float, rho: Float

    /// - Parameters:
    ///   - margin: E₀ (``EntropyFilter/defaultMargin(classCount:)`` for the paper's 0.4·ln C).
    ///   - rho: SAM's radius ρ (0.05).
    ///   - resetThreshold: e_m, the moving average below which the model is reset (0.2).
    /// - Throws: ``AdaptationError`` when `model` has no normalization layers.
    public init(
        model: Model, learningRate: Float, margin: Float, rho: Float = 0.05, momentum: Float = 0.9, resetThreshold: Float = 0.2
    ) throws {
        try AdaptationError.requireNormParameters(model, method: "sar")
        self.model = model.training(true)
        source = self.model
        self.margin = margin
        self.learningRate = learningRate
        self.momentum = momentum
        self.rho = rho
        recovery = ModelRecovery(threshold: resetThreshold)
        minimizer = Self.freshMinimizer(learningRate: learningRate, momentum: momentum, rho: rho)
    }

    private static func freshMinimizer(learningRate: Float, momentum: Float, rho: Float) -> SharpnessAwareMinimizer<SAM, SGD> {
        SharpnessAwareMinimizer(rule: SAM(rho: rho), base: SGD(learningRate: learningRate, momentum: momentum))
    }

    public mutating func adapt(_ images: Tensor) -> AdaptationStep {
        let n = images.shape[0], margin = margin
        var logits = Tensor(0), firstLoss = Float.nan, secondLoss = Float.nan
        var firstKept: [Int] = [], secondKept: [Int] = []
        var view = NormAffineView(model: model)
        minimizer.step(&view, batchSize: n) { (m: inout NormAffineView<Model>, request: LossRequest) -> Tensor in
            precondition(request.samples == nil, "SAR: the minimizer runs without micro-batches or m-sharpness")
            let outputs = m(images)
            let entropies = predictionEntropies(outputs)
            let values = entropies.detached.scalars
            switch request.point {
            case .parameters:
                logits = outputs.detached
                firstKept = EntropyFilter.kept(values, below: margin)
                firstLoss = Self.mean(values, firstKept)
                return entropies * EntropyFilter.meanWeights(kept: firstKept, count: n)
            case .perturbed:
                secondKept = firstKept.filter { values[$0] < margin }
                secondLoss = Self.mean(values, secondKept)
                return entropies * EntropyFilter.meanWeights(kept: secondKept, count: n)
            }
        }
        model = view.model
        let reset = recovery.record(secondLoss)
        if reset {
            model = source
            minimizer = Self.freshMinimizer(learningRate: learningRate, momentum: momentum, rho: rho)
            resets += 1
        }
        return AdaptationStep(logits: logits, loss: firstLoss, kept: firstKept.count, keptTwice: secondKept.count, reset: reset)
    }

    /// The mean of `values` at `positions` (NaN when empty, as PyTorch's empty mean).
    private static func mean(_ values: [Float], _ positions: [Int]) -> Float {
        positions.isEmpty ? .nan : positions.reduce(Float(0)) { $0 + values[$1] } / Float(positions.count)
    }
}

/// SAR's model recovery (Niu et al. 2023, §4.3): an exponential moving average of the
/// second-pass entropy, e ← 0.9·e + 0.1·L₂ (started by the first L₂; NaN losses — an empty
/// filtered set — leave it alone). An average below e_m = 0.2 signals collapse toward
/// confident, degenerate predictions: the caller resets the model and the average restarts.
public struct ModelRecovery: Sendable, Equatable {
    /// e_m.
    public var threshold: Float
    /// The weight of the old average (0.9).
    public var decay: Float
    /// The current average (`nil` before the first loss and after a reset).
    public private(set) var average: Float?

    /// e_m for C classes: the paper's 0.2 scaled by ln C / ln 1000, so that e_m keeps its
    /// ratio to E₀ = 0.4·ln C (0.2 / 2.763 on ImageNet's 1000 classes); 0.0667 for 10 classes.
    /// The entropy of a C-class prediction is at most ln C, so a threshold in nats set for
    /// 1000 classes fires on a healthy 10-class model: on MNIST-C a LeNet's filtered mean
    /// entropy is below 0.2 from the first batches and the unscaled rule resets after most
    /// of them (docs/adaptation.md).
    public static func defaultThreshold(classCount: Int) -> Float {
        Float(0.2 * log(Double(classCount)) / log(1000))
    }

    public init(threshold: Float = 0.2, decay: Float = 0.9) {
        self.threshold = threshold
        self.decay = decay
    }

    /// Records a batch's L₂; returns whether the model must be reset now (the average then
    /// restarts from nothing).
    public mutating func record(_ loss: Float) -> Bool {
        if !loss.isNaN { average = average.map { decay * $0 + (1 - decay) * loss } ?? loss }
        guard let current = average, current < threshold else { return false }
        average = nil
        return true
    }
}
