import PlateauData
import PlateauDistributed
import PlateauNN
import PlateauOptim
import PlateauTensor

/// One training step of any method on a batch: the run's optimizer (a base optimizer under
/// a sharpness-aware rule, or alone) on the run's objective (cross-entropy plus any terms).
/// Shared by the training loop and the benchmark, so what is timed is what trains.
///
/// The engine knows no method by name: the optimizer comes from the method table and sees
/// only per-sample losses; the objective's terms see only batches and outputs.
public struct StepEngine<Model: Layer> {
    public var stepper: any TrainingStepper
    public var objective: TrainingObjective
    public let classCount: Int
    /// What the last step measured besides its report: each term's mean at w and the mean
    /// loss at w + ε (for logging).
    public private(set) var lastStep = StepDiagnostics()
    /// Pruning masks by parameter path (``MagnitudePruning``), `nil`: a dense model. Every
    /// pass sees the masked weights (so pruned weights get a zero gradient) and the weights
    /// are re-masked after each step.
    public var masks: ParameterSet?
    /// Data-parallel steps (`nil`: one process). Set it with ``distribute(over:)``.
    public private(set) var dataParallel: DataParallelism?

    /// Builds the optimizer and objective `configuration` names from `registry`.
    public init(
        configuration c: RunConfiguration, model: Model, sampleCount: Int, classCount: Int, registry: MethodRegistry = .standard
    ) throws {
        let context = MethodContext(configuration: c, sampleCount: sampleCount, classCount: classCount)
        stepper = try registry.makeStepper(c, context: context)
        objective = try registry.makeObjective(c, context: context, model: model)
        self.classCount = classCount
    }

    /// An engine from parts, for loops that build their own optimizer and objective.
    public init(stepper: any TrainingStepper, objective: TrainingObjective, classCount: Int) {
        self.stepper = stepper
        self.objective = objective
        self.classCount = classCount
    }

    /// Runs every following step data-parallel: ``step(_:on:epoch:learningRate:)`` takes the
    /// global batch, this rank evaluates its shard (``/PlateauDistributed/Communicator/shard(of:)``),
    /// and the stepper averages the gradients over the ranks.
    ///
    /// - Throws: ``ConfigurationError`` for a stepper that cannot run data-parallel (the
    ///   multi-task minimizers).
    public mutating func distribute(over parallelism: DataParallelism) throws {
        stepper.dataParallel = parallelism
        guard stepper.dataParallel != nil, !(stepper is any MultiTaskStepper) else {
            throw ConfigurationError(field: "distributed", message: "the multi-task methods do not run data-parallel yet; train them in one process")
        }
        dataParallel = parallelism
    }

