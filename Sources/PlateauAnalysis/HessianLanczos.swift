import Foundation
import PlateauTensor

/// The Lanczos tridiagonalization of the Hessian from one start vector.
public struct LanczosDecomposition: Sendable {
    /// Diagonal α_1…α_m of the tridiagonal T.
    public var alphas: [Double]
    /// Off-diagonal β_1…β_{m−1} of T.
    public var betas: [Double]
    /// Eigenvalues θ_j of T (Ritz values), ascending.
    public var ritzValues: [Double]
    /// τ_j = (first component of T's j-th unit eigenvector)²: the quadrature weights.
    public var ritzWeights: [Double]
    /// Hessian-vector products spent.
    public var iterations: Int
}

/// Hessian eigenvalues by the Lanczos algorithm with full reorthogonalization
/// (Lanczos 1950; Golub & Van Loan, *Matrix Computations*, §10.1):
///
///     q_1 = v/‖v‖;  w = H q_j − β_{j−1} q_{j−1};  α_j = q_jᵀ w;  w ← w − α_j q_j
///     w ← w − Σ_{i≤j} (q_iᵀ w) q_i   (full reorthogonalization);  β_j = ‖w‖;  q_{j+1} = w/β_j
///
/// The eigenvalues of the tridiagonal T = tridiag(β, α, β) (Ritz values) approximate the
/// extreme eigenvalues of H. ``top(_:of:tolerance:maximumIterations:using:)`` stops when
/// the top-k Ritz values change by less than `tolerance` relatively (PyHessian's 1e-3, at
/// most 100 HVPs); it needs far fewer HVPs than power iteration with deflation for k > 1
/// and agrees with it. ``decomposition(of:iterations:start:)`` also underlies the spectral
/// density of ``HessianSpectralDensity``.
public enum HessianLanczos {
    /// The `count` largest (algebraic) Hessian eigenvalues, descending.
    public static func top(
        _ count: Int = 1, of loss: LossFunction, tolerance: Float = 1e-3, maximumIterations: Int = 100,
        using generator: inout some RandomNumberGenerator
    ) -> [Float] {
        precondition(count >= 1, "HessianLanczos.top: count must be positive")
        let dimension = loss.parameters.scalarCount
        let start = loss.parameters.map { Tensor.randomNormal($0.shape, using: &generator) }
        var previous: [Double] = []
        var result: [Double] = []
        _ = run(HessianOperator(loss), start: start, maximumIterations: min(maximumIterations, dimension)) { alphas, betas in
            let values = SymmetricTridiagonal.eigenvalues(diagonal: alphas, offDiagonal: betas)
            result = Array(values.sorted(by: >).prefix(count))
            defer { previous = result }
            guard result.count == count, previous.count == count else { return false }
            return zip(result, previous).allSatisfy { Swift.abs($0 - $1) / (Swift.abs($1) + 1e-6) < Double(tolerance) }
        }
        return result.map { Float($0) }
    }

    /// `iterations` Lanczos steps from `start` (fewer if an invariant subspace is found).
    public static func decomposition(of loss: LossFunction, iterations: Int, start: ParameterSet) -> LanczosDecomposition {
        decomposition(of: HessianOperator(loss), iterations: iterations, start: start)
    }

    /// `iterations` Lanczos steps of an already linearized Hessian from `start`.
    public static func decomposition(of hessian: HessianOperator, iterations: Int, start: ParameterSet) -> LanczosDecomposition {
        let (alphas, betas) = run(hessian, start: start, maximumIterations: min(iterations, hessian.loss.parameters.scalarCount)) { _, _ in false }
        let (values, vectors) = SymmetricTridiagonal.eigendecomposition(diagonal: alphas, offDiagonal: betas)
        let weights = vectors.map { $0[0] * $0[0] }
        return LanczosDecomposition(alphas: alphas, betas: betas, ritzValues: values, ritzWeights: weights, iterations: alphas.count)
    }

    /// Runs Lanczos until `stop(alphas, betas)` says so, the cap is reached, or β vanishes.
    private static func run(
        _ hessian: HessianOperator, start: ParameterSet, maximumIterations: Int, stop: ([Double], [Double]) -> Bool
    ) -> (alphas: [Double], betas: [Double]) {
        var basis: [ParameterSet] = [start.scaled(by: 1 / (start.norm() + 1e-12))]
        var alphas: [Double] = [], betas: [Double] = []
        for j in 0..<maximumIterations {
            let q = basis[j]
            var w = hessian.product(along: q)
            if j > 0 { w = w - basis[j - 1].scaled(by: Float(betas[j - 1])) }
            let alpha = w.dot(q)
            alphas.append(Double(alpha))
            w = w - q.scaled(by: alpha)
            for _ in 0..<2 {  // twice is enough (Kahan–Parlett)
                for b in basis { w = w - b.scaled(by: w.dot(b)) }
            }
            let beta = w.norm()
            if stop(alphas, betas) { break }
            if beta < 1e-6 * max(1, Float(Swift.abs(alpha))) || j == maximumIterations - 1 { break }
            betas.append(Double(beta))
            basis.append(w.scaled(by: 1 / beta))
        }
        return (alphas, Array(betas.prefix(max(0, alphas.count - 1))))
    }
}

