import PlateauNN
import PlateauOptim
import PlateauTensor

/// The forget loss of an unlearning run (Fan et al. 2025, after Zhang et al. 2024 for NPO).
public enum UnlearningMethod: String, CaseIterable, Sendable {
    /// Gradient ascent on the forget set: ℓ_f = −CE; no retain term unless a weight is given.
    case ga
    /// Gradient difference: ℓ_f = −CE on the forget set, + γ·CE on the retain set.
    case graddiff
    /// Negative preference optimization: ℓ_f = (2/β)·mean softplus(β(ℓ_ref − ℓ)), + γ·CE retain.
    case npo

    /// γ when none is given: 0 for plain gradient ascent, 1 otherwise (the paper's MUSE setting).
    public var defaultRetainWeight: Float { self == .ga ? 0 : 1 }
}

/// What smooths the forget loss. Each acts on ℓ_f only; the retain gradient is always
/// ∇ℓ_r(θ) at the unperturbed weights (Fan et al. 2025, §4).
public enum ForgetSmoothing: Sendable, Equatable {
    /// g_f = ∇ℓ_f(θ).
    case none
    /// SAM: g_f = ∇ℓ_f(θ + ε), ε = ρ·∇ℓ_f(θ)/‖∇ℓ_f(θ)‖ over all parameters.
    case sam(rho: Float)
    /// Randomized smoothing: g_f = (1/n)·Σ_k ∇ℓ_f(θ + z_k), z_k ~ N(0, σ²I), fresh each step.
    case randomized(sigma: Float, samples: Int)
    /// Gradient penalty ℓ_f + λ‖∇ℓ_f‖: g_f = ∇ℓ_f + λ·H·ĝ with ĝ = ∇ℓ_f/‖∇ℓ_f‖, the
    /// Hessian-vector product exact (double backpropagation).
    case gradientPenalty(lambda: Float)
    /// Curvature regularization ℓ_f + λ‖∇ℓ_f(θ+ε) − ∇ℓ_f(θ)‖ with ε = h·ĝ held constant:
    /// g_f = ∇ℓ_f + λ·[H(θ+ε) − H(θ)]·û, û the unit difference of the two gradients
    /// (two exact Hessian-vector products).
    case curvature(lambda: Float, radius: Float)
    /// Weight averaging: plain steps; the unlearned model is the uniform average of the last
    /// `count` weight snapshots taken every `every` steps (see ``UnlearningLoop``).
    case weightAveraging(every: Int, count: Int)

    /// The name used on the command line.
    public var name: String {
        switch self {
        case .none: "none"
        case .sam: "sam"
        case .randomized: "rs"
        case .gradientPenalty: "gp"
        case .curvature: "cr"
        case .weightAveraging: "wa"
        }
    }
}

/// Per-sample losses of unlearning: NPO and the negated cross-entropy.
public enum UnlearningLosses {
    /// NPO's per-sample loss −(2/β)·log σ(β(ℓ − ℓ_ref)) = (2/β)·softplus(β(ℓ_ref − ℓ)), with ℓ
    /// the sample's cross-entropy under the model and ℓ_ref under the frozen original
    /// model. Its derivative in ℓ is −2σ(β(ℓ_ref − ℓ)): gradient ascent weighted by a factor
    /// that starts at 1 (ℓ = ℓ_ref) and fades as the sample is forgotten.
    ///
    /// Per sample, as in Zhang et al. 2024; Fan et al.'s code applies the formula to the
    /// batch-mean loss instead.
    public static func npo(logits: Tensor, labels: [Int], referenceLosses: [Float], beta: Float) -> Tensor {
        precondition(referenceLosses.count == labels.count, "npo: one reference loss per sample")
        let nll = crossEntropy(logits: logits, labels: labels, reduction: .none)
        return ((Tensor(referenceLosses) - nll) * beta).softplus() * (2 / beta)
    }
}

/// One step's numbers.
public struct UnlearningStepReport: Sendable {
    /// Mean forget loss ℓ_f at θ (before any smoothing term).
    public var forgetLoss: Float
    /// Mean retain cross-entropy at θ (0 without retain samples).
    public var retainLoss: Float
    /// Forget-batch samples predicted as their label at θ.
    public var forgetCorrect: Int
    public var forgetCount: Int
}

/// The unlearning update: min_θ S[ℓ_f](θ) + γ·ℓ_r(θ), where S is the chosen smoothing of the
/// forget loss, taken by a base optimizer (SGD, Adam) along
/// d = g_f + γ·∇ℓ_r(θ).
///
/// A step's batch is one ``StepBatch`` whose `groups` tag each sample: 0 forget, 1 retain.
/// Its `indices` are positions in the forget (group 0) or retain (group 1) set; NPO reads
/// the reference loss of forget sample i at `referenceLosses[i]`.
///
/// The passes run in evaluation mode: BatchNorm statistics stay the original model's and
/// the perturbed passes need no statistics to discard.
public struct Unlearner<Base: Optimizer>: Sendable {
    public var method: UnlearningMethod
    /// β of NPO.
    public var beta: Float
    /// γ, the weight of the retain cross-entropy.
    public var retainWeight: Float
    public var smoothing: ForgetSmoothing
    public var base: Base
    /// The frozen original model's cross-entropy on each forget sample (NPO's ℓ_ref).
    public var referenceLosses: [Float]
    /// Draws randomized smoothing's noise.
    public var generator: SeededGenerator

    public init(
        method: UnlearningMethod, beta: Float = 0.1, retainWeight: Float, smoothing: ForgetSmoothing, base: Base,
        referenceLosses: [Float], seed: UInt64
    ) {
        self.method = method
        self.beta = beta
        self.retainWeight = retainWeight
        self.smoothing = smoothing
        self.base = base
        self.referenceLosses = referenceLosses
        generator = SeededGenerator(seed: seed)
    }

