import Foundation
import PlateauData
import PlateauDistributed
import PlateauNN
import PlateauOptim
import PlateauTensor

/// Trains a model as a ``RunConfiguration`` says: the data pipeline (normalization, label
/// noise, augmentation, seeded shuffling with sample indices), any optimizer of the family,
/// SAF's and MESA's trajectory terms, evaluation each epoch, metrics and checkpoints in the
/// run directory, and bit-identical resumption.
public struct Trainer {
    public var configuration: RunConfiguration
    public var train: Dataset
    public var test: Dataset
    /// The run directory, or `nil` to write nothing.
    public var output: URL?
    /// Continue from `output/checkpoint-last.safetensors`.
    public var resume: Bool
    /// What the trainer accepts in `output` before it writes anything: an existing run to
    /// train over, a resume that changes settings. The default is permissive (`compare`
    /// restarts and resumes its runs in place); `plateau train` refuses unless asked.
    public var runDirectoryPolicy = RunDirectoryPolicy()
    /// Looked at after every step: once requested, the trainer saves the run where it is
    /// (mid-epoch) and throws ``TrainingInterrupted``. `nil`: the training runs to its end.
    public var stopToken: StopToken?
    /// Pruning masks by parameter path (``MagnitudePruning``): applied to the starting
    /// weights, kept through every step and saved in each checkpoint. A resumed run takes
    /// its checkpoint's masks instead. `nil`: a dense run.
    public var masks: ParameterSet?
    /// Data-parallel training over the ranks of a communicator (`nil`: one process). Every
    /// rank runs this trainer with the same configuration; each takes its shard of every
    /// global batch (`batchSize` stays the global batch, in the same seeded order as one
    /// process) and the gradients are averaged over the ranks. Rank 0 alone writes the run
    /// directory; the others read it only to resume. See docs/distributed.md.
    public var dataParallel: DataParallelism?

    /// The methods the configuration may name (``MethodRegistry/standard`` unless a test or
    /// a plug-in registered more).
    public var registry: MethodRegistry

    public init(
        configuration: RunConfiguration, train: Dataset, test: Dataset, output: URL?, resume: Bool = false,
        registry: MethodRegistry = .standard
    ) throws {
        try configuration.validate(using: registry)
        var configuration = configuration
        if resume, let output {
            configuration.keepBehaviourOfRecordedRun(output.appendingPathComponent("config.json"))
        }
        // The run records every option its method ran with, defaults included.
        configuration.methodOptions = try registry.resolvedOptions(for: configuration)
        guard train.count > 0 else { throw ConfigurationError(field: "dataset", message: "the training set is empty") }
        guard test.count > 0 else { throw ConfigurationError(field: "dataset", message: "the test set is empty") }
        guard train.sampleShape == test.sampleShape else {
            throw ConfigurationError(field: "dataset", message: "training samples \(train.sampleShape) and test samples \(test.sampleShape) differ in shape")
        }
        self.configuration = configuration
        self.train = train
        self.test = test
        self.output = output
        self.resume = resume
        self.registry = registry
    }

    /// Loads the datasets a configuration names and prepares a trainer.
    public static func prepare(
        _ configuration: RunConfiguration, output: URL?, resume: Bool = false, registry: MethodRegistry = .standard
    ) throws -> Trainer {
        try configuration.validate(using: registry)
        let (train, test) = try configuration.loadDatasets()
        return try Trainer(configuration: configuration, train: configuration.limitingTraining(train), test: test, output: output, resume: resume, registry: registry)
    }

    /// Runs the whole training and returns its metrics.
    public func run(observer: inout some TrainingObserver) throws -> TrainingSummary {
        try runReturningModel(observer: &observer).summary
    }

    /// Runs the whole training and returns its metrics and the trained model.
    public func runReturningModel(observer: inout some TrainingObserver) throws -> (summary: TrainingSummary, model: any Layer) {
        var generator = SeededGenerator(seed: configuration.seed)
        let model = try ModelFactory.make(for: configuration, sampleShape: train.sampleShape, classCount: max(train.classCount, test.classCount), using: &generator)
        return try run(model, observer: &observer)
    }

