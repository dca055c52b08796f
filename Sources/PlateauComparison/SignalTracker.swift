import Foundation
import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import PlateauTraining

/// Trains a model while recording every tracked example's loss and the sharpness λ_max:
/// the measurements behind the opposing-signals finder (Rosenfeld & Risteski, ICLR 2024).
///
/// Steps are those of `plateau train` (the configuration's method through the
/// ``/PlateauTraining/StepEngine``, seeded batches, a constant learning rate) over a dataset
/// the caller has already prepared (normalized, patched). Every `trackEvery` steps the
/// tracked examples' losses are measured in evaluation mode without gradients (one forward
/// pass), and every `sharpnessEvery` steps λ_max of the loss on the first
/// `sharpnessSamples` training examples by power iteration.
public struct SignalTracker {
    public var configuration: RunConfiguration
    public var steps: Int
    public var trackEvery: Int
    /// Steps between λ_max estimates (0: none).
    public var sharpnessEvery: Int
    public var sharpnessSamples: Int
    public var powerIterations: Int
    public var stopToken: StopToken?

    public init(configuration: RunConfiguration, steps: Int, trackEvery: Int = 1, sharpnessEvery: Int = 0, sharpnessSamples: Int = 1000, powerIterations: Int = 20) throws {
        try configuration.validate()
        func fail(_ field: String, _ message: String) -> ConfigurationError { ConfigurationError(field: field, message: message) }
        guard steps >= 1 else { throw fail("steps", "expected a positive number of steps, got \(steps)") }
        guard trackEvery >= 1 else { throw fail("track-every", "expected a positive number of steps, got \(trackEvery)") }
        guard sharpnessEvery >= 0 else { throw fail("sharpness-every", "expected a number of steps ≥ 0 (0: none), got \(sharpnessEvery)") }
        guard sharpnessSamples >= 1 else { throw fail("sharpness-samples", "expected a positive number of samples, got \(sharpnessSamples)") }
        guard powerIterations >= 1 else { throw fail("power-iterations", "expected a positive number of iterations, got \(powerIterations)") }
        self.configuration = configuration
        self.steps = steps
        self.trackEvery = trackEvery
        self.sharpnessEvery = sharpnessEvery
        self.sharpnessSamples = sharpnessSamples
        self.powerIterations = powerIterations
    }

    /// Trains `model` in place on `train`, tracking the examples at `tracked`.
    public func run<Model: Layer>(_ model: inout Model, on train: Dataset, tracked: [Int], observer: inout some TrainingObserver) throws -> SignalTrajectory {
        let c = configuration
        var engine = try StepEngine(configuration: c, model: model, sampleCount: train.count, classCount: train.classCount)
        let trackedSet = train.subset(tracked)
        let sharpnessSet = train.subset(Array(0..<min(sharpnessSamples, train.count)))
        var trajectory = SignalTrajectory(tracked: tracked, learningRate: c.learningRate)
        var generator = SeededGenerator(seed: c.seed &+ 0x1A3B)
        let batchesPerEpoch = train.count / c.batchSize + (train.count % c.batchSize == 0 ? 0 : 1)  // no overflow for any batch size

        func measure(at step: Int) {
            if step % trackEvery == 0 || step == steps {
                let losses = Self.losses(of: model, on: trackedSet)
                trajectory.trackedSteps.append(step)
                trajectory.losses.append(losses)
            }
            if sharpnessEvery > 0, step % sharpnessEvery == 0 || step == steps {
                let loss = LossFunction.crossEntropy(model, on: sharpnessSet, batchSize: 1000)
                let estimate = HessianEigenvalues.top(1, of: loss, maximumIterations: powerIterations, using: &generator)[0]
                trajectory.sharpnessSteps.append(step)
                trajectory.lambdaMax.append(estimate.value)
            }
        }

        measure(at: 0)
        var step = 0
        var lossSum: Double = 0, seen = 0, correct = 0
        let start = ContinuousClock.now
        training: for epoch in 0... {
            model.setTraining(true)
            for batch in Batches(dataset: train, batchSize: c.batchSize, shuffle: c.shuffle, seed: c.seed, epoch: epoch) {
                let (report, logits) = engine.step(&model, on: batch, epoch: epoch, learningRate: c.learningRate)
                step += 1
                guard report.loss.isFinite, !model.parameters.values.contains(where: \.hasNonFinite) else {
                    trajectory.divergedAtStep = step
                    observer.message("the loss became non-finite at step \(step): tracking stops there (try a smaller --lr)")
                    break training
                }
                lossSum += Double(report.loss) * Double(batch.count)
                seen += batch.count
                correct += zip(logits.argmax(alongAxis: 1), batch.labels).filter { $0 == $1 }.count
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                observer.stepFinished(epoch: 0, step: step, of: steps, loss: Float(lossSum / Double(seen)), accuracy: Float(correct) / Float(seen),
                                      samplesPerSecond: Double(seen) / max(seconds, 1e-9))
                measure(at: step)
                if step >= steps { break training }
                if let signal = stopToken?.signal {
                    throw TrainingInterrupted(output: nil, epochsDone: epoch, batchesDone: step - epoch * batchesPerEpoch, batchesPerEpoch: batchesPerEpoch, signal: signal)
                }
            }
        }
        return trajectory
    }

