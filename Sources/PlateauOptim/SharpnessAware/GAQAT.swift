import PlateauTensor

/// A rule that holds some parameters fixed: ``SharpnessAwareMinimizer`` puts them back to
/// their values before the step after the base optimizer's update, so neither momentum nor
/// weight decay moves them.
public protocol FreezingRule: SharpnessAwareRule {
    /// The parameter paths frozen at the step that just chose its direction.
    var frozenParameters: Set<String> { get }
}

/// GAQAT's scale freezing (Jiang et al. 2024, arXiv:2412.05551) over SAM, for models whose
/// layers are LSQ-quantized (`--quantize`).
///
/// SAM's step (ε = ρ·g/‖g‖, descend along g_SAM = ∇L(w + ε)); in addition, for every
/// quantizer step size s (a parameter whose path ends in `quantizer.weight_scale` or
/// `quantizer.input_scale`), each step compares the sign of the task gradient g_s = ∂L(w)/∂s
/// with that of the smoothness gradient g_SAM,s − g_s (the gradient of the sharpness
/// L(w + ε) − L(w), which costs no extra pass). Over a window of T steps the conflict rate is
///
///     D_s = (1/T)·Σ_t 𝟙[sign(g_s) · sign(g_SAM,s − g_s) < 0]
///
/// and, at the end of each window once `warmupSteps` steps have been taken, a step size
/// with D_s > τ is frozen for the next window (its direction zeroed and its value held),
/// one with D_s ≤ τ released: the freezing is re-evaluated each window (the paper's
/// "dynamic selective freezing"). Weights keep training throughout.
///
/// What is unverified: the paper's exact disorder metric and schedule. This is the
/// reconstruction of `seed-papers.md` §4 — a sign-conflict rate over a window, threshold
/// τ = 0.5, re-evaluation every window — and the paper's DG-SAM base is likely SAGM, not
/// SAM. A zero gradient counts as no conflict.
///
/// Statistics for logs (``scaleStatistics``), cumulative since the start of training:
/// conflicts, steps, sign flips of each scale's descent direction between consecutive
/// steps (what oscillation of the scale looks like; a frozen scale's zero direction
/// neither flips nor resets the previous sign), the last window's rate, and whether it is
/// frozen.
public struct GAQAT: GradientScalingRule, FreezingRule {
    /// ρ, SAM's radius.
    public var rho: Float
    /// T, steps per window.
    public var window: Int
    /// τ: a step size whose window conflict rate exceeds it is frozen.
    public var threshold: Float
    /// Steps before the first freezing decision.
    public var warmupSteps: Int

    public private(set) var frozenParameters: Set<String> = []
    /// Conflicts within the current window, by scale path.
    private var windowConflicts: [String: Int] = [:]
    private var windowSteps = 0
    /// D_s of the last complete window.
    public private(set) var lastWindowRates: [String: Float] = [:]
    public private(set) var conflictTotals: [String: Int] = [:]
    public private(set) var flipTotals: [String: Int] = [:]
    public private(set) var stepTotal = 0
    private var previousSigns: [String: Float] = [:]

    /// GAQAT with SAM radius ρ, window T, threshold τ and warm-up steps.
    ///
    /// - Precondition: ρ ≥ 0, T ≥ 1, warm-up ≥ 0.
    public init(rho: Float = 0.05, window: Int = 50, threshold: Float = 0.5, warmupSteps: Int = 100) {
        precondition(rho >= 0 && window >= 1 && warmupSteps >= 0, "GAQAT: expected rho ≥ 0, window ≥ 1, warm-up ≥ 0")
        self.rho = rho
        self.window = window
        self.threshold = threshold
        self.warmupSteps = warmupSteps
    }

    public var name: String { "gaqat" }

    /// Whether `path` is a quantizer step size.
    public static func isScale(_ path: String) -> Bool {
        path.hasSuffix("quantizer.weight_scale") || path.hasSuffix("quantizer.input_scale")
    }

    /// SAM's c = ρ/(‖g‖ + 1e-12).
    public func perturbationScale(gradientNorm: Float, context: StepContext) -> Float? {
        rho / (gradientNorm + 1e-12)
    }

    /// Whether the task gradient `task` and the smoothness gradient `smooth` have opposite signs.
    public static func conflicts(task: Float, smooth: Float) -> Bool {
        (task > 0 && smooth < 0) || (task < 0 && smooth > 0)
    }

