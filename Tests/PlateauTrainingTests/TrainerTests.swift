import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

// The training loop end to end on a tiny separable problem.

@Test func trainingReachesHighAccuracyOnSeparableData() throws {
    let (metrics, state) = try train(configuration("sgd", epochs: 6))
    #expect(metrics.count == 6)
    #expect(metrics.last!.trainAccuracy > 0.9, "train accuracy \(metrics.last!.trainAccuracy)")
    #expect(metrics.last!.testAccuracy > 0.9, "test accuracy \(metrics.last!.testAccuracy)")
    #expect(metrics.last!.trainLoss < metrics.first!.trainLoss)
    #expect(state.values.allSatisfy { !$0.hasNonFinite })
}

@Test func sharpnessAwareTrainingAlsoLearns() throws {
    let (metrics, _) = try train(configuration("sam", epochs: 4))
    #expect(metrics.last!.trainAccuracy > 0.9)
    #expect(metrics.allSatisfy { $0.passesPerStep == 2 })
}

@Test func sameSeedGivesIdenticalMetricsAndWeights() throws {
    for optimizer in ["sam", "esam"] {
        let first = try train(configuration(optimizer, epochs: 2, seed: 7))
        let second = try train(configuration(optimizer, epochs: 2, seed: 7))
        #expect(first.metrics.map(TrainingNumbers.init) == second.metrics.map(TrainingNumbers.init), "\(optimizer)")
        #expect(first.state == second.state, "\(optimizer): final weights differ")
        let other = try train(configuration(optimizer, epochs: 2, seed: 8))
        #expect(other.state != first.state, "\(optimizer): the seed has no effect")
    }
}

/// Trains 4 epochs at once and as 2 + 2 with a resume in between; every tensor of the final
/// checkpoint (model, optimizer state, SAF bank / MESA teacher) must be bit-identical.
func checkResume(_ c: RunConfiguration) throws {
    let straight = try temporaryDirectory("straight-\(c.optimizer)")
    let interrupted = try temporaryDirectory("resumed-\(c.optimizer)")
    defer {
        try? FileManager.default.removeItem(at: straight)
        try? FileManager.default.removeItem(at: interrupted)
    }
    var full = c
    full.epochs = 4
    let reference = try train(full, output: straight)

    var firstHalf = c
    firstHalf.epochs = 2
    try train(firstHalf, output: interrupted)
    let resumed = try train(full, output: interrupted, resume: true)

    let a = try Checkpoint.read(from: straight.appendingPathComponent("checkpoint-last.safetensors"))
    let b = try Checkpoint.read(from: interrupted.appendingPathComponent("checkpoint-last.safetensors"))
    #expect(a.epoch == 4 && b.epoch == 4)
    #expect(a.step == b.step && a.step == 16)
    #expect(a.model == b.model, "\(c.optimizer): model tensors differ after resuming")
    #expect(a.optimizer.tensors == b.optimizer.tensors, "\(c.optimizer): optimizer buffers differ")
    #expect(a.optimizer.scalars.mapValues(\.bitPattern) == b.optimizer.scalars.mapValues(\.bitPattern), "\(c.optimizer): optimizer scalars differ")
    #expect(a.extras == b.extras, "\(c.optimizer): SAF/MESA state differs")
    #expect(resumed.state == reference.state)
    // The metrics of the resumed run continue the interrupted one: one row per epoch.
    #expect(resumed.metrics.map(TrainingNumbers.init) == reference.metrics.map(TrainingNumbers.init), "\(c.optimizer): metrics differ")
    let lines = try String(contentsOf: interrupted.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 4, "\(c.optimizer): metrics.jsonl has \(lines.count) rows after resuming")
    let csv = try String(contentsOf: interrupted.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 5)
}

@Test func resumeIsBitIdenticalForSGD() throws {
    try checkResume(configuration("sgd", epochs: 4))
}

@Test func resumeIsBitIdenticalForSAM() throws {
    try checkResume(configuration("sam", epochs: 4))
}

@Test func resumeIsBitIdenticalForSAFWithItsMemoryBank() throws {
    // Lag 1 and start 1: epochs 2 and 3 (0-based) read logits recorded by the epoch before,
    // so the resumed half depends on the bank stored in the checkpoint.
    var c = configuration("saf", epochs: 4)
    c.methodOptions = ["saf-lag": 1, "saf-start": 1, "saf-lambda": 0.5, "saf-tau": 2]
    try checkResume(c)
}

