import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The decentralized federated methods of Shi et al. (ICML 2023).
public enum FederatedMethod: String, Codable, CaseIterable, Sendable {
    /// K local SGD steps, then one gossip round.
    case dfedavg
    /// K local SAM steps, then one gossip round.
    case dfedsam
    /// K local SAM steps, then Q > 1 gossip rounds (multiple gossip steps: mixing W^Q).
    case dfedsamMGS = "dfedsam-mgs"

    /// The method `plateau train` runs on each client: sgd or sam (over the same base optimizer).
    var localOptimizer: String { self == .dfedavg ? "sgd" : "sam" }
}

/// Everything that defines a decentralized federated run (`plateau federate`), written to
/// the run directory as `federation.json`.
public struct FederatedConfiguration: Codable, Sendable, Equatable {
    /// Model, dataset, batch size, learning rate, momentum, weight decay, ρ (its method
    /// options), seed and threads, as for `plateau train`; its optimizer is set from ``method``.
    public var base = RunConfiguration()
    public var method: FederatedMethod = .dfedsam
    /// The number of clients m.
    public var clients = 20
    /// ``GossipTopology/names``.
    public var topology = "ring"
    /// The degree of the `regular` topology.
    public var degree = 4
    /// The Dirichlet concentration α of the label split.
    public var alpha = 0.3
    /// Communication rounds T.
    public var rounds = 50
    /// Local optimizer steps K per round.
    public var localSteps = 10
    /// Gossip rounds Q per communication round; `nil`: 1 for dfedavg and dfedsam, 4 for dfedsam-mgs.
    public var gossipSteps: Int? = nil
    /// The learning rate is multiplied by this after every round (the paper's 0.998).
    public var roundDecay: Float = 1
    /// Evaluate on the first N test samples only (`nil`: all).
    public var testLimit: Int? = nil
    /// Evaluate the models every this many rounds (and after the last).
    public var evaluateEvery = 1

    public init() {}

    /// Q as run: the given one or the method's default.
    public var resolvedGossipSteps: Int { gossipSteps ?? (method == .dfedsamMGS ? 4 : 1) }

    /// The topology ``topology`` and ``degree`` name.
    public var gossipTopology: GossipTopology { get throws { try GossipTopology(name: topology, degree: degree) } }

    /// The configuration each client's optimizer is built from.
    public var clientConfiguration: RunConfiguration {
        var c = base
        if c.optimizer != method.localOptimizer {
            c.methodOptions = MethodRegistry.standard.settings(c.methodOptions, for: method.localOptimizer)
        }
        c.optimizer = method.localOptimizer
        c.epochs = max(1, rounds)
        return c
    }

    /// Rejects values no run can use, naming the field (the `plateau federate` option).
    public func validate() throws {
        func fail(_ field: String, _ message: String) -> ConfigurationError { ConfigurationError(field: field, message: message) }
        guard clients >= 2, clients <= 10_000 else { throw fail("clients", "expected 2...10000 clients, got \(clients)") }
        guard alpha.isFinite, alpha > 0 else { throw fail("alpha", "expected a finite Dirichlet concentration > 0, got \(alpha)") }
        guard (1...1_000_000).contains(rounds) else { throw fail("rounds", "expected 1...1000000, got \(rounds)") }
        guard (1...1_000_000).contains(localSteps) else { throw fail("local-steps", "expected 1...1000000, got \(localSteps)") }
        if let q = gossipSteps {
            guard (1...10_000).contains(q) else { throw fail("gossip-steps", "expected 1...10000, got \(q)") }
            if method == .dfedsamMGS, q < 2 { throw fail("gossip-steps", "dfedsam-mgs mixes more than once per round: expected 2 or more, got \(q)") }
            if method != .dfedsamMGS, q != 1 { throw fail("gossip-steps", "\(method.rawValue) gossips once per round (Q = 1), got \(q); use --method dfedsam-mgs for Q > 1") }
        }
        guard roundDecay > 0, roundDecay <= 1 else { throw fail("round-decay", "expected a factor in (0, 1], got \(roundDecay)") }
        if let testLimit, testLimit < 1 { throw fail("test-limit", "expected a positive number of samples, got \(testLimit)") }
        guard evaluateEvery >= 1 else { throw fail("eval-every", "expected a number of rounds ≥ 1, got \(evaluateEvery)") }
        // The graph must exist for this many clients (the degree of a regular graph).
        _ = try MixingMatrix(gossipTopology, clients: clients, seed: base.seed)
        try clientConfiguration.validate()
    }
}

