import Foundation

/// A learning rate as a function of the optimizer step.
///
/// **Clock.** Schedules are evaluated per optimizer step: `step` is the 0-based index of the
/// update about to be applied (0 for the very first update), and the trainer sets
/// `optimizer.learningRate = schedule.learningRate(atStep: step)` before every update.
/// Schedules are configured in epochs plus `stepsPerEpoch`, so a CLI can speak in epochs:
/// epoch-wise rules (``StepDecay``, ``MultiStepDecay``) change at epoch boundaries,
/// epoch e covering steps e·stepsPerEpoch ..< (e+1)·stepsPerEpoch, while continuous rules
/// (``CosineAnnealing``, ``OneCycle``, ``LinearWarmup``) move every step. With
/// `stepsPerEpoch: 1` and the epoch index as `step`, every schedule reproduces the
/// corresponding PyTorch scheduler stepped once per epoch.
///
/// Schedules are immutable values; evaluating one has no side effects, so resuming needs no
/// schedule state, only the step.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate for the update with 0-based index `step`.
    ///
    /// - Precondition: `step >= 0`.
    func learningRate(atStep step: Int) -> Float
    /// The length of the run in steps, for schedules defined over a whole run (cosine,
    /// one-cycle); `nil` for open-ended ones. After it, a schedule keeps its final value.
    var totalSteps: Int? { get }
}

extension LearningRateSchedule {
    /// Open-ended by default: `nil`.
    public var totalSteps: Int? { nil }

    /// This schedule with a linear warm-up over its first `epochs` epochs; see ``LinearWarmup``.
    public func withLinearWarmup(epochs: Int, stepsPerEpoch: Int, totalEpochs: Int? = nil) throws(LearningRateScheduleError) -> LinearWarmup {
        try LinearWarmup(wrapping: self, warmupEpochs: epochs, stepsPerEpoch: stepsPerEpoch, totalEpochs: totalEpochs)
    }
}

/// An invalid schedule configuration, naming the offending field.
public struct LearningRateScheduleError: Error, Equatable, CustomStringConvertible {
    /// The schedule type, e.g. `"CosineAnnealing"`.
    public let schedule: String
    /// The initializer argument at fault, e.g. `"minimumLearningRate"`.
    public let field: String
    /// What is wrong with it.
    public let message: String

    /// An error naming the schedule type, the initializer argument and what is wrong with it.
    public init(schedule: String, field: String, message: String) {
        self.schedule = schedule
        self.field = field
        self.message = message
    }

    /// `"<schedule>: invalid <field>: <message>"`.
    public var description: String { "\(schedule): invalid \(field): \(message)" }
}

// MARK: - Validation helpers

private func check(
    _ condition: Bool, _ schedule: String, _ field: String, _ message: @autoclosure () -> String
) throws(LearningRateScheduleError) {
    if !condition { throw LearningRateScheduleError(schedule: schedule, field: field, message: message()) }
}

private func checkLearningRate(_ value: Float, _ schedule: String, _ field: String) throws(LearningRateScheduleError) {
    try check(value.isFinite && value >= 0, schedule, field, "must be finite and ≥ 0, got \(value)")
}

private func checkPositive(_ value: Int, _ schedule: String, _ field: String) throws(LearningRateScheduleError) {
    try check(value > 0, schedule, field, "must be > 0, got \(value)")
}

private func checkGamma(_ value: Float, _ schedule: String) throws(LearningRateScheduleError) {
    try check(value.isFinite && value > 0, schedule, "gamma", "must be finite and > 0, got \(value)")
}

// MARK: - Schedules

/// A fixed learning rate: ηₜ = η.
public struct ConstantLearningRate: LearningRateSchedule {
    /// η, the fixed rate.
    public let learningRate: Float

    /// The constant rate η.
    ///
    /// - Throws: if `learningRate` is negative or not finite.
    public init(_ learningRate: Float) throws(LearningRateScheduleError) {
        try checkLearningRate(learningRate, "ConstantLearningRate", "learningRate")
        self.learningRate = learningRate
    }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "ConstantLearningRate: negative step \(step)")
        return learningRate
    }
}

