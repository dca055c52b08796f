import Foundation
import PlateauTensor

/// H = ∇²L(w) of a ``LossFunction`` at its point, as the linear map v ↦ H v that power
/// iteration, Lanczos and Hutchinson's trace apply tens of times at one point.
///
///     H v = Σ_b (n_b/N) H_b v,   each H_b linearized once (``HessianLinearization``)
///
/// Every piece's forward pass and first backward pass are recorded when the operator is
/// built, so a product costs only the final reverse sweep — about 1.5 gradients on an MLP
/// instead of 2.1 for a one-off ``LossFunction/hessianVectorProduct(along:)``, with the same
/// results up to rounding. The recordings hold every activation of every piece, so they are
/// kept only up to a memory budget (``defaultMemoryBudget``): pieces past it are recomputed
/// per product as one-off products (the same numbers to rounding, more time; a given budget
/// gives the same bits on every run).
public struct HessianOperator {
    /// The loss whose Hessian this is.
    public let loss: LossFunction
    /// One entry per piece: its recording, or nil when it is recomputed per product.
    private let linearizations: [HessianLinearization?]

    /// The default budget for recordings: a quarter of the machine's physical memory, at
    /// least 256 MiB. (A ResNet-20 batch of 500 MNIST images records about 3 GB; at 1 GiB its
    /// products would all be recomputed, at 3.2x a gradient each instead of 1.4x.)
    public static let defaultMemoryBudget = Swift.max(256 << 20, Int(clamping: ProcessInfo.processInfo.physicalMemory / 4))

    /// Linearizes the loss's pieces in order while their recordings fit in `memoryBudget`
    /// bytes (by default the loss's ``LossFunction/hessianMemoryBudget``; 0: none, every
    /// product recomputes every piece).
    public init(_ loss: LossFunction, memoryBudget: Int? = nil) {
        self.loss = loss
        let memoryBudget = memoryBudget ?? loss.hessianMemoryBudget
        let keys = loss.parameters.keys
        var kept: [HessianLinearization?] = []
        var used = 0
        for piece in loss.pieces {
            guard used < memoryBudget else { kept.append(nil); continue }
            let linearization = HessianLinearization(at: loss.parameters.values, of: loss.function(of: piece, keys: keys))
            used += linearization.recordedBytes
            // Over budget: this recording is dropped (and the pieces after it are not made).
            kept.append(used <= memoryBudget ? linearization : nil)
        }
        linearizations = kept
    }

    /// How many of the loss's pieces are held linearized.
    public var linearizedPieceCount: Int { linearizations.count { $0 != nil } }

    /// H v at the loss's parameters.
    public func product(along direction: ParameterSet) -> ParameterSet {
        let keys = loss.parameters.keys
        let along = keys.map { key -> Tensor in
            guard let v = direction[key] else { preconditionFailure("HessianOperator.product: direction lacks \(key)") }
            return v
        }
        var product: [Tensor]? = nil
        for (piece, linearization) in zip(loss.pieces, linearizations) {
            let hv = linearization?.product(along: along)
                ?? hessianVectorProduct(at: loss.parameters.values, along: along, of: loss.function(of: piece, keys: keys))
            product = loss.accumulate(product, hv.map(\.detached), weight: piece.weight)
        }
        return ParameterSet(Array(zip(keys, product!)))
    }
}
