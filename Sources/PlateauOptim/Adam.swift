import Foundation
import PlateauTensor

/// Adam with L2 weight decay added to the gradient, with the semantics of PyTorch's
/// `torch.optim.Adam` (`amsgrad=False`).
///
/// For each parameter w with gradient g, at its step t = 1, 2, … (β₁, β₂ decay rates,
/// ε stability constant, λ weight decay, η learning rate):
///
///     g  = g + λ·w
///     mₜ = β₁·mₜ₋₁ + (1 − β₁)·g            m₀ = 0
///     vₜ = β₂·vₜ₋₁ + (1 − β₂)·g²           v₀ = 0
///     w  ← w − η/(1 − β₁ᵗ) · mₜ / (√vₜ / √(1 − β₂ᵗ) + ε)
///
/// Each parameter counts its own steps (as PyTorch does), so a parameter that starts
/// receiving gradients late still gets the full bias correction on its first step.
/// Scalar factors (η/(1 − β₁ᵗ), √(1 − β₂ᵗ)) are computed in double precision and rounded
/// once, as PyTorch computes them in Python. One difference: the betas are `Float`, so
/// 1 − β₂ is 1 − Float(0.999) = 0.000999987 where PyTorch uses 0.001; the bias correction
/// uses the same β₂, so steps differ from PyTorch's only at the 1e-6 relative level.
///
/// State: `"exp_avg.<path>"` (m), `"exp_avg_sq.<path>"` (v) and the scalar `"step.<path>"` (t).
///
/// Reference: Kingma & Ba 2015, *Adam: A Method for Stochastic Optimization*.
/// arXiv:1412.6980.
public struct Adam: Optimizer {
    /// η, the step size; default 1e-3. Schedules set it each step.
    public var learningRate: Float
    /// β₁, the decay of the first-moment (mean) estimate m; default 0.9.
    public let beta1: Float
    /// β₂, the decay of the second-moment (uncentred variance) estimate v; default 0.999.
    public let beta2: Float
    /// ε, added to the bias-corrected √v in the denominator; default 1e-8.
    public let epsilon: Float
    /// λ, the L2 weight decay added to the gradient (g + λ·w); default 0.
    public let weightDecay: Float

    private var moments = AdamMoments()

    /// Adam with L2 decay λ (default 0), η = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (PyTorch's defaults).
    ///
    /// - Precondition: `learningRate`, `epsilon`, `weightDecay` finite and ≥ 0; betas in [0, 1).
    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0
    ) {
        validateAdam("Adam", learningRate, beta1, beta2, epsilon, weightDecay)
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public mutating func update(_ parameters: inout ParameterSet, along gradient: ParameterSet) {
        moments.update(
            &parameters, along: gradient, optimizer: "Adam", learningRate: learningRate, beta1: beta1,
            beta2: beta2, epsilon: epsilon, l2: weightDecay, decoupledDecay: 0)
    }

    public var state: OptimizerState { moments.state }

    /// Replaces the moments and step counts by those of `state`; see ``AdamW/restore(_:)``
    /// for the errors thrown.
    public mutating func restore(_ state: OptimizerState) throws { moments = try AdamMoments(restoring: state) }
}

/// Adam with decoupled weight decay, with the semantics of PyTorch's `torch.optim.AdamW`
/// (`amsgrad=False`).
///
/// The weights are first shrunk, w ← w − η·λ·w (that is, w ← (1 − ηλ)·w), and then take a
/// plain Adam step (no decay in the gradient):
///
///     mₜ = β₁·mₜ₋₁ + (1 − β₁)·g,   vₜ = β₂·vₜ₋₁ + (1 − β₂)·g²
///     w  ← w − η/(1 − β₁ᵗ) · mₜ / (√vₜ / √(1 − β₂ᵗ) + ε)
///
/// Because the decay is not divided by √v, every weight decays at the same relative rate
/// ηλ per step, which is what makes it regularize like weight decay in SGD.
///
/// State: `"exp_avg.<path>"`, `"exp_avg_sq.<path>"`, and the scalar `"step.<path>"`.
///
/// Reference: Loshchilov & Hutter 2019, *Decoupled Weight Decay Regularization*.
/// arXiv:1711.05101.
public struct AdamW: Optimizer {
    /// η, the step size; default 1e-3. Schedules set it each step.
    public var learningRate: Float
    /// β₁, the decay of the first-moment (mean) estimate m; default 0.9.
    public let beta1: Float
    /// β₂, the decay of the second-moment (uncentred variance) estimate v; default 0.999.
    public let beta2: Float
    /// ε, added to the bias-corrected √v in the denominator; default 1e-8.
    public let epsilon: Float
    /// λ, the decoupled weight decay (w ← (1 − ηλ)·w before the Adam step); default 0.01.
    public let weightDecay: Float

    private var moments = AdamMoments()

