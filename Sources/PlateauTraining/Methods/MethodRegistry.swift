import PlateauNN
import PlateauOptim
import PlateauTensor

/// What a method's factory may read about the run it is built for.
public struct MethodContext: Sendable {
    /// The run's common settings (learning rate, momentum, weight decay, seed, epochs).
    public var configuration: RunConfiguration
    /// Training samples (per-sample state such as SAF's memory is sized by it).
    public var sampleCount: Int
    public var classCount: Int

    public init(configuration: RunConfiguration, sampleCount: Int, classCount: Int) {
        self.configuration = configuration
        self.sampleCount = sampleCount
        self.classCount = classCount
    }
}

/// An options type for methods without options.
public struct NoOptions: MethodOptions {
    public init() {}
    public static var options: [OptionSpec<NoOptions>] { [] }
}

/// One method of the table: a base optimizer, a sharpness-aware rule (run over the base
/// optimizer by ``/PlateauOptim/SharpnessAwareMinimizer``) or an objective term (added to the
/// cross-entropy, trained by the base optimizer). Its options, defaults and help come from
/// one ``MethodOptions`` type; its factory builds it from those options.
public struct MethodEntry: Sendable {
    /// What the method is: a base optimizer, a rule over one, or a term of the objective.
    public enum Kind: String, Sendable, CaseIterable {
        case optimizer
        case sharpnessAware = "sharpness-aware"
        case objective
    }

    /// One option as `--help` and the README list it.
    public struct Option: Sendable, Equatable {
        public var name: String
        public var help: String
        public var valueName: String
        public var defaultValue: SettingValue
    }

    public let name: String
    public let kind: Kind
    /// One line for `--help` and the README: the method and its paper.
    public let summary: String
    public let options: [Option]
    /// The complete, validated options of the method given `settings`.
    let resolve: @Sendable (MethodSettings) throws(ConfigurationError) -> MethodSettings
    let parse: @Sendable (String, String) -> SettingValue?
    let makeOptimizer: (@Sendable (MethodSettings, MethodContext) throws -> any Optimizer)?
    let makeRule: (@Sendable (MethodSettings, MethodContext) throws -> any SharpnessAwareRule)?
    let makeTerm: (@Sendable (MethodSettings, MethodContext, any Layer) throws -> any ObjectiveTerm)?

    private init<Options: MethodOptions>(
        name: String, kind: Kind, summary: String, options: Options.Type,
        optimizer: (@Sendable (Options, MethodContext) throws -> any Optimizer)? = nil,
        rule: (@Sendable (Options, MethodContext) throws -> any SharpnessAwareRule)? = nil,
        term: (@Sendable (Options, MethodContext, any Layer) throws -> any ObjectiveTerm)? = nil
    ) {
        self.name = name
        self.kind = kind
        self.summary = summary
        let defaults = Options()
        self.options = Options.options.map { Option(name: $0.name, help: $0.help, valueName: $0.valueName, defaultValue: $0.read(defaults)) }
        resolve = { settings throws(ConfigurationError) in try Options(settings: settings, method: name).settings }
        parse = { option, argument in Options.options.first { $0.name == option }?.parse(argument) }
        if let optimizer {
            makeOptimizer = { @Sendable (settings: MethodSettings, context: MethodContext) throws -> any Optimizer in
                try optimizer(try Options(settings: settings, method: name), context)
            }
        } else { makeOptimizer = nil }
        if let rule {
            makeRule = { @Sendable (settings: MethodSettings, context: MethodContext) throws -> any SharpnessAwareRule in
                try rule(try Options(settings: settings, method: name), context)
            }
        } else { makeRule = nil }
        if let term {
            makeTerm = { @Sendable (settings: MethodSettings, context: MethodContext, model: any Layer) throws -> any ObjectiveTerm in
                try term(try Options(settings: settings, method: name), context, model)
            }
        } else { makeTerm = nil }
    }

    /// A base optimizer (`sgd`, `adam`): used alone, or under a rule or an objective term.
    public static func optimizer<Options: MethodOptions>(
        _ name: String, summary: String, options: Options.Type,
        make: @escaping @Sendable (Options, MethodContext) throws -> any Optimizer
    ) -> MethodEntry {
        MethodEntry(name: name, kind: .optimizer, summary: summary, options: options, optimizer: make)
    }

    /// A sharpness-aware rule, run over the run's base optimizer.
    public static func sharpnessAware<Options: MethodOptions>(
        _ name: String, summary: String, options: Options.Type,
        make: @escaping @Sendable (Options, MethodContext) throws -> any SharpnessAwareRule
    ) -> MethodEntry {
        MethodEntry(name: name, kind: .sharpnessAware, summary: summary, options: options, rule: make)
    }