/// Step decay: the rate is multiplied by γ every k epochs,
///
///     ηₜ = η₀ · γ^⌊e / k⌋,   e = ⌊t / stepsPerEpoch⌋,
///
/// as PyTorch's `StepLR(step_size: k, gamma: γ)` stepped once per epoch.
///
/// Reference: He, Zhang, Ren & Sun 2016, *Deep Residual Learning for Image Recognition*
/// (η divided by 10 at fixed points of training).
/// arXiv:1512.03385.
public struct StepDecay: LearningRateSchedule {
    /// η₀, the initial (base) rate.
    public let learningRate: Float
    /// γ, the multiplicative decay factor; default 0.1.
    public let gamma: Float
    /// k, the number of epochs between decays.
    public let everyEpochs: Int
    /// The number of optimizer steps in an epoch, converting the step clock to epochs.
    public let stepsPerEpoch: Int

    /// η₀·γ^⌊e/k⌋ with k = `everyEpochs` (γ = 0.1 by default).
    ///
    /// - Throws: if `learningRate` is negative, `gamma` is not positive, or `everyEpochs` or
    ///   `stepsPerEpoch` is not positive.
    public init(learningRate: Float, gamma: Float = 0.1, everyEpochs: Int, stepsPerEpoch: Int) throws(LearningRateScheduleError) {
        try checkLearningRate(learningRate, "StepDecay", "learningRate")
        try checkGamma(gamma, "StepDecay")
        try checkPositive(everyEpochs, "StepDecay", "everyEpochs")
        try checkPositive(stepsPerEpoch, "StepDecay", "stepsPerEpoch")
        (self.learningRate, self.gamma, self.everyEpochs, self.stepsPerEpoch) = (learningRate, gamma, everyEpochs, stepsPerEpoch)
    }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "StepDecay: negative step \(step)")
        let decays = step / stepsPerEpoch / everyEpochs
        return Float(Double(learningRate) * Foundation.pow(Double(gamma), Double(decays)))
    }
}

/// Multi-step decay: the rate is multiplied by γ at each milestone epoch,
///
///     ηₜ = η₀ · γ^|{m ∈ milestones : m ≤ e}|,   e = ⌊t / stepsPerEpoch⌋,
///
/// as PyTorch's `MultiStepLR(milestones, gamma)` stepped once per epoch.
///
/// Reference: He, Zhang, Ren & Sun 2016, *Deep Residual Learning for Image Recognition*;
/// the usual CIFAR recipe for SAM baselines (e.g. ×0.2 at epochs 60, 120, 160).
/// He et al.: arXiv:1512.03385.
public struct MultiStepDecay: LearningRateSchedule {
    /// η₀, the initial (base) rate.
    public let learningRate: Float
    /// The epochs (strictly increasing, > 0) at which the rate is multiplied by γ.
    public let milestones: [Int]
    /// γ, the multiplicative decay factor; default 0.1.
    public let gamma: Float
    /// The number of optimizer steps in an epoch, converting the step clock to epochs.
    public let stepsPerEpoch: Int

    /// η₀·γ^(milestones passed) (γ = 0.1 by default).
    ///
    /// - Throws: if `learningRate` is negative, `gamma` is not positive, `stepsPerEpoch` is not
    ///   positive, or `milestones` is empty, holds a non-positive epoch, or is not strictly
    ///   increasing.
    public init(learningRate: Float, milestones: [Int], gamma: Float = 0.1, stepsPerEpoch: Int) throws(LearningRateScheduleError) {
        try checkLearningRate(learningRate, "MultiStepDecay", "learningRate")
        try check(!milestones.isEmpty, "MultiStepDecay", "milestones", "must not be empty")
        try check(milestones[0] > 0, "MultiStepDecay", "milestones", "epochs must be > 0, got \(milestones[0])")
        for (a, b) in zip(milestones, milestones.dropFirst()) {
            try check(a < b, "MultiStepDecay", "milestones", "must be strictly increasing, got \(a) then \(b) in \(milestones)")
        }
        try checkGamma(gamma, "MultiStepDecay")
        try checkPositive(stepsPerEpoch, "MultiStepDecay", "stepsPerEpoch")
        (self.learningRate, self.milestones, self.gamma, self.stepsPerEpoch) = (learningRate, milestones, gamma, stepsPerEpoch)
    }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "MultiStepDecay: negative step \(step)")
        let epoch = step / stepsPerEpoch
        let decays = milestones.prefix { $0 <= epoch }.count
        return Float(Double(learningRate) * Foundation.pow(Double(gamma), Double(decays)))
    }
}

