import PlateauTensor

/// k-means clustering with k-means++ seeding (Arthur & Vassilvitskii 2007) and Lloyd's
/// iterations, deterministic from a seed. USEFUL (Nguyen et al., NeurIPS 2024) splits each
/// class's examples in two by their early network outputs with it (k = 2) and upsamples the
/// cluster with the higher loss.
public struct KMeans {
    /// The cluster of each point, in 0..<k.
    public var assignments: [Int]
    /// The centres, `[k, d]`.
    public var centroids: [[Double]]
    /// Σ over points of the squared distance to their centre.
    public var inertia: Double
    /// Lloyd iterations run (they stop when no assignment changes).
    public var iterations: Int

    /// Clusters the rows of `points` (`[n, d]`, n ≥ k ≥ 1) into `k` groups.
    public init(_ points: Tensor, k: Int, maximumIterations: Int = 100, using generator: inout some RandomNumberGenerator) {
        precondition(points.rank == 2 && k >= 1 && points.shape[0] >= k, "KMeans: expected [n, d] points with n ≥ k ≥ 1, got \(points.shape) and k = \(k)")
        let (n, d) = (points.shape[0], points.shape[1])
        let rows = (0..<n).map { i in points.scalars[(i * d)..<((i + 1) * d)].map(Double.init) }
        func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }

        // k-means++: the first centre uniformly, each next one with probability ∝ D(x)².
        var centres = [rows[Int.random(in: 0..<n, using: &generator)]]
        var nearest = rows.map { distance($0, centres[0]) }
        while centres.count < k {
            let total = nearest.reduce(0, +)
            var chosen = n - 1
            if total > 0 {
                let target = Double.random(in: 0..<total, using: &generator)
                var cumulative = 0.0
                for (i, weight) in nearest.enumerated() {
                    cumulative += weight
                    if cumulative > target { chosen = i; break }
                }
            } else {
                chosen = Int.random(in: 0..<n, using: &generator)  // every point is a centre already
            }
            centres.append(rows[chosen])
            for i in 0..<n { nearest[i] = Swift.min(nearest[i], distance(rows[i], rows[chosen])) }
        }

        var assignments = [Int](repeating: -1, count: n)
        var iterations = 0
        while iterations < maximumIterations {
            iterations += 1
            var changed = false
            for i in 0..<n {
                var best = 0, bestDistance = Double.infinity
                for (c, centre) in centres.enumerated() {
                    let value = distance(rows[i], centre)
                    if value < bestDistance { best = c; bestDistance = value }  // ties go to the lower index
                }
                if assignments[i] != best { assignments[i] = best; changed = true }
            }
            if !changed { break }
            for c in 0..<k {
                let members = (0..<n).filter { assignments[$0] == c }
                guard !members.isEmpty else { continue }  // an empty cluster keeps its centre
                centres[c] = (0..<d).map { j in members.reduce(0) { $0 + rows[$1][j] } / Double(members.count) }
            }
        }
        self.assignments = assignments
        centroids = centres
        inertia = (0..<n).reduce(0) { $0 + distance(rows[$1], centres[assignments[$1]]) }
        self.iterations = iterations
    }
}
