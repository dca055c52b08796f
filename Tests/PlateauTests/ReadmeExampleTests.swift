import Plateau
import Testing

/// The library example of the README, verbatim apart from the epoch count: it must compile
/// against the umbrella module and train.
@Test func readmeLibraryExampleTrains() throws {
    var generator = SeededGenerator(seed: 0)
    var model = MLP(sizes: [64, 256, 10], using: &generator)
    var optimizer = SharpnessAwareMinimizer(rule: SAM(rho: 0.05), base: SGD(learningRate: 0.05, momentum: 0.9))
    let digits = try DigitsSplit()
    for epoch in 0..<3 {
        for batch in Batches(dataset: digits.train, batchSize: 64, seed: 0, epoch: epoch) {
            optimizer.step(&model, batchSize: batch.count) { (m: inout MLP, request) in
                crossEntropy(logits: m(batch.images), labels: batch.labels, reduction: .none)
            }
        }
    }
    let (_, accuracy) = Evaluation.run(model, on: digits.test)
    #expect(accuracy > 0.85)
}
