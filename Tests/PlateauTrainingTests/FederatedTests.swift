import Foundation
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining
import Testing

/// Decentralized federated training (issue 18, DFedSAM): the Dirichlet split, the mixing
/// matrices, the gossip step and one hand-computed round.
@Suite("Federated") struct FederatedTests {
    // MARK: - Dirichlet split

    @Test(arguments: [(0.1, 20), (0.3, 20), (1.0, 7), (100.0, 3)])
    func dirichletSplitCoversEverySampleExactlyOnce(alpha: Double, clients: Int) throws {
        let labels = (0..<600).map { ($0 * 7) % 10 }
        let split = try ClientSplit.dirichlet(labels: labels, classCount: 10, clients: clients, alpha: alpha, seed: 3)
        #expect(split.indices.count == clients)
        #expect(split.indices.allSatisfy { !$0.isEmpty })
        #expect(split.indices.flatMap { $0 }.sorted() == Array(0..<600))
        for (shard, histogram) in zip(split.indices, split.histograms) {
            #expect(histogram.reduce(0, +) == shard.count)
            for c in 0..<10 { #expect(histogram[c] == shard.filter { labels[$0] == c }.count) }
        }
        #expect(try ClientSplit.dirichlet(labels: labels, classCount: 10, clients: clients, alpha: alpha, seed: 3) == split)
    }

    @Test func smallAlphaIsMoreSkewedThanLargeAlpha() throws {
        let labels = (0..<2000).map { $0 % 10 }
        // The mean over clients of the largest class's share of the client's samples.
        func dominance(_ alpha: Double) throws -> Double {
            let split = try ClientSplit.dirichlet(labels: labels, classCount: 10, clients: 10, alpha: alpha, seed: 1)
            return split.histograms.map { Double($0.max()!) / Double($0.reduce(0, +)) }.reduce(0, +) / 10
        }
        #expect(try dominance(0.1) > 0.5)
        #expect(try dominance(100) < 0.25)
    }

    @Test func dirichletSplitRejectsBadSettingsNamingTheField() {
        #expect { try ClientSplit.dirichlet(labels: [0, 1, 2], classCount: 3, clients: 1, alpha: 1, seed: 0) } throws: {
            ($0 as? ConfigurationError)?.field == "clients"
        }
        #expect { try ClientSplit.dirichlet(labels: [0, 1, 2], classCount: 3, clients: 2, alpha: 0, seed: 0) } throws: {
            ($0 as? ConfigurationError)?.field == "alpha"
        }
        #expect { try ClientSplit.dirichlet(labels: [0, 1, 2], classCount: 3, clients: 4, alpha: 1, seed: 0) } throws: {
            ($0 as? ConfigurationError)?.field == "clients"
        }
    }

    // MARK: - Mixing matrices

    @Test(arguments: [
        (GossipTopology.ring, 2), (.ring, 5), (.ring, 20), (.grid, 6), (.grid, 20), (.grid, 7),
        (.regular(degree: 4), 20), (.regular(degree: 3), 10), (.regular(degree: 2), 8), (.regular(degree: 1), 2), (.regular(degree: 9), 10), (.full, 5),
    ])
    func mixingMatricesAreSymmetricDoublyStochasticOnTheGraph(topology: GossipTopology, clients: Int) throws {
        let w = try MixingMatrix(topology, clients: clients, seed: 7)
        for i in 0..<clients {
            #expect(abs(w.weights[i].reduce(0, +) - 1) < 1e-12, "row \(i)")
            #expect(abs((0..<clients).reduce(0) { $0 + w.weights[$1][i] } - 1) < 1e-12, "column \(i)")
            for j in 0..<clients {
                #expect(w.weights[i][j] == w.weights[j][i])
                #expect(w.weights[i][j] >= 0)
                #expect((w.weights[i][j] > 0) == (i == j || w.neighbours[i].contains(j)), "(\(i), \(j))")
            }
        }
        if case .regular(let k) = topology {
            #expect(w.neighbours.allSatisfy { $0.count == k })
            #expect(w.weights.indices.allSatisfy { abs(w.weights[$0][$0] - 1 / Double(k + 1)) < 1e-12 })  // uniform on a regular graph
        }
        if case .grid = topology, clients == 20 { #expect(w.neighbours.allSatisfy { $0.count == 4 }) }  // a 4 × 5 torus
        #expect(w.eigenvalues.first.map { abs($0 - 1) < 1e-9 } == true)
        #expect(w.spectralGap > 0 && w.spectralGap <= 1 + 1e-12, "a connected graph mixes: gap \(w.spectralGap)")
    }

    @Test func spectralGapsMatchTheirClosedForms() throws {
        // Ring, weights 1/3: eigenvalues (1 + 2cos(2πk/m))/3; the second largest magnitude is k = 1's.
        let ring = try MixingMatrix(.ring, clients: 8, seed: 0)
        let expected = (1 + 2 * cos(2 * Double.pi / 8)) / 3
        #expect(abs(ring.secondEigenvalueMagnitude - expected) < 1e-9)
        #expect(abs(try MixingMatrix(.full, clients: 6, seed: 0).spectralGap - 1) < 1e-9)
        // A denser graph mixes faster.
        #expect(try MixingMatrix(.regular(degree: 4), clients: 20, seed: 0).spectralGap > MixingMatrix(.ring, clients: 20, seed: 0).spectralGap)
    }

    @Test func randomRegularGraphsAreSeeded() throws {
        let a = try MixingMatrix(.regular(degree: 4), clients: 20, seed: 1)
        #expect(try MixingMatrix(.regular(degree: 4), clients: 20, seed: 1) == a)
        #expect(try MixingMatrix(.regular(degree: 4), clients: 20, seed: 2) != a)
    }

    @Test(arguments: [(3, 5), (5, 5), (0, 6), (8, 6), (1, 4)])
    func impossibleRegularGraphsNameTheDegree(degree: Int, clients: Int) {
        #expect { try MixingMatrix(.regular(degree: degree), clients: clients, seed: 0) } throws: {
            ($0 as? ConfigurationError)?.field == "degree"
        }
    }

    // MARK: - Gossip

    @Test func oneGossipRoundIsWTimesXByHand() throws {
        // Ring of 4, weights 1/3 on i−1, i, i+1.
        let w = try MixingMatrix(.ring, clients: 4, seed: 0)
        var exchange = InProcessExchange(clientCount: 4)
        let x: [Int: [Float]] = [0: [3, 0], 1: [0, 3], 2: [6, 9], 3: [0, 0]]
        let mixed = try Gossip.round(x, matrix: w, exchange: &exchange)
        let expected: [[Float]] = [[1, 1], [3, 4], [2, 4], [3, 3]]  // (x3+x0+x1)/3, (x0+x1+x2)/3, (x1+x2+x3)/3, (x2+x3+x0)/3
        for i in 0..<4 {
            for k in 0..<2 { #expect(abs(mixed[i]![k] - expected[i][k]) < 1e-5, "client \(i)[\(k)]: \(mixed[i]![k])") }
        }
    }

    static func randomVectors(_ m: Int, length: Int, seed: UInt64) -> [Int: [Float]] {
        var generator = SeededGenerator(seed: seed)
        return Dictionary(uniqueKeysWithValues: (0..<m).map { ($0, Tensor.randomNormal([length], using: &generator).scalars) })
    }

    @Test(arguments: [GossipTopology.ring, .grid, .regular(degree: 4), .full])
    func gossipPreservesTheAverage(topology: GossipTopology) throws {
        let w = try MixingMatrix(topology, clients: 12, seed: 5)
        var exchange = InProcessExchange(clientCount: 12)
        let x = Self.randomVectors(12, length: 50, seed: 9)
        let mixed = try Gossip.round(x, matrix: w, exchange: &exchange)
        let before = Gossip.mean((0..<12).map { x[$0]! }), after = Gossip.mean((0..<12).map { mixed[$0]! })
        for k in 0..<50 { #expect(abs(before[k] - after[k]) < 1e-5) }
    }

    @Test func gossipRoundsShrinkTheConsensusDistanceMonotonicallyAtTheSpectralRate() throws {
        let w = try MixingMatrix(.ring, clients: 10, seed: 0)
        let lambda = w.secondEigenvalueMagnitude
        var exchange = InProcessExchange(clientCount: 10)
        var x = Self.randomVectors(10, length: 40, seed: 4)
        let initial = Gossip.consensusDistance((0..<10).map { x[$0]! })
        var previous = initial
        for q in 1...6 {
            x = try Gossip.round(x, matrix: w, exchange: &exchange)
            let distance = Gossip.consensusDistance((0..<10).map { x[$0]! })
            #expect(distance < previous, "Q = \(q)")
            // ‖W(x − x̄)‖ ≤ λ‖x − x̄‖: the squared distance falls at least by λ² per round.
            #expect(distance <= pow(lambda, 2 * Double(q)) * initial * (1 + 1e-4), "Q = \(q)")
            previous = distance
        }
    }

    @Test func parameterVectorsRoundTrip() {
        var generator = SeededGenerator(seed: 2)
        let set = ParameterSet([("a.weight", Tensor.randomNormal([2, 3], using: &generator)), ("a.bias", Tensor.randomNormal([2], using: &generator))])
        let vector = ParameterVector.flatten(set)
        #expect(vector.count == 8)
        #expect(ParameterVector.unflatten(vector, like: set) == set)
    }

    // MARK: - A round by hand

    /// A linear classifier on 2 features, 3 classes, with fixed weights.
    static func linearModel() -> Linear {
        Linear(weight: Tensor(shape: [3, 2], scalars: [0.5, -0.2, 0.1, 0.3, -0.4, 0.2]), bias: Tensor(shape: [3], scalars: [0.1, 0, -0.1]))
    }

    static func federatedConfiguration(method: FederatedMethod = .dfedavg, clients: Int = 2, rounds: Int = 1, localSteps: Int = 1) -> FederatedConfiguration {
        var f = FederatedConfiguration()
        f.method = method
        f.clients = clients
        f.topology = "ring"
        f.rounds = rounds
        f.localSteps = localSteps
        f.base.dataset = "synthetic"
        f.base.batchSize = 8
        f.base.learningRate = 0.1
        f.base.momentum = 0
        f.base.tensorboardInterval = 0
        f.base.threads = 1
        return f
    }

    @Test func twoClientRoundIsSGDStepsThenAveraging() throws {
        let shards = [
            Dataset(name: "c0", images: Tensor(shape: [2, 2], scalars: [1, 0, 0, 2]), labels: [0, 1], classCount: 3),
            Dataset(name: "c1", images: Tensor(shape: [3, 2], scalars: [1, 1, -1, 0, 2, -1]), labels: [2, 2, 0], classCount: 3),
        ]
        let test = shards[1]
        let training = try FederatedTraining(configuration: Self.federatedConfiguration(), shards: shards, test: test)
        var exchange = InProcessExchange(clientCount: 2)
        let result = try training.run(from: Self.linearModel(), exchange: &exchange)

        // By hand: softmax cross-entropy, mean over the client's whole shard (one batch).
        let w0: [Double] = [0.5, -0.2, 0.1, 0.3, -0.4, 0.2], b0: [Double] = [0.1, 0, -0.1]
        func sgdStep(_ shard: Dataset) -> (w: [Double], b: [Double]) {
            var gw = [Double](repeating: 0, count: 6), gb = [Double](repeating: 0, count: 3)
            let n = shard.count
            for s in 0..<n {
                let x = [Double(shard.images.scalars[2 * s]), Double(shard.images.scalars[2 * s + 1])]
                let z = (0..<3).map { c in w0[2 * c] * x[0] + w0[2 * c + 1] * x[1] + b0[c] }
                let e = z.map { exp($0 - z.max()!) }
                let total = e.reduce(0, +)
                for c in 0..<3 {
                    let delta = (e[c] / total - (shard.labels[s] == c ? 1 : 0)) / Double(n)
                    gw[2 * c] += delta * x[0]
                    gw[2 * c + 1] += delta * x[1]
                    gb[c] += delta
                }
            }
            return (zip(w0, gw).map { $0 - 0.1 * $1 }, zip(b0, gb).map { $0 - 0.1 * $1 })
        }
        let (a, b) = (sgdStep(shards[0]), sgdStep(shards[1]))
        // A ring of two clients: W = [[1/2, 1/2], [1/2, 1/2]], exact averaging.
        let expectedWeight = zip(a.w, b.w).map { ($0 + $1) / 2 }, expectedBias = zip(a.b, b.b).map { ($0 + $1) / 2 }
        for model in result.clientModels + [result.averagedModel] {
            let p = model.parameters
            for k in 0..<6 { #expect(abs(Double(p["weight"]!.scalars[k]) - expectedWeight[k]) < 1e-6) }
            for k in 0..<3 { #expect(abs(Double(p["bias"]!.scalars[k]) - expectedBias[k]) < 1e-6) }
        }
        #expect(result.metrics.count == 1)
        #expect(result.metrics[0].consensusDistance < 1e-12)
        #expect(result.metrics[0].consensusBeforeGossip > 0)
    }

    @Test func federatedRunsAreDeterministicAndWriteTheirFiles() throws {
        let data = separableDataset(count: 48, seed: 3)
        let split = try ClientSplit.dirichlet(labels: data.labels, classCount: 3, clients: 4, alpha: 0.5, seed: 1)
        var f = Self.federatedConfiguration(method: .dfedsamMGS, clients: 4, rounds: 2, localSteps: 2)
        f.gossipSteps = 2
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-federated-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        func run(_ output: URL?) throws -> FederatedTraining.Result {
            var exchange = InProcessExchange(clientCount: 4)
            return try FederatedTraining(configuration: f, shards: split.shards(of: data), test: testSet, output: output)
                .run(from: Self.linearModel().withInputs(4), exchange: &exchange)
        }
        let first = try run(directory), second = try run(nil)
        #expect(first.metrics.map(\.consensusDistance) == second.metrics.map(\.consensusDistance))
        #expect(first.metrics.map(\.localAccuracyMean) == second.metrics.map(\.localAccuracyMean))
        #expect(first.averagedModel.parameters == second.averagedModel.parameters)
        for name in ["federation.json", "clients.json", "metrics.jsonl", "metrics.csv", "summary.json"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), "\(name)")
        }
        let lines = try String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
    }
}

extension Linear {
    /// The same layer widened to `inputs` features (the extra weights zero).
    func withInputs(_ inputs: Int) -> Linear {
        let rows = weight.shape[0], old = weight.shape[1]
        var scalars = [Float](repeating: 0, count: rows * inputs)
        for r in 0..<rows { for c in 0..<old { scalars[r * inputs + c] = weight.scalars[r * old + c] } }
        return Linear(weight: Tensor(shape: [rows, inputs], scalars: scalars), bias: bias)
    }
}
