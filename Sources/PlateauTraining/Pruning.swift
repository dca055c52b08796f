import PlateauNN
import PlateauTensor

/// Global unstructured magnitude pruning (issue 15, three-regime pruning; Zhou et al., ICML
/// 2023): one threshold on |w| over every prunable weight of the model at once, so layers
/// lose different fractions.
///
/// A mask is a 0/1 tensor per prunable weight, by the weight's path. During training the
/// masks act twice (``StepEngine/masks``): every pass sees `w ⊙ mask`, so the gradient of a
/// pruned weight is exactly 0 (momentum, Adam's moments, weight decay and a SAM
/// perturbation never move it), and the weights are re-masked after every step. Checkpoints
/// store them as `mask.<path>` (``Checkpoint/masks``).
public enum MagnitudePruning {
    /// Whether the parameter at `path` is pruned: the weights of linear and convolution
    /// layers (rank ≥ 2, named `…weight`). Biases and normalization scales are rank 1 and
    /// kept whole, as in the paper's LAMP code.
    public static func isPrunable(path: String, shape: [Int]) -> Bool {
        shape.count >= 2 && path.hasSuffix("weight")
    }

    /// The masks that keep the `round(density · N)` largest-magnitude entries (at least one)
    /// of the N prunable scalars in `parameters`. Ties at the threshold go to the earlier
    /// entry (parameter order, then row-major), so the kept count is exact and the choice
    /// deterministic.
    ///
    /// - Throws: ``ConfigurationError`` for a density outside (0, 1] or a model with no
    ///   prunable weight.
    public static func masks(for parameters: ParameterSet, density: Double) throws -> ParameterSet {
        guard density > 0, density <= 1 else {
            throw ConfigurationError(field: "density", message: "expected a fraction of weights to keep in (0, 1], got \(density)")
        }
        let prunable = parameters.entries.filter { isPrunable(path: $0.key, shape: $0.value.shape) }
        let total = prunable.reduce(0) { $0 + $1.value.count }
        guard total > 0 else {
            throw ConfigurationError(field: "density", message: "the model has no prunable weight (linear or convolution weights)")
        }
        let keep = min(total, max(1, Int((density * Double(total)).rounded())))
        var magnitudes: [(Float, Int)] = []
        magnitudes.reserveCapacity(total)
        for entry in prunable { for value in entry.value.scalars { magnitudes.append((abs(value), magnitudes.count)) } }
        // NaN sorts as smallest: a broken weight is pruned first rather than trapping the sort.
        magnitudes.sort { a, b in
            let (x, y) = (a.0.isNaN ? -1 : a.0, b.0.isNaN ? -1 : b.0)
            return x != y ? x > y : a.1 < b.1
        }
        var flat = [Float](repeating: 0, count: total)
        for (_, index) in magnitudes.prefix(keep) { flat[index] = 1 }
        var offset = 0
        return ParameterSet(prunable.map { entry in
            let count = entry.value.count
            defer { offset += count }
            return (entry.key, Tensor(shape: entry.value.shape, scalars: Array(flat[offset..<offset + count])))
        })
    }

    /// `parameters` with each masked entry multiplied by its mask (others unchanged). On
    /// tracked tensors the product is recorded, so gradients reach the weights masked.
    public static func apply(_ masks: ParameterSet, to parameters: ParameterSet) -> ParameterSet {
        ParameterSet(masks.keys.compactMap { key in parameters[key].map { (key, $0 * masks[key]!) } })
    }

    /// Kept and total scalars over the masks.
    public static func density(of masks: ParameterSet) -> (kept: Int, total: Int) {
        let kept = masks.values.reduce(0) { $0 + $1.scalars.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
        return (kept, masks.scalarCount)
    }

    /// Checks that `masks` fit `parameters` (every key a parameter of the same shape, values
    /// 0 or 1); errors name `source`.
    public static func check(_ masks: ParameterSet, against parameters: ParameterSet, source: String) throws {
        for (key, mask) in masks.entries {
            guard let weight = parameters[key] else {
                throw ConfigurationError(field: "\(source): mask.\(key)", message: "the model has no parameter \(key) to mask")
            }
            guard weight.shape == mask.shape else {
                throw ConfigurationError(field: "\(source): mask.\(key)", message: "expected shape \(weight.shape) (the parameter's), got \(mask.shape)")
            }
            guard mask.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
                throw ConfigurationError(field: "\(source): mask.\(key)", message: "expected only 0 and 1")
            }
        }
    }
}

extension Module {
    /// Multiplies the masked parameters by their masks (``MagnitudePruning``).
    /// A pruned entry becomes +0 (a product would leave -0 for a negative weight), a kept one
    /// keeps its exact bits.
    public mutating func applyMasks(_ masks: ParameterSet) {
        let current = parameters
        update(ParameterSet(masks.entries.compactMap { key, mask in
            current[key].map { weight in
                (key, Tensor(shape: weight.shape, scalars: zip(weight.scalars, mask.scalars).map { $1 == 0 ? 0 : $0 }))
            }
        }))
    }
}
