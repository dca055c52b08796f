import Foundation
import PlateauData
import PlateauDistributed
import PlateauNN
import PlateauTensor
import PlateauTraining
import Testing

/// `plateau federate --distributed mpi` without MPI: ranks as threads of this process, with
/// real point-to-point messages, must give the one-process run's numbers bit for bit.
@Suite("Federated over ranks") struct FederatedDistributedTests {
    static func configuration(clients: Int, topology: String = "ring") -> FederatedConfiguration {
        var f = FederatedTests.federatedConfiguration(method: .dfedsamMGS, clients: clients, rounds: 2, localSteps: 2)
        f.topology = topology
        f.gossipSteps = 2
        return f
    }

    static func shards(clients: Int) throws -> [Dataset] {
        let data = separableDataset(count: 60, seed: 3)
        return try ClientSplit.dirichlet(labels: data.labels, classCount: 3, clients: clients, alpha: 0.5, seed: 1).shards(of: data)
    }

    /// Runs `f` on `ranks` threads and returns each rank's result.
    static func runOnRanks(_ f: FederatedConfiguration, ranks: Int) throws -> [FederatedTraining.Result] {
        let mesh = ThreadMesh(size: ranks)
        return try onThreadRanks(ranks) { rank in
            let training = try FederatedTraining(configuration: f, shards: try shards(clients: f.clients), test: testSet)
            var exchange = try CommunicatorExchange(communicator: MeshCommunicator(rank: rank, mesh: mesh), clientCount: f.clients)
            return try training.run(from: FederatedTests.linearModel().withInputs(4), distributed: &exchange)
        }
    }

    static func withoutTimes(_ rows: [FederatedRoundMetrics]) -> [FederatedRoundMetrics] {
        rows.map { var row = $0; row.seconds = 0; return row }
    }

    // 5 clients on 2 ranks (3 + 2) and on 3 ranks (2 + 2 + 1, every pair of ranks
    // neighbours on the ring): the metrics and the models equal the one-process run's.
    @Test(arguments: [(5, 2, "ring"), (5, 3, "ring"), (6, 4, "regular")])
    func ranksGiveTheOneProcessRunBitForBit(clients: Int, ranks: Int, topology: String) throws {
        var f = Self.configuration(clients: clients, topology: topology)
        f.degree = 3
        var exchange = InProcessExchange(clientCount: clients)
        let one = try FederatedTraining(configuration: f, shards: try Self.shards(clients: clients), test: testSet)
            .run(from: FederatedTests.linearModel().withInputs(4), exchange: &exchange)
        #expect(one.metrics.last!.consensusDistance > 0, "the check needs clients that still differ")
        let results = try Self.runOnRanks(f, ranks: ranks)
        for (rank, result) in results.enumerated() {
            #expect(Self.withoutTimes(result.metrics) == Self.withoutTimes(one.metrics), "rank \(rank)")
            #expect(result.averagedModel.parameters == one.averagedModel.parameters, "rank \(rank)")
            let mine = LocalCommunicator.shard(of: clients, rank: rank, size: ranks)
            #expect(result.clientModels.count == mine.count)
            for (model, client) in zip(result.clientModels, mine) {
                #expect(model.parameters == one.clientModels[client].parameters, "rank \(rank), client \(client)")
            }
        }
    }

    @Test func clientsAreSpreadInContiguousBlocks() throws {
        let mesh = ThreadMesh(size: 3)
        let exchanges = try (0..<3).map { try CommunicatorExchange(communicator: MeshCommunicator(rank: $0, mesh: mesh), clientCount: 7) }
        #expect(exchanges.map(\.localClients) == [[0, 1, 2], [3, 4], [5, 6]])
        #expect((0..<7).map(exchanges[0].rank(of:)) == [0, 0, 0, 1, 1, 2, 2])
        #expect { try CommunicatorExchange(communicator: MeshCommunicator(rank: 0, mesh: ThreadMesh(size: 4)), clientCount: 3) } throws: {
            ($0 as? ConfigurationError)?.field == "clients"
        }
    }
}

// MARK: - Ranks as threads

/// Mailboxes between threads standing in for MPI ranks (tests only): a send is buffered, a
/// receive waits for the matching (source, tag) message, in order.
private final class ThreadMesh: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    // Keyed by destination, source, tag; guarded by `condition`.
    private var boxes: [[Int]: [[Float]]] = [:]

    init(size: Int) { self.size = size }

    func post(_ values: [Float], from source: Int, to destination: Int, tag: Int) {
        condition.lock()
        boxes[[destination, source, tag], default: []].append(values)
        condition.broadcast()
        condition.unlock()
    }

    func take(at destination: Int, from source: Int, tag: Int) -> [Float] {
        condition.lock()
        defer { condition.unlock() }
        while boxes[[destination, source, tag]]?.isEmpty ?? true { condition.wait() }
        return boxes[[destination, source, tag]]!.removeFirst()
    }
}

private struct MeshCommunicator: Communicator {
    let rank: Int
    let mesh: ThreadMesh
    var size: Int { mesh.size }
    // Collectives use tags no point-to-point message of these tests uses.
    private static let collectiveTag = -1

    /// Every rank's `values`, in rank order.
    private func everyone(_ values: [Float]) -> [[Float]] {
        for other in 0..<size where other != rank { mesh.post(values, from: rank, to: other, tag: Self.collectiveTag) }
        return (0..<size).map { $0 == rank ? values : mesh.take(at: rank, from: $0, tag: Self.collectiveTag) }
    }

    func allreduceSum(_ buffer: inout [Float]) {
        let all = everyone(buffer)
        buffer = all[0]
        for other in all.dropFirst() { for i in buffer.indices { buffer[i] += other[i] } }
    }
    func broadcast(_ buffer: inout [Float], root: Int) { buffer = everyone(buffer)[root] }
    func allgather(_ values: [Float], counts: [Int]) -> [Float] {
        precondition(counts[rank] == values.count)
        let all = everyone(values)
        precondition(all.map(\.count) == counts)
        return all.flatMap { $0 }
    }
    func barrier() { _ = everyone([]) }
    func sendReceive(_ values: [Float], to destination: Int, receiving count: Int, from source: Int, tag: Int) -> [Float] {
        send(values, to: destination, tag: tag)
        return receive(count: count, from: source, tag: tag)
    }
    func send(_ values: [Float], to destination: Int, tag: Int) { mesh.post(values, from: rank, to: destination, tag: tag) }
    func receive(count: Int, from source: Int, tag: Int) -> [Float] {
        let message = mesh.take(at: rank, from: source, tag: tag)
        precondition(message.count == count, "rank \(rank): expected \(count) values from \(source), got \(message.count)")
        return message
    }
}
