import Foundation

/// Finding outliers with opposing signals from per-example losses (Rosenfeld & Risteski,
/// ICLR 2024): the examples whose loss changes most between tracked steps, split into the
/// groups that move against each other, scored against planted groups when they are known.
///
/// Inputs are a trajectory of per-example losses: `losses[t][i]` is example i's loss at the
/// t-th tracked step (every row over the same examples). Everything here is arithmetic on
/// that table.
public enum OpposingSignals {
    /// The `k` examples with the largest |ℓ_i(after) − ℓ_i(before)|, largest first (ties: the
    /// lower index first).
    public static func largestChanges(before: [Float], after: [Float], k: Int) -> [Int] {
        precondition(before.count == after.count, "OpposingSignals: loss rows of \(before.count) and \(after.count) examples")
        let change = zip(before, after).map { abs($1 - $0) }
        return rank(change, k: k)
    }

    /// The `k` examples with the largest mean |Δℓ| between consecutive rows of `losses`:
    /// those whose loss moves most over the whole trajectory.
    public static func mostChanging(_ losses: [[Float]], k: Int) -> [Int] {
        rank(meanAbsoluteChange(losses), k: k)
    }

    /// Each example's mean |ℓ_{t+1} − ℓ_t| over the trajectory (zeros with fewer than two rows).
    public static func meanAbsoluteChange(_ losses: [[Float]]) -> [Float] {
        guard let first = losses.first else { return [] }
        var sums = [Double](repeating: 0, count: first.count)
        for (a, b) in zip(losses, losses.dropFirst()) {
            precondition(a.count == b.count, "OpposingSignals: loss rows of \(a.count) and \(b.count) examples")
            for i in sums.indices { sums[i] += Double(abs(b[i] - a[i])) }
        }
        let steps = Double(max(losses.count - 1, 1))
        return sums.map { Float($0 / steps) }
    }

    /// The share of `ranked`'s first `k` entries that are in `planted` (NaN when k is 0).
    public static func precision(_ ranked: [Int], planted: Set<Int>, k: Int) -> Double {
        let top = ranked.prefix(k)
        guard !top.isEmpty else { return .nan }
        return Double(top.filter { planted.contains($0) }.count) / Double(top.count)
    }

    /// The mean over the trajectory's consecutive steps of precision@k of that step's
    /// largest changes: how often the single-step top-k is planted.
    public static func meanStepPrecision(_ losses: [[Float]], planted: Set<Int>, k: Int) -> Double {
        let values = zip(losses, losses.dropFirst()).map { precision(largestChanges(before: $0, after: $1, k: k), planted: planted, k: k) }
        return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// `examples` split by their loss's co-movement: each example's series of changes Δℓ is
    /// compared with that of the example whose loss moves most (`examples[0]`, the reference);
    /// a positive correlation puts it with the reference (`with`), a negative one against it
    /// (`against`). Opposing signals come out as two groups whose losses move in antiphase.
    public static func split(_ examples: [Int], losses: [[Float]]) -> (with: [Int], against: [Int]) {
        guard let reference = examples.first, losses.count >= 3 else { return (examples, []) }
        let changes = { (i: Int) in zip(losses, losses.dropFirst()).map { Double($1[i] - $0[i]) } }
        let base = changes(reference)
        var with: [Int] = [], against: [Int] = []
        for i in examples {
            if correlation(changes(i), base) >= 0 { with.append(i) } else { against.append(i) }
        }
        return (with, against)
    }

    /// How well a split into two groups matches two planted groups, up to swapping their
    /// names: the larger of (|with ∩ A| + |against ∩ B|) and (|with ∩ B| + |against ∩ A|),
    /// over the examples of the split that are planted at all (NaN when none is).
    public static func splitAgreement(with: [Int], against: [Int], groupA: Set<Int>, groupB: Set<Int>) -> Double {
        let planted = (with + against).filter { groupA.contains($0) || groupB.contains($0) }.count
        guard planted > 0 else { return .nan }
        let straight = with.filter(groupA.contains).count + against.filter(groupB.contains).count
        let swapped = with.filter(groupB.contains).count + against.filter(groupA.contains).count
        return Double(max(straight, swapped)) / Double(planted)
    }

    /// Each row's mean loss over `group` (the group's loss curve).
    public static func groupMeans(_ losses: [[Float]], group: [Int]) -> [Double] {
        losses.map { row in group.isEmpty ? .nan : group.reduce(0) { $0 + Double(row[$1]) } / Double(group.count) }
    }

    /// The Pearson correlation of the step-to-step changes of two groups' mean losses: near −1
    /// when one group's loss rises as the other's falls (antiphase), near +1 when they move
    /// together. NaN with fewer than three rows or a constant curve.
    public static func antiphaseCorrelation(_ losses: [[Float]], groupA: [Int], groupB: [Int]) -> Double {
        let a = groupMeans(losses, group: groupA), b = groupMeans(losses, group: groupB)
        let da = zip(a, a.dropFirst()).map { $1 - $0 }, db = zip(b, b.dropFirst()).map { $1 - $0 }
        return correlation(da, db)
    }

    /// How much a loss curve still swings at the end: the mean |c_{t+1} − c_t| over the last
    /// half of the curve's steps (NaN with fewer than two points). A damped oscillation has a
    /// small late amplitude; one at the edge of stability keeps it.
    public static func lateAmplitude(_ curve: [Double]) -> Double {
        let changes = zip(curve, curve.dropFirst()).map { abs($1 - $0) }
        let late = changes.suffix(max(changes.count / 2, changes.isEmpty ? 0 : 1))
        return late.isEmpty ? .nan : late.reduce(0, +) / Double(late.count)
    }

    /// Pearson's correlation of two equally long series (NaN when either is constant or they
    /// have fewer than two points).
    public static func correlation(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "correlation: series of \(x.count) and \(y.count) points")
        guard x.count >= 2 else { return .nan }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return .nan }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Indices of the `k` largest values, largest first, ties to the lower index.
    static func rank(_ values: [Float], k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(max(k, 0)))
    }
}