/// Cosine annealing from η₀ to η_min over T = epochs · stepsPerEpoch steps, updated every step:
///
///     ηₜ = η_min + (η₀ − η_min) · (1 + cos(π · min(t, T) / T)) / 2
///
/// so η₀ at the first step and η_min from step T on (no restart; PyTorch's
/// `CosineAnnealingLR` with `T_max = T` stepped per iteration, except that it would rise
/// again after T).
///
/// Reference: Loshchilov & Hutter 2017, *SGDR: Stochastic Gradient Descent with Warm Restarts*.
/// arXiv:1608.03983.
public struct CosineAnnealing: LearningRateSchedule {
    /// η₀, the initial (base) rate.
    public let learningRate: Float
    /// η_min, the rate reached at step T and kept afterwards; default 0.
    public let minimumLearningRate: Float
    /// The length of the run in epochs; T = epochs · stepsPerEpoch.
    public let epochs: Int
    /// The number of optimizer steps in an epoch, converting the step clock to epochs.
    public let stepsPerEpoch: Int

    /// Cosine from η₀ = `learningRate` to η_min = `minimumLearningRate` over `epochs` epochs.
    ///
    /// - Throws: if a learning rate is negative, `minimumLearningRate > learningRate`, or
    ///   `epochs` or `stepsPerEpoch` is not positive.
    public init(learningRate: Float, minimumLearningRate: Float = 0, epochs: Int, stepsPerEpoch: Int) throws(LearningRateScheduleError) {
        try checkLearningRate(learningRate, "CosineAnnealing", "learningRate")
        try checkLearningRate(minimumLearningRate, "CosineAnnealing", "minimumLearningRate")
        try check(minimumLearningRate <= learningRate, "CosineAnnealing", "minimumLearningRate",
                  "must be ≤ learningRate (\(learningRate)), got \(minimumLearningRate)")
        try checkPositive(epochs, "CosineAnnealing", "epochs")
        try checkPositive(stepsPerEpoch, "CosineAnnealing", "stepsPerEpoch")
        (self.learningRate, self.minimumLearningRate, self.epochs, self.stepsPerEpoch) = (learningRate, minimumLearningRate, epochs, stepsPerEpoch)
    }

    /// T = epochs · stepsPerEpoch.
    public var totalSteps: Int? { epochs * stepsPerEpoch }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "CosineAnnealing: negative step \(step)")
        let total = Double(epochs * stepsPerEpoch)
        let progress = Swift.min(Double(step), total) / total
        let (high, low) = (Double(learningRate), Double(minimumLearningRate))
        return Float(low + (high - low) * (1 + Foundation.cos(Double.pi * progress)) / 2)
    }
}

/// A linear warm-up in front of any schedule, on the same clock:
///
///     ηₜ = base(t) · (t + 1) / W   for t < W,      ηₜ = base(t)   for t ≥ W,
///
/// with W = warmupEpochs · stepsPerEpoch. The first update uses base(0)/W and step W − 1
/// reaches the base schedule, which is not delayed (a cosine over the whole run keeps its
/// length; timm's convention). `warmupEpochs: 0` is the base schedule itself.
///
/// Reference: Goyal et al. 2017, *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*.
/// arXiv:1706.02677.
public struct LinearWarmup: LearningRateSchedule {
    /// The schedule being warmed up; it is not delayed.
    public let base: any LearningRateSchedule
    /// W = warmupEpochs · stepsPerEpoch, the number of warm-up steps (0 for none).
    public let warmupSteps: Int

