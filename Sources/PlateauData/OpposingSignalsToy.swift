import PlateauTensor

/// The opposing-signals toy of Rosenfeld & Risteski (ICLR 2024), as issue 15's notes state
/// it: two classes y ∈ {0, 1} (signed s = ±1), each sample x = s·μ + ξ in `dimension`
/// dimensions with a small core signal μ = `coreSignal`·e₀ and noise ξ ~ N(0, I). In a
/// fraction of each class a large feature ±α·u (u = e₁) is added: with sign +s in group A
/// and −s in group B, the two groups split evenly. The feature is net uninformative (it
/// points to the label in A and away from it in B) yet dominates the output, so the two
/// groups pull the weights along u in opposite directions.
public struct OpposingSignalsToy: Sendable {
    public var dataset: Dataset
    /// Samples whose u-feature agrees with the label (sign +s), ascending.
    public var groupA: [Int]
    /// Samples whose u-feature opposes the label (sign −s), ascending.
    public var groupB: [Int]

    /// - Parameters:
    ///   - samplesPerClass: samples of each of the two classes.
    ///   - fraction: the share of each class carrying the feature (half in A, half in B; at
    ///     least one in each group per class when positive).
    public init(samplesPerClass: Int, dimension: Int, coreSignal: Float = 0.5, alpha: Float = 20, fraction: Double = 0.02, seed: UInt64) {
        precondition(samplesPerClass >= 1 && dimension >= 2, "OpposingSignalsToy: needs samples and at least 2 dimensions, got \(samplesPerClass), \(dimension)")
        var generator = SeededGenerator(seed: seed)
        let n = 2 * samplesPerClass
        let noise = Tensor.randomNormal([n, dimension], using: &generator)
        var scalars = noise.scalars
        let labels = (0..<n).map { $0 % 2 }  // interleaved, so that any prefix is balanced
        for i in 0..<n { scalars[i * dimension] += (labels[i] == 1 ? 1 : -1) * coreSignal }
        var a: [Int] = [], b: [Int] = []
        for label in 0..<2 {
            let members = (0..<n).filter { labels[$0] == label }.shuffled(using: &generator)
            let carrying = fraction > 0 ? max(2, Int((fraction * Double(samplesPerClass)).rounded())) : 0
            let chosen = Array(members.prefix(min(carrying, members.count)))
            for (k, i) in chosen.enumerated() {
                let agrees = k % 2 == 0
                let sign: Float = (labels[i] == 1 ? 1 : -1) * (agrees ? 1 : -1)
                scalars[i * dimension + 1] += sign * alpha
                if agrees { a.append(i) } else { b.append(i) }
            }
        }
        dataset = Dataset(name: "opposing-signals-toy", images: Tensor(shape: [n, dimension], scalars: scalars), labels: labels, classCount: 2)
        groupA = a.sorted()
        groupB = b.sorted()
    }
}
