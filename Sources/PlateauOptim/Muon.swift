import Foundation
import PlateauTensor

/// Muon (Jordan et al. 2024): momentum whose update is orthogonalized by a Newton–Schulz
/// iteration, for the hidden weight matrices; AdamW for every other parameter. With
/// ``NoiseAdaptation`` it is LANTON (Hao et al. 2025): each hidden matrix's step is scaled by
/// an estimate of that layer's gradient noise.
///
/// **Which parameters are matrices.** In the order of the parameter set (the model's order),
/// a parameter is *hidden* when its name ends in `weight` (`fc.weight`, `in_proj_weight`),
/// its rank is ≥ 2, and it is neither the first nor the last such parameter — the input
/// layer (or embedding) and the head go to AdamW, as in the reference, and so do biases,
/// norm gains, class tokens and position embeddings. Rank > 2 weights (conv filters
/// [out, in, kh, kw]) are reshaped to [out, in·kh·kw].
///
/// **Muon step** for a hidden matrix W with gradient G (β momentum, η learning rate,
/// λ weight decay), as the reference `muon.py`:
///
///     M ← β·M + (1 − β)·G                            M₀ = 0
///     U = (1 − β)·G + β·M   (Nesterov)   or   U = M
///     O = NS₅(U) · √max(1, rows/cols)
///     W ← W·(1 − η·λ) − η·O
///
/// NS₅ normalizes X = U/(‖U‖_F + 1e-7), transposed when rows > cols, then repeats
/// A = XXᵀ, X ← a·X + (b·A + c·A²)·X with (a, b, c) = (3.4445, −4.7750, 2.0315), and
/// transposes back: X ≈ U·S′·Vᵀ with S′ roughly in [0.5, 1.5] (fp32 here; bf16 on GPU in
/// the reference).
///
/// **AdamW for the rest**: β = (0.9, 0.95), ε = 1e-10, decoupled decay λ, learning rate
/// ``adamLearningRate`` × (η / ``initialLearningRate``), so a schedule scales both groups
/// alike (the reference schedules both parameter groups by one factor).
///
/// State: `"momentum_buffer.<path>"` for hidden matrices; `"exp_avg.<path>"`,
/// `"exp_avg_sq.<path>"`, `"step.<path>"` for the rest; with LANTON also
/// `"previous_gradient.<path>"`, `"noise_ema.<path>"` and `"noise_step.<path>"`.
///
/// References: K. Jordan et al., *Muon: An optimizer for hidden layers in neural networks*
/// (2024, github.com/KellerJordan/Muon); Hao, Gong, Xu, Wang & Liu 2025, *Noise-Adaptive
/// Layerwise Learning Rates: Accelerating Geometry-Aware Optimization*, arXiv:2510.14009.
public struct Muon: Optimizer {
    /// LANTON's per-layer learning rates for the hidden matrices.
    ///
    /// Per hidden layer ℓ, from the second step on (what is implemented; the paper's exact
    /// Algorithm 1 was not available, see docs/methods.md):
    ///
    ///     nₜ = ‖Gₜ − Gₜ₋₁‖²_*                 (nuclear norm, the dual of the spectral norm)
    ///     Hₜ = β₂·Hₜ₋₁ + (1 − β₂)·nₜ,   Ĥₜ = Hₜ / (1 − β₂ᵏ)   (k noise samples so far)
    ///     ηₜˡ = η · √(minⱼ Ĥₜʲ / Ĥₜˡ)          (j over the hidden layers of this step)
    ///
    /// The previous step's gradient stands in for an independent mini-batch gradient (no
    /// extra pass), so nₜ also contains the change of the true gradient between steps. The
    /// nuclear norm is tr(Pᵀ D) with P the polar factor of D, estimated by NS₅ followed by
    /// three cubic Newton–Schulz steps. Layers without a noise sample yet, and layers with
    /// Ĥ = 0, keep scale 1; the least noisy layer gets η.
    public struct NoiseAdaptation: Sendable, Equatable {
        /// β₂, the decay of the noise average H; default 0.99.
        public var beta2: Float
        public init(beta2: Float = 0.99) {
            precondition(beta2 >= 0 && beta2 < 1, "Muon: LANTON beta2 must be in [0, 1), got \(beta2)")
            self.beta2 = beta2
        }
    }

