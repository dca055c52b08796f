import Foundation
import PlateauData
import PlateauTensor

/// A non-IID partition of a training set over federated clients: the Dirichlet label split
/// of Hsu et al. (2019) that decentralized-FL papers (DFedSAM among them) use. For every
/// class c, proportions p_c ~ Dir(α·1_m) over the m clients decide how that class's samples
/// (in a seeded random order) are dealt out. Small α gives each client a few dominant
/// classes; large α approaches an IID split.
public struct ClientSplit: Sendable, Equatable, Codable {
    /// `indices[i]` are client i's sample indices into the split dataset, ascending.
    public var indices: [[Int]]
    /// `histograms[i][c]` is the number of class-c samples client i holds.
    public var histograms: [[Int]]
    /// How many draws it took to give every client at least one sample (1 when the first did).
    public var draws: Int

    /// Draws at most this many times before reporting that the split cannot give every client
    /// a sample (tiny α with many clients and few samples).
    public static let maximumDraws = 1000

    /// Splits `labels` (classes `0..<classCount`) over `clients` with concentration `alpha`.
    ///
    /// Every sample goes to exactly one client, and every client gets at least one: a draw
    /// that leaves a client empty is redrawn (from the same seeded stream, so the result is
    /// still a function of the seed).
    ///
    /// - Throws: ``ConfigurationError`` naming `clients` (fewer than 2, or more than samples)
    ///   or `alpha` (not a positive finite number, or so small that no draw in
    ///   ``maximumDraws`` left every client a sample).
    public static func dirichlet(labels: [Int], classCount: Int, clients: Int, alpha: Double, seed: UInt64) throws -> ClientSplit {
        guard clients >= 2 else { throw ConfigurationError(field: "clients", message: "expected at least 2 clients, got \(clients)") }
        guard alpha.isFinite, alpha > 0 else { throw ConfigurationError(field: "alpha", message: "expected a finite Dirichlet concentration > 0, got \(alpha)") }
        guard labels.count >= clients else {
            throw ConfigurationError(field: "clients", message: "\(clients) clients need at least \(clients) training samples, the dataset has \(labels.count)")
        }
        var byClass = [[Int]](repeating: [], count: classCount)
        for (index, label) in labels.enumerated() {
            guard (0..<classCount).contains(label) else {
                throw ConfigurationError(field: "labels", message: "sample \(index) has label \(label), expected 0..<\(classCount)")
            }
            byClass[label].append(index)
        }
        var generator = SeededGenerator(seed: seed ^ 0xD1B5_4A32_D192_ED03)
        for c in 0..<classCount { byClass[c].shuffle(using: &generator) }
        for draw in 1...maximumDraws {
            var assigned = [[Int]](repeating: [], count: clients)
            for members in byClass where !members.isEmpty {
                let proportions = Dirichlet.sample(count: clients, alpha: alpha, using: &generator)
                // Cut points from the cumulative proportions: every sample lands in exactly one
                // client's slice, whatever the rounding.
                var cumulative = 0.0, start = 0
                for client in 0..<clients {
                    cumulative += proportions[client]
                    let end = client == clients - 1 ? members.count : min(members.count, Int((cumulative * Double(members.count)).rounded(.down)))
                    if end > start { assigned[client] += members[start..<end] }
                    start = max(start, end)
                }
            }
            if assigned.allSatisfy({ !$0.isEmpty }) {
                let sorted = assigned.map { $0.sorted() }
                let histograms = sorted.map { shard in
                    var histogram = [Int](repeating: 0, count: classCount)
                    for index in shard { histogram[labels[index]] += 1 }
                    return histogram
                }
                return ClientSplit(indices: sorted, histograms: histograms, draws: draw)
            }
        }
        throw ConfigurationError(
            field: "alpha",
            message: "no Dirichlet(\(alpha)) split in \(maximumDraws) draws gave each of the \(clients) clients a sample of the \(labels.count); use a larger --alpha or fewer --clients")
    }

    /// Each client's shard of `dataset` (the dataset the split was drawn from).
    public func shards(of dataset: Dataset) -> [Dataset] {
        indices.enumerated().map { dataset.subset($0.element, name: "\(dataset.name)-client\($0.offset)") }
    }
}

/// Dirichlet and Gamma sampling from a ``SeededGenerator`` (the standard library has neither).
enum Dirichlet {
    /// One draw of Dir(α, …, α) with `count` components: independent Gamma(α, 1) draws normalized.
    static func sample(count: Int, alpha: Double, using generator: inout SeededGenerator) -> [Double] {
        var draws = (0..<count).map { _ in gamma(alpha, using: &generator) }
        var total = draws.reduce(0, +)
        if !(total > 0) {
            // Every Gamma draw underflowed (α ≪ 1): the limit is one client taking everything.
            draws = [Double](repeating: 0, count: count)
            draws[Int.random(in: 0..<count, using: &generator)] = 1
            total = 1
        }
        return draws.map { $0 / total }
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000); for shape < 1 through
    /// Gamma(shape) = Gamma(shape + 1) · U^(1/shape).
    static func gamma(_ shape: Double, using generator: inout SeededGenerator) -> Double {
        if shape < 1 {
            let u = uniformOpen(using: &generator)
            return gamma(shape + 1, using: &generator) * Foundation.pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = normal(using: &generator)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniformOpen(using: &generator)
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }

    /// A standard normal draw (Box–Muller; the second variate is dropped for simplicity).
    static func normal(using generator: inout SeededGenerator) -> Double {
        let u1 = uniformOpen(using: &generator), u2 = uniformOpen(using: &generator)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Uniform on (0, 1): never 0, so logarithms and powers stay finite.
    static func uniformOpen(using generator: inout SeededGenerator) -> Double {
        (Double(generator.next() >> 11) + 0.5) / Double(1 << 53)
    }
}
