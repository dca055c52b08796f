import PlateauTensor

/// PCGrad, "gradient surgery" (Yu et al. 2020, Alg. 1): each task's gradient loses its
/// component along every other task's gradient it conflicts with,
/// g_i ← g_i − min(0, ⟨g_i, g_j⟩)/‖g_j‖² · g_j, and the projected gradients are summed.
///
/// The paper visits the other tasks in a random order per step; with two tasks the order
/// does not matter, and with more this visits them in task order, so that a step is
/// deterministic. The projection is onto the other task's original gradient, as in the paper.
///
/// Reference: Yu, Kumar, Gupta, Levine, Hausman & Finn 2020, *Gradient Surgery for
/// Multi-Task Learning*, NeurIPS, arXiv:2001.06782.
public struct PCGrad: GradientAggregator {
    public init() {}
    public var name: String { "pcgrad" }

    public func aggregate(_ gradients: [ParameterSet]) -> ParameterSet {
        precondition(!gradients.isEmpty, "PCGrad: no gradients")
        let squaredNorms = gradients.map { $0.dot($0) }
        var sum: ParameterSet? = nil
        for i in gradients.indices {
            var projected = gradients[i]
            for j in gradients.indices where j != i {
                let inner = projected.dot(gradients[j])
                // A zero gradient conflicts with nothing (and has no direction to remove).
                if inner < 0, squaredNorms[j] > 0 { projected = projected.adding(gradients[j], scaledBy: -inner / squaredNorms[j]) }
            }
            sum = sum.map { $0 + projected } ?? projected
        }
        return sum!
    }
}