/// What one communication round measured.
public struct FederatedRoundMetrics: Codable, Sendable, Equatable {
    public var round: Int
    /// The mean training loss over all clients' local steps of the round.
    public var trainLoss: Float
    /// The learning rate of the round's local steps.
    public var learningRate: Float
    /// (1/m) Σ‖x_i − x̄‖² after the local steps, before gossip.
    public var consensusBeforeGossip: Double
    /// (1/m) Σ‖x_i − x̄‖² after the Q gossip rounds.
    public var consensusDistance: Double
    /// Test accuracy of each client's model, averaged over clients (`nil`: not evaluated this round).
    public var localAccuracyMean: Float?
    public var localAccuracyMin: Float?
    public var localAccuracyMax: Float?
    /// Test accuracy and loss of the averaged model x̄.
    public var averagedAccuracy: Float?
    public var averagedLoss: Float?
    /// Wall-clock seconds of the round, evaluation included.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case round, trainLoss = "train_loss", learningRate = "lr", consensusBeforeGossip = "consensus_before_gossip",
             consensusDistance = "consensus_distance", localAccuracyMean = "local_accuracy_mean", localAccuracyMin = "local_accuracy_min",
             localAccuracyMax = "local_accuracy_max", averagedAccuracy = "averaged_accuracy", averagedLoss = "averaged_loss", seconds
    }

    static let csvHeader = "round,train_loss,lr,consensus_before_gossip,consensus_distance,local_accuracy_mean,local_accuracy_min,local_accuracy_max,averaged_accuracy,averaged_loss,seconds"

    var csvRow: String {
        func optional(_ value: Float?) -> String { value.map { "\($0)" } ?? "" }
        return [String(round), "\(trainLoss)", "\(learningRate)", "\(consensusBeforeGossip)", "\(consensusDistance)", optional(localAccuracyMean),
                optional(localAccuracyMin), optional(localAccuracyMax), optional(averagedAccuracy), optional(averagedLoss),
                String(format: "%.3f", seconds)].joined(separator: ",")
    }
}

/// The outcome of a federated run.
public struct FederatedSummary: Codable, Sendable {
    public var method: String
    public var topology: String
    public var clients: Int
    public var rounds: Int
    public var localSteps: Int
    public var gossipSteps: Int
    /// 1 − λ of the mixing matrix W (and of W^Q, the mixing one round applies).
    public var spectralGap: Double
    public var spectralGapPerRound: Double
    public var finalLocalAccuracyMean: Float?
    public var finalAveragedAccuracy: Float?
    public var finalConsensusDistance: Double
    /// λ_max of the averaged model's training loss (set by the caller that measures it).
    public var lambdaMax: Float?
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case method, topology, clients, rounds, localSteps = "local_steps", gossipSteps = "gossip_steps", spectralGap = "spectral_gap",
             spectralGapPerRound = "spectral_gap_per_round", finalLocalAccuracyMean = "final_local_accuracy_mean",
             finalAveragedAccuracy = "final_averaged_accuracy", finalConsensusDistance = "final_consensus_distance", lambdaMax = "lambda_max", seconds
    }
}