    /// One optimizer step on `batch`; returns the step report and the first-pass outputs.
    ///
    /// Data-parallel (``distribute(over:)``): `batch` is the global batch, the same on every
    /// rank. The rank steps on its shard; then the shards' first-pass outputs and per-sample
    /// losses are gathered (one allgather of n·(C+1) floats) so that the report, the returned
    /// logits and the objective's end of step (SAF's memory) cover the global batch on every
    /// rank, in the batch's order.
    public mutating func step(_ model: inout Model, on batch: Batch, epoch: Int, learningRate: Float) -> (report: StepReport, logits: Tensor) {
        guard let dataParallel else { return step(&model, shard: batch, of: batch, epoch: epoch, learningRate: learningRate) }
        let communicator = dataParallel.communicator
        let n = batch.count
        let range = communicator.shard(of: n)
        precondition(!range.isEmpty, "StepEngine: rank \(communicator.rank) of \(communicator.size) has no sample of a batch of \(n)")
        let shard = range.count == n ? batch : Batch(
            images: batch.images.gathering(Array(range), alongAxis: 0), labels: Array(batch.labels[range]), indices: Array(batch.indices[range]))
        stepper.dataParallel?.share = Float(range.count) / Float(n)
        var (report, logits) = step(&model, shard: shard, of: nil, epoch: epoch, learningRate: learningRate)
        // Rows of C logits and the sample's loss, gathered in rank order = batch order.
        let width = (logits.shape.last ?? 0) + 1
        var rows: [Float] = []
        rows.reserveCapacity(range.count * width)
        for row in 0..<range.count {
            rows += logits.scalars[(row * (width - 1))..<((row + 1) * (width - 1))]
            rows.append(report.sampleLosses[row])
        }
        let counts = (0..<communicator.size).map { type(of: communicator).shard(of: n, rank: $0, size: communicator.size).count * width }
        let gathered = communicator.allgather(rows, counts: counts)
        var globalLogits: [Float] = [], losses: [Float] = []
        globalLogits.reserveCapacity(n * (width - 1))
        losses.reserveCapacity(n)
        for row in 0..<n {
            globalLogits += gathered[(row * width)..<((row + 1) * width - 1)]
            losses.append(gathered[(row + 1) * width - 1])
        }
        logits = Tensor(shape: [n, width - 1], scalars: globalLogits)
        report.sampleLosses = losses
        report.loss = losses.reduce(0, +) / Float(n)  // as one process sums its batch
        if report.loss.isFinite {
            objective.stepFinished(on: StepBatch(inputs: batch.images, labels: batch.labels, indices: batch.indices, epoch: epoch), outputs: logits, model: model)
        }
        return (report, logits)
    }

    /// One step on `batch`; the objective's end of step runs on `whole` (the same batch) unless
    /// it is `nil` (a data-parallel shard: the caller finishes the step on the global batch).
    private mutating func step(_ model: inout Model, shard batch: Batch, of whole: Batch?, epoch: Int, learningRate: Float) -> (report: StepReport, logits: Tensor) {
        stepper.learningRate = learningRate
        let n = batch.count
        let stepBatch = StepBatch(inputs: batch.images, labels: batch.labels, indices: batch.indices, epoch: epoch)
        guard let loss = objective.termLosses(for: stepBatch, model: model) else {
            preconditionFailure("StepEngine: the objective has no active term")
        }
        var outputRows = OutputRows(rowCount: n)
        var diagnostics = DiagnosticSums()
        let measurement = objective.measurement(for: stepBatch, model: model)
        let masks = masks
        let termLosses = { (m: inout Model, request: LossRequest) -> (total: Tensor, terms: [(name: String, values: Tensor)]) in
            // Pruning: a recorded product, so the gradient of a pruned weight is exactly 0.
            if let masks { m.update(MagnitudePruning.apply(masks, to: m.parameters)) }
            let images = request.samples.map { batch.images.gathering($0, alongAxis: 0) } ?? batch.images
            let labels = request.samples.map { $0.map { batch.labels[$0] } } ?? batch.labels
            let outputs = m(images)
            if request.point == .parameters { outputRows.store(outputs, at: request.samples) }
            var input = TermInput(outputs: outputs, rows: request.samples, labels: labels, point: request.point)
            let tracked = m  // holds the tracked weights; read only by a term that asks
            input.parameters = { tracked.parameters }
            if m is any LinearHeaded {
                // A copy holds the same tracked weights as `m`, so gradients still reach them.
                let snapshot = m
                input.featuresAndOutputs = { x in
                    var model = snapshot as! any LinearHeaded
                    return model.featuresAndOutputs(x)
                }
            }
            let (total, terms) = loss(input) { m($0) }
            diagnostics.add(total: total, terms: terms, at: request.point)
            return (total, terms)
        }
        let perSampleLoss = { (m: inout Model, request: LossRequest) -> Tensor in termLosses(&m, request).total }
        var taskGradientCosine: Float? = nil
        let report: StepReport
        if var multiTask = stepper as? any MultiTaskStepper {
            // One term per task: the stepper takes each task's loss apart (MultiTask/).
            report = multiTask.step(&model, batchSize: n, taskLosses: { termLosses(&$0, $1).terms.map(\.values) })
            taskGradientCosine = multiTask.lastTaskGradientCosine
            stepper = multiTask
        } else if let measurement {
            report = stepper.step(&model, batchSize: n, measure: { _ in measurement }, loss: perSampleLoss)
        } else {
            report = stepper.step(&model, batchSize: n, loss: perSampleLoss)
        }
        // A rule that moves weights without the gradient (noise, decay on w + ε) cannot revive one.
        if let masks { model.applyMasks(masks) }
        lastStep = diagnostics.result
        lastStep.measurement = measurement
        lastStep.taskGradientCosine = taskGradientCosine
        let logits = outputRows.tensor
        if whole != nil, report.loss.isFinite { objective.stepFinished(on: stepBatch, outputs: logits, model: model) }
        return (report, logits)
    }