    /// The batch's forget and retain rows.
    static func rows(_ batch: StepBatch) -> (forget: [Int], retain: [Int]) {
        guard let groups = batch.groups else { return (Array(0..<batch.count), []) }
        return (groups.indices.filter { groups[$0] == 0 }, groups.indices.filter { groups[$0] == 1 })
    }

    /// The mean forget loss of `rows` of `batch` as a function of the model.
    func forgetLoss<Model: Layer>(_ batch: StepBatch, rows: [Int]) -> (inout Model) -> Tensor {
        let images = batch.inputs.gathering(rows, alongAxis: 0)
        let labels = rows.map { batch.labels[$0] }
        let reference = rows.map { referenceLosses[batch.indices[$0]] }
        let (method, beta) = (method, beta)
        return { model in
            let logits = model(images)
            switch method {
            case .ga, .graddiff: return -crossEntropy(logits: logits, labels: labels, reduction: .mean)
            case .npo: return UnlearningLosses.npo(logits: logits, labels: labels, referenceLosses: reference, beta: beta).mean()
            }
        }
    }

    /// The mean retain cross-entropy of `rows` of `batch`.
    static func retainLoss<Model: Layer>(_ batch: StepBatch, rows: [Int]) -> (inout Model) -> Tensor {
        let images = batch.inputs.gathering(rows, alongAxis: 0)
        let labels = rows.map { batch.labels[$0] }
        return { model in crossEntropy(logits: model(images), labels: labels, reduction: .mean) }
    }

    /// d = g_f + γ·∇ℓ_r(θ) at `model`'s weights, and the step's numbers. Mutating only for
    /// randomized smoothing's generator.
    public mutating func direction<Model: Layer>(at model: Model, on batch: StepBatch) -> (direction: ParameterSet, report: UnlearningStepReport) {
        let evaluated = model.training(false)
        let w = evaluated.parameters
        let (forgetRows, retainRows) = Self.rows(batch)
        precondition(!forgetRows.isEmpty, "Unlearner: a step needs forget samples")
        let forget: (inout Model) -> Tensor = forgetLoss(batch, rows: forgetRows)
        func at(_ point: ParameterSet) -> Model {
            var moved = evaluated
            moved.update(point)
            return moved
        }
        // g at θ, and the forget batch's predictions at θ from a separate no-gradient pass
        // (cheap next to the gradient passes, and it keeps the loss closure scalar).
        let first = valueWithGradient(at: evaluated, of: forget)
        let g = first.gradient
        let forgetImages = batch.inputs.gathering(forgetRows, alongAxis: 0)
        var predictor = evaluated
        let predictions = withoutGradients { predictor(forgetImages) }.argmax(alongAxis: 1)
        let forgetCorrect = zip(predictions, forgetRows.map { batch.labels[$0] }).filter { $0 == $1 }.count

        var forgetGradient: ParameterSet
        switch smoothing {
        case .none, .weightAveraging:
            forgetGradient = g
        case .sam(let rho):
            let norm = g.norm()
            forgetGradient = norm > 0 ? valueWithGradient(at: at(w.adding(g, scaledBy: rho / norm)), of: forget).gradient : g
        case .randomized(let sigma, let samples):
            var sum = g.zeros()
            for _ in 0..<samples {
                let noise = w.map { Tensor.randomNormal($0.shape, standardDeviation: sigma, using: &generator) }
                sum = sum + valueWithGradient(at: at(w + noise), of: forget).gradient
            }
            forgetGradient = sum.scaled(by: 1 / Float(samples))
        case .gradientPenalty(let lambda):
            let norm = g.norm()
            guard norm > 0 else { forgetGradient = g; break }
            let hv = hessianVectorProduct(at: evaluated, along: g.scaled(by: 1 / norm), of: forget)
            forgetGradient = g.adding(hv, scaledBy: lambda)
        case .curvature(let lambda, let radius):
            let norm = g.norm()
            guard norm > 0 else { forgetGradient = g; break }
            let shifted = at(w.adding(g, scaledBy: radius / norm))
            let difference = valueWithGradient(at: shifted, of: forget).gradient - g
            let differenceNorm = difference.norm()
            guard differenceNorm > 0 else { forgetGradient = g; break }
            let unit = difference.scaled(by: 1 / differenceNorm)
            let curvature = hessianVectorProduct(at: shifted, along: unit, of: forget) - hessianVectorProduct(at: evaluated, along: unit, of: forget)
            forgetGradient = g.adding(curvature, scaledBy: lambda)
        }
        var retainLoss: Float = 0
        if !retainRows.isEmpty, retainWeight != 0 {
            let retain = valueWithGradient(at: evaluated, of: Self.retainLoss(batch, rows: retainRows) as (inout Model) -> Tensor)
            retainLoss = retain.loss.item
            forgetGradient = forgetGradient.adding(retain.gradient, scaledBy: retainWeight)
        }
        let report = UnlearningStepReport(forgetLoss: first.loss.item, retainLoss: retainLoss, forgetCorrect: forgetCorrect, forgetCount: forgetRows.count)
        return (forgetGradient, report)
    }

    /// One update of `model` along ``direction(at:on:)``.
    @discardableResult
    public mutating func step<Model: Layer>(_ model: inout Model, on batch: StepBatch, learningRate: Float) -> UnlearningStepReport {
        let (d, report) = direction(at: model, on: batch)
        base.learningRate = learningRate
        var parameters = model.parameters
        base.update(&parameters, along: d)
        model.update(parameters)
        return report
    }
}