@Test func resumeIsBitIdenticalForRuleStateAndTeacher() throws {
    var looksam = configuration("looksam", epochs: 4)
    looksam.methodOptions["k"] = 3  // the SAM steps (0, 3, 6, …) straddle the epoch boundary
    try checkResume(looksam)
    var esam = configuration("esam", epochs: 4)
    esam.methodOptions["esam-beta"] = 0.5
    try checkResume(esam)
    var mesa = configuration("mesa", epochs: 4)
    mesa.methodOptions = ["saf-start": 1, "ema-decay": 0.9]
    try checkResume(mesa)
}

@Test func runsRecordedBeforeTheFormOptionsResumeInTheirOldForm() throws {
    // Issue 10 made the official forms of ESAM and FriendlySAM the defaults. A run directory
    // whose config.json predates `--esam-form`/`--fsam-form` continues in the old form
    // (plateau, paper), bit-identically to a run that used it throughout.
    for (optimizer, option, old) in [("esam", "esam-form", "plateau"), ("fsam", "fsam-form", "paper")] {
        var c = configuration(optimizer, epochs: 4)
        c.methodOptions = optimizer == "esam" ? ["esam-beta": 0.5] : ["fsam-sigma": 0.5]
        var oldForm = c
        oldForm.methodOptions[option] = .string(old)
        let straight = try temporaryDirectory("straight-old-\(optimizer)")
        let interrupted = try temporaryDirectory("resumed-old-\(optimizer)")
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: interrupted)
        }
        try train(oldForm, output: straight)
        var firstHalf = oldForm
        firstHalf.epochs = 2
        try train(firstHalf, output: interrupted)
        // Make the recorded configuration an old one: no form option.
        let url = interrupted.appendingPathComponent("config.json")
        var recorded = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(recorded[option] as? String == old)
        recorded[option] = nil
        try JSONSerialization.data(withJSONObject: recorded).write(to: url)

        try train(c, output: interrupted, resume: true)  // c names no form
        let a = try Checkpoint.read(from: straight.appendingPathComponent("checkpoint-last.safetensors"))
        let b = try Checkpoint.read(from: interrupted.appendingPathComponent("checkpoint-last.safetensors"))
        #expect(a.model == b.model, "\(optimizer): the resumed run left its old form")
        #expect(try RunConfiguration.load(from: url).methodOptions[option] == .string(old))
        // A configuration that names the form keeps it; nothing is added when the recording has
        // the option or there is no recording.
        var explicit = c
        explicit.methodOptions[option] = "official"
        explicit.keepBehaviourOfRecordedRun(url)
        #expect(explicit.methodOptions[option] == "official")
        var unset = c
        unset.keepBehaviourOfRecordedRun(straight.appendingPathComponent("config.json"))
        #expect(unset.methodOptions[option] == nil)
        var fresh = c
        fresh.keepBehaviourOfRecordedRun(straight.appendingPathComponent("missing.json"))
        #expect(fresh.methodOptions[option] == nil)
    }
}

@Test func nonFiniteLossStopsWithTheEpochAndStepAndKeepsTheLastCheckpoint() throws {
    // The learning rate jumps to 0.05·1e31 at the start of the second epoch.
    var c = configuration("sgd", epochs: 3)
    c.schedule = "multistep"
    c.milestones = [1]
    c.gamma = 1e31
    let output = try temporaryDirectory("nan")
    defer { try? FileManager.default.removeItem(at: output) }
    do {
        try train(c, output: output)
        Issue.record("training with a learning rate of 5e29 finished")
    } catch let error as TrainingError {
        #expect(error.description.contains("epoch 2"), "\(error)")
        #expect(error.description.contains("step"), "\(error)")
    }
    let last = try Checkpoint.read(from: output.appendingPathComponent("checkpoint-last.safetensors"))
    #expect(last.epoch == 1)
    #expect(last.model.values.allSatisfy { !$0.hasNonFinite })
    let lines = try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 1)
}

