import ArgumentParser
import Foundation
import Plateau

/// `plateau federate`: decentralized federated training (DFedAvg, DFedSAM, DFedSAM-MGS) of
/// simulated clients in one process, or spread over MPI ranks (`--distributed mpi`).
struct FederateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "federate",
        abstract: "Decentralized federated training: DFedAvg, DFedSAM and DFedSAM-MGS over a gossip graph (clients simulated in one process, or over MPI ranks).",
        discussion: """
            The training set is split over --clients clients by a Dirichlet(--alpha) label \
            split (seeded; each client gets at least one sample). All clients start from the \
            same seeded model. Each round, every client takes --local-steps steps on its own \
            shard with its own optimizer state (dfedavg: SGD; dfedsam and dfedsam-mgs: SAM with \
            --rho, over --base-optimizer), then the models are mixed --gossip-steps times, \
            x_i ← Σ_j W_ij x_j, with a symmetric doubly stochastic W (Metropolis–Hastings \
            weights) on the --topology graph. dfedavg and dfedsam gossip once (Q = 1); \
            dfedsam-mgs more (default 4).

            Writes into the run directory (--output): federation.json (the settings), \
            clients.json (each client's sample count, class histogram, neighbours; W's \
            eigenvalues and spectral gap), metrics.jsonl and metrics.csv (one row per round: \
            train loss, consensus distance (1/m)Σ‖x_i − x̄‖² before and after gossip, each \
            client's test accuracy (mean/min/max) and the averaged model's), summary.json \
            (final values, λ_max of the averaged model with --hessian-iterations), \
            averaged-model.safetensors (the averaged model's state).

            With --distributed mpi, under `mpirun -np N`, the clients are spread over the N \
            ranks in contiguous blocks and gossip goes rank to rank; every number and file \
            equals the one-process run's bit for bit (only the timings differ).

            Examples:
              plateau federate --dataset digits --clients 8 --rounds 10 --method dfedsam
              plateau federate --dataset mnist --data-dir data/mnist --train-limit 10000 \\
                --clients 20 --topology regular --degree 4 --alpha 0.3 --rounds 30 \\
                --local-steps 10 --method dfedsam-mgs --gossip-steps 4 --threads 1
              mpirun -np 2 plateau federate --dataset digits --clients 8 --rounds 10 \\
                --threads 1 --distributed mpi --output runs/fed-mpi
            """
    )

    @Option(parsing: .unconditional, help: "Method: \(FederatedMethod.allCases.map(\.rawValue).joined(separator: ", ")).") var method = "dfedsam"
    @Option(parsing: .unconditional, help: "Number of clients m (2 or more).") var clients = 20
    @Option(parsing: .unconditional, help: "Gossip graph: \(GossipTopology.names.joined(separator: ", ")) (grid: a 2-D torus; regular: a random --degree-regular graph, seeded).") var topology = "ring"
    @Option(parsing: .unconditional, help: "Degree of the regular topology.") var degree = 4
    @Option(parsing: .unconditional, help: "Dirichlet concentration of the label split (smaller: more non-IID).") var alpha: Double = 0.3
    @Option(parsing: .unconditional, help: "Communication rounds.") var rounds = 50
    @Option(parsing: .unconditional, help: "Local optimizer steps per client and round (K).") var localSteps = 10
    @Option(parsing: .unconditional, help: "Gossip rounds per communication round (Q; default 1, or 4 for dfedsam-mgs).") var gossipSteps: Int?
    @Option(parsing: .unconditional, help: "SAM's radius ρ for dfedsam and dfedsam-mgs (default 0.05).") var rho: Float?
    @Option(parsing: .unconditional, help: "Multiply the learning rate by this after every round.") var roundDecay: Float = 1

    @Option(parsing: .unconditional, help: "Model: \(ModelFactory.names.joined(separator: ", ")).") var model = "mlp"
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Use only the first N training samples (default: all).") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "Evaluate on the first N test samples only (default: all).") var testLimit: Int?
    @Option(parsing: .unconditional, help: "Evaluate the clients and the averaged model every this many rounds (and after the last).") var evalEvery = 1
    @Option(parsing: .unconditional, help: "Samples per local step.") var batchSize = 32
    @Option(parsing: .unconditional, help: "Learning rate of the local steps.") var lr: Float = 0.05
    @Option(parsing: .unconditional, help: "Momentum of each client's base optimizer.") var momentum: Float = 0
    @Option(parsing: .unconditional, help: "Weight decay.") var weightDecay: Float = 0
    @Option(parsing: .unconditional, help: "Base optimizer under SAM and for dfedavg: \(MethodRegistry.standard.baseOptimizerNames.joined(separator: ", ")).") var baseOptimizer = "sgd"
    @Option(parsing: .unconditional, help: "Power-iteration steps for λ_max of the averaged model's training loss at the end; 0: not measured.") var hessianIterations = 0
    @Option(parsing: .unconditional, help: "Training samples (the first N) λ_max is measured on.") var hessianSamples = 512
    @Option(parsing: .unconditional, help: "Random seed: split, graph, initialization and batches.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Compute threads; results are the same for any count.") var threads = 2
    @Option(parsing: .unconditional, help: "Run directory (default: a fresh runs/<model>-<method>-<yyyymmdd>-<n>; required with --distributed mpi).") var output: String?
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "none, or mpi: the clients spread over the ranks of `mpirun -np N plateau federate … --distributed mpi` in contiguous blocks (N ≤ --clients; when N does not divide it, the first ranks take one client more); gossip goes rank to rank; the results equal the one-process run bit for bit; rank 0 writes the run directory. See docs/federated.md.",
        valueName: "mode")) var distributed: DistributedMode = .none

    mutating func validate() throws {
        try OptionCheck.count(clients, "clients", in: 2...10_000)
        try OptionCheck.number(Float(alpha), "alpha", atLeast: 0, strictly: true)
        try OptionCheck.count(rounds, "rounds", in: 1...1_000_000)
        try OptionCheck.count(localSteps, "local-steps", in: 1...1_000_000)
        try OptionCheck.count(gossipSteps, "gossip-steps", in: 1...10_000)
        try OptionCheck.count(evalEvery, "eval-every", in: 1...1_000_000)
        try OptionCheck.count(batchSize, "batch-size", in: 1...65_536)
        try OptionCheck.count(hessianIterations, "hessian-iterations", in: 0...100_000)
        try OptionCheck.count(hessianSamples, "hessian-samples", in: 1...1_000_000)
        try OptionCheck.count(trainLimit, "train-limit", in: 1...Int.max)
        try OptionCheck.count(testLimit, "test-limit", in: 1...Int.max)
        try OptionCheck.threads(threads)
        if let rho { try OptionCheck.number(rho, "rho", atLeast: 0) }
        guard FederatedMethod(rawValue: method) != nil else {
            throw ValidationError("--method: expected one of \(FederatedMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(method)'")
        }
        if rho != nil, method == FederatedMethod.dfedavg.rawValue {
            throw ValidationError("--rho: dfedavg takes plain SGD steps and has no ρ; use --method dfedsam or dfedsam-mgs")
        }
        // The rest (topology, degree, gossip steps against the method, model and data names).
        do { try makeConfiguration().validate() } catch let error as ConfigurationError {
            throw ValidationError("--\(error.field): \(error.message)")
        }
    }

    func makeConfiguration() -> FederatedConfiguration {
        var f = FederatedConfiguration()
        f.method = FederatedMethod(rawValue: method) ?? .dfedsam
        f.clients = clients
        f.topology = topology
        f.degree = degree
        f.alpha = alpha
        f.rounds = rounds
        f.localSteps = localSteps
        f.gossipSteps = gossipSteps
        f.roundDecay = roundDecay
        f.testLimit = testLimit
        f.evaluateEvery = evalEvery
        var c = RunConfiguration()
        c.model = model
        if let dataset = data.dataset { c.dataset = dataset }
        c.dataDirectory = data.dataDir
        c.trainLimit = trainLimit
        c.batchSize = batchSize
        c.learningRate = lr
        c.momentum = momentum
        c.weightDecay = weightDecay
        c.baseOptimizer = baseOptimizer
        c.seed = seed
        c.threads = threads
        c.tensorboardInterval = 0
        c.optimizer = f.method == .dfedavg ? "sgd" : "sam"
        if let rho { c.methodOptions["rho"] = .float(rho) }
        c.output = output
        f.base = c
        return f
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let f = makeConfiguration()
        if distributed == .mpi {
            guard output != nil else { throw ValidationError("--distributed mpi needs --output: every rank must name the same run directory") }
            try TrainCommand.runDistributed { communicator in try federate(f, communicator: communicator) }
        } else {
            try federate(f, communicator: nil)
        }
    }

    /// The run, in one process (`communicator` nil) or as one rank of an MPI job; only the
    /// writer (rank 0) prints and writes files.
    private func federate(_ f: FederatedConfiguration, communicator: (any Communicator)?) throws {
        let writer = communicator?.isWriter ?? true
        func say(_ text: String) { if writer { printWarning(text) } }
        try Parallelism.withThreads(threads) {
            var directory = output.map { URL(fileURLWithPath: $0) }
            if directory == nil {
                directory = try TrainCommand.claimFreshRunDirectory(model: model, method: method)
                printWarning("no --output: writing the run into \(directory!.relativePath)")
            }
            var training = try FederatedTraining.prepare(f, output: writer ? directory : nil)
            let sizes = training.shards.map(\.count)
            say("""
                \(f.method.rawValue): \(model) on \(f.base.dataset), \(training.train?.count ?? 0) training samples split over \(f.clients) clients \
                (Dirichlet α \(f.alpha); \(sizes.min() ?? 0)–\(sizes.max() ?? 0) samples each), \(f.topology)\(f.topology == "regular" ? "-\(f.degree)" : "") \
                topology (spectral gap \(String(format: "%.4f", training.matrix.spectralGap))), \(f.rounds) rounds of \(f.localSteps) local steps \
                and \(f.resolvedGossipSteps) gossip step\(f.resolvedGossipSteps == 1 ? "" : "s"), run directory \(directory!.relativePath)
                """)
            say("client  samples  class histogram")
            for (i, shard) in training.shards.enumerated() {
                say(String(format: "%6d  %7d  ", i, shard.count) + shard.classHistogram.map(String.init).joined(separator: " "))
            }
            var result: FederatedTraining.Result
            if let communicator {
                var exchange: CommunicatorExchange
                do { exchange = try CommunicatorExchange(communicator: communicator, clientCount: f.clients) } catch let error as ConfigurationError {
                    throw ValidationError("--distributed mpi: \(error.message) (use --clients ≥ the -np of mpirun)")
                }
                say("clients per rank: " + (0..<communicator.size).map { "\(LocalCommunicator.shard(of: f.clients, rank: $0, size: communicator.size))" }.joined(separator: " "))
                training.output = writer ? directory : nil
                result = try training.run(from: try training.initialModel(), distributed: &exchange) { say($0) }
            } else {
                result = try training.run { say($0) }
            }
            if hessianIterations > 0, writer, let train = training.train {
                let subset = train.subset(Array(0..<min(hessianSamples, train.count)))
                result.summary.lambdaMax = Self.topEigenvalue(result.averagedModel, on: subset, iterations: hessianIterations, seed: seed)
                try FederatedTraining.write(result.summary, to: directory!)
            }
            guard writer else { return }
            let s = result.summary
            print(String(format: "final: mean local accuracy %.2f%%, averaged-model accuracy %.2f%%, consensus distance %.4e",
                         (s.finalLocalAccuracyMean ?? 0) * 100, (s.finalAveragedAccuracy ?? 0) * 100, s.finalConsensusDistance)
                  + (s.lambdaMax.map { String(format: ", λ_max of the averaged model %.3f", $0) } ?? "")
                  + String(format: " (%.1f s)", s.seconds))
        }
    }

    /// λ_max of the cross-entropy on `samples` at `model`, evaluation mode.
    static func topEigenvalue(_ model: any Layer, on samples: Dataset, iterations: Int, seed: UInt64) -> Float {
        func estimate<M: Layer>(_ model: M) -> Float {
            var generator = SeededGenerator(seed: seed &+ 17)
            return HessianEigenvalues.top(1, of: model.training(false), maximumIterations: iterations, using: &generator) { (m: inout M) in
                crossEntropy(logits: m(samples.images), labels: samples.labels)
            }[0].value
        }
        return estimate(model)
    }
}