    /// The objective's state (SAF's memory bank, MESA's teacher) as checkpoint tensors,
    /// under each term's name (`saf.*`, `mesa.*`).
    public var extras: ParameterSet { objective.checkpointState }

    /// Bytes the objective keeps across steps.
    public var objectiveMemoryByteCount: Int { objective.memoryByteCount }

    /// Restores the optimizer and the objective's terms from a checkpoint.
    public mutating func restore(optimizer: OptimizerState, extras: ParameterSet, source: String) throws {
        try stepper.restore(optimizer)
        try objective.restore(checkpointState: extras, source: source)
    }
}

/// What a step measured besides its ``/PlateauOptim/StepReport``.
public struct StepDiagnostics: Sendable {
    /// Each active term's mean per-sample value at w (first pass), in term order.
    public var termMeans: [(name: String, value: Float)] = []
    /// The mean per-sample loss evaluated at w + ε, `nil` when the step took no second pass.
    public var perturbedLoss: Float?
    /// What the objective measured for the rule before the step (TRAM's ρ_t), if anything.
    public var measurement: Float?
    /// A multi-task step's mean pairwise cosine between the tasks' shared gradients at w.
    public var taskGradientCosine: Float?
}

/// Sums of per-sample values over a step's passes.
struct DiagnosticSums {
    private var termSums: [(String, Double)] = []
    private var termCount = 0
    private var perturbedSum: Double = 0
    private var perturbedCount = 0

    mutating func add(total: Tensor, terms: [(name: String, values: Tensor)], at point: LossRequest.Point) {
        switch point {
        case .parameters:
            if termSums.isEmpty { termSums = terms.map { ($0.name, 0) } }
            for (index, term) in terms.enumerated() where index < termSums.count {
                termSums[index].1 += term.values.scalars.reduce(0) { $0 + Double($1) }
            }
            termCount += total.count
        case .perturbed:
            perturbedSum += total.scalars.reduce(0) { $0 + Double($1) }
            perturbedCount += total.count
        }
    }

    var result: StepDiagnostics {
        StepDiagnostics(
            termMeans: termSums.map { ($0.0, Float($0.1 / Double(max(termCount, 1)))) },
            perturbedLoss: perturbedCount > 0 ? Float(perturbedSum / Double(perturbedCount)) : nil)
    }
}

/// The first pass's outputs of a step, `[n, C]`, gathered by rows: the pass may come in
/// micro-batches or m-sharpness chunks whose rows are positions within the batch.
struct OutputRows {
    private let rowCount: Int
    private var gathered: Tensor?

    init(rowCount: Int) { self.rowCount = rowCount }

    mutating func store(_ outputs: Tensor, at positions: [Int]?) {
        guard let positions else {
            gathered = outputs.detached  // the whole batch in order: no copy
            return
        }
        if gathered == nil { gathered = Tensor.zeros([rowCount] + outputs.shape.dropFirst()) }
        gathered!.replaceRows(at: positions, with: outputs)
    }

    var tensor: Tensor { gathered ?? Tensor.zeros([rowCount, 0]) }
}