    /// `base` with its first `warmupEpochs` epochs scaled linearly from 1/W up to 1.
    ///
    /// - Parameters:
    ///   - base: the schedule to warm up; it is not delayed.
    ///   - warmupEpochs: the warm-up's length in epochs (0: none).
    ///   - stepsPerEpoch: optimizer steps per epoch; W = warmupEpochs · stepsPerEpoch.
    ///   - totalEpochs: the run's length, if `base` does not know it (``StepDecay``,
    ///     ``MultiStepDecay``, ``ConstantLearningRate``); used only to reject a warm-up longer
    ///     than the run.
    /// - Throws: if `warmupEpochs` is negative or longer than the run (the base schedule's
    ///   ``LearningRateSchedule/totalSteps`` or `totalEpochs`), or `stepsPerEpoch` is not positive.
    public init(
        wrapping base: any LearningRateSchedule, warmupEpochs: Int, stepsPerEpoch: Int, totalEpochs: Int? = nil
    ) throws(LearningRateScheduleError) {
        try checkPositive(stepsPerEpoch, "LinearWarmup", "stepsPerEpoch")
        try check(warmupEpochs >= 0, "LinearWarmup", "warmupEpochs", "must be ≥ 0, got \(warmupEpochs)")
        let warmupSteps = warmupEpochs * stepsPerEpoch
        if let total = base.totalSteps {
            try check(warmupSteps <= total, "LinearWarmup", "warmupEpochs",
                      "warm-up of \(warmupSteps) steps is longer than the run (\(total) steps)")
        }
        if let totalEpochs {
            try checkPositive(totalEpochs, "LinearWarmup", "totalEpochs")
            try check(warmupEpochs <= totalEpochs, "LinearWarmup", "warmupEpochs",
                      "warm-up of \(warmupEpochs) epochs is longer than the run (\(totalEpochs) epochs)")
        }
        self.base = base
        self.warmupSteps = warmupSteps
    }

    /// The base schedule's length (the warm-up does not lengthen the run).
    public var totalSteps: Int? { base.totalSteps }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "LinearWarmup: negative step \(step)")
        let target = base.learningRate(atStep: step)
        guard step < warmupSteps else { return target }
        return Float(Double(target) * Double(step + 1) / Double(warmupSteps))
    }
}

/// The 1cycle policy, as PyTorch's `OneCycleLR` with its defaults (two phases,
/// `cycle_momentum` aside): over T = epochs · stepsPerEpoch steps the rate rises from
/// η_max / divFactor to η_max, then falls to η_max / (divFactor · finalDivFactor).
///
///     η_init = η_max / divFactor,   η_final = η_init / finalDivFactor
///     s₁ = pctStart · T − 1,  s₂ = T − 1                   (phase ends, as fractional steps)
///     ηₜ = anneal(η_init, η_max, t / s₁)                   for t ≤ s₁
///     ηₜ = anneal(η_max, η_final, (t − s₁) / (s₂ − s₁))    for t > s₁
///     anneal(a, b, p) = b + (a − b) · (1 + cos(π p)) / 2   (cosine; linear: a + (b − a)·p)
///
/// The peak η_max is reached at step pctStart · T − 1 (step 29 of 100 with the defaults)
/// and η_final at the last step T − 1, which it keeps afterwards (PyTorch raises instead).
/// Only the learning rate is scheduled: PyTorch's default momentum cycling (0.95 → 0.85 → 0.95)
/// is not applied.
///
/// Reference: Smith & Topin 2019, *Super-Convergence: Very Fast Training of Neural Networks
/// Using Large Learning Rates*.
/// arXiv:1708.07120.
public struct OneCycle: LearningRateSchedule {
    /// How each phase moves between its end values.
    public enum Annealing: Sendable, Equatable {
        /// anneal(a, b, p) = b + (a − b)·(1 + cos(π p))/2 (PyTorch's `anneal_strategy="cos"`).
        case cosine
        /// anneal(a, b, p) = a + (b − a)·p (PyTorch's `anneal_strategy="linear"`).
        case linear
    }