    /// An objective term added to the cross-entropy; the base optimizer trains the sum.
    /// `make` receives the initial model (a teacher may copy it).
    /// A sharpness-aware rule that reads a value measured on each batch by its own objective
    /// term (``ObjectiveTerm/measurement(for:model:)``), such as TRAM's radius from the
    /// distance to a reference model: the rule over the base optimizer, and the term beside
    /// the cross-entropy.
    public static func sharpnessAware<Options: MethodOptions>(
        _ name: String, summary: String, options: Options.Type,
        make: @escaping @Sendable (Options, MethodContext) throws -> any SharpnessAwareRule,
        measuredBy term: @escaping @Sendable (Options, MethodContext, any Layer) throws -> any ObjectiveTerm
    ) -> MethodEntry {
        MethodEntry(name: name, kind: .sharpnessAware, summary: summary, options: options, rule: make, term: term)
    }

    /// A sharpness-aware rule trained together with its own objective term beside the
    /// cross-entropy (UDIM: SAM plus an inconsistency penalty on input-perturbed copies).
    public static func sharpnessAware<Options: MethodOptions>(
        _ name: String, summary: String, options: Options.Type,
        make: @escaping @Sendable (Options, MethodContext) throws -> any SharpnessAwareRule,
        withTerm term: @escaping @Sendable (Options, MethodContext, any Layer) throws -> any ObjectiveTerm
    ) -> MethodEntry {
        MethodEntry(name: name, kind: .sharpnessAware, summary: summary, options: options, rule: make, term: term)
    }

    public static func objective<Options: MethodOptions>(
        _ name: String, summary: String, options: Options.Type,
        make: @escaping @Sendable (Options, MethodContext, any Layer) throws -> any ObjectiveTerm
    ) -> MethodEntry {
        MethodEntry(name: name, kind: .objective, summary: summary, options: options, term: make)
    }

    /// A base optimizer without options of its own.
    public static func optimizer(
        _ name: String, summary: String, make: @escaping @Sendable (NoOptions, MethodContext) throws -> any Optimizer
    ) -> MethodEntry {
        optimizer(name, summary: summary, options: NoOptions.self, make: make)
    }

    /// The typed value of `argument` for the option `option`, or `nil` when it does not parse.
    public func parse(option: String, argument: String) -> SettingValue? { parse(option, argument) }

    /// The complete options the method runs with: defaults, overridden by `settings`,
    /// validated.
    public func resolvedOptions(_ settings: MethodSettings) throws(ConfigurationError) -> MethodSettings {
        try resolve(settings)
    }
}

/// The table of methods a run can name: every optimizer, sharpness-aware rule and
/// objective term, with its options and factory. A value, not a global: the CLI uses
/// ``standard``; a test or a plug-in file registers its own method into a copy and trains
/// through the same path.
public struct MethodRegistry: Sendable {
    public private(set) var entries: [MethodEntry]

    public init(_ entries: [MethodEntry]) {
        self.entries = []
        for entry in entries { register(entry) }
    }

    /// Adds `entry`; a name can be registered once.
    public mutating func register(_ entry: MethodEntry) {
        precondition(!entries.contains { $0.name == entry.name }, "MethodRegistry: '\(entry.name)' is registered twice")
        entries.append(entry)
    }

    public var names: [String] { entries.map(\.name) }
    public var baseOptimizerNames: [String] { entries.filter { $0.kind == .optimizer }.map(\.name) }

