import PlateauTensor

/// The communication graph of decentralized training.
public enum GossipTopology: Sendable, Equatable, Codable {
    /// Each client talks to the one before and the one after it (mod m).
    case ring
    /// A 2-D torus of r × c clients (r the largest divisor of m not above √m), four
    /// neighbours each (fewer when a side is 1 or 2 and neighbours coincide).
    case grid
    /// A random `degree`-regular connected graph (seeded).
    case regular(degree: Int)
    /// Everyone talks to everyone: one gossip round is exact averaging.
    case full

    /// The names `--topology` accepts.
    public static let names = ["ring", "grid", "regular", "full"]

    /// The topology `name` names; `degree` is used by `regular` only.
    public init(name: String, degree: Int) throws {
        switch name {
        case "ring": self = .ring
        case "grid": self = .grid
        case "regular": self = .regular(degree: degree)
        case "full": self = .full
        default: throw ConfigurationError(field: "topology", message: "expected one of \(Self.names.joined(separator: ", ")), got '\(name)'")
        }
    }

    /// The name `--topology` takes.
    public var name: String {
        switch self {
        case .ring: "ring"
        case .grid: "grid"
        case .regular: "regular"
        case .full: "full"
        }
    }
}

/// A symmetric doubly stochastic gossip matrix W over m clients: w_ij > 0 only when i = j or
/// i and j are neighbours, every row and column sums to 1. One gossip round is x_i ← Σ_j w_ij x_j.
///
/// The weights are Metropolis–Hastings, w_ij = 1/(1 + max(d_i, d_j)) on edges and w_ii the rest
/// of the row: symmetric and doubly stochastic on any graph, and uniform 1/(d + 1) on a
/// d-regular one (the choice of the DFedSAM paper).
public struct MixingMatrix: Sendable, Equatable {
    /// The number of clients m.
    public let clientCount: Int
    /// `neighbours[i]`: client i's neighbours, ascending, i itself excluded.
    public let neighbours: [[Int]]
    /// W, row-major: `weights[i][j]`.
    public let weights: [[Double]]

    /// W from an undirected graph given by its neighbour lists (symmetric, no self-loops).
    public init(neighbours: [[Int]]) {
        let m = neighbours.count
        let lists = neighbours.map { Array(Set($0)).sorted() }
        for (i, list) in lists.enumerated() {
            precondition(!list.contains(i), "MixingMatrix: client \(i) lists itself as a neighbour")
            for j in list { precondition(lists[j].contains(i), "MixingMatrix: edge \(i)-\(j) is not symmetric") }
        }
        var w = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        for i in 0..<m {
            for j in lists[i] { w[i][j] = 1 / Double(1 + max(lists[i].count, lists[j].count)) }
        }
        for i in 0..<m { w[i][i] = 1 - lists[i].reduce(0) { $0 + w[i][$1] } }
        clientCount = m
        self.neighbours = lists
        weights = w
    }

    /// W of `topology` over `clients` clients; `seed` draws the random regular graph.
    ///
    /// - Throws: ``ConfigurationError`` naming `clients` (fewer than 2) or `degree` (a
    ///   regular graph that cannot exist: degree < 1 or ≥ m, or m·degree odd).
    public init(_ topology: GossipTopology, clients m: Int, seed: UInt64) throws {
        guard m >= 2 else { throw ConfigurationError(field: "clients", message: "expected at least 2 clients, got \(m)") }
        var lists = [[Int]](repeating: [], count: m)
        func connect(_ i: Int, _ j: Int) {
            guard i != j, !lists[i].contains(j) else { return }
            lists[i].append(j)
            lists[j].append(i)
        }
        switch topology {
        case .ring:
            for i in 0..<m { connect(i, (i + 1) % m) }
        case .grid:
            var rows = 1
            for r in 1...m where r * r <= m && m % r == 0 { rows = r }
            let columns = m / rows
            for r in 0..<rows {
                for c in 0..<columns {
                    let i = r * columns + c
                    connect(i, r * columns + (c + 1) % columns)
                    connect(i, ((r + 1) % rows) * columns + c)
                }
            }
        case .regular(let k):
            lists = try Self.randomRegular(clients: m, degree: k, seed: seed)
        case .full:
            for i in 0..<m { for j in (i + 1)..<max(i + 1, m) { connect(i, j) } }
        }
        self.init(neighbours: lists)
    }