    /// AdamW with decoupled decay λ (default 0.01), η = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (PyTorch's defaults).
    ///
    /// - Precondition: `learningRate`, `epsilon`, `weightDecay` finite and ≥ 0; betas in [0, 1).
    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0.01
    ) {
        validateAdam("AdamW", learningRate, beta1, beta2, epsilon, weightDecay)
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public mutating func update(_ parameters: inout ParameterSet, along gradient: ParameterSet) {
        moments.update(
            &parameters, along: gradient, optimizer: "AdamW", learningRate: learningRate, beta1: beta1,
            beta2: beta2, epsilon: epsilon, l2: 0, decoupledDecay: weightDecay)
    }

    public var state: OptimizerState { moments.state }

    /// Replaces the moments and step counts by those of `state`.
    ///
    /// For every parameter path mentioned, `"exp_avg.<path>"`, `"exp_avg_sq.<path>"` and
    /// `"step.<path>"` must all be present (else ``OptimizerStateError/missingKey(_:)``),
    /// the two moments must have the same shape (``OptimizerStateError/shapeMismatch(key:expected:actual:)``),
    /// and the step must be a positive integer (``OptimizerStateError/invalidScalar(key:value:)``).
    /// Any other key is ``OptimizerStateError/unexpectedKey(_:)``.
    public mutating func restore(_ state: OptimizerState) throws { moments = try AdamMoments(restoring: state) }
}

private func validateAdam(_ name: String, _ lr: Float, _ beta1: Float, _ beta2: Float, _ epsilon: Float, _ wd: Float) {
    precondition(lr.isFinite && lr >= 0, "\(name): learningRate must be finite and ≥ 0, got \(lr)")
    precondition(beta1 >= 0 && beta1 < 1, "\(name): beta1 must be in [0, 1), got \(beta1)")
    precondition(beta2 >= 0 && beta2 < 1, "\(name): beta2 must be in [0, 1), got \(beta2)")
    precondition(epsilon.isFinite && epsilon >= 0, "\(name): epsilon must be finite and ≥ 0, got \(epsilon)")
    precondition(wd.isFinite && wd >= 0, "\(name): weightDecay must be finite and ≥ 0, got \(wd)")
}

/// The moment estimates shared by ``Adam`` and ``AdamW``: each slot's first and second
/// buffers are m and v, its step is t.
struct AdamMoments: Sendable {
    private var store = BufferStore()

    init() {}

    mutating func update(
        _ parameters: inout ParameterSet, along gradient: ParameterSet, optimizer: String,
        learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, l2: Float, decoupledDecay: Float
    ) {
        // Scalar factors in double precision, rounded once (as PyTorch computes them in Python).
        let decayFactor = Float(1 - Double(learningRate) * Double(decoupledDecay))
        forEachParameter(&parameters, along: gradient, optimizer: optimizer) { key, w, g in
            let slot = store.slot(for: key, shape: w.shape, bufferCount: 2, optimizer: optimizer)
            store[slot].step += 1
            let t = Double(store[slot].step)
            let biasCorrection1 = 1 - Foundation.pow(Double(beta1), t)
            let biasCorrection2 = 1 - Foundation.pow(Double(beta2), t)
            let scalars = OptimizerKernels.AdamScalars(
                stepSize: Float(Double(learningRate) / biasCorrection1), biasCorrection2Root: Float(biasCorrection2.squareRoot()),
                beta1: beta1, beta2: beta2, epsilon: epsilon, l2: l2, decayFactor: decoupledDecay != 0 ? decayFactor : nil)
            // One pass per element: decoupled decay (AdamW), L2 (Adam), moments, step.
            return store.update(slot) { state in
                OptimizerKernels.adam(parameter: w, gradient: g, firstMoment: &state.first, secondMoment: &state.second, scalars)
            }
        }
    }

    var state: OptimizerState {
        var tensors = ParameterSet()
        var scalars: [String: Double] = [:]
        for slot in store.slots {
            tensors["exp_avg.\(slot.key)"] = slot.first
            tensors["exp_avg_sq.\(slot.key)"] = slot.second
            scalars["step.\(slot.key)"] = Double(slot.step)
        }
        return OptimizerState(tensors: tensors, scalars: scalars)
    }

    init(restoring state: OptimizerState) throws(OptimizerStateError) {
        // Paths in the order their first moment appears, then any path only mentioned elsewhere.
        var paths: [String] = []
        var seen: Set<String> = []
        for key in state.tensors.keys {
            guard let path = OptimizerState.parameterPath(of: key, kind: "exp_avg")
                ?? OptimizerState.parameterPath(of: key, kind: "exp_avg_sq")
            else { throw .unexpectedKey(key) }
            if seen.insert(path).inserted { paths.append(path) }
        }
        for key in state.scalars.keys.sorted() {
            guard let path = OptimizerState.parameterPath(of: key, kind: "step") else { throw .unexpectedKey(key) }
            if seen.insert(path).inserted { paths.append(path) }
        }
        for path in paths {
            guard let m = state.tensors["exp_avg.\(path)"] else { throw .missingKey("exp_avg.\(path)") }
            guard let v = state.tensors["exp_avg_sq.\(path)"] else { throw .missingKey("exp_avg_sq.\(path)") }
            guard let step = state.scalars["step.\(path)"] else { throw .missingKey("step.\(path)") }
            guard v.shape == m.shape else { throw .shapeMismatch(key: "exp_avg_sq.\(path)", expected: m.shape, actual: v.shape) }
            guard step >= 1, step.rounded() == step, step <= Double(Int.max / 2) else {
                throw .invalidScalar(key: "step.\(path)", value: step)
            }
            store.append(.init(key: path, shape: m.shape, first: m.detached, second: v.detached, step: Int(step)))
        }
    }
}
