import PlateauNN
import PlateauOptim
import PlateauTensor

extension MethodRegistry {
    /// The optimizer of a multi-task run (`tasks` ≥ 2): the base optimizer under
    /// ``/PlateauOptim/MultiTaskMinimizer`` with the run's aggregator and the method's rule —
    /// none for a base optimizer, a per-task rule for fmtl, a summed-loss rule (sam, …) with `ew`.
    func makeMultiTaskStepper(_ c: RunConfiguration, context: MethodContext) throws -> any TrainingStepper {
        let (optimizer, rule) = try makeOptimizerAndRule(c, context: context)
        guard let aggregator = GradientAggregators.named(c.aggregator) else {
            throw ConfigurationError(field: "aggregator", message: "expected one of \(GradientAggregators.names.joined(separator: ", ")), got '\(c.aggregator)'")
        }
        return Self.multiTaskMinimizer(rule, optimizer, aggregator, c)
    }

    private static func multiTaskMinimizer<Rule: SharpnessAwareRule, Base: Optimizer>(
        _ rule: Rule, _ base: Base, _ aggregator: any GradientAggregator, _ c: RunConfiguration
    ) -> any TrainingStepper {
        MultiTaskMinimizer(
            rule: rule, base: base, aggregator: aggregator, isShared: { MultiTaskLeNet.isShared($0) },
            maxGradientNorm: c.maxGradientNorm.flatMap { $0.isFinite ? $0 : nil })
    }

    /// The objective of a multi-task run: one cross-entropy term per task (`task1`, `task2`, …).
    func makeMultiTaskObjective(_ c: RunConfiguration, context: MethodContext) throws -> TrainingObjective {
        multiTaskObjective(try c.taskLabels(classCount: context.classCount), labelSmoothing: c.labelSmoothing)
    }
}

/// F-MTL's options: ρ (0.05, SAM's; the official MultiMNIST scripts use ASAM with ρ 2),
/// ASAM's ascent instead of SAM's, and ASAM's η.
public struct FMTLOptions: MethodOptions {
    public var rho: Float = 0.05
    public var fmtlAdaptive = false
    public var eta: Float = 0.01
    public init() {}
    public static let options = [
        OptionSpec("rho", \FMTLOptions.rho, help: "Each task's perturbation radius ρ."),
        OptionSpec("fmtl-adaptive", \FMTLOptions.fmtlAdaptive, help: "Perturb each task with ASAM's ρ·T²g/‖Tg‖ (the official code's MultiMNIST setting) instead of SAM's."),
        OptionSpec("eta", \FMTLOptions.eta, help: "η in ASAM's T = |w| + η (with --fmtl-adaptive)."),
    ]
    public func validate() throws(ConfigurationError) {
        guard rho >= 0, rho.isFinite else { throw ConfigurationError(field: "rho", message: "expected a finite radius ≥ 0, got \(rho)") }
        guard eta >= 0, eta.isFinite else { throw ConfigurationError(field: "eta", message: "expected a finite η ≥ 0, got \(eta)") }
    }
}
