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

/// Top Hessian eigenvalues of a loss by power iteration on exact Hessian-vector products,
/// the PyHessian procedure (Yao et al. 2020, arXiv:1912.07145, `hessian.py` `eigenvalues`):
///
///     v ~ N(0, I), v ← v/‖v‖;  repeat  v ← v − Σ_j (v·u_j) u_j,  w = Hv,  λ = vᵀw,  v = w/‖w‖
///     until |λ − λ_prev| / (|λ_prev| + 1e-6) < tol   (tol = 1e-3, at most 100 iterations)
///
/// It converges to the eigenvalue of largest |λ| (which at a minimum is the largest,
/// λ_max). The k-th eigenvalue deflates the earlier eigenvectors u_j by Gram–Schmidt.
/// Use ``HessianLanczos`` for a cheaper estimate of several eigenvalues at once.
public enum HessianEigenvalues {
    /// The `count` eigenvalues of largest magnitude of ∇²L at the loss's parameters, in the
    /// order found (normally descending in magnitude).
    public static func top(
        _ count: Int = 1, of loss: LossFunction, tolerance: Float = 1e-3, maximumIterations: Int = 100,
        using generator: inout some RandomNumberGenerator
    ) -> [EigenvalueEstimate] {
        precondition(count >= 1, "HessianEigenvalues.top: count must be positive")
        let parameters = loss.parameters
        let hessian = HessianOperator(loss)
        var found: [EigenvalueEstimate] = []
        for _ in 0..<count {
            var v = orthogonalized(parameters.map { Tensor.randomNormal($0.shape, using: &generator) }, against: found)
            v = v.scaled(by: 1 / (v.norm() + 1e-12))
            var eigenvalue: Float = 0, iterations = 0, converged = false
            while iterations < maximumIterations {
                iterations += 1
                let hv = orthogonalized(hessian.product(along: v), against: found)
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

    /// ``top(_:of:tolerance:maximumIterations:using:)`` of `loss(model)` with respect to the
    /// model's parameters.
    ///
    /// - Parameters:
    ///   - model: the point w; evaluate it in the mode you mean (PyHessian uses eval mode).
    ///   - loss: the scalar loss as a function of the model.
    public static func top<Model: Module>(
        _ count: Int = 1, of model: Model, tolerance: Float = 1e-3, maximumIterations: Int = 100,
        using generator: inout some RandomNumberGenerator, loss: @escaping (inout Model) -> Tensor
    ) -> [EigenvalueEstimate] {
        top(count, of: LossFunction(model: model, loss: loss), tolerance: tolerance, maximumIterations: maximumIterations, using: &generator)
    }

    /// λ_max of each parameter group's own Hessian block H_SS (the HVP restricted to the
    /// group, the rest held fixed) — the per-layer or per-block eigenvalues of
    /// Park & Kim 2022 (*How Do Vision Transformers Work?*, arXiv:2202.06709).
    ///
    /// - Parameter groups: (name, membership test on parameter paths), e.g. from
    ///   ``ParameterGroups/layers(of:)``.
    public static func perGroup(
        of loss: LossFunction, groups: [(name: String, contains: (String) -> Bool)], tolerance: Float = 1e-3,
        maximumIterations: Int = 100, using generator: inout some RandomNumberGenerator
    ) -> [(name: String, eigenvalue: Float)] {
        groups.compactMap { group in
            guard loss.parameters.keys.contains(where: group.contains) else { return nil }
            let block = loss.restricted(to: group.contains)
            let estimate = top(1, of: block, tolerance: tolerance, maximumIterations: maximumIterations, using: &generator)[0]
            return (group.name, estimate.value)
        }
    }

    static func orthogonalized(_ v: ParameterSet, against basis: [EigenvalueEstimate]) -> ParameterSet {
        var result = v
        for e in basis { result = result - e.vector.scaled(by: result.dot(e.vector)) }
        return result
    }
}

/// Groupings of parameter paths for per-layer and per-block analysis.
public enum ParameterGroups {
    /// One group per module owning parameters: the path without its last component
    /// (`layers.0.weight` and `layers.0.bias` form `layers.0`), in first-seen order.
    public static func layers(of parameters: ParameterSet) -> [(name: String, contains: (String) -> Bool)] {
        prefixes(of: parameters) { key in
            let parts = key.split(separator: ".")
            return parts.dropLast().joined(separator: ".")
        }
    }

    /// One group per block: the first `depth` components of the path (`layer1.0` with
    /// depth 2 for ResNets, `blocks.3` for ViTs).
    public static func blocks(of parameters: ParameterSet, depth: Int) -> [(name: String, contains: (String) -> Bool)] {
        prefixes(of: parameters) { key in key.split(separator: ".").prefix(depth).joined(separator: ".") }
    }

    private static func prefixes(of parameters: ParameterSet, _ name: (String) -> String) -> [(name: String, contains: (String) -> Bool)] {
        var order: [String] = []
        var members: [String: Set<String>] = [:]
        for key in parameters.keys {
            let group = name(key)
            if members[group] == nil { order.append(group) }
            members[group, default: []].insert(key)
        }
        return order.map { group in
            let set = members[group]!
            return (group.isEmpty ? "(root)" : group, { set.contains($0) })
        }
    }
}
