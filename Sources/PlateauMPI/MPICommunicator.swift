import CMPI
import PlateauDistributed

/// Why MPI could not be started.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// ``/PlateauDistributed/Communicator`` over Open MPI's `MPI_COMM_WORLD`: the processes
/// `mpirun -np N` started, each with its rank.
///
/// Errors: MPI's default handler on `MPI_COMM_WORLD`, `MPI_ERRORS_ARE_FATAL`, stays in
/// place, so a failed collective (a peer that died, a broken link) aborts the whole job
/// through `mpirun`, which names the rank that failed; no rank is left waiting forever. A
/// call that still returns an error code stops the process with MPI's own message.
///
/// Only the thread that called ``start()`` may use it (`MPI_THREAD_FUNNELED`): Plateau's
/// compute threads never communicate.
public struct MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Initializes MPI (once per process) and returns the world communicator.
    ///
    /// - Throws: ``MPIError`` when MPI cannot start (no `mpirun` environment it accepts, a
    ///   second start after ``finish()``).
    public static func start() throws -> MPICommunicator {
        guard plateau_mpi_finalized() == 0 else { throw MPIError(description: "MPI was already finalized in this process; it cannot start again") }
        if plateau_mpi_initialized() == 0 {
            var provided: Int32 = 0
            let code = plateau_mpi_init(&provided)
            guard code == MPI_SUCCESS else { throw MPIError(description: "MPI_Init_thread failed: \(message(for: code))") }
        }
        let world = MPICommunicator(rank: Int(plateau_mpi_rank()), size: Int(plateau_mpi_size()))
        guard world.size > 0, world.rank >= 0 else { throw MPIError(description: "MPI reported rank \(world.rank) of \(world.size) ranks") }
        return world
    }

    /// Finalizes MPI: call it once, after the last communication, on every rank.
    public static func finish() {
        if plateau_mpi_initialized() != 0, plateau_mpi_finalized() == 0 { _ = plateau_mpi_finalize() }
    }

    /// Ends every rank of the job with `code` (MPI_Abort): for a rank that cannot go on while
    /// the others wait in a collective.
    public func abort(code: Int32) -> Never {
        _ = plateau_mpi_abort(code)
        fatalError("MPI_Abort returned")
    }

    public func allreduceSum(_ buffer: inout [Float]) {
        guard size > 1 else { return }  // a sum over one rank is the buffer itself
        for range in Self.chunks(of: buffer.count) {
            buffer.withUnsafeMutableBufferPointer { pointer in
                check(plateau_mpi_allreduce_sum(pointer.baseAddress! + range.lowerBound, Int32(range.count)), "MPI_Allreduce")
            }
        }
    }

    public func broadcast(_ buffer: inout [Float], root: Int) {
        precondition((0..<size).contains(root), "MPICommunicator.broadcast: root \(root) is not a rank of \(size)")
        for range in Self.chunks(of: buffer.count) {
            buffer.withUnsafeMutableBufferPointer { pointer in
                check(plateau_mpi_broadcast(pointer.baseAddress! + range.lowerBound, Int32(range.count), Int32(root)), "MPI_Bcast")
            }
        }
    }

    public func allgather(_ values: [Float], counts: [Int]) -> [Float] {
        precondition(counts.count == size && counts[rank] == values.count, "MPICommunicator.allgather: counts \(counts) do not give rank \(rank) its \(values.count) elements")
        let total = counts.reduce(0, +)
        precondition(total <= Int(Int32.max), "MPICommunicator.allgather: \(total) elements exceed MPI's int count")
        var displacements: [Int32] = [], offset: Int32 = 0
        for count in counts {
            displacements.append(offset)
            offset += Int32(count)
        }
        var result = [Float](repeating: 0, count: total)
        let counts32 = counts.map { Int32($0) }
        values.withUnsafeBufferPointer { send in
            result.withUnsafeMutableBufferPointer { receive in
                // An empty send buffer may have no address; MPI accepts any pointer for 0 elements.
                check(plateau_mpi_allgatherv(send.baseAddress ?? UnsafePointer(receive.baseAddress), Int32(values.count), receive.baseAddress, counts32, displacements), "MPI_Allgatherv")
            }
        }
        return result
    }

    public func barrier() {
        check(plateau_mpi_barrier(), "MPI_Barrier")
    }

    public func sendReceive(_ values: [Float], to destination: Int, receiving count: Int, from source: Int, tag: Int) -> [Float] {
        precondition(values.count <= Int(Int32.max) && count <= Int(Int32.max), "MPICommunicator.sendReceive: messages are limited to 2³¹−1 elements")
        var result = [Float](repeating: 0, count: count)
        values.withUnsafeBufferPointer { send in
            result.withUnsafeMutableBufferPointer { receive in
                check(plateau_mpi_sendrecv(send.baseAddress, Int32(values.count), Int32(destination), receive.baseAddress, Int32(count), Int32(source), Int32(tag)), "MPI_Sendrecv")
            }
        }
        return result
    }

    public func send(_ values: [Float], to destination: Int, tag: Int) {
        precondition(values.count <= Int(Int32.max), "MPICommunicator.send: messages are limited to 2³¹−1 elements")
        values.withUnsafeBufferPointer { check(plateau_mpi_send($0.baseAddress, Int32(values.count), Int32(destination), Int32(tag)), "MPI_Send") }
    }

    public func receive(count: Int, from source: Int, tag: Int) -> [Float] {
        precondition(count <= Int(Int32.max), "MPICommunicator.receive: messages are limited to 2³¹−1 elements")
        var result = [Float](repeating: 0, count: count)
        result.withUnsafeMutableBufferPointer { check(plateau_mpi_recv($0.baseAddress, Int32(count), Int32(source), Int32(tag)), "MPI_Recv") }
        return result
    }

    /// MPI counts are C ints: a longer buffer goes in consecutive pieces.
    private static func chunks(of count: Int) -> [Range<Int>] {
        let limit = 1 << 30
        return stride(from: 0, to: count, by: limit).map { $0..<Swift.min($0 + limit, count) }
    }

    /// Under MPI_ERRORS_ARE_FATAL a failure aborts inside MPI; a code that still comes back
    /// means the handler was changed, and the rank cannot continue out of step with the others.
    private func check(_ code: Int32, _ call: String) {
        guard code != MPI_SUCCESS else { return }
        fatalError("\(call) failed on rank \(rank) of \(size): \(Self.message(for: code))")
    }

    private static func message(for code: Int32) -> String {
        let capacity = Int(plateau_mpi_max_error_string())
        var text = [CChar](repeating: 0, count: capacity)
        plateau_mpi_error_string(code, &text, Int32(capacity))
        let bytes = text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self) + " (code \(code))"
    }
}