    /// Per-example cross-entropy, evaluation mode, no gradients.
    static func losses<Model: Layer>(of model: Model, on dataset: Dataset) -> [Float] {
        var evaluated = model.training(false)
        var losses: [Float] = []
        withoutGradients {
            for batch in Batches(dataset: dataset, batchSize: 1000, shuffle: false) {
                losses += crossEntropy(logits: evaluated(batch.images), labels: batch.labels, reduction: .none).scalars
            }
        }
        return losses
    }
}

/// What a ``SignalTracker`` recorded.
public struct SignalTrajectory: Sendable {
    /// The tracked examples (indices into the training set); `losses` columns follow this order.
    public var tracked: [Int]
    /// The steps at which losses were measured (0: before the first step).
    public var trackedSteps: [Int] = []
    /// `losses[t][j]`: tracked example j's loss at `trackedSteps[t]`.
    public var losses: [[Float]] = []
    public var sharpnessSteps: [Int] = []
    public var lambdaMax: [Float] = []
    public var learningRate: Float
    /// The step whose loss or update was non-finite, if training diverged.
    public var divergedAtStep: Int?

    public init(tracked: [Int], learningRate: Float) {
        self.tracked = tracked
        self.learningRate = learningRate
    }
}

/// `signals.json`: the opposing-signals finder's result on one training run.
public struct OpposingSignalsReport: Codable, Sendable {
    public var method: String
    public var learningRate: Float
    public var steps: Int
    public var trackedExamples: Int
    /// The planted groups' sizes (indices into the training set are in `groupA`/`groupB`).
    public var groupA: [Int]
    public var groupB: [Int]
    public var k: Int
    /// The k examples with the largest mean |Δℓ| over the run (training-set indices).
    public var topK: [Int]
    /// Their share that is planted, and the share a random pick would have.
    public var precisionAtK: Double
    public var chancePrecision: Double
    /// The mean over steps of the single-step top-k's precision.
    public var meanStepPrecisionAtK: Double
    /// The top k split by co-movement (training-set indices), and how well the split matches A/B.
    public var splitWith: [Int]
    public var splitAgainst: [Int]
    public var splitAgreement: Double
    /// Correlation of the step-to-step changes of A's and B's mean losses (−1: antiphase).
    public var antiphaseCorrelation: Double
    /// Loss curves at `trackedSteps`: the planted groups' means and the rest's.
    public var trackedSteps: [Int]
    public var groupALoss: [Double]
    public var groupBLoss: [Double]
    public var otherLoss: [Double]
    /// The late swing of each curve (``/PlateauAnalysis/OpposingSignals/lateAmplitude(_:)``):
    /// the planted groups' mean and the rest's.
    public var plantedAmplitude: Double
    public var otherAmplitude: Double
    public var sharpnessSteps: [Int]
    public var lambdaMax: [Float]
    /// λ_max·η at each estimate; gradient descent without momentum is unstable along the top
    /// eigenvector above 2 (the edge of stability).
    public var lambdaEta: [Float]
    /// The mean and the largest λ_max·η over the second half of the estimates.
    public var lateLambdaEtaMean: Double?
    public var lambdaEtaMax: Double?
    public var divergedAtStep: Int?
    public var testAccuracy: Float?