    /// The eigenvalues of W, descending (W is symmetric, so they are real; the largest is 1).
    public var eigenvalues: [Double] { Array(SymmetricEigendecomposition.of(weights).values.reversed()) }

    /// λ = max(|λ₂|, |λ_m|), the second-largest eigenvalue magnitude: each gossip round
    /// shrinks the distance to consensus by at most this factor (Q rounds: λ^Q).
    public var secondEigenvalueMagnitude: Double {
        let values = eigenvalues
        return values.count < 2 ? 0 : max(Swift.abs(values[1]), Swift.abs(values.last!))
    }

    /// The spectral gap 1 − λ (1 for a complete graph, → 0 for a long ring).
    public var spectralGap: Double { 1 - secondEigenvalueMagnitude }

    /// A random connected `degree`-regular graph: a circulant graph of that degree, then
    /// degree-preserving double-edge swaps (seeded), redrawn while disconnected. Unlike the
    /// pairing model, it never fails for a degree that exists.
    static func randomRegular(clients m: Int, degree k: Int, seed: UInt64) throws -> [[Int]] {
        guard k >= 1, k < m else {
            throw ConfigurationError(field: "degree", message: "a \(k)-regular graph on \(m) clients needs 1 ≤ degree ≤ \(m - 1), got \(k)")
        }
        guard (m * k) % 2 == 0 else {
            throw ConfigurationError(field: "degree", message: "no \(k)-regular graph on \(m) clients exists: clients × degree (\(m * k)) must be even")
        }
        guard k > 1 || m == 2 else {
            throw ConfigurationError(field: "degree", message: "a 1-regular graph on \(m) clients is disconnected pairs, so gossip never mixes them; use --degree 2 or more")
        }
        // Circulant start: i ~ i ± 1 … ± k/2, and i ~ i + m/2 when k is odd (then m is even).
        var edges = Set<Edge>()
        for i in 0..<m {
            for s in 1...max(1, k / 2) where s <= k / 2 { edges.insert(Edge(i, (i + s) % m)) }
            if k % 2 == 1 { edges.insert(Edge(i, (i + m / 2) % m)) }
        }
        var generator = SeededGenerator(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        for _ in 0..<100 {
            var list = edges.sorted()
            for _ in 0..<(10 * list.count) {
                let a = Int.random(in: 0..<list.count, using: &generator), b = Int.random(in: 0..<list.count, using: &generator)
                guard a != b else { continue }
                let (e, f) = (list[a], list[b])
                // Rewire u-v, x-y into u-x, v-y or u-y, v-x (a coin decides), keeping the graph simple.
                let flip = Bool.random(using: &generator)
                let (p, q) = flip ? (Edge(e.u, f.u), Edge(e.v, f.v)) : (Edge(e.u, f.v), Edge(e.v, f.u))
                guard p.u != p.v, q.u != q.v, p != q, !edges.contains(p), !edges.contains(q) else { continue }
                edges.remove(e); edges.remove(f); edges.insert(p); edges.insert(q)
                list[a] = p
                list[b] = q
            }
            var lists = [[Int]](repeating: [], count: m)
            for e in edges.sorted() { lists[e.u].append(e.v); lists[e.v].append(e.u) }
            if isConnected(lists) { return lists.map { $0.sorted() } }
        }
        throw ConfigurationError(field: "degree", message: "no connected \(k)-regular graph on \(m) clients found in 100 draws; use a larger --degree")
    }

    /// Whether every client can reach every other.
    static func isConnected(_ lists: [[Int]]) -> Bool {
        var seen = Set([0]), stack = [0]
        while let i = stack.popLast() {
            for j in lists[i] where seen.insert(j).inserted { stack.append(j) }
        }
        return seen.count == lists.count
    }

    /// An undirected edge with u < v.
    struct Edge: Hashable, Comparable {
        let u: Int, v: Int
        init(_ a: Int, _ b: Int) { (u, v) = (min(a, b), max(a, b)) }
        static func < (l: Edge, r: Edge) -> Bool { (l.u, l.v) < (r.u, r.v) }
    }
}

