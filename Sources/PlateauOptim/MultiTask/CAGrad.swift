import Foundation
import PlateauTensor

/// Conflict-averse gradient descent (CAGrad, Liu et al. 2021): the direction that maximizes
/// the worst task's improvement within a ball of radius c·‖g₀‖ around the average gradient
/// g₀ = (1/T)Σ_i g_i. Its dual: w on the simplex minimizing ⟨g_w, g₀⟩ + c‖g₀‖·‖g_w‖ with
/// g_w = Σ_i w_i g_i; then d = (g₀ + c‖g₀‖/‖g_w‖ · g_w)/(1 + c²).
///
/// The division by 1 + c² is the official code's default rescaling (`rescale=1`); c = 0.4,
/// the F-MTL code's setting. The dual is solved on the Gram matrix by Frank–Wolfe with a
/// golden-section line search (the official code calls SciPy's SLSQP).
///
/// Reference: Liu, Liu, Jin, Stone & Liu 2021, *Conflict-Averse Gradient Descent for
/// Multi-task Learning*, NeurIPS, arXiv:2110.14048.
public struct CAGrad: GradientAggregator {
    /// c, the radius of the ball around g₀ relative to ‖g₀‖.
    public var c: Double
    /// Frank–Wolfe iterations.
    public var iterations: Int

    public init(c: Double = 0.4, iterations: Int = 100) {
        precondition(c >= 0 && c.isFinite, "CAGrad: c must be finite and ≥ 0, got \(c)")
        self.c = c
        self.iterations = iterations
    }

    public var name: String { "cagrad" }

    public func aggregate(_ gradients: [ParameterSet]) -> ParameterSet {
        precondition(!gradients.isEmpty, "CAGrad: no gradients")
        let n = gradients.count
        let gram = gramMatrix(gradients)
        let w = weights(gram: gram)
        // ‖g₀‖² = (1/T²)Σ_ij G_ij and ‖g_w‖² = wᵀGw, from the Gram matrix.
        let g0Norm = (gram.joined().reduce(0, +) / Double(n * n)).squareRoot()
        let gwNorm = Self.quadratic(gram, w, w).squareRoot()
        let lambda = c * g0Norm / (gwNorm + 1e-8)
        // d = Σ_i (1/T + λ w_i) g_i / (1 + c²).
        let coefficients = w.map { (1 / Double(n) + lambda * $0) / (1 + c * c) }
        return weightedSum(gradients, coefficients)
    }

    /// The dual's minimizer w on the simplex for the Gram matrix `gram`.
    public func weights(gram: [[Double]]) -> [Double] {
        let n = gram.count
        let uniform = [Double](repeating: 1 / Double(n), count: n)
        let g0Norm = Self.quadratic(gram, uniform, uniform).squareRoot()
        let radius = c * g0Norm
        // F(w) = wᵀG·(1/T) + c‖g₀‖·√(wᵀGw): convex on the simplex.
        func objective(_ w: [Double]) -> Double {
            Self.quadratic(gram, w, uniform) + radius * (Self.quadratic(gram, w, w) + 1e-16).squareRoot()
        }
        var w = uniform
        for _ in 0..<iterations {
            // ∇F = G(1/T) + c‖g₀‖·Gw/‖g_w‖; the Frank–Wolfe vertex minimizes it.
            let gw = (Self.quadratic(gram, w, w) + 1e-16).squareRoot()
            let gradient = (0..<n).map { i in (0..<n).reduce(0) { $0 + gram[i][$1] * (uniform[$1] + radius * w[$1] / gw) } }
            let t = gradient.indices.min { gradient[$0] < gradient[$1] }!
            var vertex = [Double](repeating: 0, count: n)
            vertex[t] = 1
            let gamma = Self.goldenSection { objective(Self.mix(w, vertex, $0)) }
            let next = Self.mix(w, vertex, gamma)
            let change = zip(next, w).reduce(0) { $0 + abs($1.0 - $1.1) }
            w = next
            if change < 1e-9 { break }
        }
        return w
    }

    /// aᵀ G b.
    static func quadratic(_ gram: [[Double]], _ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for i in a.indices { for j in b.indices { sum += a[i] * gram[i][j] * b[j] } }
        return sum
    }

    /// (1 − γ)a + γb.
    static func mix(_ a: [Double], _ b: [Double], _ gamma: Double) -> [Double] {
        zip(a, b).map { (1 - gamma) * $0 + gamma * $1 }
    }

    /// The minimizer over [0, 1] of a convex function, by golden-section search to 1e-10.
    static func goldenSection(_ f: (Double) -> Double) -> Double {
        let ratio = (5.0.squareRoot() - 1) / 2
        var (a, b) = (0.0, 1.0)
        var x1 = b - ratio * (b - a), x2 = a + ratio * (b - a)
        var f1 = f(x1), f2 = f(x2)
        while b - a > 1e-10 {
            if f1 <= f2 {
                (b, x2, f2) = (x2, x1, f1)
                x1 = b - ratio * (b - a)
                f1 = f(x1)
            } else {
                (a, x1, f1) = (x1, x2, f2)
                x2 = a + ratio * (b - a)
                f2 = f(x2)
            }
        }
        let middle = (a + b) / 2
        // The ends are candidates too: the search never evaluates them exactly.
        return [0, middle, 1].min { f($0) < f($1) }!
    }
}