    /// Builds the report from a trajectory and the planted groups (training-set indices).
    public init(method: String, trajectory t: SignalTrajectory, groupA: [Int], groupB: [Int], k: Int, steps: Int) {
        let column = Dictionary(uniqueKeysWithValues: t.tracked.enumerated().map { ($1, $0) })
        let a = groupA.compactMap { column[$0] }, b = groupB.compactMap { column[$0] }
        let plantedColumns = Set(a + b)
        let others = t.tracked.indices.filter { !plantedColumns.contains($0) }
        let ranked = OpposingSignals.mostChanging(t.losses, k: k)
        let (with, against) = OpposingSignals.split(ranked, losses: t.losses)
        self.method = method
        learningRate = t.learningRate
        self.steps = steps
        trackedExamples = t.tracked.count
        self.groupA = groupA
        self.groupB = groupB
        self.k = k
        topK = ranked.map { t.tracked[$0] }
        precisionAtK = OpposingSignals.precision(ranked, planted: plantedColumns, k: k)
        chancePrecision = Double(plantedColumns.count) / Double(max(t.tracked.count, 1))
        meanStepPrecisionAtK = OpposingSignals.meanStepPrecision(t.losses, planted: plantedColumns, k: k)
        splitWith = with.map { t.tracked[$0] }
        splitAgainst = against.map { t.tracked[$0] }
        splitAgreement = OpposingSignals.splitAgreement(with: with, against: against, groupA: Set(a), groupB: Set(b))
        antiphaseCorrelation = OpposingSignals.antiphaseCorrelation(t.losses, groupA: a, groupB: b)
        trackedSteps = t.trackedSteps
        groupALoss = OpposingSignals.groupMeans(t.losses, group: a)
        groupBLoss = OpposingSignals.groupMeans(t.losses, group: b)
        otherLoss = OpposingSignals.groupMeans(t.losses, group: others)
        plantedAmplitude = (OpposingSignals.lateAmplitude(groupALoss) + OpposingSignals.lateAmplitude(groupBLoss)) / 2
        otherAmplitude = OpposingSignals.lateAmplitude(otherLoss)
        sharpnessSteps = t.sharpnessSteps
        lambdaMax = t.lambdaMax
        lambdaEta = t.lambdaMax.map { $0 * t.learningRate }
        let late = lambdaEta.suffix(max(lambdaEta.count / 2, lambdaEta.isEmpty ? 0 : 1))
        lateLambdaEtaMean = late.isEmpty ? nil : late.reduce(0) { $0 + Double($1) } / Double(late.count)
        lambdaEtaMax = lambdaEta.max().map(Double.init)
        divergedAtStep = t.divergedAtStep
    }

    enum CodingKeys: String, CodingKey {
        case method, learningRate = "learning_rate", steps, trackedExamples = "tracked_examples", groupA = "group_a", groupB = "group_b", k
        case topK = "top_k", precisionAtK = "precision_at_k", chancePrecision = "chance_precision", meanStepPrecisionAtK = "mean_step_precision_at_k"
        case splitWith = "split_with", splitAgainst = "split_against", splitAgreement = "split_agreement"
        case antiphaseCorrelation = "antiphase_correlation", trackedSteps = "tracked_steps", groupALoss = "group_a_loss"
        case groupBLoss = "group_b_loss", otherLoss = "other_loss", plantedAmplitude = "planted_late_amplitude", otherAmplitude = "other_late_amplitude"
        case sharpnessSteps = "sharpness_steps", lambdaMax = "lambda_max"
        case lambdaEta = "lambda_eta", lateLambdaEtaMean = "late_lambda_eta_mean", lambdaEtaMax = "lambda_eta_max"
        case divergedAtStep = "diverged_at_step", testAccuracy = "test_accuracy"
    }

    /// The report as sorted-key JSON; NaN (an undefined correlation or precision) is written
    /// as the string "nan".
    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }
}
