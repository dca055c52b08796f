import Foundation
import PlateauAnalysis
import PlateauTensor
import PlateauTraining

/// What `plateau compare` runs: an ``/PlateauTraining/ExperimentPlan`` (every optimizer ×
/// seed through the trainer), then the sharpness of each run on a fixed training subset.
public struct ComparisonPlan: Sendable {
    /// The runs to train.
    public var experiment: ExperimentPlan
    public var sharpness: SharpnessSettings
    /// Training samples the sharpness is measured on (the first N, labels as trained).
    public var sharpnessSamples: Int

    public init(experiment: ExperimentPlan, sharpness: SharpnessSettings, sharpnessSamples: Int) {
        self.experiment = experiment
        self.sharpness = sharpness
        self.sharpnessSamples = sharpnessSamples
    }

    public init(optimizers: [String], seeds: Int, base: RunConfiguration, output: URL, jobs: Int, threads: Int,
                sharpness: SharpnessSettings, sharpnessSamples: Int) {
        self.init(experiment: ExperimentPlan(optimizers: optimizers, seeds: seeds, base: base, output: output, jobs: jobs, threads: threads),
                  sharpness: sharpness, sharpnessSamples: sharpnessSamples)
    }
}

/// One (optimizer, seed) run of a comparison: its metrics and its sharpness at the end.
public struct ComparisonRun: Sendable {
    public var optimizer: String
    /// The seed index k (the run's seed is the base seed + k).
    public var seedIndex: Int
    /// `<optimizer>-seed<k>`.
    public var name: String
    public var metrics: [EpochMetrics]
    public var sharpness: SharpnessSummary?
    /// Whether this invocation trained it (false: found finished and skipped).
    public var trained: Bool

    public init(optimizer: String, seedIndex: Int, name: String, metrics: [EpochMetrics], sharpness: SharpnessSummary?, trained: Bool) {
        self.optimizer = optimizer
        self.seedIndex = seedIndex
        self.name = name
        self.metrics = metrics
        self.sharpness = sharpness
        self.trained = trained
    }
}

/// The outcome of ``Comparison/run(_:log:)``: what the report renders.
public struct ComparisonSummary: Sendable {
    public var plan: ComparisonPlan
    public var runs: [ComparisonRun]
    /// Wall-clock seconds of the training phase and of the sharpness phase.
    public var trainingSeconds: Double
    public var sharpnessSeconds: Double

    public init(plan: ComparisonPlan, runs: [ComparisonRun], trainingSeconds: Double, sharpnessSeconds: Double) {
        self.plan = plan
        self.runs = runs
        self.trainingSeconds = trainingSeconds
        self.sharpnessSeconds = sharpnessSeconds
    }
}

/// Runs a ``ComparisonPlan``: trains its runs with the ``/PlateauTraining/ExperimentRunner``
/// (resumable, `jobs` at a time), then measures each run's last checkpoint with the
/// ``/PlateauAnalysis/SharpnessProbe`` on the same first `sharpnessSamples` training samples.
/// The measure is cached in the run directory (`sharpness.json`) and reused for a run that
/// was not trained again.
public enum Comparison {
    public static func run(_ plan: ComparisonPlan, log: @escaping @Sendable (String) -> Void) throws -> ComparisonSummary {
        let experiment = try ExperimentRunner.run(plan.experiment, log: log)

        return try Parallelism.withThreads(max(plan.experiment.threads, plan.experiment.jobs)) {
        let start = ContinuousClock.now
        let trainCount = min(plan.experiment.base.trainLimit ?? .max, experiment.rawTrain.count)
        var runs: [ComparisonRun] = []
        for run in experiment.runs {
            let cache = run.directory.appendingPathComponent("sharpness.json")
            // A diverged run's loss and eigenvalues are inf/nan, which JSON has no numbers for:
            // spelled as strings, as metrics.jsonl spells them.
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            var sharpness = try? decoder.decode(SharpnessSummary.self, from: Data(contentsOf: cache))
            if sharpness == nil || run.trained || sharpness?.samples != min(plan.sharpnessSamples, trainCount) {
                let checkpoint = try Checkpoint.read(from: run.directory.appendingPathComponent("checkpoint-last.safetensors"))
                let loaded = try LoadedCheckpoint(checkpoint: checkpoint, configuration: checkpoint.configuration, rawTrain: experiment.rawTrain,
                                                  rawTest: experiment.rawTest, source: run.directory.path)
                let subset = LoadedCheckpoint.prefix(loaded.train, plan.sharpnessSamples)
                let measured = SharpnessProbe.measure(loaded.model, on: subset, settings: plan.sharpness)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                try writeAtomically(encoder.encode(measured), to: cache)
                log(String(format: "%@: λ_max %.3f, ρ-sharpness %.4f (%d samples, %.1fs)", run.name, measured.eigenvalues.first ?? .nan,
                           measured.rhoSharpness ?? .nan, measured.samples, measured.seconds))
                sharpness = measured
            }
            runs.append(ComparisonRun(optimizer: run.optimizer, seedIndex: run.seedIndex, name: run.name, metrics: run.metrics,
                                      sharpness: sharpness, trained: run.trained))
        }
        let elapsed = ContinuousClock.now - start
        return ComparisonSummary(plan: plan, runs: runs, trainingSeconds: experiment.trainingSeconds,
                                 sharpnessSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
    }
}
