import PlateauTensor

/// Which training examples USEFUL (Nguyen et al., NeurIPS 2024) upsamples, and why.
///
/// After a few epochs ("the separating epoch") the examples a network has already learned
/// are separable by its outputs. For each class, k-means (k = 2, k-means++ seeding) splits
/// the class's output vectors in two; the cluster with the higher mean loss holds the
/// examples not learned early, and each of them is duplicated once. Training then restarts
/// from scratch on the enlarged set. The ``Rule/random`` control duplicates the same number
/// of examples per class, drawn uniformly, so that a gain can be told apart from the effect
/// of a larger (or differently weighted) training set.
public struct UsefulSelection: Codable, Sendable, Equatable {
    /// How the upsampled examples were chosen.
    public enum Rule: String, Codable, Sendable, CaseIterable {
        /// The higher-loss k-means cluster of each class.
        case useful
        /// As many examples per class as `useful` picks, uniformly at random.
        case random
        /// Nothing: the baseline, trained once on the same data.
        case nothing = "none"
    }

    /// One class's split.
    public struct ClassSplit: Codable, Sendable, Equatable {
        public var label: Int
        /// Examples of the class in the training set.
        public var examples: Int
        /// Examples of the class that are duplicated.
        public var upsampled: Int
        /// The two k-means clusters' sizes, the higher-loss (upsampled) cluster first; empty
        /// when the class had fewer than two examples.
        public var clusterSizes: [Int]
        /// The two clusters' mean cross-entropy at the separating epoch, in the same order.
        public var clusterMeanLosses: [Double]

        enum CodingKeys: String, CodingKey {
            case label, examples, upsampled, clusterSizes = "cluster_sizes", clusterMeanLosses = "cluster_mean_losses"
        }
    }

    public var rule: Rule
    /// Per class, in label order.
    public var classes: [ClassSplit]
    /// The duplicated examples' indices into the training set, ascending.
    public var upsampled: [Int]

    /// USEFUL's choice from the separating epoch's outputs.
    ///
    /// - Parameters:
    ///   - outputs: `[n, C]`, the network's outputs (logits) for every training example, in
    ///     evaluation mode.
    ///   - labels: the `n` labels.
    ///   - losses: the `n` per-example cross-entropies of those outputs.
    ///   - classCount: the number of classes (a class without examples gets an empty split).
    ///   - seed: seeds k-means++ (one generator, classes in label order).
    public static func useful(outputs: Tensor, labels: [Int], losses: [Float], classCount: Int, seed: UInt64) -> UsefulSelection {
        precondition(outputs.rank == 2 && outputs.shape[0] == labels.count && losses.count == labels.count,
                     "UsefulSelection: expected [n, C] outputs with n labels and n losses, got \(outputs.shape), \(labels.count), \(losses.count)")
        var generator = SeededGenerator(seed: seed)
        var classes: [ClassSplit] = [], upsampled: [Int] = []
        for label in 0..<classCount {
            let members = labels.indices.filter { labels[$0] == label }
            guard members.count >= 2 else {
                classes.append(ClassSplit(label: label, examples: members.count, upsampled: 0, clusterSizes: [], clusterMeanLosses: []))
                continue
            }
            let clusters = KMeans(outputs.gathering(members, alongAxis: 0), k: 2, using: &generator)
            let groups = (0..<2).map { c in members.indices.filter { clusters.assignments[$0] == c }.map { members[$0] } }
            let means = groups.map { group in group.isEmpty ? -Double.infinity : group.reduce(0) { $0 + Double(losses[$1]) } / Double(group.count) }
            // The harder cluster; none when the outputs did not split (identical outputs, or
            // equal losses: no evidence that either half was learned later).
            let hard: Int? = groups.contains(where: \.isEmpty) || means[0] == means[1] ? nil : (means[0] > means[1] ? 0 : 1)
            let order = hard == 1 ? [1, 0] : [0, 1]
            let chosen = hard.map { groups[$0] } ?? []
            upsampled += chosen
            classes.append(ClassSplit(
                label: label, examples: members.count, upsampled: chosen.count,
                clusterSizes: order.map { groups[$0].count }, clusterMeanLosses: order.map { groups[$0].isEmpty ? 0 : means[$0] }))
        }
        return UsefulSelection(rule: .useful, classes: classes, upsampled: upsampled.sorted())
    }

    /// The random control of `selection`: per class, as many examples as it upsampled, drawn
    /// uniformly without replacement from the class (seeded); the cluster statistics are kept
    /// for reference.
    public static func random(matching selection: UsefulSelection, labels: [Int], seed: UInt64) -> UsefulSelection {
        var generator = SeededGenerator(seed: seed)
        var upsampled: [Int] = []
        for split in selection.classes {
            let members = labels.indices.filter { labels[$0] == split.label }
            upsampled += members.shuffled(using: &generator).prefix(split.upsampled)
        }
        return UsefulSelection(rule: .random, classes: selection.classes, upsampled: upsampled.sorted())
    }

    /// The baseline's selection: nothing duplicated.
    public static var empty: UsefulSelection { UsefulSelection(rule: .nothing, classes: [], upsampled: []) }

    /// The training set's order after upsampling: every example once, then the duplicates.
    public func enlargedOrder(count: Int) -> [Int] { Array(0..<count) + upsampled }
}
