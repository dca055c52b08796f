import Foundation
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining
import Testing

/// `count` samples with 4 features in 3 linearly separable classes: class k is centred at
/// 3·e_k (e₃ unused) with N(0, 0.5²) noise.
func separableDataset(count: Int, seed: UInt64, name: String = "synthetic") -> Dataset {
    var generator = SeededGenerator(seed: seed)
    let labels = (0..<count).map { $0 % 3 }
    let noise = Tensor.randomNormal([count, 4], standardDeviation: 0.5, using: &generator).scalars
    var values = [Float](repeating: 0, count: count * 4)
    for i in 0..<count {
        for j in 0..<4 { values[i * 4 + j] = noise[i * 4 + j] + (j == labels[i] ? 3 : 0) }
    }
    return Dataset(name: name, images: Tensor(shape: [count, 4], scalars: values), labels: labels, classCount: 3)
}

let trainSet = separableDataset(count: 64, seed: 1, name: "synthetic-train")
let testSet = separableDataset(count: 30, seed: 2, name: "synthetic-test")

/// A small run on the synthetic data: MLP, batches of 16 (4 steps per epoch), constant LR.
func configuration(_ optimizer: String, epochs: Int, seed: UInt64 = 0) -> RunConfiguration {
    var c = RunConfiguration()
    c.model = "mlp"
    c.dataset = "synthetic"
    c.optimizer = optimizer
    c.epochs = epochs
    c.batchSize = 16
    c.learningRate = 0.05
    c.momentum = 0.9
    c.schedule = "constant"
    c.seed = seed
    return c
}

struct SilentObserver: TrainingObserver {
    var messages: [String] = []
    var epochs: [EpochMetrics] = []
    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {}
    mutating func epochFinished(_ metrics: EpochMetrics, of epochs: Int) { self.epochs.append(metrics) }
    mutating func message(_ text: String) { messages.append(text) }
}

/// Runs `configuration` on the synthetic data, returning the metrics and the final state dictionary.
@discardableResult
func train(_ configuration: RunConfiguration, output: URL? = nil, resume: Bool = false) throws -> (metrics: [EpochMetrics], state: ParameterSet) {
    let trainer = try Trainer(configuration: configuration, train: trainSet, test: testSet, output: output, resume: resume)
    var observer = SilentObserver()
    let (summary, model) = try trainer.runReturningModel(observer: &observer)
    return (summary.metrics, model.stateDictionary)
}

/// A fresh empty directory under the system's temporary directory.
func temporaryDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-training-tests-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The epoch metrics without their timing fields, which differ between identical runs.
struct TrainingNumbers: Equatable {
    var epoch: Int
    var trainLoss: Float, trainAccuracy: Float, testLoss: Float, testAccuracy: Float
    var learningRate: Float, passesPerStep: Float

    init(_ m: EpochMetrics) {
        (epoch, trainLoss, trainAccuracy, testLoss, testAccuracy, learningRate, passesPerStep) =
            (m.epoch, m.trainLoss, m.trainAccuracy, m.testLoss, m.testAccuracy, m.learningRate, m.passesPerStep)
    }
}

/// Runs `body(rank)` on `ranks` threads at once (in-process ranks of a communicator test)
/// and returns each rank's result in rank order, rethrowing the first rank's error.
func onThreadRanks<R>(_ ranks: Int, _ body: @escaping @Sendable (Int) throws -> R) throws -> [R] {
    let results = RankResults<R>()
    let done = DispatchGroup()
    for rank in 0..<ranks {
        done.enter()
        Thread {
            let result = Result { try body(rank) }
            results.lock.withLock { results.byRank[rank] = result }
            done.leave()
        }.start()
    }
    done.wait()
    return try (0..<ranks).map { try results.byRank[$0]!.get() }
}

/// Each rank's result, written from its thread.
private final class RankResults<R>: @unchecked Sendable {
    let lock = NSLock()
    var byRank: [Int: Result<R, any Error>] = [:]
}
