import Foundation
import PlateauData
import PlateauDistributed
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

// Data-parallel training through the Communicator seam, in one process (LocalCommunicator).
// The 2-rank runs against 1 rank are scripts/mpi_equivalence.sh (mpirun), which CI runs.

@Test func shardsSplitABatchContiguouslyInRankOrder() {
    #expect(LocalCommunicator.shard(of: 10, rank: 0, size: 3) == 0..<4)
    #expect(LocalCommunicator.shard(of: 10, rank: 1, size: 3) == 4..<7)
    #expect(LocalCommunicator.shard(of: 10, rank: 2, size: 3) == 7..<10)
    #expect(LocalCommunicator.shard(of: 4, rank: 1, size: 2) == 2..<4)
    #expect(LocalCommunicator().shard(of: 5) == 0..<5)
}

@Test func theLocalCommunicatorIsTheOneRankGroup() {
    let local = LocalCommunicator()
    var buffer: [Float] = [1, -2.5, 3]
    local.allreduceSum(&buffer)
    #expect(buffer == [1, -2.5, 3])
    local.allreduceMean(&buffer)
    #expect(buffer == [1, -2.5, 3])
    local.broadcast(&buffer, root: 0)
    #expect(local.allgather([4, 5], counts: [2]) == [4, 5])
    local.barrier()
    // A ring of one: the neighbour is itself.
    #expect(local.sendReceive([7, 8], to: 0, receiving: 2, from: 0, tag: 3) == [7, 8])
    local.send([1], to: 0, tag: 1)
    local.send([2], to: 0, tag: 2)
    #expect(local.receive(count: 1, from: 0, tag: 2) == [2])
    #expect(local.receive(count: 1, from: 0, tag: 1) == [1])
}

@Test func averagingKeepsKeysShapesAndValuesWithOneRank() {
    let set = ParameterSet([("b", Tensor([0.1, 0.2])), ("a", Tensor([[1, 2], [3, 4]]))])
    var parallel = DataParallelism(communicator: LocalCommunicator())
    let averaged = parallel.averaged([set, set.scaled(by: 2)])
    let (first, second) = (averaged[0], averaged[1])
    #expect(first == set)
    #expect(second == set.scaled(by: 2))
    #expect(first.keys == ["b", "a"] && first["a"]!.shape == [2, 2])
    // A rank's share weights its mean gradient before the sum.
    parallel.share = 0.25
    #expect(parallel.averaged([set])[0]["a"]!.scalars == [0.25, 0.5, 0.75, 1])
}

/// Trains `c` on the synthetic data, data-parallel over a one-rank group when `epsilon` is
/// given, and returns the epoch metrics and the final state dictionary and extras.
private func run(_ c: RunConfiguration, epsilon: EpsilonSource?, output: URL? = nil, resume: Bool = false) throws -> (metrics: [TrainingNumbers], state: ParameterSet) {
    var trainer = try Trainer(configuration: c, train: trainSet, test: testSet, output: output, resume: resume)
    trainer.dataParallel = epsilon.map { DataParallelism(communicator: LocalCommunicator(), epsilon: $0) }
    var observer = SilentObserver()
    let (summary, model) = try trainer.runReturningModel(observer: &observer)
    return (summary.metrics.map(TrainingNumbers.init), model.stateDictionary)
}

// Sharding, reduction, gathering of outputs and losses, SAF's gathered memory update and the
// epoch's replica check all run here; with one rank they must change nothing, bit for bit.
@Test(arguments: ["sgd", "sam", "saf", "gsam", "looksam", "mesa"])
func oneRankDataParallelIsBitIdenticalToOneProcess(_ optimizer: String) throws {
    var c = configuration(optimizer, epochs: 3, seed: 5)
    // The terms on from the second epoch.
    if optimizer == "saf" { c.methodOptions = ["saf-start": 0, "saf-lag": 1] }
    if optimizer == "mesa" { c.methodOptions = ["saf-start": 0] }
    let plain = try run(c, epsilon: nil)
    for epsilon in EpsilonSource.allCases {
        let parallel = try run(c, epsilon: epsilon)
        #expect(parallel.metrics == plain.metrics, "\(optimizer), ε \(epsilon)")
        #expect(parallel.state == plain.state, "\(optimizer), ε \(epsilon): weights differ")
    }
}

@Test func dataParallelRunsResumeBitIdentically() throws {
    var c = configuration("saf", epochs: 4, seed: 3)
    c.methodOptions = ["saf-start": 0, "saf-lag": 1]
    let straight = try temporaryDirectory("dp-straight")
    let split = try temporaryDirectory("dp-split")
    defer { try? FileManager.default.removeItem(at: straight); try? FileManager.default.removeItem(at: split) }
    let whole = try run(c, epsilon: .local, output: straight)
    var half = c
    half.epochs = 2
    _ = try run(half, epsilon: .local, output: split)
    let resumed = try run(c, epsilon: .local, output: split, resume: true)
    #expect(resumed.state == whole.state)
    let a = try Checkpoint.read(from: straight.appendingPathComponent(RunDirectory.lastCheckpointFile))
    let b = try Checkpoint.read(from: split.appendingPathComponent(RunDirectory.lastCheckpointFile))
    #expect(a.extras == b.extras, "SAF's memory bank differs after the resume")
    #expect(a.optimizer.tensors == b.optimizer.tensors)
}