    /// η for the hidden matrices; default 0.02. Schedules set it each step.
    public var learningRate: Float
    /// The learning rate the schedule starts from; the AdamW group follows η / this.
    public let initialLearningRate: Float
    /// β, the momentum; default 0.95.
    public let momentum: Float
    /// Nesterov momentum (the reference's default); default `true`.
    public let nesterov: Bool
    /// λ, decoupled weight decay, for both groups; default 0.
    public let weightDecay: Float
    /// Newton–Schulz iterations; default 5.
    public let newtonSchulzSteps: Int
    /// The AdamW learning rate of the non-matrix parameters at ``initialLearningRate``; default 3e-4.
    public let adamLearningRate: Float
    /// LANTON's layerwise scaling, or `nil` for plain Muon.
    public let noiseAdaptation: NoiseAdaptation?

    private var momenta = BufferStore()
    private var adam = AdamMoments()
    private var noise = BufferStore()
    /// The last step's per-hidden-layer noise Ĥ and learning-rate scale (LANTON), by path.
    public private(set) var layerStatistics: [(path: String, noise: Double, scale: Float)] = []

    /// Muon with the reference defaults (η 0.02, β 0.95 Nesterov, λ 0, 5 steps, AdamW η 3e-4).
    ///
    /// - Precondition: rates and decay finite and ≥ 0, momentum in [0, 1), steps ≥ 1.
    public init(
        learningRate: Float = 0.02, momentum: Float = 0.95, nesterov: Bool = true, weightDecay: Float = 0,
        newtonSchulzSteps: Int = 5, adamLearningRate: Float = 3e-4, noiseAdaptation: NoiseAdaptation? = nil
    ) {
        precondition(learningRate.isFinite && learningRate >= 0, "Muon: learningRate must be finite and ≥ 0, got \(learningRate)")
        precondition(momentum >= 0 && momentum < 1, "Muon: momentum must be in [0, 1), got \(momentum)")
        precondition(weightDecay.isFinite && weightDecay >= 0, "Muon: weightDecay must be finite and ≥ 0, got \(weightDecay)")
        precondition(newtonSchulzSteps >= 1, "Muon: newtonSchulzSteps must be ≥ 1, got \(newtonSchulzSteps)")
        precondition(adamLearningRate.isFinite && adamLearningRate >= 0, "Muon: adamLearningRate must be finite and ≥ 0, got \(adamLearningRate)")
        self.learningRate = learningRate
        initialLearningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.newtonSchulzSteps = newtonSchulzSteps
        self.adamLearningRate = adamLearningRate
        self.noiseAdaptation = noiseAdaptation
    }

    /// The paths of `parameters` that Muon orthogonalizes (see the type's documentation).
    public static func hiddenMatrices(of parameters: ParameterSet) -> Set<String> {
        let matrices = parameters.entries.filter { entry in
            entry.value.rank >= 2 && (entry.key.hasSuffix(".weight") || entry.key == "weight" || entry.key.hasSuffix("_weight"))
        }.map(\.key)
        guard matrices.count > 2 else { return [] }
        return Set(matrices.dropFirst().dropLast())
    }

    public mutating func update(_ parameters: inout ParameterSet, along gradient: ParameterSet) {
        let hidden = Self.hiddenMatrices(of: parameters)
        let rest = gradient.filter { !hidden.contains($0) }
        let matrices = gradient.filter { hidden.contains($0) }
        let scale = initialLearningRate > 0 ? Double(learningRate) / Double(initialLearningRate) : 1
        adam.update(
            &parameters, along: rest, optimizer: "Muon", learningRate: Float(Double(adamLearningRate) * scale),
            beta1: 0.9, beta2: 0.95, epsilon: 1e-10, l2: 0, decoupledDecay: weightDecay)
        let scales = noiseAdaptation.map { layerScales(parameters, matrices, $0) } ?? [:]
        let (lr, beta, wd, steps, nesterov) = (learningRate, momentum, weightDecay, newtonSchulzSteps, nesterov)
        forEachParameter(&parameters, along: matrices, optimizer: "Muon") { key, w, g in
            let slot = momenta.slot(for: key, shape: w.shape, bufferCount: 1, optimizer: "Muon")
            momenta[slot].step += 1
            let m = zip(momenta[slot].first.scalars, g.scalars).map { beta * $0 + (1 - beta) * $1 }
            momenta[slot].first = Tensor(shape: w.shape, scalars: m)
            let u = nesterov ? zip(g.scalars, m).map { (1 - beta) * $0 + beta * $1 } : m
            let rows = w.shape[0], columns = w.count / rows
            let o = Self.orthogonalized(Tensor(shape: [rows, columns], scalars: u), steps: steps)
            let step = lr * (scales[key] ?? 1) * Float(max(1, Double(rows) / Double(columns)).squareRoot())
            let decay = Float(1 - Double(lr) * Double(wd))
            return Tensor(shape: w.shape, scalars: zip(w.scalars, o.scalars).map { $0 * decay - step * $1 })
        }
    }

