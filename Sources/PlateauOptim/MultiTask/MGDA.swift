import PlateauTensor

/// MGDA-UB's min-norm direction (Sener & Koltun 2018): the point of smallest norm in the
/// convex hull of the task gradients, d = Σ_i α_i g_i with α on the simplex minimizing ‖d‖.
/// Two tasks have the closed form α₁ = clamp(⟨g₂ − g₁, g₂⟩/‖g₁ − g₂‖², 0, 1) (the paper's
/// Alg. 1); more run Frank–Wolfe on the Gram matrix (Alg. 2) from the best pair's closed-form
/// weights, each iteration an exact line search toward the vertex of smallest ⟨g_t, d⟩.
/// Frank–Wolfe converges as O(1/t): an interior minimum is approximate (about 1e-3 in the
/// weights after the default 250 iterations).
///
/// The direction is a convex combination, on the scale of one task's gradient (not of
/// their sum), as in the paper. The paper's gradient normalization options are not applied.
///
/// Reference: Sener & Koltun 2018, *Multi-Task Learning as Multi-Objective Optimization*,
/// NeurIPS, arXiv:1810.04650.
public struct MGDA: GradientAggregator {
    /// Frank–Wolfe iterations at most (more than two tasks).
    public var iterations: Int
    /// Frank–Wolfe stops once the weights move less than this (L1).
    public var tolerance: Double

    public init(iterations: Int = 250, tolerance: Double = 1e-6) {
        self.iterations = iterations
        self.tolerance = tolerance
    }

    public var name: String { "mgda" }

    public func aggregate(_ gradients: [ParameterSet]) -> ParameterSet {
        precondition(!gradients.isEmpty, "MGDA: no gradients")
        return weightedSum(gradients, weights(gram: gramMatrix(gradients)))
    }

    /// The min-norm weights α for the Gram matrix `gram` of the task gradients.
    public func weights(gram: [[Double]]) -> [Double] {
        let n = gram.count
        if n == 1 { return [1] }
        if n == 2 {
            let a = Self.segmentMinimum(vv: gram[0][0], vu: gram[0][1], uu: gram[1][1])
            return [1 - a, a]
        }
        // Start from the best pair's closed-form solution (as Sener & Koltun's solver does):
        // exact when the minimum lies on an edge, and a good start otherwise.
        var alpha = [Double](repeating: 0, count: n), best = Double.infinity
        for i in 0..<n {
            for j in (i + 1)..<n {
                let a = Self.segmentMinimum(vv: gram[i][i], vu: gram[i][j], uu: gram[j][j])
                let value = (1 - a) * (1 - a) * gram[i][i] + 2 * a * (1 - a) * gram[i][j] + a * a * gram[j][j]
                if value < best {
                    best = value
                    alpha = [Double](repeating: 0, count: n)
                    alpha[i] = 1 - a
                    alpha[j] = a
                }
            }
        }
        for _ in 0..<iterations {
            // (Gα)_i = ⟨g_i, d⟩; the vertex of smallest value is the Frank–Wolfe direction.
            let product = (0..<n).map { i in (0..<n).reduce(0) { $0 + gram[i][$1] * alpha[$1] } }
            let t = product.indices.min { product[$0] < product[$1] }!
            let vv = (0..<n).reduce(0) { $0 + alpha[$1] * product[$1] }
            let gamma = Self.segmentMinimum(vv: vv, vu: product[t], uu: gram[t][t])
            var next = alpha.map { $0 * (1 - gamma) }
            next[t] += gamma
            let change = zip(next, alpha).reduce(0) { $0 + abs($1.0 - $1.1) }
            alpha = next
            if change < tolerance { break }
        }
        return alpha
    }

    /// γ ∈ [0, 1] minimizing ‖(1 − γ)v + γu‖² given ⟨v, v⟩, ⟨v, u⟩ and ⟨u, u⟩:
    /// clamp(⟨v − u, v⟩/‖v − u‖², 0, 1); 0 when v = u.
    static func segmentMinimum(vv: Double, vu: Double, uu: Double) -> Double {
        let denominator = vv - 2 * vu + uu
        guard denominator > 1e-20 else { return 0 }
        return min(max((vv - vu) / denominator, 0), 1)
    }
}