    /// g_SAM with the frozen step sizes' entries zeroed, after counting conflicts and
    /// (at a window's end) re-deciding which are frozen.
    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        guard let perturbedGradient else { return gradient }
        let scales = gradient.keys.filter(Self.isScale)
        for key in scales {
            let task = gradient[key]!.scalars.reduce(0, +), sam = perturbedGradient[key]!.scalars.reduce(0, +)
            if Self.conflicts(task: task, smooth: sam - task) {
                windowConflicts[key, default: 0] += 1
                conflictTotals[key, default: 0] += 1
            }
        }
        windowSteps += 1
        stepTotal += 1
        if windowSteps >= window {
            for key in scales {
                let rate = Float(windowConflicts[key] ?? 0) / Float(windowSteps)
                lastWindowRates[key] = rate
                if context.step + 1 >= warmupSteps {
                    if rate > threshold { frozenParameters.insert(key) } else { frozenParameters.remove(key) }
                }
            }
            windowConflicts = [:]
            windowSteps = 0
        }
        let direction = perturbedGradient.mapWithKeys { key, value in
            frozenParameters.contains(key) ? Tensor.zeros(value.shape) : value
        }
        for key in scales {
            let value = direction[key]!.scalars.reduce(0, +)
            guard value != 0 else { continue }
            let sign: Float = value > 0 ? 1 : -1
            if let previous = previousSigns[key], previous != sign { flipTotals[key, default: 0] += 1 }
            previousSigns[key] = sign
        }
        return direction
    }

    /// Per step size: `conflicts/<path>`, `flips/<path>` (cumulative), `window_rate/<path>`
    /// (the last window's D), `frozen/<path>` (0 or 1); and `steps`, the steps counted.
    public var scaleStatistics: [(tag: String, value: Float)] {
        let keys = Set(conflictTotals.keys).union(flipTotals.keys).union(lastWindowRates.keys).union(previousSigns.keys).sorted()
        var result: [(tag: String, value: Float)] = [("steps", Float(stepTotal))]
        for key in keys {
            result += [
                ("conflicts/\(key)", Float(conflictTotals[key] ?? 0)), ("flips/\(key)", Float(flipTotals[key] ?? 0)),
                ("window_rate/\(key)", lastWindowRates[key] ?? 0), ("frozen/\(key)", frozenParameters.contains(key) ? 1 : 0),
            ]
        }
        return result
    }

    // State keys are "<kind>.<parameter path>", as the base optimizers' are.
    private static let kinds = ["window_conflicts", "window_rate", "conflicts", "flips", "previous_sign", "frozen"]

    public var state: OptimizerState {
        var scalars: [String: Double] = ["window_steps": Double(windowSteps), "steps": Double(stepTotal)]
        for (key, value) in windowConflicts { scalars["window_conflicts.\(key)"] = Double(value) }
        for (key, value) in lastWindowRates { scalars["window_rate.\(key)"] = Double(value) }
        for (key, value) in conflictTotals { scalars["conflicts.\(key)"] = Double(value) }
        for (key, value) in flipTotals { scalars["flips.\(key)"] = Double(value) }
        for (key, value) in previousSigns { scalars["previous_sign.\(key)"] = Double(value) }
        for key in frozenParameters { scalars["frozen.\(key)"] = 1 }
        return OptimizerState(scalars: scalars)
    }

    public mutating func restore(_ state: OptimizerState) throws {
        if let key = state.tensors.keys.first { throw OptimizerStateError.unexpectedKey(key) }
        var restored = GAQAT(rho: rho, window: window, threshold: threshold, warmupSteps: warmupSteps)
        for (key, value) in state.scalars {
            if key == "window_steps" { restored.windowSteps = Int(value); continue }
            if key == "steps" { restored.stepTotal = Int(value); continue }
            guard let dot = key.firstIndex(of: "."), Self.kinds.contains(String(key[..<dot])) else { throw OptimizerStateError.unexpectedKey(key) }
            let path = String(key[key.index(after: dot)...])
            switch key[..<dot] {
            case "window_conflicts": restored.windowConflicts[path] = Int(value)
            case "window_rate": restored.lastWindowRates[path] = Float(value)
            case "conflicts": restored.conflictTotals[path] = Int(value)
            case "flips": restored.flipTotals[path] = Int(value)
            case "previous_sign": restored.previousSigns[path] = Float(value)
            default: restored.frozenParameters.insert(path)
            }
        }
        self = restored
    }
}
