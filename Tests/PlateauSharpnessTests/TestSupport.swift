import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing

// MARK: - A model whose gradient is known in closed form

/// v = (weight₀, weight₁, bias₀) and per-sample losses ℓᵢ(v) = ½ Σⱼ aᵢⱼ vⱼ² for a fixed
/// curvature matrix A (one row per sample). The batch-mean gradient is ∂L/∂vⱼ = āⱼ·vⱼ with
/// ā the mean of the selected rows, so every step can be derived by hand.
///
/// "weight" is scaled by ASAM's T = |w| + η; "bias" is not (its path lacks "weight").
struct Quadratic: Module {
    var weight: Tensor
    var bias: Tensor

    init(_ v: [Float]) {
        weight = Tensor([v[0], v[1]])
        bias = Tensor([v[2]])
    }

    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
    }

    var vector: [Float] { weight.scalars + bias.scalars }
}

/// The per-sample loss closure of ``Quadratic`` for curvature rows `curvature`, recording
/// every request it serves (point, samples, the parameters it saw).
final class QuadraticLoss: @unchecked Sendable {
    let curvature: Tensor  // [n, 3]
    var requests: [(point: LossRequest.Point, samples: [Int]?, parameters: [Float])] = []

    init(_ rows: [[Float]]) { curvature = Tensor(rows) }

    var batchSize: Int { curvature.shape[0] }

    func callAsFunction(_ model: inout Quadratic, _ request: LossRequest) -> Tensor {
        requests.append((request.point, request.samples, model.vector))
        let rows = request.samples.map { curvature.gathering($0, alongAxis: 0) } ?? curvature
        let v = Tensor.concatenating([model.weight, model.bias], alongAxis: 0).reshaped(to: [1, 3])
        return (rows * v.square()).sum(alongAxis: 1) * 0.5
    }

    /// The calls made at w + ε.
    var perturbedRequests: [(point: LossRequest.Point, samples: [Int]?, parameters: [Float])] {
        requests.filter { $0.point == .perturbed }
    }
}

/// Curvature rows with mean ā = (3, 2, 2), used by the hand-derived single steps.
let twoSampleCurvature: [[Float]] = [[2, 1, 4], [4, 3, 0]]

/// One minimizer step of `model` on the quadratic loss.
@discardableResult
func quadraticStep<R: SharpnessAwareRule, B: Optimizer>(
    _ minimizer: inout SharpnessAwareMinimizer<R, B>, _ model: inout Quadratic, _ loss: QuadraticLoss
) -> StepReport {
    minimizer.step(&model, batchSize: loss.batchSize) { (m: inout Quadratic, request: LossRequest) in loss(&m, request) }
}

// MARK: - Comparisons

/// Whether `a` and `b` agree element by element within `tolerance` (absolute).
func close(_ a: [Float], _ b: [Float], tolerance: Float = 2e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
}

/// Whether two parameter sets hold the same keys and agree within a relative tolerance.
func close(_ a: ParameterSet, _ b: ParameterSet, relative: Float = 1e-5, absolute: Float = 1e-6) -> Bool {
    a.keys == b.keys && a.keys.allSatisfy { a[$0]!.isClose(to: b[$0]!, relativeTolerance: relative, absoluteTolerance: absolute) }
}

func allFinite(_ set: ParameterSet) -> Bool { set.values.allSatisfy { !$0.hasNonFinite } }

// MARK: - Small networks and data

/// A deterministic batch of `n` samples with `features` inputs and labels in 0..<classes.
struct ClassificationBatch: Sendable {
    var images: Tensor
    var labels: [Int]

    init(n: Int, shape: [Int], classes: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        images = Tensor.randomNormal([n] + shape, using: &generator)
        labels = (0..<n).map { _ in Int(generator.next(upperBound: UInt64(classes))) }
    }

    var count: Int { labels.count }

    /// Per-sample cross-entropy of the requested samples through `model`.
    func loss<M: Layer>(_ model: inout M, _ request: LossRequest) -> Tensor {
        let x = request.samples.map { images.gathering($0, alongAxis: 0) } ?? images
        let y = request.samples.map { $0.map { labels[$0] } } ?? labels
        return crossEntropy(logits: model(x), labels: y, reduction: .none)
    }
}

/// MLP 4-8-3.
func smallMLP(seed: UInt64 = 1) -> MLP {
    var generator = SeededGenerator(seed: seed)
    return MLP(sizes: [4, 8, 3], using: &generator)
}

/// Conv(2→2, 3×3, pad 1) → BatchNorm(2) → ReLU → flatten → Linear(32 → 3), on [N, 2, 4, 4].
func smallConvBN(seed: UInt64 = 2) -> Sequential {
    var generator = SeededGenerator(seed: seed)
    return Sequential {
        Conv2d(2, 2, kernelSize: 3, padding: 1, using: &generator)
        BatchNorm(featureCount: 2)
        Function.relu
        Function.flatten
        Linear(inputCount: 32, outputCount: 3, using: &generator)
    }
}

/// MLP 4-8-3 with dropout after the hidden layer.
struct DropoutMLP: Layer {
    var first: Linear
    var dropout: Dropout
    var second: Linear

    init(seed: UInt64 = 3) {
        var generator = SeededGenerator(seed: seed)
        first = Linear(inputCount: 4, outputCount: 8, using: &generator)
        dropout = Dropout(probability: 0.5, seed: seed)
        second = Linear(inputCount: 8, outputCount: 3, using: &generator)
    }

    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("first", &first)
        visitor.child("dropout", &dropout)
        visitor.child("second", &second)
    }

    mutating func callAsFunction(_ input: Tensor) -> Tensor {
        second(dropout(first(input).relu()))
    }
}

/// One step of `minimizer` on `batch`.
@discardableResult
func classificationStep<R: SharpnessAwareRule, B: Optimizer, M: Layer>(
    _ minimizer: inout SharpnessAwareMinimizer<R, B>, _ model: inout M, _ batch: ClassificationBatch
) -> StepReport {
    minimizer.step(&model, batchSize: batch.count) { (m: inout M, request: LossRequest) in batch.loss(&m, request) }
}

/// The plain base-optimizer step the minimizer must reproduce with ρ = 0: one gradient at w,
/// statistics from that pass, `base.update`.
func plainStep<B: Optimizer, M: Layer>(_ base: inout B, _ model: inout M, _ batch: ClassificationBatch) {
    let result = valueWithGradient(at: model) { (m: inout M) -> Tensor in
        batch.loss(&m, LossRequest(point: .parameters, samples: nil)).mean()
    }
    model = result.model
    var parameters = model.parameters
    base.update(&parameters, along: result.gradient)
    model.update(parameters)
}