    /// η_max, the peak rate.
    public let maximumLearningRate: Float
    /// The length of the run in epochs; T = epochs · stepsPerEpoch.
    public let epochs: Int
    /// The number of optimizer steps in an epoch, converting the step clock to epochs.
    public let stepsPerEpoch: Int
    /// The fraction of the run spent rising to η_max; default 0.3 (PyTorch's `pct_start`).
    public let pctStart: Float
    /// η_init = η_max / divFactor; default 25 (PyTorch's `div_factor`).
    public let divFactor: Float
    /// η_final = η_init / finalDivFactor; default 1e4 (PyTorch's `final_div_factor`).
    public let finalDivFactor: Float
    /// How each phase moves between its end values; default `.cosine` (PyTorch's `anneal_strategy`).
    public let annealing: Annealing

    /// The 1cycle policy peaking at `maximumLearningRate` after `pctStart` of the run (PyTorch's defaults).
    ///
    /// - Throws: if `maximumLearningRate` is negative, `epochs` or `stepsPerEpoch` is not
    ///   positive, `pctStart` is outside (0, 1) or leaves the rising phase no longer than one
    ///   step, or a division factor is not positive.
    public init(
        maximumLearningRate: Float, epochs: Int, stepsPerEpoch: Int, pctStart: Float = 0.3,
        divFactor: Float = 25, finalDivFactor: Float = 1e4, annealing: Annealing = .cosine
    ) throws(LearningRateScheduleError) {
        try checkLearningRate(maximumLearningRate, "OneCycle", "maximumLearningRate")
        try checkPositive(epochs, "OneCycle", "epochs")
        try checkPositive(stepsPerEpoch, "OneCycle", "stepsPerEpoch")
        try check(pctStart > 0 && pctStart < 1, "OneCycle", "pctStart", "must be in (0, 1), got \(pctStart)")
        try check(divFactor.isFinite && divFactor > 0, "OneCycle", "divFactor", "must be finite and > 0, got \(divFactor)")
        try check(finalDivFactor.isFinite && finalDivFactor > 0, "OneCycle", "finalDivFactor",
                  "must be finite and > 0, got \(finalDivFactor)")
        let total = epochs * stepsPerEpoch
        try check(Double(pctStart) * Double(total) > 1, "OneCycle", "pctStart",
                  "the rising phase must last more than one step, got pctStart × \(total) steps = \(Double(pctStart) * Double(total))")
        self.maximumLearningRate = maximumLearningRate
        self.epochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
        self.pctStart = pctStart
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
        self.annealing = annealing
    }

    /// T = epochs · stepsPerEpoch.
    public var totalSteps: Int? { epochs * stepsPerEpoch }

    /// η_max / divFactor, the rate at step 0.
    public var initialLearningRate: Float { Float(Double(maximumLearningRate) / Double(divFactor)) }
    /// η_max / (divFactor · finalDivFactor), the rate at the last step.
    public var finalLearningRate: Float {
        Float(Double(maximumLearningRate) / Double(divFactor) / Double(finalDivFactor))
    }

    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "OneCycle: negative step \(step)")
        let total = epochs * stepsPerEpoch
        let t = Double(Swift.min(step, total - 1))
        let peak = Double(maximumLearningRate)
        let initial = peak / Double(divFactor)
        let final = initial / Double(finalDivFactor)
        let endOfRise = Double(pctStart) * Double(total) - 1
        let endOfRun = Double(total - 1)
        if t <= endOfRise {
            return Float(anneal(initial, peak, t / endOfRise))
        }
        return Float(anneal(peak, final, (t - endOfRise) / (endOfRun - endOfRise)))
    }

    private func anneal(_ start: Double, _ end: Double, _ progress: Double) -> Double {
        switch annealing {
        case .cosine: end + (start - end) / 2 * (Foundation.cos(Double.pi * progress) + 1)
        case .linear: (end - start) * progress + start
        }
    }
}
