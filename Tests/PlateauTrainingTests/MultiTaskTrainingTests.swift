import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import PlateauTraining
import Testing

// Multi-task training (issue 14): the two-label reader, the configuration's checks, one step
// of each kind through the step engine, and a short run through the trainer.

@Test func taskLabelsEncodeOneClassPerTask() {
    let labels = TaskLabels(tasks: 2, classesPerTask: 10)
    #expect(labels.encode([3, 7]) == 73)  // left + 10·right
    #expect(labels.label(73, task: 0) == 3 && labels.label(73, task: 1) == 7)
    #expect(TaskLabels(tasks: 2, classCount: 100) == labels)
    #expect(TaskLabels(tasks: 3, classCount: 27)?.classesPerTask == 3)
    #expect(TaskLabels(tasks: 2, classCount: 10) == nil)  // MNIST's labels are no two-task encoding
}

/// `count` random 28×28 images, both digits' labels `i % 10` and `(3·i + 1) % 10`.
private func multiTaskImages(_ count: Int, seed: UInt64) -> (images: Tensor, left: [Int], right: [Int]) {
    var generator = SeededGenerator(seed: seed)
    let images = Tensor.randomUniform([count, 1, 28, 28], in: 0..<1, using: &generator)
    return (images, (0..<count).map { $0 % 10 }, (0..<count).map { (3 * $0 + 1) % 10 })
}

private func multiTaskDataset(_ count: Int, seed: UInt64, name: String) -> Dataset {
    let (images, left, right) = multiTaskImages(count, seed: seed)
    let labels = zip(left, right).map { MultiMNIST.taskLabels.encode([$0, $1]) }
    return Dataset(name: name, images: images, labels: labels, classCount: 100)
}

@Test func multiMNISTReaderReadsBothDigitsLabels() throws {
    let directory = try temporaryDirectory("multi-mnist")
    defer { try? FileManager.default.removeItem(at: directory) }
    for (split, count) in [("train", 4), ("t10k", 2)] {
        let (images, left, right) = multiTaskImages(count, seed: 1)
        try Data(MNIST.encodeImages(images)).write(to: directory.appendingPathComponent("\(split)-images-idx3-ubyte"))
        try Data(MNIST.encodeLabels(left)).write(to: directory.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        try Data(MNIST.encodeLabels(right)).write(to: directory.appendingPathComponent(split + ShiftedMNIST.rightLabelsSuffix))
    }
    let (train, test) = try MultiMNIST.loadDirectory(directory)
    #expect(train.count == 4 && test.count == 2 && train.classCount == 100)
    #expect(train.labels.map { MultiMNIST.taskLabels.label($0, task: 0) } == [0, 1, 2, 3])
    #expect(train.labels.map { MultiMNIST.taskLabels.label($0, task: 1) } == [1, 4, 7, 0])
    // A right-label file of another length is an error naming it.
    try Data(MNIST.encodeLabels([1, 2, 3])).write(to: directory.appendingPathComponent("train" + ShiftedMNIST.rightLabelsSuffix))
    #expect { try MultiMNIST.loadDirectory(directory) } throws: { error in
        "\(error)".contains("train-labels-right-idx1-ubyte") && "\(error)".contains("3 labels")
    }
}

private func multiTaskConfiguration(_ optimizer: String, aggregator: String = "ew") -> RunConfiguration {
    var c = RunConfiguration()
    c.model = "lenet"
    c.dataset = "multi-mnist"
    c.tasks = 2
    c.aggregator = aggregator
    c.optimizer = optimizer
    c.batchSize = 8
    c.epochs = 1
    c.learningRate = 0.05
    c.threads = 1
    return c
}

/// The field a configuration's validation rejects, or nil.
private func rejectedField(_ c: RunConfiguration) -> String? {
    do { try c.validate(); return nil } catch let error as ConfigurationError { return error.field } catch { return "\(error)" }
}

