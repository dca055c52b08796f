import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import PlateauTraining
import Testing

// The method table as a specification: a rule, an objective term and a loop each plug in
// with one definition and one registry line, and train through the path the CLI uses.

/// A rule defined outside the library: SAM with the radius halved, ε = (ρ/2)·g/‖g‖.
private struct HalfRadiusSAM: SharpnessAwareRule {
    var rho: Float
    var name: String { "half-sam" }
    func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        gradient.scaled(by: (rho / 2) / (gradient.norm() + 1e-12))
    }

    struct Options: MethodOptions {
        var rho: Float = 0.1
        static let options = [OptionSpec("rho", \Options.rho, help: "Twice the radius.")]
        func validate() throws(ConfigurationError) {
            guard rho >= 0 else { throw ConfigurationError(field: "rho", message: "expected ρ ≥ 0, got \(rho)") }
        }
    }
}

/// An objective term defined outside the library: adds `offset` to every sample's loss
/// (so the gradient, and the weights, are untouched) and counts the steps it finished,
/// keeping the count in the checkpoint.
private struct ConstantTerm: ObjectiveTerm {
    var offset: Float
    var finishedSteps: Float = 0
    var name: String { "constant" }

    mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        let offset = self.offset
        return { input, _ in Tensor(repeating: offset, shape: [input.labels.count]) }
    }
    mutating func stepFinished<Model: Layer>(on batch: StepBatch, outputs: Tensor, model: Model) { finishedSteps += 1 }
    var checkpointState: ParameterSet { ParameterSet([("steps", Tensor([finishedSteps]))]) }
    mutating func restore(checkpointState: ParameterSet, source: String) throws {
        finishedSteps = checkpointState["steps"]?.scalars.first ?? 0
    }

    struct Options: MethodOptions {
        var offset: Float = 1
        static let options = [OptionSpec("constant-offset", \Options.offset, help: "The constant added to each sample's loss.")]
    }
}

private var extendedRegistry: MethodRegistry {
    var registry = MethodRegistry.standard
    registry.register(.sharpnessAware("half-sam", summary: "SAM at half the radius (a test)", options: HalfRadiusSAM.Options.self) { o, _ in
        HalfRadiusSAM(rho: o.rho)
    })
    registry.register(.objective("constant", summary: "A constant added to the loss (a test)", options: ConstantTerm.Options.self) { o, _, _ in
        ConstantTerm(offset: o.offset)
    })
    return registry
}

private func run(_ c: RunConfiguration, registry: MethodRegistry, output: URL? = nil) throws -> (summary: TrainingSummary, state: ParameterSet) {
    let trainer = try Trainer(configuration: c, train: trainSet, test: testSet, output: output, registry: registry)
    var observer = SilentObserver()
    let (summary, model) = try trainer.runReturningModel(observer: &observer)
    return (summary, model.stateDictionary)
}

@Test func aRuleRegisteredOutsideTheLibraryTrainsThroughTheTrainer() throws {
    var custom = configuration("half-sam", epochs: 2)
    custom.methodOptions = ["rho": 0.1]
    var sam = configuration("sam", epochs: 2)
    sam.methodOptions = ["rho": 0.05]
    let (customRun, customState) = try run(custom, registry: extendedRegistry)
    let (_, samState) = try run(sam, registry: .standard)
    // Half of ρ = 0.1 is SAM's 0.05, computed the same way: the same weights, bit for bit.
    #expect(customState == samState)
    #expect(customRun.metrics.allSatisfy { $0.passesPerStep == 2 })
    // The standard table does not know it.
    #expect(throws: ConfigurationError.self) { _ = try run(custom, registry: .standard) }
}

@Test func anObjectiveTermRegisteredOutsideTheLibraryAddsToTheLossAndKeepsItsState() throws {
    var c = configuration("constant", epochs: 2)
    c.methodOptions = ["constant-offset": 2]
    let directory = try temporaryDirectory("constant-term")
    defer { try? FileManager.default.removeItem(at: directory) }
    let (withTerm, state) = try run(c, registry: extendedRegistry, output: directory)
    let (plain, plainState) = try run(configuration("sgd", epochs: 2), registry: .standard)
    #expect(state == plainState, "a constant term has no gradient: SGD's weights")
    for (a, b) in zip(withTerm.metrics, plain.metrics) {
        #expect(abs(a.trainLoss - (b.trainLoss + 2)) < 1e-5, "the training loss is the objective's: CE + 2")
    }
    // stepFinished ran once per step (4 per epoch), and the count is in the checkpoint under the term's name.
    let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent("checkpoint-last.safetensors"))
    #expect(checkpoint.extras["constant.steps"]?.scalars == [8])
    // config.json records the term's options with their defaults resolved.
    let saved = try RunConfiguration.load(from: directory.appendingPathComponent("config.json"))
    #expect(saved.methodOptions == ["constant-offset": 2])
}

