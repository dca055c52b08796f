import ArgumentParser
import Foundation
import Plateau

/// `plateau signals`: the opposing-signals finder (issue 15).
struct SignalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signals",
        abstract: "Find outliers with opposing signals: the examples whose loss changes most, in antiphase groups.",
        discussion: """
            Rosenfeld & Risteski (ICLR 2024). Trains with any method at a constant learning \
            rate for --steps steps, measuring every tracked example's loss every --track-every \
            steps (one forward pass) and λ_max by power iteration every --sharpness-every \
            steps. Reports the k examples with the largest mean |Δℓ| between measurements, \
            their precision against the planted groups (and chance), the mean single-step \
            precision, their split into two co-moving groups and its agreement with the \
            planted pair, the correlation of the two planted groups' loss changes (−1: \
            antiphase), and λ_max·η over training (2: the edge of stability of plain GD).

            Data: --toy is the paper's toy (two Gaussian classes with a small core signal; \
            in --toy-fraction of each class a large feature ±α·u, agreeing with the label in \
            group A and opposing it in group B) with a two-layer linear network of width \
            --width, full batch by default. Otherwise a dataset with a bright \
            --patch-size square pasted on --patch-fraction of the images of each of the two \
            --patch-classes (group A: the first class's patched images, B: the second's).
            Plain gradient steps: --momentum defaults to 0 here.

            Examples:
              plateau signals --toy --lr 0.05 --steps 300 --sharpness-every 10 --json
              plateau signals --dataset mnist --data-dir data/mnist --train-limit 5000 --patch-value 10 \\
                --lr 0.1 --steps 200 --track-every 2 --optimizer sam --rho 0.05
            """
    )

    @Flag(help: "The toy data and two-layer linear network instead of a dataset.") var toy = false
    @Option(parsing: .unconditional, help: "Toy: samples per class.") var toySamples: Int = 500
    @Option(parsing: .unconditional, help: "Toy: input dimension.") var toyDim: Int = 50
    @Option(parsing: .unconditional, help: "Toy: magnitude α of the opposing feature.") var toyAlpha: Float = 20
    @Option(parsing: .unconditional, help: "Toy: core signal ‖μ‖.") var toyCore: Float = 0.5
    @Option(parsing: .unconditional, help: "Toy: fraction of each class carrying the opposing feature.") var toyFraction: Double = 0.02
    @Option(parsing: .unconditional, help: "Toy: hidden width of the linear network.") var width: Int = 32

    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Model (not with --toy): \(ModelFactory.names.joined(separator: ", ")).") var model: String = "mlp"
    @Option(parsing: .unconditional, help: "Use only the first N training samples (default: all).") var trainLimit: Int?
    @Option(parsing: .unconditional, help: "The two classes whose images get the patch, comma-separated.") var patchClasses: String = "3,8"
    @Option(parsing: .unconditional, help: "Fraction of each patched class's images given the patch.") var patchFraction: Double = 0.02
    @Option(parsing: .unconditional, help: "Side of the square patch in pixels (at the top-left corner).") var patchSize: Int = 6
    @Option(parsing: .unconditional, help: "The patch's pixel value, in the dataset's raw units (MNIST: 0...1; default: the brightest pixel of the training images).") var patchValue: Float?

    @OptionGroup(title: "Optimizer") var optimization: TrainOptimizerOptions
    @Option(parsing: .unconditional, help: "Training steps.") var steps: Int = 300
    @Option(parsing: .unconditional, help: "Steps between per-example loss measurements.") var trackEvery: Int = 1
    @Option(parsing: .unconditional, help: "Track every training example up to this many; beyond, the planted ones and the first others up to this count.") var trackLimit: Int = 5000
    @Option(parsing: .unconditional, help: "Steps between λ_max estimates (0: none).") var sharpnessEvery: Int = 0
    @Option(parsing: .unconditional, help: "Training examples (the first N) λ_max is measured on.") var sharpnessSamples: Int = 1000
    @Option(parsing: .unconditional, help: "Power-iteration steps per λ_max estimate.") var powerIterations: Int = 20
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "How many of the most-changing examples to report (default: the number planted).") var topK: Int?
    @Option(parsing: .unconditional, help: "Random seed (data, weights, batches).") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
    @Option(parsing: .unconditional, help: "Write the report (signals.json content) to this file.") var report: String?
    @Flag(help: "Print the report as one JSON object instead of the summary lines.") var json = false
    @OptionGroup(title: "Progress") var progressOptions: ProgressOptions
    @Argument(parsing: .allUnrecognized, help: .hidden) var methodArguments: [String] = []

    /// The two patched classes.
    var classes: [Int] {
        get throws {
            let parts = patchClasses.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 0, b >= 0, a != b else {
                throw ValidationError("--patch-classes: expected two different class indices like 3,8, got '\(patchClasses)'")
            }
            return [a, b]
        }
    }

    mutating func validate() throws {
        try OptionCheck.count(toySamples, "toy-samples", in: 2...1_000_000)
        try OptionCheck.count(toyDim, "toy-dim", in: 2...100_000)
        try OptionCheck.number(toyAlpha, "toy-alpha", atLeast: 0)
        try OptionCheck.number(toyCore, "toy-core", atLeast: 0)
        guard toyFraction.isFinite, toyFraction > 0, toyFraction <= 1 else { throw ValidationError("--toy-fraction: expected a fraction in (0, 1], got \(toyFraction)") }
        try OptionCheck.count(width, "width", in: 1...100_000)
        try OptionCheck.count(trainLimit, "train-limit", in: 1...Int.max)
        _ = try classes
        guard patchFraction.isFinite, patchFraction > 0, patchFraction <= 1 else { throw ValidationError("--patch-fraction: expected a fraction in (0, 1], got \(patchFraction)") }
        try OptionCheck.count(patchSize, "patch-size", in: 1...1024)
        if let patchValue { try OptionCheck.number(patchValue, "patch-value", atLeast: -1e6) }
        try OptionCheck.count(steps, "steps", in: 1...10_000_000)
        try OptionCheck.count(trackEvery, "track-every", in: 1...10_000_000)
        try OptionCheck.count(trackLimit, "track-limit", in: 2...10_000_000)
        try OptionCheck.count(sharpnessEvery, "sharpness-every", in: 0...10_000_000)
        try OptionCheck.count(sharpnessSamples, "sharpness-samples", in: 1...1_000_000)
        try OptionCheck.count(powerIterations, "power-iterations", in: 1...1000)
        try OptionCheck.count(topK, "top-k", in: 1...1_000_000)
        try OptionCheck.threads(threads)
        if toy, data.dataset != nil { throw ValidationError("--toy and --dataset exclude each other: the toy makes its own data") }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        var c = RunConfiguration()
        c.dataset = data.dataset ?? "digits"
        c.dataDirectory = data.dataDir
        c.trainLimit = trainLimit
        c.model = model
        c.momentum = 0
        c.seed = seed
        c.threads = threads
        c.tensorboardInterval = 0
        optimization.apply(to: &c)
        if toy, optimization.batchSize == nil { c.batchSize = 2 * toySamples }  // full-batch gradient descent
        do {
            c.methodOptions.merge(try MethodRegistry.standard.settings(fromArguments: methodArguments, for: try MethodRegistry.standard.optionOwnerNames(of: c))) { $1 }
            try c.validate()
        } catch let error as ConfigurationError { throw ValidationError(error.description) }

        try Parallelism.withThreads(threads) {
            var progress = ConsoleProgress(epochs: 1, quiet: json, interval: progressOptions.progressInterval)
            progress.epochLines = false
            let tracker: SignalTracker
            do {
                tracker = try SignalTracker(configuration: c, steps: steps, trackEvery: trackEvery, sharpnessEvery: sharpnessEvery,
                                            sharpnessSamples: sharpnessSamples, powerIterations: powerIterations)
            } catch let error as ConfigurationError { throw ValidationError(error.description) }
            let signals = StopSignals()
            defer { signals.stop() }
            var stopping = tracker
            stopping.stopToken = signals.token

            var result: OpposingSignalsReport
            if toy {
                let toyData = OpposingSignalsToy(samplesPerClass: toySamples, dimension: toyDim, coreSignal: toyCore, alpha: toyAlpha, fraction: toyFraction, seed: seed)
                var generator = SeededGenerator(seed: seed)
                var network = DeepLinear(sizes: [toyDim, width, 2], using: &generator)
                progress.message("toy: \(toyData.dataset.count) samples in \(toyDim) dimensions, opposing feature α = \(toyAlpha) in groups A (\(toyData.groupA.count)) and B (\(toyData.groupB.count)); linear \(toyDim)-\(width)-2, \(c.optimizer), lr \(c.learningRate), batch \(c.batchSize)")
                let trajectory = try stopping.run(&network, on: toyData.dataset, tracked: Array(0..<toyData.dataset.count), observer: &progress)
                result = OpposingSignalsReport(method: c.optimizer, trajectory: trajectory, groupA: toyData.groupA, groupB: toyData.groupB,
                                               k: topK ?? (toyData.groupA.count + toyData.groupB.count), steps: steps)
            } else {
                let prepared: Trainer
                do { prepared = try Trainer.prepare(c, output: nil) } catch let error as ConfigurationError { throw ValidationError(error.description) }
                var train = prepared.train
                let classes = try classes
                guard classes.allSatisfy({ $0 < train.classCount }) else {
                    throw ValidationError("--patch-classes: \(c.dataset) has classes 0...\(train.classCount - 1), got '\(patchClasses)'")
                }
                guard train.sampleShape.count == 3, patchSize <= min(train.sampleShape[1], train.sampleShape[2]) else {
                    throw ValidationError("--patch-size: a \(patchSize)-pixel patch needs images at least that large, \(c.dataset) has samples of shape \(train.sampleShape)")
                }
                let brightest = patchValue ?? train.images.scalars.max() ?? 1
                let groupA = train.sampledPerClass(fraction: patchFraction, classes: [classes[0]], seed: seed &+ 0xBA7C)
                let groupB = train.sampledPerClass(fraction: patchFraction, classes: [classes[1]], seed: seed &+ 0xBA7D)
                train = train.pasting({ _ in PlantedPatch(row: 0, column: 0, size: patchSize, value: brightest) }, onto: groupA + groupB)
                let normalization = Normalization.fit(train)
                let normalized = normalization.apply(to: train)
                let planted = Set(groupA + groupB)
                let tracked = train.count <= trackLimit
                    ? Array(0..<train.count)
                    : (groupA + groupB + (0..<train.count).filter { !planted.contains($0) }.prefix(max(trackLimit - planted.count, 0))).sorted()
                var generator = SeededGenerator(seed: seed)
                let network = try ModelFactory.make(c.model, sampleShape: train.sampleShape, classCount: train.classCount, using: &generator)
                progress.message("\(c.dataset): \(train.count) training images, a \(patchSize)x\(patchSize) patch of \(brightest) on \(groupA.count) of class \(classes[0]) (A) and \(groupB.count) of class \(classes[1]) (B); \(c.model), \(c.optimizer), lr \(c.learningRate), batch \(c.batchSize); tracking \(tracked.count)")
                func trained<M: Layer>(_ initial: M) throws -> (SignalTrajectory, Float) {
                    var m = initial
                    let trajectory = try stopping.run(&m, on: normalized, tracked: tracked, observer: &progress)
                    return (trajectory, Evaluation.run(m, on: normalization.apply(to: prepared.test)).accuracy)
                }
                let (trajectory, accuracy) = try trained(network)
                result = OpposingSignalsReport(method: c.optimizer, trajectory: trajectory, groupA: groupA, groupB: groupB,
                                               k: topK ?? (groupA.count + groupB.count), steps: steps)
                result.testAccuracy = accuracy
            }
            if let report { try AtomicFile.write(result.json, to: URL(fileURLWithPath: report)) }
            if json {
                print(String(decoding: result.json, as: UTF8.self))
            } else {
                progress.message(Self.summary(result))
            }
        }
    }

    /// The report in a few lines.
    static func summary(_ r: OpposingSignalsReport) -> String {
        func f(_ x: Double?) -> String { x.map { $0.isNaN ? "n/a" : String(format: "%.3f", $0) } ?? "n/a" }
        var lines = [
            "top \(r.k) by mean |Δℓ|: precision \(f(r.precisionAtK)) (chance \(f(r.chancePrecision))); mean single-step precision \(f(r.meanStepPrecisionAtK))",
            "split by co-movement: \(r.splitWith.count) with / \(r.splitAgainst.count) against the most-changing example; agreement with A/B \(f(r.splitAgreement))",
            "antiphase correlation of A's and B's loss changes: \(f(r.antiphaseCorrelation)); late swing of their losses \(f(r.plantedAmplitude)) per measurement (the rest: \(f(r.otherAmplitude)))",
        ]
        if !r.lambdaEta.isEmpty { lines.append("λ_max·η: late mean \(f(r.lateLambdaEtaMean)), max \(f(r.lambdaEtaMax)) (2: edge of stability of plain GD)") }
        if let step = r.divergedAtStep { lines.append("diverged at step \(step)") }
        if let accuracy = r.testAccuracy { lines.append(String(format: "test accuracy %.2f%%", accuracy * 100)) }
        return lines.joined(separator: "\n")
    }
}
