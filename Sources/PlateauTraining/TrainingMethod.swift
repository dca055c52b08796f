import PlateauNN
import PlateauOptim
import PlateauTensor

/// A configured optimizer of any kind, as the training loop drives it: one step on a batch
/// through a per-sample loss. ``SharpnessAwareMinimizer`` is the only implementation — plain
/// SGD/Adam run it with ``NoPerturbation`` — so every method shares one code path.
public protocol TrainingStepper: Sendable {
    var learningRate: Float { get set }
    mutating func step<Model: Module>(_ model: inout Model, batchSize: Int, loss: (inout Model, LossRequest) -> Tensor) -> StepReport
    var state: OptimizerState { get }
    mutating func restore(_ state: OptimizerState) throws
}

extension SharpnessAwareMinimizer: TrainingStepper {}

/// Builds the optimizer a ``RunConfiguration`` names.
public enum TrainingMethod {
    /// Default ρ of each method (the papers' CIFAR settings).
    public static func defaultRho(for method: String) -> Float {
        switch method {
        case "asam": 0.5
        case "looksam": 0.1
        default: 0.05
        }
    }

    /// The stepper for `configuration`; SAF and MESA use their base optimizer here and add
    /// their term to the loss in the training loop.
    public static func makeStepper(_ configuration: RunConfiguration) -> any TrainingStepper {
        let c = configuration
        let rho = c.rho ?? defaultRho(for: c.optimizer)
        let baseName = ["sgd", "adam", "adamw"].contains(c.optimizer) ? c.optimizer : c.baseOptimizer
        switch c.optimizer {
        case "sam": return wrap(SAM(rho: rho), baseName, c)
        case "asam": return wrap(ASAM(rho: rho, eta: c.eta), baseName, c)
        case "gsam":
            return wrap(GSAM(rhoMax: rho, rhoMin: c.rhoMin ?? rho, maximumLearningRate: c.learningRate, minimumLearningRate: 0, alpha: c.alpha ?? 0.4), baseName, c)
        case "looksam": return wrap(LookSAM(rho: rho, interval: c.lookInterval, alpha: c.alpha ?? 0.7), baseName, c)
        case "esam": return wrap(ESAM(rho: rho, beta: c.esamBeta, gamma: c.esamGamma, seed: c.seed), baseName, c)
        case "wsam": return wrap(WSAM(rho: rho, gamma: c.wsamGamma), baseName, c)
        case "fsam": return wrap(FriendlySAM(rho: rho, sigma: c.fsamSigma, lambda: c.fsamLambda), baseName, c)
        default: return wrap(NoPerturbation(), baseName, c)
        }
    }

    private static func wrap<Rule: SharpnessAwareRule>(_ rule: Rule, _ base: String, _ c: RunConfiguration) -> any TrainingStepper {
        func minimizer<Base: Optimizer>(_ optimizer: Base) -> any TrainingStepper {
            SharpnessAwareMinimizer(
                rule: rule, base: optimizer, microBatchSize: c.microBatchSize, sharpnessChunkSize: c.mSharpness,
                maxGradientNorm: c.maxGradientNorm)
        }
        switch base {
        case "adam": return minimizer(Adam(learningRate: c.learningRate, weightDecay: c.weightDecay))
        case "adamw": return minimizer(AdamW(learningRate: c.learningRate, weightDecay: c.weightDecay))
        default: return minimizer(SGD(learningRate: c.learningRate, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov))
        }
    }

    /// The learning-rate schedule of `configuration` over `stepsPerEpoch`-step epochs.
    public static func makeSchedule(_ c: RunConfiguration, stepsPerEpoch: Int) throws -> any LearningRateSchedule {
        let schedule: any LearningRateSchedule
        do {
            switch c.schedule {
            case "step": schedule = try StepDecay(learningRate: c.learningRate, gamma: c.gamma, everyEpochs: c.stepEpochs, stepsPerEpoch: stepsPerEpoch)
            case "multistep": schedule = try MultiStepDecay(learningRate: c.learningRate, milestones: c.milestones, gamma: c.gamma, stepsPerEpoch: stepsPerEpoch)
            case "cosine": schedule = try CosineAnnealing(learningRate: c.learningRate, epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
            case "onecycle": schedule = try OneCycle(maximumLearningRate: c.learningRate, epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
            default: schedule = try ConstantLearningRate(c.learningRate)
            }
            if c.warmupEpochs > 0 {
                return try schedule.withLinearWarmup(epochs: c.warmupEpochs, stepsPerEpoch: stepsPerEpoch, totalEpochs: c.epochs)
            }
        } catch {
            throw ConfigurationError(field: "schedule", message: error.description)
        }
        return schedule
    }
}
