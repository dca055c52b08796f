import PlateauTensor

/// A rule that combines per-task gradients into one descent direction (multi-task learning:
/// equal weights, PCGrad, MGDA, CAGrad). ``MultiTaskMinimizer`` hands it the tasks' gradients
/// of the **shared** parameters only; each task's head is trained by its own gradient.
///
/// Aggregators are stateless and deterministic: the same gradients give the same direction.
/// Each keeps the scale of its paper (equal weights and PCGrad sum the tasks' gradients;
/// MGDA's and CAGrad's directions are convex combinations, on the scale of one task's
/// gradient), so a learning rate tuned for one does not transfer to another exactly.
public protocol GradientAggregator: Sendable {
    /// The name `--aggregator` takes (`ew`, `pcgrad`, `mgda`, `cagrad`).
    var name: String { get }
    /// One direction from one gradient per task, all with the same keys and shapes.
    ///
    /// - Precondition: at least one gradient.
    func aggregate(_ gradients: [ParameterSet]) -> ParameterSet
}

/// The aggregators `--aggregator` names.
public enum GradientAggregators {
    /// `--aggregator`'s values, in the order help texts list them.
    public static let names = ["ew", "pcgrad", "mgda", "cagrad"]

    /// The aggregator called `name` with its paper's defaults, or `nil` for an unknown name.
    public static func named(_ name: String) -> (any GradientAggregator)? {
        switch name {
        case "ew": EqualWeights()
        case "pcgrad": PCGrad()
        case "mgda": MGDA()
        case "cagrad": CAGrad()
        default: nil
        }
    }
}

/// The Gram matrix G_ij = ⟨g_i, g_j⟩ of some gradients, in double precision (the solvers of
/// MGDA and CAGrad work on it alone).
func gramMatrix(_ gradients: [ParameterSet]) -> [[Double]] {
    let n = gradients.count
    var gram = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n {
        for j in i..<n {
            let value = Double(gradients[i].dot(gradients[j]))
            gram[i][j] = value
            gram[j][i] = value
        }
    }
    return gram
}

/// Σ_i weights[i]·gradients[i], accumulated in task order.
func weightedSum(_ gradients: [ParameterSet], _ weights: [Double]) -> ParameterSet {
    var sum = gradients[0].scaled(by: Float(weights[0]))
    for i in gradients.indices.dropFirst() { sum = sum.adding(gradients[i], scaledBy: Float(weights[i])) }
    return sum
}
