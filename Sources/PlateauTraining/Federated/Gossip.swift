import PlateauTensor

/// The one service decentralized training needs from a transport: every client's parameter
/// vector delivered to each of its neighbours in the graph.
///
/// This is the seam between the algorithm (``Gossip``, ``FederatedTraining``) and where the
/// clients live. ``InProcessExchange`` holds all clients in one process (simulation, tests).
/// A distributed implementation hosts one or more clients per process (MPI rank) and, for
/// each edge i–j whose ends live on different ranks, sends x_i to j's rank and receives x_j
/// from it with point-to-point messages (MPI_Isend/MPI_Irecv of the flat `[Float]` vector,
/// tagged by the edge, then a wait on all); edges inside a rank need no message. Nothing
/// else changes: ``Gossip/round(_:matrix:exchange:)`` mixes the same vectors in the same
/// order whichever implementation delivered them, so a run is bit-identical however the
/// clients are placed.
public protocol NeighbourExchange {
    /// The clients whose vectors this process holds and updates, ascending.
    var localClients: [Int] { get }
    /// Sends each local client's vector to its neighbours in `matrix` and returns, for each
    /// local client, its neighbours' vectors keyed by client (its own not included).
    ///
    /// - Parameter vectors: the local clients' vectors, keyed by client; all the same length.
    mutating func exchange(_ vectors: [Int: [Float]], over matrix: MixingMatrix) throws -> [Int: [Int: [Float]]]
}

/// All clients in this process: the exchange is a lookup (arrays are shared, not copied).
public struct InProcessExchange: NeighbourExchange {
    public let localClients: [Int]

    /// An exchange hosting clients `0..<clientCount`.
    public init(clientCount: Int) { localClients = Array(0..<clientCount) }

    public mutating func exchange(_ vectors: [Int: [Float]], over matrix: MixingMatrix) throws -> [Int: [Int: [Float]]] {
        var received: [Int: [Int: [Float]]] = [:]
        for i in localClients {
            var inbox: [Int: [Float]] = [:]
            for j in matrix.neighbours[i] {
                guard let vector = vectors[j] else { throw GossipError(message: "client \(j), a neighbour of \(i), has no vector in this process") }
                inbox[j] = vector
            }
            received[i] = inbox
        }
        return received
    }
}

/// A gossip exchange that could not deliver a neighbour's vector.
public struct GossipError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Gossip averaging over a ``MixingMatrix``.
public enum Gossip {
    /// One gossip round for the local clients: x_i ← Σ_j w_ij x_j over i and its neighbours.
    ///
    /// The sum runs over j in ascending client order (i included in its place), in float32,
    /// so the result does not depend on the transport or on how clients are spread over
    /// processes.
    public static func round(_ vectors: [Int: [Float]], matrix: MixingMatrix, exchange: inout some NeighbourExchange) throws -> [Int: [Float]] {
        let received = try exchange.exchange(vectors, over: matrix)
        var mixed: [Int: [Float]] = [:]
        for i in exchange.localClients {
            guard let own = vectors[i] else { throw GossipError(message: "client \(i) is local but has no vector") }
            let terms = ([i] + matrix.neighbours[i]).sorted().map { j -> (Float, [Float]) in
                (Float(matrix.weights[i][j]), j == i ? own : received[i]![j]!)
            }
            for (j, term) in terms.enumerated() where term.1.count != own.count {
                throw GossipError(message: "client \(i) received a vector of \(term.1.count) values from client \(([i] + matrix.neighbours[i]).sorted()[j]), expected \(own.count)")
            }
            var out = [Float](repeating: 0, count: own.count)
            out.withUnsafeMutableBufferPointer { result in
                for (weight, vector) in terms {
                    vector.withUnsafeBufferPointer { x in
                        for k in x.indices { result[k] += weight * x[k] }
                    }
                }
            }
            mixed[i] = out
        }
        return mixed
    }

    /// The mean vector x̄ = (1/m) Σ_i x_i, accumulated in double precision.
    public static func mean(_ vectors: [[Float]]) -> [Float] {
        guard let first = vectors.first else { return [] }
        var sum = [Double](repeating: 0, count: first.count)
        for vector in vectors { for k in vector.indices { sum[k] += Double(vector[k]) } }
        let m = Double(vectors.count)
        return sum.map { Float($0 / m) }
    }

    /// The consensus distance (1/m) Σ_i ‖x_i − x̄‖² (the DFedSAM paper's measure of how far
    /// the clients' models have drifted apart), in double precision.
    public static func consensusDistance(_ vectors: [[Float]]) -> Double {
        let mean = mean(vectors)
        var total = 0.0
        for vector in vectors {
            for k in vector.indices {
                let d = Double(vector[k]) - Double(mean[k])
                total += d * d
            }
        }
        return total / Double(max(vectors.count, 1))
    }
}

/// A model's tensors as one flat vector (what the exchange sends) and back.
public enum ParameterVector {
    /// The entries of `set`, in key order, end to end.
    public static func flatten(_ set: ParameterSet) -> [Float] {
        var vector: [Float] = []
        vector.reserveCapacity(set.scalarCount)
        for value in set.values { vector += value.scalars }
        return vector
    }

    /// `vector` cut into the shapes and keys of `template`.
    public static func unflatten(_ vector: [Float], like template: ParameterSet) -> ParameterSet {
        precondition(vector.count == template.scalarCount, "ParameterVector: \(vector.count) values for \(template.scalarCount) parameters")
        var offset = 0
        return template.map { tensor in
            defer { offset += tensor.count }
            return Tensor(shape: tensor.shape, scalars: Array(vector[offset..<(offset + tensor.count)]))
        }
    }
}
