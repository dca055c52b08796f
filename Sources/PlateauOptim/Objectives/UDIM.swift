import PlateauNN
import PlateauTensor

/// UDIM, Unknown Domain Inconsistency Minimization (Shin, Bae, Na, Kim & Moon, ICLR 2024,
/// arXiv:2403.07329): SAM on the source data plus λ × the inconsistency between the loss
/// landscapes of the source samples and of input-perturbed copies that stand in for unknown
/// domains. This term is the inconsistency; the method's rule is SAM.
///
/// Each step, at the current weights w:
///
/// 1. x̃ = x + ρ_x · d/‖d‖, d = ∇ₓ[L_B(x) + ρ‖∇_θ L_B(x)‖], L_B the batch-mean cross-entropy
///    and ∇_θ over every parameter (a double backward through the inputs, as the reference
///    code's `create_graph`). Each sample moves along its own input gradient; `sample`
///    normalization scales each sample's step to ρ_x (the paper's per-instance ball),
///    `batch` divides each input coordinate by its norm across the batch (the reference
///    code's `F.normalize(·, dim=0)`, whose ρ_x = 10 in its scripts reflects that scale).
/// 2. The penalty on [x; x̃] with per-sample gradients of the last linear layer only, in
///    closed form gᵢ = (pᵢ − yᵢ) ⊗ [hᵢ; 1] (``lastLayerGradients(features:outputs:labels:)``):
///    Fishr-style variance matching, v_o = Var_i g(xᵢ), v_s = mean_i (g(x̃ᵢ) − mean_i g(xᵢ))²
///    (centred at the source mean, as the code), ½Σ_{k∈{o,s}} mean_d (v_k − v̄)², plus the
///    perturbed samples' mean squared gradient norm divided by each parameter's size.
///
/// Deviation from the reference code: the code adds λ∇Inc evaluated at w to the SAM
/// gradient ∇L(w + ε); here the term is part of the loss of SAM's second pass, so its
/// gradient is taken at w + ε (ε comes from the cross-entropy alone, as in the code, since the
/// term is zero in the first pass). For the small ρ of SAM the two differ by O(ρ).
///
/// The term is off (plain SAM) in the first `warmupEpochs` epochs, like the code's SAM
/// warm-up. It keeps no state across steps.
public struct UDIM: ObjectiveTerm {
    /// How the input step is scaled to ρ_x.
    public enum Normalization: String, Sendable, CaseIterable {
        /// Each sample's step has L2 norm ρ_x.
        case sample
        /// Each input coordinate's steps across the batch have L2 norm ρ_x (reference code).
        case batch
    }

    /// ρ of the input objective L + ρ‖∇_θL‖ (the code uses SAM's radius).
    public var rho: Float
    /// ρ_x, the size of the input step.
    public var inputRadius: Float
    /// λ, the weight of the inconsistency.
    public var lambda: Float
    /// Epochs of plain SAM before the term switches on (0-based epochs e ≥ warmupEpochs).
    public var warmupEpochs: Int
    public var normalization: Normalization

    /// - Precondition: `rho`, `inputRadius`, `lambda` ≥ 0 and `warmupEpochs` ≥ 0.
    public init(rho: Float = 0.05, inputRadius: Float = 1, lambda: Float = 1, warmupEpochs: Int = 1, normalization: Normalization = .sample) {
        precondition(rho >= 0 && inputRadius >= 0 && lambda >= 0 && warmupEpochs >= 0, "UDIM: radii, λ and the warm-up must be non-negative")
        self.rho = rho
        self.inputRadius = inputRadius
        self.lambda = lambda
        self.warmupEpochs = warmupEpochs
        self.normalization = normalization
    }

    public var name: String { "udim" }

    /// Whether the inconsistency is part of the loss at `epoch` (0-based).
    public func isActive(atEpoch epoch: Int) -> Bool { epoch >= warmupEpochs && lambda > 0 }