    /// The entry named `name`; the error lists the choices and suggests a near name.
    public func entry(named name: String, field: String = "optimizer") throws(ConfigurationError) -> MethodEntry {
        if let entry = entries.first(where: { $0.name == name }) { return entry }
        let near = nearestName(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
        throw ConfigurationError(field: field, message: "expected one of \(names.joined(separator: ", ")), got '\(name)'\(near)")
    }

    /// The base optimizer entry of `configuration`: the method itself when it is one,
    /// otherwise `baseOptimizer`.
    func baseEntry(_ c: RunConfiguration) throws(ConfigurationError) -> MethodEntry {
        let method = try entry(named: c.optimizer)
        if method.kind == .optimizer { return method }
        let base = try entry(named: c.baseOptimizer, field: "base-optimizer")
        guard base.kind == .optimizer else {
            throw ConfigurationError(field: "base-optimizer", message: "expected one of \(baseOptimizerNames.joined(separator: ", ")), got '\(c.baseOptimizer)'")
        }
        return base
    }

    /// The method's complete options (defaults applied), or an error naming the option.
    ///
    /// A rule or an objective term also takes its base optimizer's options
    /// (`--optimizer sam --base-optimizer muon --muon-momentum 0.9`): each option goes to the
    /// entry that declares it, the method first when both do.
    public func resolvedOptions(for c: RunConfiguration) throws(ConfigurationError) -> MethodSettings {
        let (method, base) = try optionOwners(of: c)
        guard let base else { return try method.resolvedOptions(c.methodOptions) }
        let (methodSettings, baseSettings) = Self.split(c.methodOptions, between: method, and: base)
        var resolved = try method.resolvedOptions(methodSettings)
        resolved.merge(try base.resolvedOptions(baseSettings)) { mine, _ in mine }
        return resolved
    }

    /// The names of the entries whose options a run of `c` takes: its method, then the base
    /// optimizer under a rule or a term.
    public func optionOwnerNames(of c: RunConfiguration) throws(ConfigurationError) -> [String] {
        let (method, base) = try optionOwners(of: c)
        return [method.name] + (base.map { [$0.name] } ?? [])
    }

    private func optionOwners(of c: RunConfiguration) throws(ConfigurationError) -> (method: MethodEntry, base: MethodEntry?) {
        let method = try entry(named: c.optimizer)
        return (method, method.kind == .optimizer ? nil : try baseEntry(c))
    }

    /// `settings` divided between a method and its base optimizer: an option the base
    /// declares and the method does not goes to the base; everything else stays with the
    /// method, whose validation names an option neither declares.
    static func split(_ settings: MethodSettings, between method: MethodEntry, and base: MethodEntry) -> (method: MethodSettings, base: MethodSettings) {
        let methodNames = Set(method.options.map(\.name)), baseNames = Set(base.options.map(\.name))
        let toBase = settings.filter { !methodNames.contains($0.key) && baseNames.contains($0.key) }
        return (settings.filter { toBase[$0.key] == nil }, toBase)
    }

    /// The base optimizer and the rule of a run, each built from its own share of the run's
    /// options.
    func makeOptimizerAndRule(_ c: RunConfiguration, context: MethodContext) throws -> (any Optimizer, any SharpnessAwareRule) {
        let method = try entry(named: c.optimizer)
        let base = try baseEntry(c)
        if method.kind == .optimizer { return (try base.makeOptimizer!(c.methodOptions, context), NoPerturbation()) }
        let (methodSettings, baseSettings) = Self.split(c.methodOptions, between: method, and: base)
        return (try base.makeOptimizer!(baseSettings, context), try method.makeRule?(methodSettings, context) ?? NoPerturbation())
    }

    /// The settings of the run's method alone (its base optimizer's removed).
    func methodSettings(_ c: RunConfiguration) throws -> MethodSettings {
        let method = try entry(named: c.optimizer)
        guard method.kind != .optimizer else { return c.methodOptions }
        return Self.split(c.methodOptions, between: method, and: try baseEntry(c)).method
    }

    /// The option that switches a method's objective term on after an epoch (SAF's and
    /// MESA's `--saf-start`: the term is on in the 0-based epochs e > E_start).
    public static let startEpochOption = "saf-start"

    /// A warning when `c` ends before its method's term switches on — the run would train
    /// exactly as its base optimizer — naming the method, its start and the epoch count;
    /// `nil` otherwise. The start is found among the method's options
    /// (``startEpochOption``), not by the method's name.
    public func inactiveTermWarning(for c: RunConfiguration) -> String? {
        guard let method = try? entry(named: c.optimizer), method.options.contains(where: { $0.name == Self.startEpochOption }),
              let options = try? method.resolvedOptions(c.methodOptions), case .int(let start)? = options[Self.startEpochOption]
        else { return nil }
        guard c.epochs <= start + 1 else { return nil }  // the last epoch, c.epochs − 1, must exceed the start
        return "warning: \(c.optimizer)'s term is on only in the epochs after --\(Self.startEpochOption) \(start) (0-based e > \(start), "
            + "from the epoch \(start + 2) counting from 1), but the run has \(c.epochs) epoch\(c.epochs == 1 ? "" : "s"): "
            + "\(c.optimizer) trains exactly as its base optimizer \(c.baseOptimizer). Train at least \(start + 2) epochs or lower --\(Self.startEpochOption)."
    }

    /// The optimizer of a run: the base optimizer under the method's rule (no perturbation
    /// for plain optimizers and objective terms), driven by ``/PlateauOptim/SharpnessAwareMinimizer``.
    public func makeStepper(_ c: RunConfiguration, context: MethodContext) throws -> any TrainingStepper {
        if c.tasks > 1 { return try makeMultiTaskStepper(c, context: context) }  // MethodRegistry+MultiTask.swift
        let (optimizer, rule) = try makeOptimizerAndRule(c, context: context)
        return Self.minimizer(rule, optimizer, c)
    }

    private static func minimizer<Rule: SharpnessAwareRule, Base: Optimizer>(_ rule: Rule, _ base: Base, _ c: RunConfiguration) -> any TrainingStepper {
        SharpnessAwareMinimizer(
            rule: rule, base: base, microBatchSize: c.microBatchSize, sharpnessChunkSize: c.mSharpness,
            maxGradientNorm: c.maxGradientNorm.flatMap { $0.isFinite ? $0 : nil })  // an infinite norm: no clipping
    }

    /// The objective of a run: cross-entropy (with the run's label smoothing), then the
    /// method's term when the method is an objective term.
    public func makeObjective<Model: Layer>(_ c: RunConfiguration, context: MethodContext, model: Model) throws -> TrainingObjective {
        if c.tasks > 1 { return try makeMultiTaskObjective(c, context: context) }  // MethodRegistry+MultiTask.swift
        let method = try entry(named: c.optimizer)
        var terms: [any ObjectiveTerm] = [CrossEntropyTerm(labelSmoothing: c.labelSmoothing)]
        if let make = method.makeTerm { terms.append(try make(try methodSettings(c), context, model)) }
        return TrainingObjective(terms)
    }
}