    private func run<Model: Layer>(_ initial: Model, observer: inout some TrainingObserver) throws -> (summary: TrainingSummary, model: any Layer) {
        let c = configuration
        var model = initial
        // Under data parallelism only rank 0 writes: the others see no run directory except
        // to read the checkpoint they resume from.
        let communicator = dataParallel?.communicator
        let runDirectory = self.output
        let output = communicator.map { $0.isWriter } ?? true ? runDirectory : nil
        if let path = c.initialWeights {
            let checkpoint = try Checkpoint.read(from: URL(fileURLWithPath: path))
            try model.load(stateDictionary: checkpoint.model, source: path)
        }
        var masks = resume ? nil : self.masks  // a resume takes its checkpoint's
        if let masks {
            try MagnitudePruning.check(masks, against: model.parameters, source: "pruning masks")
            model.applyMasks(masks)
        }
        // Fine-tuning: the function the run starts from, for each epoch's drift (a value: the
        // copy does not change as `model` trains).
        let initialFunction: Model? = c.initialWeights == nil ? nil : model

        // The run directory is locked while training (a second training there stops, naming
        // this process), then checked before anything is written into it. A resume of a
        // directory that does not exist fails its check without creating it.
        var lock: RunLock? = nil
        defer { lock?.release() }
        if let output, !resume || FileManager.default.fileExists(atPath: output.path) {
            try createRunDirectory(output)
            lock = try RunLock.acquire(output) { observer.message($0) }
            // Under the lock no one else writes here: a temporary file is a crashed write's.
            let leftovers = AtomicFile.removeLeftovers(in: output)
            if !leftovers.isEmpty { observer.message("removed \(leftovers.count) temporary file\(leftovers.count == 1 ? "" : "s") left by an interrupted write in \(output.path)") }
        }
        let resumePoint = try (output ?? (resume ? runDirectory : nil)).flatMap { try validateRunDirectory($0) }
        // Files a fresh run writes now; a resumed run writes them with its first checkpoint,
        // so that a resume that fails (or diverges) leaves the run as it was.
        var runFiles: [(Data, URL)] = []
        if let output, !resume, runDirectoryPolicy.existingRun == .overwrite {
            let old = RunDirectory.runFiles(in: output)
            if !old.isEmpty {
                try RunDirectory.removeRunFiles(in: output)
                observer.message("removed the old run in \(output.path) (\(old.map(\.lastPathComponent).joined(separator: ", ")))")
            }
        }

        // Data: normalization fitted on the (clean) training images, then label noise.
        let normalization = Normalization.fit(train)
        var trainSet = normalization.apply(to: train)
        let testSet = normalization.apply(to: test)
        if let noise = c.labelNoiseModel {
            let (noisy, result) = noise.apply(to: trainSet)
            trainSet = noisy
            if let output {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys  // the same run, the same bytes
                runFiles.append((try encoder.encode(result), output.appendingPathComponent(RunDirectory.labelNoiseFile)))
            }
            observer.message("label noise: \(result.flipped.count) of \(result.labels.count) training labels corrupted (\(c.labelNoiseKind), seed \(noise.seed))")
        }
        let augmentation = augmentationSteps(for: trainSet)
        if model.isQuantized, c.initialWeights == nil {
            // LSQ's input step sizes from the first training samples (a resume then loads its own).
            let calibration = Batches(dataset: trainSet, batchSize: c.batchSize, shuffle: false).first { _ in true }
            if let images = calibration?.images { model.calibrateQuantizers { _ = $0(images) } }
        }
        let stepsPerEpoch = trainSet.count / c.batchSize + (trainSet.count % c.batchSize == 0 ? 0 : 1)  // no overflow for any batch size
        let schedule = try TrainingSchedule.make(c, stepsPerEpoch: stepsPerEpoch)
        var engine = try StepEngine(configuration: c, model: model, sampleCount: trainSet.count, classCount: trainSet.classCount, registry: registry)
        if let dataParallel {
            try Self.checkShards(batchSize: c.batchSize, sampleCount: trainSet.count, ranks: dataParallel.communicator.size)
            try engine.distribute(over: dataParallel)
        }
        // A multi-task run scores every (sample, task) pair: accuracies are over seen · tasks.
        let taskLabels = c.tasks > 1 ? try c.taskLabels(classCount: max(trainSet.classCount, testSet.classCount)) : nil
        let labelsPerSample = taskLabels?.tasks ?? 1
        var startEpoch = 0, globalStep = 0
        var partial: PartialEpoch?
        var bestAccuracy: Float = -1
        var history: [EpochMetrics] = []
        if let checkpoint = resumePoint, let output = runDirectory {
            let url = output.appendingPathComponent(RunDirectory.lastCheckpointFile)
            try model.load(stateDictionary: checkpoint.model, source: url.path)
            try engine.restore(optimizer: checkpoint.optimizer, extras: checkpoint.extras, source: url.path)
            if !checkpoint.masks.isEmpty {
                try MagnitudePruning.check(checkpoint.masks, against: model.parameters, source: url.path)
                masks = checkpoint.masks
            }
            startEpoch = checkpoint.epoch
            globalStep = checkpoint.step
            bestAccuracy = checkpoint.bestAccuracy
            partial = checkpoint.partialEpoch
            if let partial, partial.batchesDone > stepsPerEpoch || startEpoch >= c.epochs {
                throw ConfigurationError(field: url.path, message: "the checkpoint stopped after batch \(partial.batchesDone) of epoch \(startEpoch + 1), but the run has \(stepsPerEpoch) batches per epoch and \(c.epochs) epochs; resume it with the settings it was started with")
            }
            history = MetricsLog.read(from: output).filter { $0.epoch <= startEpoch }  // rows are numbered from 1
            let missing = Set(1...max(startEpoch, 1)).subtracting(history.map(\.epoch)).filter { $0 <= startEpoch }.sorted()
            if !missing.isEmpty {
                observer.message("warning: \(output.appendingPathComponent("metrics.jsonl").path) has no row for epoch\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) of the \(startEpoch) the checkpoint has done; the metrics files will lack \(missing.count == 1 ? "it" : "them")")
            }
            let position = partial.map { "step \($0.batchesDone) of \(stepsPerEpoch) of epoch \(startEpoch + 1)" } ?? "epoch \(startEpoch)"
            observer.message("resuming after \(position) (step \(globalStep)) from \(url.path)")
        }
        engine.masks = masks
        if let output { runFiles.append((c.json, output.appendingPathComponent(RunDirectory.configurationFile))) }
        if !resume {
            for (data, url) in runFiles { try writeAtomically(data, to: url) }
            runFiles = []
        }
        if resumePoint != nil, startEpoch >= c.epochs { observer.message("nothing to train: the run has all \(c.epochs) epochs") }
        // The checkpoint a failure leaves behind, in words (none yet: nil).
        var lastCheckpoint: String? = resumePoint.map { point in
            point.partialEpoch.map { "epoch \(point.epoch + 1), step \($0.batchesDone)" } ?? "epoch \(point.epoch)"
        }
        func kept() -> String {
            if let lastCheckpoint, let output { return "the last good checkpoint (\(lastCheckpoint)) is kept in \(output.path)" }
            return output == nil ? "nothing was saved" : "no checkpoint was written (one is written at the end of each epoch and when the run is stopped)"
        }
        // TensorBoard: a new event file per invocation (a resumed run adds one; TensorBoard
        // merges a directory's files by step).
        let events = try output.flatMap { c.tensorboardInterval > 0 ? try EventFileWriter(directory: $0) : nil }

        for epoch in startEpoch..<c.epochs {
            model.setTraining(true)
            let start = ContinuousClock.now
            var augmentGenerator = SeededGenerator(seed: c.seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1)))
            var lossSum: Double = 0, correct = 0, seen = 0
            var passes: Float = 0, steps = 0
            var cosineSum: Double = 0, cosineSteps = 0  // a multi-task run's task-gradient cosine
            var learningRate = c.learningRate
            var earlierSeconds: Double = 0  // training time of the epoch before a stop
            // A stopped epoch continues where it stopped, with its running sums; its batches
            // are the same (a function of seed and epoch), the first ones skipped.
            var skip = 0
            if let resumed = partial.take() {
                skip = resumed.batchesDone
                (lossSum, correct, seen, passes, steps, earlierSeconds) = (resumed.lossSum, resumed.correct, resumed.seen, resumed.passes, resumed.steps, resumed.seconds)
                if let words = resumed.augmentationGenerator { augmentGenerator = SeededGenerator(state: (words[0], words[1], words[2], words[3])) }
                learningRate = schedule.learningRate(atStep: globalStep - 1)  // the last step's, should no step remain
            }
            let batches = Batches(dataset: trainSet, batchSize: c.batchSize, shuffle: c.shuffle, dropLast: false, seed: c.seed, epoch: epoch)
            for (index, raw) in batches.enumerated() where index >= skip {
                let batch = augmentation.map { $0.apply(to: raw, using: &augmentGenerator) } ?? raw
                learningRate = schedule.learningRate(atStep: globalStep)
                let n = batch.count
                let (report, logits) = engine.step(&model, on: batch, epoch: epoch, learningRate: learningRate)
                guard report.loss.isFinite else {
                    throw TrainingError(description: "the training loss became \(report.loss) at epoch \(epoch + 1), step \(index + 1) (global step \(globalStep + 1)); \(kept()). Try a smaller --lr or --max-grad-norm.")
                }
                // Accuracy against the labels trained on (noisy when label noise is on).
                let batchCorrect = taskLabels.map { MultiTaskEvaluation.correctPredictions(logits, labels: batch.labels, taskLabels: $0) }
                    ?? zip(logits.argmax(alongAxis: 1), batch.labels).filter { $0 == $1 }.count
                if let cosine = engine.lastStep.taskGradientCosine {
                    cosineSum += Double(cosine)
                    cosineSteps += 1
                }
                correct += batchCorrect
                if let events, globalStep % c.tensorboardInterval == 0 {
                    try events.write(step: globalStep, scalars: stepScalars(
                        report, engine.lastStep, accuracy: Float(batchCorrect) / Float(n * labelsPerSample), learningRate: learningRate,
                        optimizer: engine.stepper.optimizerDiagnostics))
                }
                lossSum += Double(report.loss) * Double(n)
                seen += n
                passes += report.passes
                steps += 1
                globalStep += 1
                let elapsed = earlierSeconds + seconds(ContinuousClock.now - start)
                observer.stepFinished(epoch: epoch, step: index + 1, of: stepsPerEpoch, loss: Float(lossSum / Double(seen)),
                                      accuracy: Float(correct) / Float(seen * labelsPerSample), samplesPerSecond: Double(seen) / max(elapsed, 1e-9))
                if let stop = agreedStop(communicator) {
                    // The step is done; the epoch so far goes into the checkpoint, the metrics
                    // files stay at the last finished epoch.
                    let interrupted = TrainingInterrupted(output: output, epochsDone: epoch, batchesDone: index + 1, batchesPerEpoch: stepsPerEpoch, signal: stop)
                    guard let output else { throw interrupted }
                    guard !model.parameters.values.contains(where: \.hasNonFinite) else {
                        throw TrainingError(description: "the weights became non-finite after the update at epoch \(epoch + 1), step \(index + 1) (global step \(globalStep)); \(kept()). Try a smaller --lr or --max-grad-norm.")
                    }
                    for (data, url) in runFiles { try writeAtomically(data, to: url) }
                    runFiles = []
                    let s = augmentGenerator.state
                    let progress = PartialEpoch(
                        batchesDone: index + 1, lossSum: lossSum, correct: correct, seen: seen, passes: passes, steps: steps,
                        seconds: elapsed, augmentationGenerator: augmentation == nil ? nil : [s.0, s.1, s.2, s.3])
                    let checkpoint = Checkpoint(
                        model: model.stateDictionary, optimizer: engine.stepper.state, extras: engine.extras, epoch: epoch, step: globalStep,
                        bestAccuracy: bestAccuracy, configuration: c, normalization: normalization, partialEpoch: progress,
                        masks: masks ?? ParameterSet())
                    try checkpoint.write(to: output.appendingPathComponent(RunDirectory.lastCheckpointFile))
                    throw interrupted
                }
            }
            // A step's loss is measured before its update, so a NaN loss catches a bad update at
            // the next step; the epoch's last update is checked here, before it is evaluated and
            // checkpointed as if it were good.
            guard !model.parameters.values.contains(where: \.hasNonFinite) else {
                throw TrainingError(description: "the weights became non-finite after the update at epoch \(epoch + 1), step \(steps) (global step \(globalStep)); \(kept()). Try a smaller --lr or --max-grad-norm.")
            }
            if let communicator { try Self.checkReplicas(model: model, extras: engine.extras, communicator: communicator, epoch: epoch + 1) }
            let trainSeconds = earlierSeconds + seconds(ContinuousClock.now - start)
            let taskEvaluation = taskLabels.map { MultiTaskEvaluation.run(model, on: testSet, taskLabels: $0) }
            let evaluation = taskEvaluation.map { (loss: $0.loss, accuracy: $0.accuracy) } ?? Evaluation.run(model, on: testSet)
            var metrics = EpochMetrics(
                epoch: epoch + 1, trainLoss: Float(lossSum / Double(seen)), trainAccuracy: Float(correct) / Float(seen * labelsPerSample),
                testLoss: evaluation.loss, testAccuracy: evaluation.accuracy, learningRate: learningRate,
                seconds: earlierSeconds + seconds(ContinuousClock.now - start), samplesPerSecond: Double(seen) / max(trainSeconds, 1e-9),
                passesPerStep: passes / Float(max(steps, 1)), millisecondsPerStep: trainSeconds * 1000 / Double(max(steps, 1)))
            if let initialFunction, taskLabels == nil {
                // Both on this run's inputs, as TRAM's θ₀ reference measures its radius.
                metrics.driftFromInitial = Evaluation.drift(of: model, from: initialFunction, on: testSet, normalize: { $0 }, normalizeReference: { $0 })
            }
            if let taskEvaluation {
                metrics.taskTestAccuracies = taskEvaluation.taskAccuracies
                metrics.taskGradientCosine = cosineSteps > 0 ? Float(cosineSum / Double(cosineSteps)) : nil
            }
            let ruleStatistics = engine.stepper.ruleStatistics
            if !ruleStatistics.isEmpty { metrics.scaleStatistics = Dictionary(ruleStatistics.map { ($0.tag, $0.value) }, uniquingKeysWith: { $1 }) }
            history.append(metrics)
            observer.epochFinished(metrics, of: c.epochs)
            try events?.write(step: globalStep, scalars: [
                ("epoch/train_loss", metrics.trainLoss), ("epoch/train_accuracy", metrics.trainAccuracy),
                ("epoch/test_loss", metrics.testLoss), ("epoch/test_accuracy", metrics.testAccuracy),
                ("epoch/learning_rate", metrics.learningRate), ("epoch/ms_per_step", Float(metrics.millisecondsPerStep)),
                ("epoch/epoch", Float(metrics.epoch)),
            ] + (metrics.driftFromInitial.map { [("epoch/drift_from_initial", $0)] } ?? []))
            if let output {
                for (data, url) in runFiles { try writeAtomically(data, to: url) }
                runFiles = []
                // Metrics first, then the checkpoint: a kill between the two leaves a metrics
                // row ahead of the checkpoint, which a resume drops and recomputes — never a
                // checkpoint ahead of its metrics, whose row would be lost.
                try MetricsLog.write(history, to: output)
                let checkpoint = Checkpoint(
                    model: model.stateDictionary, optimizer: engine.stepper.state, extras: engine.extras, epoch: epoch + 1, step: globalStep,
                    bestAccuracy: max(bestAccuracy, evaluation.accuracy), configuration: c, normalization: normalization,
                    masks: masks ?? ParameterSet())
                if evaluation.accuracy > bestAccuracy {
                    bestAccuracy = evaluation.accuracy
                    try checkpoint.write(to: output.appendingPathComponent("checkpoint-best.safetensors"))
                }
                try checkpoint.write(to: output.appendingPathComponent(RunDirectory.lastCheckpointFile))
                lastCheckpoint = "epoch \(epoch + 1)"
            }
            // A stop asked for during the evaluation or the writes: the epoch's checkpoint is
            // the place to stop at.
            if let stop = agreedStop(communicator), epoch + 1 < c.epochs {
                throw TrainingInterrupted(output: output, epochsDone: epoch + 1, batchesDone: 0, batchesPerEpoch: stepsPerEpoch, signal: stop)
            }
        }
        return (TrainingSummary(configuration: c, metrics: history, memoryBankBytes: engine.objectiveMemoryByteCount), model)
    }

    /// Checks the run directory `output` as ``runDirectoryPolicy`` says, writing nothing, and
    /// returns the checkpoint a resume starts from.
    ///
    /// - Throws: ``ConfigurationError`` naming the file and field: nothing to resume (no
    ///   `config.json` or no checkpoint yet), `epochs` below what the run has done, changed
    ///   settings a policy does not allow, an existing run a policy refuses.
    @discardableResult
    public func validateRunDirectory(_ output: URL) throws -> Checkpoint? {
        try RunDirectory.check(output, configuration: configuration, resume: resume, policy: runDirectoryPolicy, registry: registry)
    }

    /// The stop signal, agreed on by every rank: a stop asked of any rank stops them all after
    /// the same step (one allreduce of one float), since a rank that left the loop alone would
    /// leave the others waiting in their next collective. One process: the token's own.
    private func agreedStop(_ communicator: (any Communicator)?) -> Int32? {
        let own = stopToken?.signal
        guard let communicator, stopToken != nil, communicator.size > 1 else { return own }
        var flag: [Float] = [own == nil ? 0 : 1]
        communicator.allreduceSum(&flag)
        return flag[0] > 0 ? own ?? 2 : nil  // a rank told by its peers stops as for SIGINT
    }

    /// Every batch of an epoch, the last one included, must give each rank a sample.
    static func checkShards(batchSize: Int, sampleCount: Int, ranks: Int) throws {
        let last = sampleCount % batchSize
        let smallest = sampleCount < batchSize ? sampleCount : (last == 0 ? batchSize : last)
        guard smallest >= ranks else {
            throw ConfigurationError(
                field: "batch-size",
                message: "data-parallel training over \(ranks) ranks needs every batch to hold at least \(ranks) samples, but with \(sampleCount) training samples and batch size \(batchSize) a batch holds \(smallest); change --batch-size or --train-limit")
        }
    }

    /// Checks that the weights and the objective's state (MESA's teacher, SAF's memory) are the
    /// same on every rank, bit for bit: a 64-bit digest of each rank, gathered. They must be,
    /// since every rank applies the same averaged update; a difference means a rank diverged.
    /// BatchNorm's running statistics are per rank and not compared.
    static func checkReplicas<Model: Layer>(model: Model, extras: ParameterSet, communicator: any Communicator, epoch: Int) throws {
        guard communicator.size > 1 else { return }
        let parameterKeys = Set(model.parameters.keys)
        // The teacher's buffers (its BatchNorm statistics) follow the rank's own buffers.
        let compared = extras.filter { key in !key.hasPrefix("mesa.") || parameterKeys.contains(String(key.dropFirst(5))) }
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for set in [model.parameters, compared] {
            for tensor in set.values {
                for scalar in tensor.scalars { digest = (digest ^ UInt64(scalar.bitPattern)) &* 0x100_0000_01b3 }
            }
        }
        // Four 16-bit pieces: each exact in a Float.
        let pieces = (0..<4).map { Float((digest >> (16 * UInt64($0))) & 0xffff) }
        let all = communicator.allgather(pieces, counts: Array(repeating: 4, count: communicator.size))
        for rank in 1..<communicator.size where Array(all[(4 * rank)..<(4 * rank + 4)]) != Array(all[0..<4]) {
            throw TrainingError(description: "after epoch \(epoch) the weights of rank \(rank) differ from rank 0's: the ranks diverged (a nondeterministic kernel, or ranks started with different settings)")
        }
    }

    /// The augmentation the dataset declares, when asked for.
    private func augmentationSteps(for dataset: Dataset) -> Augmentation? {
        configuration.augment ? DatasetCatalog.augmentation(for: configuration.dataset, sampleShape: dataset.sampleShape) : nil
    }

    /// One step's TensorBoard scalars: the objective (and each term), the batch accuracy,
    /// the learning rate, ‖g‖, for sharpness-aware steps ‖ε‖ and the loss at w + ε, and the
    /// base optimizer's own diagnostics (LANTON's per-layer noise and learning rate).
    private func stepScalars(
        _ report: StepReport, _ diagnostics: StepDiagnostics, accuracy: Float, learningRate: Float, optimizer: [(tag: String, value: Float)]
    ) -> [(tag: String, value: Float)] {
        var scalars: [(tag: String, value: Float)] = [
            ("train/loss", report.loss), ("train/accuracy", accuracy), ("train/learning_rate", learningRate),
            ("train/gradient_norm", report.gradientNorm),
        ]
        if diagnostics.termMeans.count > 1 {
            scalars += diagnostics.termMeans.map { ("train/term/\($0.name)", $0.value) }
        }
        if let measurement = diagnostics.measurement { scalars.append(("train/measured_radius", measurement)) }
        if let perturbed = diagnostics.perturbedLoss {
            scalars += [("train/perturbation_norm", report.perturbationNorm), ("train/perturbed_loss", perturbed)]
        }
        return scalars + optimizer
    }
}