@Test func metricsFilesHaveOneRowPerEpoch() throws {
    let output = try temporaryDirectory("metrics")
    defer { try? FileManager.default.removeItem(at: output) }
    let (metrics, _) = try train(configuration("sgd", epochs: 3), output: output)
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let lines = try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    let rows = try lines.map { try decoder.decode(EpochMetrics.self, from: Data($0.utf8)) }
    #expect(rows.map(\.epoch) == [1, 2, 3])
    #expect(rows == metrics)
    let csv = try String(contentsOf: output.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 4)
    #expect(csv[0].hasPrefix("epoch,train_loss"))
    #expect(csv.dropFirst().map { $0.split(separator: ",").first.map(String.init) } == ["1", "2", "3"])
    // The run directory also holds the configuration and both checkpoints.
    #expect(try RunConfiguration.load(from: output.appendingPathComponent("config.json")) == configuration("sgd", epochs: 3))
    #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("checkpoint-best.safetensors").path))
}

@Test func nonFiniteWeightsAfterTheLastStepOfAnEpochAreNeverCheckpointed() throws {
    // One step per epoch, η = 3e38 and weight decay 100 (so |g + λw| reaches ~50): the
    // step's loss (at the old weights) is finite, but the update overflows the weights to
    // ±∞. The run must stop at that step instead of writing a checkpoint of infinite
    // weights (and a NaN test loss) and only failing an epoch later.
    var c = configuration("sgd", epochs: 3)
    c.batchSize = 64
    c.momentum = 0
    c.weightDecay = 100
    c.learningRate = 3e38
    let output = try temporaryDirectory("overflow")
    defer { try? FileManager.default.removeItem(at: output) }
    do {
        try train(c, output: output)
        Issue.record("training with a learning rate of 3e38 finished")
    } catch let error as TrainingError {
        #expect(error.description.contains("epoch 1, step 1"), "\(error)")
    }
    for name in ["checkpoint-last.safetensors", "checkpoint-best.safetensors"] {
        let url = output.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: url.path) {
            let checkpoint = try Checkpoint.read(from: url)
            #expect(checkpoint.model.values.allSatisfy { !$0.hasNonFinite }, "\(name) holds non-finite weights")
        }
    }
}

@Test func safAndMESAJoinTheLossInTheEpochsAfterTheirStart() throws {
    // With E_start = 1, epochs 0 and 1 are plain cross-entropy: SGD's weights, bit for bit
    // (MESA's teacher runs but adds nothing); with E_start = 0 epoch 1 has the term.
    let sgd = try train(configuration("sgd", epochs: 2)).state
    for (method, lag) in [("saf", true), ("mesa", false)] {
        var late = configuration(method, epochs: 2)
        late.methodOptions = lag ? ["saf-lag": 1, "saf-start": 1] : ["saf-start": 1]
        #expect(try train(late).state == sgd, "\(method) with E_start 1 is active in epoch 1")
        var early = late
        early.methodOptions["saf-start"] = 0
        #expect(try train(early).state != sgd, "\(method) with E_start 0 is not active in epoch 1")
    }
}

@Test func aResumeChecksThatTheMetricsRowsAreContinuous() throws {
    let directory = try temporaryDirectory("metrics-continuity")
    defer { try? FileManager.default.removeItem(at: directory) }
    try train(configuration("sgd", epochs: 2), output: directory)
    // A metrics row ahead of the checkpoint (a kill after the metrics write, before the
    // checkpoint's) is dropped and recomputed: one row per epoch, in order.
    var rows = MetricsLog.read(from: directory)
    try MetricsLog.write(rows + [rows[1]].map { var r = $0; r.epoch = 3; return r }, to: directory)
    try train(configuration("sgd", epochs: 3), output: directory, resume: true)
    #expect(MetricsLog.read(from: directory).map(\.epoch) == [1, 2, 3])
    // A missing row is reported, not silently skipped.
    rows = MetricsLog.read(from: directory)
    try MetricsLog.write([rows[0], rows[2]], to: directory)
    let trainer = try Trainer(configuration: configuration("sgd", epochs: 4), train: trainSet, test: testSet, output: directory, resume: true)
    var observer = SilentObserver()
    _ = try trainer.run(observer: &observer)
    #expect(observer.messages.contains { $0.contains("no row for epoch 2") }, "\(observer.messages)")
}