@Test func batchesTooSmallForTheRanksAreRefusedNamingTheField() throws {
    // 64 samples in batches of 30: the last batch holds 4, fine for 4 ranks, not for 5.
    try Trainer.checkShards(batchSize: 30, sampleCount: 64, ranks: 4)
    let error = configurationError { try Trainer.checkShards(batchSize: 30, sampleCount: 64, ranks: 5) }
    #expect(error?.field == "batch-size")
    #expect(error?.message.contains("4") == true)
    #expect(configurationError { try Trainer.checkShards(batchSize: 8, sampleCount: 3, ranks: 4) } != nil)
}

private func configurationError(_ body: () throws -> Void) -> ConfigurationError? {
    do { try body() } catch let error as ConfigurationError { return error } catch { return nil }
    return nil
}

// MARK: - Two ranks in one process

/// Ranks as threads of this process, for tests only: each collective gathers every rank's
/// buffer at a condition variable and combines them in rank order (the sum left to right).
/// It stands in for MPI where the suite cannot start `mpirun`.
private final class ThreadHub: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var slots: [[Float]?]
    private var arrived = 0, generation = 0
    private var result: [[Float]] = []

    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// Every rank's `values`, once all have called it.
    func exchange(rank: Int, _ values: [Float]) -> [[Float]] {
        condition.lock()
        defer { condition.unlock() }
        let current = generation
        slots[rank] = values
        arrived += 1
        if arrived == size {
            result = slots.map { $0! }
            slots = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == current { condition.wait() }
        }
        return result
    }
}

private struct ThreadCommunicator: Communicator {
    let rank: Int
    let hub: ThreadHub
    var size: Int { hub.size }

    func allreduceSum(_ buffer: inout [Float]) {
        let all = hub.exchange(rank: rank, buffer)
        buffer = all[0]
        for other in all.dropFirst() { for i in buffer.indices { buffer[i] += other[i] } }
    }
    func broadcast(_ buffer: inout [Float], root: Int) { buffer = hub.exchange(rank: rank, buffer)[root] }
    func allgather(_ values: [Float], counts: [Int]) -> [Float] { hub.exchange(rank: rank, values).flatMap { $0 } }
    func barrier() { _ = hub.exchange(rank: rank, []) }
    func sendReceive(_ values: [Float], to destination: Int, receiving count: Int, from source: Int, tag: Int) -> [Float] {
        hub.exchange(rank: rank, values)[source]
    }
    func send(_ values: [Float], to destination: Int, tag: Int) { preconditionFailure("not used") }
    func receive(count: Int, from source: Int, tag: Int) -> [Float] { preconditionFailure("not used") }
}

/// Trains `c` on `ranks` threads as ranks and returns each rank's final state dictionary.
private func trainOnRanks(_ c: RunConfiguration, ranks: Int, epsilon: EpsilonSource) throws -> [ParameterSet] {
    let hub = ThreadHub(size: ranks)
    return try onThreadRanks(ranks) { rank in
        var trainer = try Trainer(configuration: c, train: trainSet, test: testSet, output: nil)
        trainer.dataParallel = DataParallelism(communicator: ThreadCommunicator(rank: rank, hub: hub), epsilon: epsilon)
        var observer = SilentObserver()
        return try trainer.runReturningModel(observer: &observer).model.stateDictionary
    }
}

private func largestDifference(_ a: ParameterSet, _ b: ParameterSet) -> Float {
    zip(a.values, b.values).map { zip($0.scalars, $1.scalars).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
}

// Two ranks take the two halves of every batch of 16; their averaged gradient is the batch's
// up to float32 summation order, so after 8 steps the weights agree with one process to
// ~1e-7 (1e-5 allowed), and both ranks hold the same weights bit for bit.
@Test(arguments: [("sgd", EpsilonSource.local), ("sam", .global), ("saf", .local), ("gsam", .global)])
func twoRanksMatchOneProcessWithinFloatTolerance(_ optimizer: String, _ epsilon: EpsilonSource) throws {
    var c = configuration(optimizer, epochs: 2, seed: 4)
    if optimizer == "saf" { c.methodOptions = ["saf-start": 0, "saf-lag": 1] }
    let one = try run(c, epsilon: nil).state
    let ranks = try trainOnRanks(c, ranks: 2, epsilon: epsilon)
    #expect(ranks[0] == ranks[1], "\(optimizer): the ranks' weights differ")
    let difference = largestDifference(one, ranks[0])
    #expect(difference <= 1e-5, "\(optimizer): 2 ranks differ from 1 process by \(difference)")
    #expect(try trainOnRanks(c, ranks: 2, epsilon: epsilon)[0] == ranks[0], "\(optimizer): a re-run differs")
}

// A local ε on two ranks is SAM with m-sharpness m = 8 (the local batch), not plain SAM.
@Test func aLocalEpsilonIsMSharpnessWithTheLocalBatch() throws {
    var c = configuration("sam", epochs: 2, seed: 4)
    let ranks = try trainOnRanks(c, ranks: 2, epsilon: .local)
    let plain = try run(c, epsilon: nil).state
    c.mSharpness = 8
    let chunked = try run(c, epsilon: nil).state
    #expect(largestDifference(chunked, ranks[0]) <= 1e-5)
    #expect(largestDifference(plain, ranks[0]) > 1e-4, "a local ε should differ from the global one")
}
