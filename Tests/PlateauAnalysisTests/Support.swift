import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import Testing

/// ½ wᵀ A w over a single parameter "w" (A symmetric), plus an optional linear term bᵀw.
func quadratic(_ a: [[Float]], at point: [Float], linear: [Float]? = nil) -> LossFunction {
    let matrix = Tensor(a)
    let b = linear.map { Tensor($0) }
    return LossFunction(at: ParameterSet([("w", Tensor(point))])) { p in
        let w = p["w"]!
        let aw = matrix.matmul(w.reshaped(to: [w.count, 1])).reshaped(to: [w.count])
        var value = (w * aw).sum() * 0.5
        if let b { value = value + (b * w).sum() }
        return value
    }
}

func diagonal(_ d: [Float]) -> [[Float]] {
    d.indices.map { i in d.indices.map { j in i == j ? d[i] : 0 } }
}

/// A 4-8-3 MLP and 12 random samples with labels, all seeded.
struct TinyProblem {
    var model: MLP
    var batch: Batch

    init(seed: UInt64 = 1, samples: Int = 12) {
        var g = SeededGenerator(seed: seed)
        model = MLP(sizes: [4, 8, 3], using: &g)
        let images = Tensor.randomNormal([samples, 4], using: &g)
        let labels = (0..<samples).map { $0 % 3 }
        batch = Batch(images: images, labels: labels, indices: Array(0..<samples))
    }

    var loss: LossFunction { LossFunction.crossEntropy(model, batches: [batch]) }
}

func expectClose(_ a: Float, _ b: Float, relative: Float = 1e-4, absolute: Float = 1e-5, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(Swift.abs(a - b) <= absolute + relative * Swift.abs(b), "\(a) vs \(b) \(comment.map { "— \($0)" } ?? "")", sourceLocation: sourceLocation)
}
