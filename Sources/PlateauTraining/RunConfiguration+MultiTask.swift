import PlateauOptim

// Which settings a multi-task run (`--tasks` ≥ 2) accepts: the checks live here so that
// `RunConfiguration.validate` stays one call away from them.
extension RunConfiguration {
    /// The largest `--tasks`.
    public static let maximumTasks = 16

    /// Rejects multi-task settings no run can use, naming the field: `tasks`, `aggregator`,
    /// and what a multi-task run cannot combine with (another dataset or model, objective
    /// terms, label noise, micro-batches, m-sharpness, a summed-loss rule with an aggregator
    /// other than `ew`), and a per-task rule (`fmtl`) in a single-task run.
    func validateMultiTask(using registry: MethodRegistry) throws {
        func fail(_ field: String, _ message: String) -> ConfigurationError { ConfigurationError(field: field, message: message) }
        guard (1...Self.maximumTasks).contains(tasks) else { throw fail("tasks", "expected a number of tasks in 1...\(Self.maximumTasks), got \(tasks)") }
        guard GradientAggregators.names.contains(aggregator) else {
            let near = nearestName(to: aggregator, among: GradientAggregators.names).map { " (did you mean '\($0)'?)" } ?? ""
            throw fail("aggregator", "expected one of \(GradientAggregators.names.joined(separator: ", ")), got '\(aggregator)'\(near)")
        }
        let method = try registry.entry(named: optimizer)
        let context = MethodContext(configuration: self, sampleCount: 1, classCount: 1)
        let perTask = (try? method.makeRule?(registry.methodSettings(self), context)).map { $0 is any PerTaskSharpnessAwareRule } ?? false
        guard tasks > 1 else {
            if perTask { throw fail("tasks", "\(optimizer) perturbs each task's loss separately: it needs a multi-task run (--tasks 2 --dataset multi-mnist), got --tasks 1") }
            if aggregator != "ew" { throw fail("aggregator", "an aggregator combines the gradients of several tasks: it needs --tasks ≥ 2, got --tasks 1 with --aggregator \(aggregator)") }
            return
        }
        let taskDatasets = DatasetCatalog.entries.filter { !$0.taskNames.isEmpty }
        guard let entry = DatasetCatalog.entry(named: dataset), entry.taskNames.count == tasks else {
            let choices = taskDatasets.map { "\($0.name) (\($0.taskNames.count) tasks: \($0.taskNames.joined(separator: ", ")))" }.joined(separator: ", ")
            throw fail("dataset", "--tasks \(tasks) needs a dataset with \(tasks) tasks (\(choices)), got '\(dataset)'")
        }
        guard model == "lenet" else { throw fail("model", "multi-task runs train lenet's body with one head per task; expected lenet, got '\(model)'") }
        guard method.makeTerm == nil else {
            throw fail("optimizer", "\(optimizer) adds an objective term, which multi-task runs do not take; use a base optimizer (\(registry.baseOptimizerNames.joined(separator: ", "))), a sharpness-aware rule on the summed loss or fmtl")
        }
        if method.kind == .sharpnessAware, !perTask, aggregator != "ew" {
            throw fail("aggregator", "\(optimizer) perturbs the summed loss, whose gradient is the equal-weights sum; use --aggregator ew, or --optimizer fmtl to perturb each task and aggregate with \(aggregator)")
        }
        guard labelNoise == 0 else { throw fail("label-noise", "label noise is not defined for multi-task labels; expected 0 with --tasks \(tasks), got \(labelNoise)") }
        if let microBatchSize { throw fail("micro-batch-size", "multi-task steps take the whole batch at once; remove it (got \(microBatchSize))") }
        if let mSharpness { throw fail("m-sharpness", "multi-task steps perturb once per step (or per task with fmtl); remove it (got \(mSharpness))") }
    }
}
