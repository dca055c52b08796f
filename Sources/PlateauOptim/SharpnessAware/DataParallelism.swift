import PlateauDistributed
import PlateauTensor

/// Where a data-parallel sharpness-aware step takes the gradient its ascent ε comes from.
public enum EpsilonSource: String, Sendable, CaseIterable {
    /// Each rank's ε from its own shard's gradient: m-sharpness with m = the local batch, as
    /// SAM's original TPU implementation; no communication before the ascent.
    case local
    /// ε from the global batch's gradient, averaged over the ranks by one extra allreduce
    /// before the ascent: the same ε as one process on the whole batch.
    case global
}

/// How a ``SharpnessAwareMinimizer`` step runs over the ranks of a ``Communicator``: each
/// rank evaluates its shard of the global batch, and the gradients the rule and the base
/// optimizer see are the global batch's, averaged with allreduce — one flat buffer per
/// reduction, never one call per tensor. The weights stay identical on every rank.
///
/// Reductions per step: plain SGD/Adam, one of the P parameters; with a second pass and
/// ``EpsilonSource/local``, one of 2P (g for the rule's state and the report, g_p for the
/// descent, in one buffer); with ``EpsilonSource/global``, two of P (g before the ascent,
/// g_p after).
public struct DataParallelism: Sendable {
    /// The ranks.
    public var communicator: any Communicator
    /// Where the ascent's gradient comes from.
    public var epsilon: EpsilonSource
    /// This rank's share of the step's global batch, n_r / n: its mean gradient is weighted by
    /// it before the sum, so that the sum is the global batch's mean gradient however unevenly
    /// the batch split. Set by the caller before each step.
    public var share: Float = 1

    /// Data parallelism over `communicator` with the ascent from `epsilon`'s gradient.
    public init(communicator: any Communicator, epsilon: EpsilonSource = .local) {
        self.communicator = communicator
        self.epsilon = epsilon
    }

    /// Each set's global mean: every set weighted by ``share``, all of them flattened into
    /// one buffer, summed over the ranks in one allreduce, and cut back into sets of the
    /// same keys and shapes. With one rank and a share of 1 the values come back bit for bit.
    public func averaged(_ sets: [ParameterSet]) -> [ParameterSet] {
        var buffer: [Float] = []
        buffer.reserveCapacity(sets.reduce(0) { $0 + $1.scalarCount })
        for set in sets {
            for tensor in set.values { buffer += tensor.scalars }
        }
        if share != 1 {
            for index in buffer.indices { buffer[index] *= share }
        }
        communicator.allreduceSum(&buffer)
        var offset = 0
        return sets.map { set in
            ParameterSet(set.entries.map { key, tensor in
                defer { offset += tensor.count }
                return (key, Tensor(shape: tensor.shape, scalars: Array(buffer[offset..<(offset + tensor.count)])))
            })
        }
    }
}