@Test func methodOptionsAreTypedCheckedAndSuggested() throws {
    let registry = MethodRegistry.standard
    #expect(try registry.settings(fromArguments: ["--rho", "0.1", "--esam-beta=0.5"], for: ["esam"]) == ["rho": 0.1, "esam-beta": 0.5])
    #expect(try registry.settings(fromArguments: ["--saf-half", "--saf-lag", "2"], for: ["saf"]) == ["saf-half": true, "saf-lag": 2])
    #expect(try registry.settings(fromArguments: ["--rho-min", "none"], for: ["gsam"]) == ["rho-min": .null])
    // Shared by the methods of a comparison: an option must belong to one of them.
    #expect(try registry.settings(fromArguments: ["--rho", "0.2", "--saf-lambda", "1"], for: ["sgd", "sam", "saf"]) == ["rho": 0.2, "saf-lambda": 1.0])
    func failure(_ arguments: [String], _ methods: [String]) -> String {
        do { _ = try registry.settings(fromArguments: arguments, for: methods); return "" } catch { return error.description }
    }
    #expect(failure(["--rhoo", "0.1"], ["sam"]).contains("did you mean --rho?"))
    #expect(failure(["--esam-beta", "0.5"], ["sam"]).contains("an option of esam, not of sam"))
    #expect(failure(["--saf-lag", "two"], ["saf"]).contains("expected a value of type int, got 'two'"))
    #expect(failure(["--rho"], ["sam"]).contains("expected a value of type float"))

    // Ranges are the method's own: MESA has no lag, so an early start is fine; SAF's is checked.
    var mesa = configuration("mesa", epochs: 2)
    mesa.methodOptions = ["saf-start": 0]
    try mesa.validate()
    var saf = configuration("saf", epochs: 2)
    saf.methodOptions = ["saf-start": 1, "saf-lag": 3]
    do { try saf.validate(); Issue.record("accepted a start before the lag") } catch let error as ConfigurationError {
        #expect(error.field == "saf-start")
    }
    var wrongMethod = configuration("sgd", epochs: 2)
    wrongMethod.methodOptions = ["rho": 0.1]
    do { try wrongMethod.validate(); Issue.record("accepted rho for sgd") } catch let error as ConfigurationError {
        #expect(error.field == "rho")
        #expect(error.message.contains("not an option of sgd"))
    }
}