/// Decentralized federated training in one process (DFedAvg, DFedSAM, DFedSAM-MGS; Shi et
/// al., ICML 2023): m clients with their own shard, model copy and optimizer state run K
/// local steps of the existing optimizer machinery (SGD, or SAM with ρ), then Q gossip
/// rounds x_i ← Σ_j w_ij x_j over a ``MixingMatrix`` through a ``NeighbourExchange``.
///
/// All clients start from the same seeded initialization. Each client's optimizer state
/// (momentum) stays with the client; only the model (parameters and buffers) is gossiped.
/// Normalization statistics are fitted on the whole training set (a simulation shortcut: in
/// a real deployment each client would bring its own or agree on fixed ones).
public struct FederatedTraining {
    public let configuration: FederatedConfiguration
    /// The normalized training set the shards were cut from (for a final λ_max); `nil` when
    /// the shards were given directly.
    public let train: Dataset?
    /// Each client's normalized shard.
    public let shards: [Dataset]
    /// The normalized test set (limited to ``FederatedConfiguration/testLimit``).
    public let test: Dataset
    public let matrix: MixingMatrix
    /// The label split, `nil` when the shards were given directly.
    public let split: ClientSplit?
    /// The run directory, `nil`: write nothing.
    public var output: URL?

    /// A run over given (already normalized) shards.
    public init(configuration: FederatedConfiguration, shards: [Dataset], test: Dataset, output: URL? = nil) throws {
        try configuration.validate()
        guard shards.count == configuration.clients else {
            throw ConfigurationError(field: "clients", message: "expected \(configuration.clients) shards, got \(shards.count)")
        }
        if let empty = shards.firstIndex(where: { $0.count == 0 }) { throw ConfigurationError(field: "clients", message: "client \(empty) has no samples") }
        guard test.count > 0 else { throw ConfigurationError(field: "dataset", message: "the test set is empty") }
        self.configuration = configuration
        self.shards = shards
        self.train = nil
        self.test = test
        self.matrix = try MixingMatrix(configuration.gossipTopology, clients: configuration.clients, seed: configuration.base.seed)
        self.split = nil
        self.output = output
    }

    private init(configuration: FederatedConfiguration, train: Dataset, shards: [Dataset], test: Dataset, matrix: MixingMatrix, split: ClientSplit, output: URL?) {
        self.configuration = configuration
        self.train = train
        self.shards = shards
        self.test = test
        self.matrix = matrix
        self.split = split
        self.output = output
    }

    /// Loads the dataset the configuration names, normalizes it with the training set's
    /// statistics, applies `train-limit` and the test limit, and splits it over the clients.
    public static func prepare(_ configuration: FederatedConfiguration, output: URL?) throws -> FederatedTraining {
        try configuration.validate()
        let c = configuration.base
        let (rawTrain, rawTest) = try c.loadDatasets()
        let limited = c.limitingTraining(rawTrain)
        guard limited.count > 0 else { throw ConfigurationError(field: "dataset", message: "the training set is empty") }
        let normalization = Normalization.fit(limited)
        let train = normalization.apply(to: limited)
        var test = normalization.apply(to: rawTest)
        if let limit = configuration.testLimit, limit < test.count { test = test.subset(Array(0..<limit), name: test.name) }
        guard test.count > 0 else { throw ConfigurationError(field: "dataset", message: "the test set is empty") }
        let split = try ClientSplit.dirichlet(labels: train.labels, classCount: train.classCount, clients: configuration.clients, alpha: configuration.alpha, seed: c.seed)
        let matrix = try MixingMatrix(configuration.gossipTopology, clients: configuration.clients, seed: c.seed)
        return FederatedTraining(configuration: configuration, train: train, shards: split.shards(of: train), test: test, matrix: matrix, split: split, output: output)
    }

    /// The result of ``run(progress:)``.
    public struct Result {
        public var metrics: [FederatedRoundMetrics]
        public var summary: FederatedSummary
        /// The average x̄ of the clients' final models.
        public var averagedModel: any Layer
        /// Each local client's final model, in client order (every client's in one process).
        public var clientModels: [any Layer]
    }