/// The Hessian's eigenvalue density by stochastic Lanczos quadrature (Ghorbani, Krishnan &
/// Xiao 2019, *An Investigation into Neural Net Optimization via Hessian Eigenvalue
/// Density*, arXiv:1901.10159; PyHessian `density`):
///
///     φ(t) ≈ (1/n_v) Σ_runs Σ_j τ_j · N(t; θ_j, σ²)
///
/// with Ritz values θ_j and weights τ_j of an m-step Lanczos run from each of n_v random
/// Rademacher start vectors. Defaults and smoothing follow PyHessian's `density` and
/// `density_generate`: m = 100, n_v = 1, and ``density(gridCount:sigmaSquared:overhead:)``.
public struct HessianSpectralDensity: Sendable {
    /// Ritz values of every run, concatenated.
    public var nodes: [Double]
    /// Quadrature weights, summing to 1 over all runs.
    public var weights: [Double]
    /// How many of `nodes` each run contributed, in order.
    public var runLengths: [Int]

    public init(of loss: LossFunction, iterations: Int = 100, runs: Int = 1, using generator: inout some RandomNumberGenerator) {
        precondition(iterations >= 1 && runs >= 1, "HessianSpectralDensity: iterations and runs must be positive")
        let hessian = HessianOperator(loss)
        var nodes: [Double] = [], weights: [Double] = [], lengths: [Int] = []
        for _ in 0..<runs {
            let start = loss.parameters.map { Tensor.randomRademacher($0.shape, using: &generator) }
            let lanczos = HessianLanczos.decomposition(of: hessian, iterations: iterations, start: start)
            nodes += lanczos.ritzValues
            weights += lanczos.ritzWeights.map { $0 / Double(runs) }
            lengths.append(lanczos.ritzValues.count)
        }
        self.nodes = nodes
        self.weights = weights
        runLengths = lengths
    }

    /// A density from given nodes and weights (weights summing to 1 over all runs).
    public init(nodes: [Double], weights: [Double], runLengths: [Int]? = nil) {
        precondition(nodes.count == weights.count, "HessianSpectralDensity: one weight per node")
        self.nodes = nodes
        self.weights = weights
        self.runLengths = runLengths ?? [nodes.count]
        precondition(self.runLengths.reduce(0, +) == nodes.count, "HessianSpectralDensity: run lengths must add up to the node count")
    }

    /// The smoothed density, as PyHessian's `density_generate` computes it: `gridCount`
    /// evenly spaced points from the runs' mean smallest Ritz value − `overhead` to their mean
    /// largest + `overhead`; a Gaussian kernel of variance σ²·max(1, grid width); the runs'
    /// mean density, rescaled to unit area on the grid (Σ φ·Δt = 1).
    public func density(gridCount: Int = 10_000, sigmaSquared: Double = 1e-5, overhead: Double = 0.01) -> [(eigenvalue: Double, density: Double)] {
        guard !nodes.isEmpty, gridCount >= 2 else { return [] }
        var runs: [ArraySlice<Double>] = [], start = 0
        for length in runLengths where length > 0 {
            runs.append(nodes[start..<(start + length)])
            start += length
        }
        let upper = runs.map { $0.max()! }.reduce(0, +) / Double(runs.count) + overhead
        let lower = runs.map { $0.min()! }.reduce(0, +) / Double(runs.count) - overhead
        let variance = sigmaSquared * max(1, upper - lower)
        let step = (upper - lower) / Double(gridCount - 1)
        var points = (0..<gridCount).map { i -> (eigenvalue: Double, density: Double) in
            let t = lower + step * Double(i)
            var phi = 0.0
            for (theta, tau) in zip(nodes, weights) {
                phi += tau * exp(-(t - theta) * (t - theta) / (2 * variance)) / (2 * Double.pi * variance).squareRoot()
            }
            return (t, phi)
        }
        let area = points.reduce(0) { $0 + $1.density } * step
        if area > 0 { points = points.map { ($0.eigenvalue, $0.density / area) } }
        return points
    }
}

/// Eigen-decomposition of small symmetric tridiagonal matrices (Lanczos' T) by cyclic
/// Jacobi rotations in double precision — O(m³) per sweep, fine for m ≤ a few hundred.
enum SymmetricTridiagonal {
    static func eigenvalues(diagonal: [Double], offDiagonal: [Double]) -> [Double] {
        eigendecomposition(diagonal: diagonal, offDiagonal: offDiagonal).values
    }

    /// Eigenvalues ascending, with unit eigenvectors (`vectors[j]` belongs to `values[j]`).
    static func eigendecomposition(diagonal: [Double], offDiagonal: [Double]) -> (values: [Double], vectors: [[Double]]) {
        let n = diagonal.count
        guard n > 0 else { return ([], []) }
        var a = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n { a[i][i] = diagonal[i] }
        for i in 0..<min(offDiagonal.count, n - 1) { a[i][i + 1] = offDiagonal[i]; a[i + 1][i] = offDiagonal[i] }
        return SymmetricEigendecomposition.of(a)
    }

}