    /// Updates each hidden layer's noise average from this gradient and returns its scale.
    private mutating func layerScales(_ parameters: ParameterSet, _ matrices: ParameterSet, _ adaptation: NoiseAdaptation) -> [String: Float] {
        let beta2 = Double(adaptation.beta2)
        var averages: [(String, Double)] = []
        withoutGradients {
            for (key, g) in matrices.entries {
                let slot = noise.slot(for: key, shape: g.shape, bufferCount: 2, optimizer: "Muon")
                // `first` holds the previous gradient; `second` is [H, noise samples] (shape [2]).
                if noise[slot].step == 0 { noise[slot].second = Tensor(shape: [2], scalars: [0, 0]) }
                if noise[slot].step > 0 {
                    let rows = g.shape[0], columns = g.count / rows
                    let difference = Tensor(shape: [rows, columns], scalars: zip(g.scalars, noise[slot].first.scalars).map { $0 - $1 })
                    let nuclear = Self.nuclearNorm(difference, steps: newtonSchulzSteps)
                    let h = beta2 * Double(noise[slot].second.scalars[0]) + (1 - beta2) * nuclear * nuclear
                    noise[slot].second = Tensor(shape: [2], scalars: [Float(h), noise[slot].second.scalars[1] + 1])
                }
                noise[slot].first = g.detached
                noise[slot].step += 1
                let samples = Double(noise[slot].second.scalars[1])
                let corrected = samples > 0 ? Double(noise[slot].second.scalars[0]) / (1 - Foundation.pow(beta2, samples)) : 0
                averages.append((key, corrected))
            }
        }
        let floor = averages.map(\.1).filter { $0 > 0 }.min()
        var scales: [String: Float] = [:]
        layerStatistics = averages.map { key, h in
            let scale = (h > 0 && floor != nil) ? Float((floor! / h).squareRoot()) : 1
            scales[key] = scale
            return (key, h, scale)
        }
        return scales
    }

    /// With LANTON, per hidden layer: `train/lanton_noise/<path>` (Ĥ) and
    /// `train/lanton_lr/<path>` (η·scale, the layer's effective learning rate).
    public var diagnostics: [(tag: String, value: Float)] {
        layerStatistics.flatMap { [("train/lanton_noise/\($0.path)", Float($0.noise)), ("train/lanton_lr/\($0.path)", learningRate * $0.scale)] }
    }

    /// The reference's quintic coefficients (a, b, c).
    public static let newtonSchulzCoefficients: (a: Float, b: Float, c: Float) = (3.4445, -4.7750, 2.0315)

