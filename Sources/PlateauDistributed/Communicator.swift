import Foundation

/// A group of cooperating processes (ranks) and the collective operations Plateau's
/// distributed training uses, on `Float` buffers.
///
/// The seam between the training code and the message-passing library: the library
/// modules see only this protocol; the Open MPI implementation (`MPICommunicator` in
/// PlateauMPI) is linked by the `plateau` executable alone, and ``LocalCommunicator`` is the
/// one-rank group of a single process (tests, single-machine runs). Every rank of the group
/// must make the same collective calls in the same order with the same sizes: that is the
/// contract of MPI's collectives, and an implementation may hang or abort otherwise.
public protocol Communicator: Sendable {
    /// This process's 0-based position in the group.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }

    /// Replaces every element of `buffer` by its sum over all ranks (the same on every rank).
    func allreduceSum(_ buffer: inout [Float])

    /// Replaces `buffer` on every rank by `root`'s.
    func broadcast(_ buffer: inout [Float], root: Int)

    /// Every rank's `values` concatenated in rank order; `counts[r]` is rank r's element count
    /// (the same array on every rank, `counts[rank] == values.count`).
    func allgather(_ values: [Float], counts: [Int]) -> [Float]

    /// Returns once every rank has called it.
    func barrier()

    /// Sends `values` to `destination` and receives `count` elements from `source`, in one
    /// exchange that cannot deadlock when every rank of a ring sends to its neighbour.
    func sendReceive(_ values: [Float], to destination: Int, receiving count: Int, from source: Int, tag: Int) -> [Float]

    /// Sends `values` to `destination` (blocking until the buffer may be reused).
    func send(_ values: [Float], to destination: Int, tag: Int)

    /// Receives exactly `count` elements from `source`.
    func receive(count: Int, from source: Int, tag: Int) -> [Float]
}

extension Communicator {
    /// Replaces every element of `buffer` by its mean over all ranks: the sum, divided by the
    /// rank count. With one rank the buffer is left as it is, bit for bit.
    public func allreduceMean(_ buffer: inout [Float]) {
        allreduceSum(&buffer)
        guard size > 1 else { return }
        let scale = 1 / Float(size)
        for index in buffer.indices { buffer[index] *= scale }
    }

    /// Whether this rank writes the run's files (checkpoints, metrics, logs): rank 0.
    public var isWriter: Bool { rank == 0 }

    /// The contiguous part of `count` items that this rank takes: ranks split them in rank
    /// order, the first `count % size` ranks taking one more.
    public func shard(of count: Int) -> Range<Int> {
        Self.shard(of: count, rank: rank, size: size)
    }

    /// Rank `rank`'s part of `count` items split over `size` ranks (``shard(of:)``).
    public static func shard(of count: Int, rank: Int, size: Int) -> Range<Int> {
        let base = count / size, extra = count % size
        let start = rank * base + Swift.min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }
}

/// The one-rank group of a single process: every collective is the identity (a sum over one
/// rank is the value itself) and point-to-point messages go to itself through a mailbox.
/// It runs the distributed code paths in tests and single-machine runs without MPI, giving
/// the same numbers bit for bit as the code without a communicator.
public final class LocalCommunicator: Communicator, @unchecked Sendable {
    // Messages a rank sends itself, by tag, in order. Guarded by `lock`: the mailbox is the
    // only mutable state, and a test may drive the communicator from several tasks.
    private var mailbox: [Int: [[Float]]] = [:]
    private let lock = NSLock()

    /// A one-rank group.
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }

    public func allreduceSum(_ buffer: inout [Float]) {}

    public func broadcast(_ buffer: inout [Float], root: Int) {
        precondition(root == 0, "LocalCommunicator.broadcast: root \(root) is not a rank of a one-rank group")
    }

    public func allgather(_ values: [Float], counts: [Int]) -> [Float] {
        precondition(counts == [values.count], "LocalCommunicator.allgather: counts \(counts) do not match one rank of \(values.count) elements")
        return values
    }

    public func barrier() {}

    public func sendReceive(_ values: [Float], to destination: Int, receiving count: Int, from source: Int, tag: Int) -> [Float] {
        send(values, to: destination, tag: tag)
        return receive(count: count, from: source, tag: tag)
    }

    public func send(_ values: [Float], to destination: Int, tag: Int) {
        precondition(destination == 0, "LocalCommunicator.send: rank \(destination) is not in a one-rank group")
        lock.lock()
        mailbox[tag, default: []].append(values)
        lock.unlock()
    }

    public func receive(count: Int, from source: Int, tag: Int) -> [Float] {
        precondition(source == 0, "LocalCommunicator.receive: rank \(source) is not in a one-rank group")
        lock.lock()
        let message = mailbox[tag]?.first
        if message != nil { mailbox[tag]!.removeFirst() }
        lock.unlock()
        // One rank cannot wait for itself: a receive without a matching send is a bug.
        guard let message else { preconditionFailure("LocalCommunicator.receive: no message with tag \(tag) was sent") }
        precondition(message.count == count, "LocalCommunicator.receive: expected \(count) elements, the message has \(message.count)")
        return message
    }
}