@Test func configurationFilesFromBeforeTheMethodTableStillLoad() throws {
    // Written by the earlier format: every method's field, camelCase, nulls for unset ones.
    let old = #"""
    {"optimizer": "saf", "epochs": 4, "rho": null, "eta": 0.01, "alpha": null, "lookInterval": 5, "esamBeta": 0.6,
     "safLambda": 0.5, "safTemperature": 2, "safLag": 1, "safStart": 1, "safHalfPrecision": false, "emaDecay": 0.9998}
    """#
    let directory = try temporaryDirectory("legacy-config")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("config.json")
    try Data(old.utf8).write(to: url)
    let loaded = try RunConfiguration.load(from: url)
    #expect(loaded.optimizer == "saf")
    #expect(loaded.methodOptions == ["saf-lambda": 0.5, "saf-tau": 2, "saf-lag": 1, "saf-start": 1, "saf-half": false])
    try loaded.validate()
}

@Test func theStreamLoopScoresEachBatchBeforeAdaptingToIt() throws {
    var generator = SeededGenerator(seed: 3)
    let model = MLP(sizes: [4, 8, 3], using: &generator)
    var observer = BatchLog()
    // Evaluation only: per-batch numbers add up to the whole-set evaluation.
    var evaluation = StreamLoop<MLP>(dataset: testSet, batchSize: 8)
    var evaluated = model
    let result = try evaluation.run(&evaluated, observer: &observer)
    #expect(result.batches.map(\.samples) == [8, 8, 8, 6])
    #expect(result.accuracy == Evaluation.run(model, on: testSet).accuracy)
    #expect(evaluated.stateDictionary == model.stateDictionary)
    #expect(observer.seen == [1, 2, 3, 4])

    // With an adaptation engine, batch k is predicted by the model adapted on batches < k.
    var c = configuration("sgd", epochs: 1)
    c.learningRate = 0.5
    let engine = try StepEngine(configuration: c, model: model, sampleCount: testSet.count, classCount: 3)
    var adapting = StreamLoop<MLP>(dataset: testSet, batchSize: 8, adaptation: engine, learningRate: 0.5)
    var adapted = model
    let online = try adapting.run(&adapted, observer: &observer)
    #expect(online.batches[0] .loss == result.batches[0].loss, "the first batch is scored before any step")
    #expect(online.batches[1].loss != result.batches[1].loss)
    #expect(online.batches.allSatisfy { $0.adaptationLoss != nil })
    #expect(adapted.stateDictionary != model.stateDictionary)
}

private struct BatchLog: LoopObserver {
    var seen: [Int] = []
    mutating func batchFinished(_ metrics: BatchMetrics, of batches: Int) { seen.append(metrics.batch) }
}

/// A run that ends before the method's term switches on is warned about; the start is the
/// method's `saf-start` option, found in the table, whatever the method is called.
@Test func inactiveTermWarningFollowsTheStartOption() {
    struct DelayedOptions: MethodOptions {
        var start: Int = 2
        static let options = [OptionSpec("saf-start", \DelayedOptions.start, help: "On after this epoch.")]
    }
    var registry = MethodRegistry.standard
    registry.register(.objective("delayed", summary: "A term that starts late (a test)", options: DelayedOptions.self) { _, _, _ in
        ConstantTerm(offset: 0)
    })
    var c = RunConfiguration()
    c.optimizer = "delayed"
    c.epochs = 3  // epochs 0, 1, 2: none after 2
    #expect(registry.inactiveTermWarning(for: c)?.contains("--saf-start 2") == true)
    c.epochs = 4
    #expect(registry.inactiveTermWarning(for: c) == nil)
    c.methodOptions = ["saf-start": 3]
    #expect(registry.inactiveTermWarning(for: c)?.contains("4 epochs") == true)
    for method in ["saf", "mesa"] {
        var standard = RunConfiguration()
        standard.optimizer = method
        standard.epochs = 6
        #expect(MethodRegistry.standard.inactiveTermWarning(for: standard)?.contains("\(method)'s term") == true)
        standard.epochs = 7
        #expect(MethodRegistry.standard.inactiveTermWarning(for: standard) == nil)
    }
    c.optimizer = "sam"
    c.methodOptions = [:]
    c.epochs = 1
    #expect(registry.inactiveTermWarning(for: c) == nil)
}

@Test func theStepReturnsTheFirstPassOutputsOfEveryRowWhateverThePassesSplit() throws {
    // The outputs feed SAF's memory and the reported accuracy: with micro-batches and
    // m-sharpness chunks they come back row by row and must land in batch order.
    var generator = SeededGenerator(seed: 5)
    let model = MLP(sizes: [4, 8, 3], using: &generator)
    let batch = Batch(images: Tensor.randomNormal([10, 4], using: &generator), labels: (0..<10).map { $0 % 3 }, indices: Array(0..<10))
    var reference = model
    let expected = withoutGradients { reference(batch.images) }
    for (method, micro, chunk) in [("sgd", nil, nil), ("sgd", 3, nil), ("sam", 4, 5), ("sam", nil, 4)] as [(String, Int?, Int?)] {
        var c = configuration(method, epochs: 1)
        c.microBatchSize = micro
        c.mSharpness = chunk
        var engine = try StepEngine(configuration: c, model: model, sampleCount: 10, classCount: 3)
        var trained = model
        let logits = engine.step(&trained, on: batch, epoch: 0, learningRate: 0.1).logits
        #expect(logits.shape == [10, 3])
        for (a, b) in zip(logits.scalars, expected.scalars) {
            #expect(abs(a - b) < 1e-5, "\(method) micro \(String(describing: micro)) m \(String(describing: chunk))")
        }
    }
}
