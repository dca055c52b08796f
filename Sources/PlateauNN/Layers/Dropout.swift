import PlateauTensor

/// Inverted dropout (Srivastava et al. 2014): in training, zeroes each element with
/// probability `probability` and scales the rest by 1/(1 − p); the identity in evaluation.
/// The layer owns a seeded generator, so a run's masks are reproducible.
public struct Dropout: Layer {
    public var probability: Float
    public var generator: SeededGenerator
    public var isTraining = true

    public init(probability: Float, seed: UInt64 = 0) {
        precondition(probability >= 0 && probability < 1, "Dropout: probability must be in [0, 1), got \(probability)")
        self.probability = probability
        self.generator = SeededGenerator(seed: seed)
    }

    public mutating func visit(_ visitor: ModuleVisitor) { visitor.trainingMode(&isTraining) }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        isTraining ? input.dropout(probability: probability, using: &generator) : input
    }
}