@Test func multiTaskSettingsAreCheckedWithClearErrors() throws {
    #expect(rejectedField(multiTaskConfiguration("fmtl", aggregator: "pcgrad")) == nil)
    #expect(rejectedField(multiTaskConfiguration("sgd", aggregator: "cagrad")) == nil)
    #expect(rejectedField(multiTaskConfiguration("sam")) == nil)
    var c = multiTaskConfiguration("fmtl")
    c.tasks = 1
    #expect(rejectedField(c) == "tasks")  // fmtl needs several tasks
    c = RunConfiguration()
    c.aggregator = "pcgrad"
    #expect(rejectedField(c) == "aggregator")  // an aggregator needs several tasks
    #expect(rejectedField(multiTaskConfiguration("sam", aggregator: "pcgrad")) == "aggregator")  // SAM on the sum: ew
    #expect(rejectedField(multiTaskConfiguration("saf")) == "optimizer")
    c = multiTaskConfiguration("sgd")
    c.dataset = "mnist"
    #expect(rejectedField(c) == "dataset")
    c = multiTaskConfiguration("sgd")
    c.model = "mlp"
    #expect(rejectedField(c) == "model")
    c = multiTaskConfiguration("sgd", aggregator: "pcgard")
    #expect(throws: ConfigurationError.self) { try c.validate() }
    #expect((try? c.validate()) == nil)
    do { try c.validate() } catch { #expect("\(error)".contains("did you mean 'pcgrad'")) }
    // The keys are the flags' names and survive config.json.
    let written = multiTaskConfiguration("fmtl", aggregator: "mgda")
    let json = try #require(String(data: written.json, encoding: .utf8))
    #expect(json.contains("\"tasks\" : 2") && json.contains("\"aggregator\" : \"mgda\""))
    #expect(try RunConfiguration.decode(written.json, source: "config.json") == written)
}

/// A multi-task LeNet, its engine for `c` and a batch of 4 samples.
private func engineAndBatch(_ c: RunConfiguration) throws -> (MultiTaskLeNet, StepEngine<MultiTaskLeNet>, Batch) {
    var generator = SeededGenerator(seed: 3)
    let model = MultiTaskLeNet(tasks: 2, classCount: 10, using: &generator)
    let data = multiTaskDataset(4, seed: 5, name: "tiny")
    let engine = try StepEngine(configuration: c, model: model, sampleCount: 4, classCount: 100)
    return (model, engine, Batch(images: data.images, labels: data.labels, indices: [0, 1, 2, 3]))
}

@Test func oneMultiTaskTrainingStepEndToEnd() throws {
    // F-MTL with PCGrad: one pass at w, one per task at w + ε_i; both heads and the body move.
    let (initial, engine, batch) = try engineAndBatch(multiTaskConfiguration("fmtl", aggregator: "pcgrad"))
    var fmtl = engine, model = initial
    let (report, logits) = fmtl.step(&model, on: batch, epoch: 0, learningRate: 0.05)
    #expect(report.passes == 3 && report.perturbationNorm > 0)
    #expect(logits.shape == [4, 20])
    for key in ["conv1.weight", "heads.0.weight", "heads.1.weight"] { #expect(model.parameters[key] != initial.parameters[key]) }
    #expect(fmtl.lastStep.termMeans.map(\.name) == ["task1", "task2"])
    let cosine = try #require(fmtl.lastStep.taskGradientCosine)
    #expect(cosine >= -1 && cosine <= 1)
    // Equal weights without perturbation is SGD on the summed task losses: the plain driver's step.
    var (ewModel, ew, _) = try engineAndBatch(multiTaskConfiguration("sgd"))
    _ = ew.step(&ewModel, on: batch, epoch: 0, learningRate: 0.05)
    var plainModel = initial
    var plain = StepEngine<MultiTaskLeNet>(
        stepper: SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.05, momentum: 0.9)),
        objective: multiTaskObjective(MultiMNIST.taskLabels), classCount: 100)
    _ = plain.step(&plainModel, on: batch, epoch: 0, learningRate: 0.05)
    for (key, value) in plainModel.parameters.entries {
        #expect(value.isClose(to: ewModel.parameters[key]!, relativeTolerance: 1e-4, absoluteTolerance: 1e-6), "\(key)")
    }
}

@Test func multiTaskRunRecordsEachTasksAccuracyAndTheGradientCosine() throws {
    let directory = try temporaryDirectory("multi-task-run")
    defer { try? FileManager.default.removeItem(at: directory) }
    var c = multiTaskConfiguration("fmtl", aggregator: "mgda")
    c.tensorboardInterval = 0
    let trainer = try Trainer(
        configuration: c, train: multiTaskDataset(16, seed: 7, name: "mm-train"), test: multiTaskDataset(8, seed: 8, name: "mm-test"),
        output: directory)
    var observer = SilentObserver()
    let summary = try trainer.run(observer: &observer)
    let row = try #require(MetricsLog.read(from: directory).last)
    let accuracies = try #require(row.taskTestAccuracies)
    #expect(accuracies.count == 2)
    #expect(abs(row.testAccuracy - (accuracies[0] + accuracies[1]) / 2) < 1e-6)
    #expect(row.taskGradientCosine != nil && summary.metrics.count == 1)
    #expect(summary.finalTaskTestAccuracies == accuracies)
    let csv = try String(contentsOf: directory.appendingPathComponent("metrics.csv"), encoding: .utf8)
    #expect(csv.hasPrefix(MetricsLogHeader.multiTask))
    // The checkpoint loads back into the multi-head network.
    let checkpoint = try Checkpoint.read(from: directory.appendingPathComponent("checkpoint-last.safetensors"))
    let loaded = try checkpoint.loadedModel(sampleShape: [1, 28, 28], classCount: 100, source: "checkpoint-last.safetensors")
    #expect(loaded is MultiTaskLeNet)
}

private enum MetricsLogHeader {
    static let multiTask = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,seconds,samples_per_second,passes_per_step,ms_per_step,test_accuracy_task1,test_accuracy_task2,task_gradient_cosine\n"
}

@Test func multiTaskRunResumesBitIdentically() throws {
    // Two epochs in one go against one epoch, then --resume to two: the same weights (Adam's
    // moments and the step count travel in the checkpoint).
    var c = multiTaskConfiguration("fmtl", aggregator: "pcgrad")
    c.baseOptimizer = "adam"
    c.learningRate = 0.001
    c.tensorboardInterval = 0
    let train = multiTaskDataset(8, seed: 7, name: "mm-train"), test = multiTaskDataset(2, seed: 8, name: "mm-test")
    func run(_ c: RunConfiguration, _ directory: URL, resume: Bool) throws -> ParameterSet {
        let trainer = try Trainer(configuration: c, train: train, test: test, output: directory, resume: resume)
        var observer = SilentObserver()
        return try trainer.runReturningModel(observer: &observer).model.stateDictionary
    }
    let straight = try temporaryDirectory("multi-task-straight"), resumed = try temporaryDirectory("multi-task-resumed")
    defer { for d in [straight, resumed] { try? FileManager.default.removeItem(at: d) } }
    c.epochs = 2
    let once = try run(c, straight, resume: false)
    c.epochs = 1
    _ = try run(c, resumed, resume: false)
    c.epochs = 2
    #expect(try run(c, resumed, resume: true) == once)
}
