import PlateauDistributed

/// Clients spread over the ranks of a ``Communicator`` (`plateau federate --distributed mpi`):
/// rank r hosts the contiguous block ``Communicator/shard(of:)`` of the clients (the first
/// `clients % ranks` ranks one more), and a gossip round sends each vector only to the ranks
/// that host one of its neighbours.
///
/// Per round, each pair of ranks that share at least one edge makes a single
/// `sendReceive`: each side sends the concatenated vectors of its clients that have a
/// neighbour on the other side (ascending client order), and receives the other side's in
/// the same order, so both know every message's length without a header. The pairs are
/// visited in ascending peer order on every rank; the lexicographically first unfinished pair
/// (a, b) is then next on both a and b, so the schedule cannot deadlock. Edges inside a rank
/// need no message. ``Gossip/round(_:matrix:exchange:)`` mixes the delivered vectors in
/// ascending client order, so the result is bit-identical to ``InProcessExchange``.
public struct CommunicatorExchange: NeighbourExchange {
    public let communicator: any Communicator
    public let clientCount: Int
    public let localClients: [Int]

    /// The exchange for this rank of `communicator`, `clientCount` clients in all.
    ///
    /// - Throws: ``ConfigurationError`` on field `clients` when there are fewer clients than
    ///   ranks (a rank without clients is almost certainly a mistake in the `mpirun -np`).
    public init(communicator: any Communicator, clientCount: Int) throws {
        guard clientCount >= communicator.size else {
            throw ConfigurationError(field: "clients", message: "expected at least one client per rank: \(communicator.size) ranks, got \(clientCount) clients")
        }
        self.communicator = communicator
        self.clientCount = clientCount
        self.localClients = Array(communicator.shard(of: clientCount))
    }

    /// The rank that hosts `client`.
    public func rank(of client: Int) -> Int {
        let size = communicator.size, base = clientCount / size, extra = clientCount % size
        // The first `extra` ranks hold base + 1 clients each.
        let boundary = extra * (base + 1)
        return client < boundary ? client / (base + 1) : extra + (client - boundary) / base
    }

    // MPI tags must be small non-negative ints; one tag serves every round because messages
    // between two ranks are not overtaken (MPI's ordering guarantee).
    static let tag = 1807

    public mutating func exchange(_ vectors: [Int: [Float]], over matrix: MixingMatrix) throws -> [Int: [Int: [Float]]] {
        guard matrix.neighbours.count == clientCount else {
            throw GossipError(message: "the mixing matrix has \(matrix.neighbours.count) clients, the exchange \(clientCount)")
        }
        let me = communicator.rank
        guard let length = localClients.first.flatMap({ vectors[$0]?.count }) else {
            throw GossipError(message: "rank \(me): client \(localClients.first ?? -1) is local but has no vector")
        }
        for i in localClients {
            guard let vector = vectors[i] else { throw GossipError(message: "rank \(me): client \(i) is local but has no vector") }
            guard vector.count == length else {
                throw GossipError(message: "rank \(me): client \(i)'s vector has \(vector.count) values, client \(localClients[0])'s \(length)")
            }
        }
        // Which of my clients each peer needs, and which of its clients I need (the graph is
        // undirected: both sides compute the same two lists).
        var outgoing: [Int: [Int]] = [:], incoming: [Int: Set<Int>] = [:]
        for i in localClients {
            for j in matrix.neighbours[i] {
                let peer = rank(of: j)
                guard peer != me else { continue }
                if outgoing[peer]?.last != i { outgoing[peer, default: []].append(i) }
                incoming[peer, default: []].insert(j)
            }
        }
        var remote: [Int: [Float]] = [:]
        for peer in outgoing.keys.sorted() {
            var message: [Float] = []
            message.reserveCapacity(outgoing[peer]!.count * length)
            for i in outgoing[peer]! { message += vectors[i]! }
            let theirs = incoming[peer]!.sorted()
            let reply = communicator.sendReceive(message, to: peer, receiving: theirs.count * length, from: peer, tag: Self.tag)
            guard reply.count == theirs.count * length else {
                throw GossipError(message: "rank \(me): rank \(peer) sent \(reply.count) values, expected \(theirs.count) vectors of \(length)")
            }
            for (n, j) in theirs.enumerated() { remote[j] = Array(reply[(n * length)..<((n + 1) * length)]) }
        }
        var received: [Int: [Int: [Float]]] = [:]
        for i in localClients {
            var inbox: [Int: [Float]] = [:]
            for j in matrix.neighbours[i] {
                guard let vector = vectors[j] ?? remote[j] else { throw GossipError(message: "rank \(me): no vector arrived for client \(j), a neighbour of \(i)") }
                inbox[j] = vector
            }
            received[i] = inbox
        }
        return received
    }

    /// Every client's values in client order, from each rank's values for its own clients
    /// (`local[n]` belongs to `localClients[n]`; every client's the same length `length`).
    public func gather(_ local: [[Float]], length: Int) -> [[Float]] {
        let counts = (0..<communicator.size).map { LocalCommunicator.shard(of: clientCount, rank: $0, size: communicator.size).count * length }
        let all = communicator.allgather(local.flatMap { $0 }, counts: counts)
        return (0..<clientCount).map { Array(all[($0 * length)..<(($0 + 1) * length)]) }
    }
}