    /// Perturbs the batch's inputs at the current weights, and returns λ·Inc on each row of
    /// SAM's second pass (0 in the first, so that ε is the cross-entropy's, as in the code).
    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        guard isActive(atEpoch: batch.epoch) else { return nil }
        let inputs = batch.inputs
        let perturbed = Self.perturbedInputs(inputs, labels: batch.labels, model: model, rho: rho, radius: inputRadius, normalization: normalization)
        let lambda = self.lambda
        return { input, _ in
            let count = input.labels.count
            guard input.point == .perturbed else { return Tensor.zeros([count]) }
            guard let run = input.featuresAndOutputs else {
                preconditionFailure("UDIM: the model has no linear last layer (LinearHeaded); the method table rejects such models")
            }
            let both = Tensor.concatenating([input.selecting(inputs), input.selecting(perturbed)], alongAxis: 0)
            let (features, outputs) = run(both)
            let value = Self.inconsistency(features: features, outputs: outputs, labels: input.labels + input.labels)
            return (value * lambda) * Tensor.ones([count])
        }
    }

    /// x̃ = x + ρ_x·d/‖d‖ with d = ∇ₓ[L_B + ρ‖∇_θL_B‖] at `model` (see the type's notes).
    public static func perturbedInputs<Model: Layer>(
        _ inputs: Tensor, labels: [Int], model: Model, rho: Float, radius: Float, normalization: Normalization
    ) -> Tensor {
        let direction = inputObjective(inputs, labels: labels, model: model, rho: rho).gradient
        return withoutGradients {
            let n = inputs.shape[0]
            let flat = direction.reshaped(to: [n, direction.count / max(n, 1)])
            let norms = switch normalization {
            case .sample: flat.square().sum(alongAxis: 1, keepingDimensions: true).sqrt()
            case .batch: flat.square().sum(alongAxis: 0, keepingDimensions: true).sqrt()
            }
            // F.normalize's guard: a zero gradient leaves the input where it is.
            let unit = flat / norms.maximum(1e-12)
            return inputs + unit.reshaped(to: inputs.shape) * radius
        }
    }

    /// L_B(x) + ρ‖∇_θ L_B(x)‖ at `model` and its gradient with respect to the inputs `x`,
    /// by differentiating the recorded backward pass of the parameter gradient.
    public static func inputObjective<Model: Layer>(
        _ inputs: Tensor, labels: [Int], model: Model, rho: Float
    ) -> (value: Float, gradient: Tensor) {
        var tracked = model
        let parameters = model.parameters
        let leaves = parameters.map { $0.trackingGradients() }
        tracked.update(leaves)
        let x = inputs.trackingGradients()
        return withGradients {
            let loss = crossEntropy(logits: tracked(x), labels: labels)
            var objective = loss
            if rho > 0 {
                let g = gradients(of: loss, withRespectTo: leaves.values, createGraph: true)
                var squares = Tensor(0)
                for part in g { squares = squares + part.square().sum() }
                objective = objective + squares.sqrt() * rho
            }
            let gradient = gradients(of: objective, withRespectTo: [x])[0]
            return (objective.item, gradient.detached)
        }
    }

    /// The cross-entropy's per-sample gradients of a linear last layer z = W·h + b, in
    /// closed form: ∂ℓᵢ/∂W = (pᵢ − onehot(yᵢ)) ⊗ hᵢ, flattened row-major like W (`[n, C·F]`),
    /// and ∂ℓᵢ/∂b = pᵢ − onehot(yᵢ) (`[n, C]`), p = softmax(z). Differentiable.
    public static func lastLayerGradients(features: Tensor, outputs: Tensor, labels: [Int]) -> (weight: Tensor, bias: Tensor) {
        let (n, c, f) = (outputs.shape[0], outputs.shape[1], features.shape[1])
        let error = outputs.softmax(alongAxis: -1) - Tensor.oneHot(labels, classCount: c)
        let weight = (error.reshaped(to: [n, c, 1]) * features.reshaped(to: [n, 1, f])).reshaped(to: [n, c * f])
        return (weight, error)
    }

    /// The inconsistency of the reference code on the stacked batch [x; x̃] (`features` and
    /// `outputs` of 2n rows, the source rows first, `labels` of both halves): the variance
    /// matching of the last layer's per-sample gradients plus the perturbed half's mean
    /// squared gradient norm per parameter size. A scalar.
    public static func inconsistency(features: Tensor, outputs: Tensor, labels: [Int]) -> Tensor {
        let n = outputs.shape[0] / 2
        precondition(n > 0 && outputs.shape[0] == 2 * n, "UDIM.inconsistency: expected the source and perturbed halves, got \(outputs.shape[0]) rows")
        let (weight, bias) = lastLayerGradients(features: features, outputs: outputs, labels: labels)
        let all = Tensor.concatenating([weight, bias], alongAxis: 1)
        let source = all.sliced(alongAxis: 0, 0..<n)
        let shifted = all.sliced(alongAxis: 0, n..<(2 * n))
        let sourceMean = source.mean(alongAxis: 0, keepingDimensions: true)
        let sourceVariance = (source - sourceMean).square().mean(alongAxis: 0)
        let shiftedVariance = (shifted - sourceMean).square().mean(alongAxis: 0)
        let average = (sourceVariance + shiftedVariance) * 0.5
        let matching = ((sourceVariance - average).square().mean() + (shiftedVariance - average).square().mean()) * 0.5
        let weightNorm = weight.sliced(alongAxis: 0, n..<(2 * n)).square().sum(alongAxis: 1).mean() * (1 / Float(weight.shape[1]))
        let biasNorm = bias.sliced(alongAxis: 0, n..<(2 * n)).square().sum(alongAxis: 1).mean() * (1 / Float(bias.shape[1]))
        return matching + weightNorm + biasNorm
    }
}