    /// Runs the whole training from the seeded initialization the configuration names.
    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        var exchange = InProcessExchange(clientCount: configuration.clients)
        return try run(from: try initialModel(), exchange: &exchange, progress: progress)
    }

    /// The seeded initialization every client starts from (the same on every rank).
    public func initialModel() throws -> any Layer {
        var generator = SeededGenerator(seed: configuration.base.seed)
        let classCount = max(test.classCount, shards.map(\.classCount).max() ?? 0)
        return try ModelFactory.make(for: configuration.clientConfiguration, sampleShape: test.sampleShape, classCount: classCount, using: &generator)
    }

    /// Runs the whole training with every client starting from `initial`.
    ///
    /// - Parameter exchange: the transport; this runner evaluates every client, so it must
    ///   host all of them (``run(from:distributed:progress:)`` runs a share of them per rank).
    public func run<Model: Layer>(from initial: Model, exchange: inout some NeighbourExchange, progress: (String) -> Void = { _ in }) throws -> Result {
        let m = configuration.clients
        guard exchange.localClients == Array(0..<m) else {
            throw GossipError(message: "this runner evaluates every client, so its exchange must host clients 0..<\(m), it hosts \(exchange.localClients)")
        }
        return try run(from: initial, exchange: &exchange, gather: { local, _ in local }, progress: progress)
    }

    /// Runs this rank's share of the clients (``CommunicatorExchange/localClients``); every
    /// rank of the communicator must call it with the same configuration.
    ///
    /// The metrics come out the same on every rank and equal, bit for bit, those of the
    /// one-process run: each rank gathers every client's per-step losses, test accuracy and
    /// parameter vector (allgather, in client order) and reduces them in the same order as
    /// the one-process runner. Gathering the vectors (twice a round, for the consensus
    /// distance before and after gossip) is the diagnostics' cost, not the algorithm's:
    /// m × P floats to every rank. The result's ``Result/clientModels`` are this rank's
    /// clients only. Files are written where ``output`` is set (rank 0 only, by the caller).
    public func run<Model: Layer>(from initial: Model, distributed exchange: inout CommunicatorExchange, progress: (String) -> Void = { _ in }) throws -> Result {
        guard exchange.clientCount == configuration.clients else {
            throw GossipError(message: "the exchange hosts \(exchange.clientCount) clients, the configuration names \(configuration.clients)")
        }
        return try run(from: initial, exchange: &exchange, gather: { [transport = exchange] local, length in transport.gather(local, length: length) }, progress: progress)
    }

    /// The runner behind both entry points. `gather(local, length)` turns the local clients'
    /// values (each `length` floats) into every client's, in client order.
    private func run<Model: Layer>(
        from initial: Model, exchange: inout some NeighbourExchange, gather: ([[Float]], Int) -> [[Float]], progress: (String) -> Void
    ) throws -> Result {
        let f = configuration
        let c = f.clientConfiguration
        let m = f.clients, q = f.resolvedGossipSteps
        let local = exchange.localClients
        let start = ContinuousClock.now
        if let output {
            try createRunDirectory(output)
            try writeAtomically(try Self.encoder.encode(f), to: output.appendingPathComponent("federation.json"))
            try writeAtomically(try Self.encoder.encode(clientsRecord), to: output.appendingPathComponent("clients.json"))
        }
        let classCount = max(test.classCount, shards.map(\.classCount).max() ?? 0)
        // Indexed by position in `local`, not by client.
        var models = [Model](repeating: initial, count: local.count)
        var engines = try local.map { i in
            try StepEngine(configuration: c, model: initial, sampleCount: shards[i].count, classCount: classCount)
        }
        // Each client walks its own shard in seeded epochs; K local steps continue where the
        // previous round stopped.
        var cursors = [(epoch: Int, batch: Int)](repeating: (0, 0), count: local.count)
        let clientSeeds = (0..<m).map { c.seed ^ (0xA076_1D64_78BD_642F &* UInt64($0 + 1)) }
        var metrics: [FederatedRoundMetrics] = []
        var learningRate = c.learningRate
        let template = initial.stateDictionary
        let length = template.scalarCount
        for round in 1...f.rounds {
            let roundStart = ContinuousClock.now
            var localLosses: [[Float]] = []
            for (n, i) in local.enumerated() {
                models[n].setTraining(true)
                var losses: [Float] = []
                for _ in 0..<f.localSteps {
                    let batches = Batches(dataset: shards[i], batchSize: c.batchSize, shuffle: c.shuffle, seed: clientSeeds[i], epoch: cursors[n].epoch)
                    let batch = batches[cursors[n].batch]
                    let (report, _) = engines[n].step(&models[n], on: batch, epoch: cursors[n].epoch, learningRate: learningRate)
                    losses.append(report.loss)
                    cursors[n].batch += 1
                    if cursors[n].batch == batches.count { cursors[n] = (cursors[n].epoch + 1, 0) }
                }
                localLosses.append(losses)
            }
            // Every rank learns every client's losses, so all agree on a divergence and stop
            // together (a rank throwing alone would leave its peers waiting in a collective).
            let losses = gather(localLosses, f.localSteps)
            if let (i, loss) = losses.enumerated().lazy.compactMap({ i, l in l.first { !$0.isFinite }.map { (i, $0) } }).first {
                throw TrainingError(description: "client \(i)'s training loss became \(loss) in round \(round); try a smaller --lr")
            }
            let lossSum = losses.joined().reduce(0.0) { $0 + Double($1) }
            var vectors = Dictionary(uniqueKeysWithValues: local.enumerated().map { ($1, ParameterVector.flatten(models[$0].stateDictionary)) })
            let before = Gossip.consensusDistance(gather(local.map { vectors[$0]! }, length))
            for _ in 0..<q { vectors = try Gossip.round(vectors, matrix: matrix, exchange: &exchange) }
            let ordered = gather(local.map { vectors[$0]! }, length)
            guard !ordered.contains(where: { $0.contains { !$0.isFinite } }) else {
                throw TrainingError(description: "the weights became non-finite in round \(round); try a smaller --lr")
            }
            for (n, i) in local.enumerated() { models[n].update(ParameterVector.unflatten(vectors[i]!, like: template)) }
            var row = FederatedRoundMetrics(
                round: round, trainLoss: Float(lossSum / Double(max(m * f.localSteps, 1))), learningRate: learningRate,
                consensusBeforeGossip: before, consensusDistance: Gossip.consensusDistance(ordered), seconds: 0)
            if round % f.evaluateEvery == 0 || round == f.rounds {
                let accuracies = gather(models.map { [Evaluation.run($0, on: test).accuracy] }, 1).map { $0[0] }
                row.localAccuracyMean = accuracies.reduce(0, +) / Float(m)
                row.localAccuracyMin = accuracies.min()
                row.localAccuracyMax = accuracies.max()
                let averaged = Self.averaged(initial, ordered, template: template)
                let evaluation = Evaluation.run(averaged, on: test)
                row.averagedAccuracy = evaluation.accuracy
                row.averagedLoss = evaluation.loss
            }
            row.seconds = seconds(ContinuousClock.now - roundStart)
            metrics.append(row)
            if let output { try Self.writeMetrics(metrics, to: output) }
            progress(Self.describe(row, of: f.rounds))
            learningRate *= f.roundDecay
        }
        let finalVectors = gather(models.map { ParameterVector.flatten($0.stateDictionary) }, length)
        let averaged = Self.averaged(initial, finalVectors, template: template)
        let lambda = matrix.secondEigenvalueMagnitude
        let summary = FederatedSummary(
            method: f.method.rawValue, topology: f.topology == "regular" ? "regular-\(f.degree)" : f.topology, clients: m, rounds: f.rounds,
            localSteps: f.localSteps, gossipSteps: q, spectralGap: 1 - lambda, spectralGapPerRound: 1 - Foundation.pow(lambda, Double(q)),
            finalLocalAccuracyMean: metrics.last?.localAccuracyMean, finalAveragedAccuracy: metrics.last?.averagedAccuracy,
            finalConsensusDistance: metrics.last?.consensusDistance ?? 0, lambdaMax: nil, seconds: seconds(ContinuousClock.now - start))
        if let output {
            try Self.write(summary, to: output)
            try Safetensors.write(averaged.stateDictionary, to: output.appendingPathComponent(Self.averagedModelFile))
        }
        return Result(metrics: metrics, summary: summary, averagedModel: averaged, clientModels: models)
    }

    /// The averaged model x̄ at the end, in the run directory: its state dictionary as
    /// safetensors (the same bytes from one process and from any number of MPI ranks).
    public static let averagedModelFile = "averaged-model.safetensors"

    /// Writes `summary.json` into the run directory `output`.
    public static func write(_ summary: FederatedSummary, to output: URL) throws {
        try writeAtomically(try encoder.encode(summary), to: output.appendingPathComponent("summary.json"))
    }

    /// The split and the graph, as `clients.json` records them.
    public var clientsRecord: ClientsRecord {
        let values = matrix.eigenvalues
        return ClientsRecord(
            topology: configuration.topology, degree: configuration.topology == "regular" ? configuration.degree : nil,
            spectralGap: 1 - matrix.secondEigenvalueMagnitude, eigenvalues: values,
            clients: shards.indices.map { i in
                ClientsRecord.Client(client: i, samples: shards[i].count, classHistogram: shards[i].classHistogram, neighbours: matrix.neighbours[i],
                                     selfWeight: matrix.weights[i][i])
            })
    }

    /// `clients.json`: each client's shard (size, class histogram) and place in the graph.
    public struct ClientsRecord: Codable, Sendable {
        public struct Client: Codable, Sendable {
            public var client: Int
            public var samples: Int
            public var classHistogram: [Int]
            public var neighbours: [Int]
            public var selfWeight: Double
            enum CodingKeys: String, CodingKey {
                case client, samples, classHistogram = "class_histogram", neighbours, selfWeight = "self_weight"
            }
        }
        public var topology: String
        public var degree: Int?
        public var spectralGap: Double
        public var eigenvalues: [Double]
        public var clients: [Client]
        enum CodingKeys: String, CodingKey { case topology, degree, spectralGap = "spectral_gap", eigenvalues, clients }
    }

    /// `model` with the mean of `vectors` as its state.
    static func averaged<Model: Layer>(_ model: Model, _ vectors: [[Float]], template: ParameterSet) -> Model {
        var result = model
        result.update(ParameterVector.unflatten(Gossip.mean(vectors), like: template))
        return result
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]  // the same run, the same bytes
        return encoder
    }

    /// metrics.jsonl and metrics.csv, each rewritten whole and atomically after every round.
    static func writeMetrics(_ rows: [FederatedRoundMetrics], to output: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var jsonl = Data()
        for row in rows {
            jsonl.append(try encoder.encode(row))
            jsonl.append(0x0A)
        }
        try writeAtomically(jsonl, to: output.appendingPathComponent("metrics.jsonl"))
        let csv = ([FederatedRoundMetrics.csvHeader] + rows.map(\.csvRow)).joined(separator: "\n") + "\n"
        try writeAtomically(Data(csv.utf8), to: output.appendingPathComponent("metrics.csv"))
    }

    /// A progress line for `row`.
    static func describe(_ row: FederatedRoundMetrics, of rounds: Int) -> String {
        var line = String(format: "round %d/%d  loss %.4f  consensus %.3e → %.3e", row.round, rounds, row.trainLoss, row.consensusBeforeGossip, row.consensusDistance)
        if let mean = row.localAccuracyMean, let low = row.localAccuracyMin, let averaged = row.averagedAccuracy {
            line += String(format: "  local acc %.2f%% (min %.2f%%)  averaged acc %.2f%%", mean * 100, low * 100, averaged * 100)
        }
        return line + String(format: "  %.1f s", row.seconds)
    }
}