    /// NS₅ of a matrix [rows, cols]: approximately U·S′·Vᵀ for U·S·Vᵀ = `matrix`, S′ ∈ ≈[0.5, 1.5].
    public static func orthogonalized(_ matrix: Tensor, steps: Int = 5) -> Tensor {
        precondition(matrix.rank == 2, "Muon.orthogonalized: expected a matrix, got shape \(matrix.shape)")
        let (a, b, c) = newtonSchulzCoefficients
        return withoutGradients {
            var x = matrix.shape[0] > matrix.shape[1] ? transpose(matrix) : matrix
            let norm = Float(x.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            x = Tensor(shape: x.shape, scalars: x.scalars.map { $0 / (norm + 1e-7) })
            for _ in 0..<steps {
                let gram = x.matmul(x, transposingOther: true)
                let square = gram.matmul(gram)
                let polynomial = Tensor(shape: gram.shape, scalars: zip(gram.scalars, square.scalars).map { b * $0 + c * $1 })
                let product = polynomial.matmul(x)
                x = Tensor(shape: x.shape, scalars: zip(x.scalars, product.scalars).map { a * $0 + $1 })
            }
            return matrix.shape[0] > matrix.shape[1] ? transpose(x) : x
        }
    }

    /// ‖matrix‖_*, estimated as tr(Pᵀ·matrix) with P ≈ the polar factor: NS₅ then three cubic
    /// Newton–Schulz steps X ← 1.5·X − 0.5·XXᵀX, which drive NS₅'s S′ to 1.
    public static func nuclearNorm(_ matrix: Tensor, steps: Int = 5) -> Double {
        withoutGradients {
            var x = orthogonalized(matrix, steps: steps)
            let wide = x.shape[0] <= x.shape[1]
            for _ in 0..<3 {
                let cube = wide ? x.matmul(x, transposingOther: true).matmul(x) : x.matmul(x.matmul(x, transposingSelf: true))
                x = Tensor(shape: x.shape, scalars: zip(x.scalars, cube.scalars).map { 1.5 * $0 - 0.5 * $1 })
            }
            return zip(x.scalars, matrix.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }

    private static func transpose(_ m: Tensor) -> Tensor {
        let rows = m.shape[0], columns = m.shape[1], values = m.scalars
        var out = [Float](repeating: 0, count: values.count)
        for i in 0..<rows { for j in 0..<columns { out[j * rows + i] = values[i * columns + j] } }
        return Tensor(shape: [columns, rows], scalars: out)
    }

    public var state: OptimizerState {
        var state = adam.state
        for slot in momenta.slots { state.tensors["momentum_buffer.\(slot.key)"] = slot.first }
        for slot in noise.slots {
            state.tensors["previous_gradient.\(slot.key)"] = slot.first
            state.scalars["noise_ema.\(slot.key)"] = Double(slot.second.scalars[0])
            state.scalars["noise_step.\(slot.key)"] = Double(slot.second.scalars[1])
        }
        return state
    }

    /// Restores momentum buffers, the AdamW moments and (LANTON) the noise averages.
    ///
    /// Throws ``OptimizerStateError/unexpectedKey(_:)`` for keys of another optimizer (or
    /// LANTON keys without ``noiseAdaptation``), ``OptimizerStateError/missingKey(_:)`` when
    /// a LANTON layer lacks one of its three entries, and AdamW's errors for its moments.
    public mutating func restore(_ state: OptimizerState) throws {
        var adamState = OptimizerState()
        var restoredMomenta = BufferStore(), restoredNoise = BufferStore()
        for (key, tensor) in state.tensors.entries {
            if let path = OptimizerState.parameterPath(of: key, kind: "momentum_buffer") {
                restoredMomenta.append(.init(key: path, shape: tensor.shape, first: tensor.detached, second: BufferStore.Slot.none, step: 1))
            } else if let path = OptimizerState.parameterPath(of: key, kind: "previous_gradient") {
                guard noiseAdaptation != nil else { throw OptimizerStateError.unexpectedKey(key) }
                guard let h = state.scalars["noise_ema.\(path)"] else { throw OptimizerStateError.missingKey("noise_ema.\(path)") }
                guard let samples = state.scalars["noise_step.\(path)"] else { throw OptimizerStateError.missingKey("noise_step.\(path)") }
                guard h >= 0, h.isFinite else { throw OptimizerStateError.invalidScalar(key: "noise_ema.\(path)", value: h) }
                guard samples >= 0, samples.rounded() == samples, samples < 1e7 else {
                    throw OptimizerStateError.invalidScalar(key: "noise_step.\(path)", value: samples)
                }
                restoredNoise.append(.init(
                    key: path, shape: tensor.shape, first: tensor.detached, second: Tensor(shape: [2], scalars: [Float(h), Float(samples)]), step: 1))
            } else {
                adamState.tensors[key] = tensor
            }
        }
        for (key, value) in state.scalars {
            if let path = OptimizerState.parameterPath(of: key, kind: "noise_ema") ?? OptimizerState.parameterPath(of: key, kind: "noise_step") {
                guard noiseAdaptation != nil else { throw OptimizerStateError.unexpectedKey(key) }
                guard state.tensors["previous_gradient.\(path)"] != nil else { throw OptimizerStateError.missingKey("previous_gradient.\(path)") }
            } else {
                adamState.scalars[key] = value
            }
        }
        let restoredAdam = try AdamMoments(restoring: adamState)
        (momenta, noise, adam) = (restoredMomenta, restoredNoise, restoredAdam)
        layerStatistics = []
    }
}
