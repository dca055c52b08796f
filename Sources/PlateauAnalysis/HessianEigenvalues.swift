import PlateauNN
import PlateauTensor

/// The result of a power iteration on the Hessian.
public struct EigenvalueEstimate: Sendable {
    /// The estimated eigenvalue of largest magnitude.
    public var value: Float
    /// Its unit eigenvector, by parameter path.
    public var vector: ParameterSet
    public var iterations: Int
    public var converged: Bool
}

/// Top Hessian eigenvalues of a loss by power iteration on exact Hessian-vector products
/// (the PyHessian procedure, Yao et al. 2020): v ← Hv/‖Hv‖, λ = vᵀHv, stopping when λ
/// changes by less than `tolerance` relatively (default 1e-3, at most 100 iterations).
/// Later eigenvalues deflate earlier eigenvectors by Gram–Schmidt.
public enum HessianEigenvalues {
    /// - Parameters:
    ///   - model: the point w; evaluate it in the mode you mean (PyHessian uses eval mode).
    ///   - loss: the scalar loss as a function of the model.
    public static func top<Model: Module>(
        _ count: Int = 1, of model: Model, tolerance: Float = 1e-3, maximumIterations: Int = 100,
        using generator: inout some RandomNumberGenerator, loss: (inout Model) -> Tensor
    ) -> [EigenvalueEstimate] {
        precondition(count >= 1, "HessianEigenvalues.top: count must be positive")
        let parameters = model.parameters
        var found: [EigenvalueEstimate] = []
        for _ in 0..<count {
            var v = orthogonalized(parameters.map { Tensor.randomNormal($0.shape, using: &generator) }, against: found)
            v = v.scaled(by: 1 / (v.norm() + 1e-12))
            var eigenvalue: Float = 0, iterations = 0, converged = false
            while iterations < maximumIterations {
                iterations += 1
                let hv = orthogonalized(hessianVectorProduct(at: model, along: v, of: loss), against: found)
                let next = hv.dot(v)
                let norm = hv.norm()
                if norm == 0 { eigenvalue = 0; converged = true; break }
                v = hv.scaled(by: 1 / norm)
                if iterations > 1 && Swift.abs(next - eigenvalue) / (Swift.abs(eigenvalue) + 1e-6) < tolerance {
                    eigenvalue = next
                    converged = true
                    break
                }
                eigenvalue = next
            }
            found.append(EigenvalueEstimate(value: eigenvalue, vector: v, iterations: iterations, converged: converged))
        }
        return found
    }

    private static func orthogonalized(_ v: ParameterSet, against basis: [EigenvalueEstimate]) -> ParameterSet {
        var result = v
        for e in basis { result = result - e.vector.scaled(by: result.dot(e.vector)) }
        return result
    }
}
