import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

// A stopped training (Ctrl-C, SIGTERM: a StopToken) saves where it stopped, mid-epoch, and a
// resume gives exactly the uninterrupted run.

/// Requests a stop on its token once `stopAfter` steps (counted across epochs) are done, or
/// with `duringEvaluation`, when the epoch of that step has been evaluated (a Ctrl-C that
/// arrives after the epoch's last step was checked).
private struct StoppingObserver: TrainingObserver {
    let token: StopToken
    let stopAfter: Int
    var duringEvaluation = false
    var steps = 0
    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {
        self.steps += 1
        if self.steps == stopAfter, !duringEvaluation { token.request(signal: SIGINT) }
    }
    mutating func epochFinished(_ metrics: EpochMetrics, of epochs: Int) {
        if steps == stopAfter, duringEvaluation { token.request(signal: SIGTERM) }
    }
    mutating func message(_ text: String) {}
}

/// The embedded digits, 64 training samples: 4 steps of 16 per epoch.
private func digits(_ optimizer: String, epochs: Int = 2) -> RunConfiguration {
    var c = configuration(optimizer, epochs: epochs)
    c.dataset = "digits"
    c.trainLimit = 64
    return c
}

/// Trains `c` straight through and, in another directory, stopped after `stopAfter` steps
/// and resumed; everything the two runs leave must be the same, bit for bit.
private func checkStopAndResume(_ c: RunConfiguration, stopAfter: Int, duringEvaluation: Bool = false, expect position: (epochs: Int, batches: Int)) throws {
    let straight = try temporaryDirectory("straight")
    let stopped = try temporaryDirectory("stopped")
    defer {
        try? FileManager.default.removeItem(at: straight)
        try? FileManager.default.removeItem(at: stopped)
    }
    var silent = SilentObserver()
    let (referenceSummary, referenceModel) = try Trainer.prepare(c, output: straight).runReturningModel(observer: &silent)

    var trainer = try Trainer.prepare(c, output: stopped)
    trainer.stopToken = StopToken()
    var stopping = StoppingObserver(token: trainer.stopToken!, stopAfter: stopAfter, duringEvaluation: duringEvaluation)
    do {
        _ = try trainer.run(observer: &stopping)
        Issue.record("\(c.optimizer): the stop was not honoured")
    } catch let interrupted as TrainingInterrupted {
        #expect(interrupted.epochsDone == position.epochs && interrupted.batchesDone == position.batches, "\(interrupted)")
        #expect(interrupted.signal == (duringEvaluation ? SIGTERM : SIGINT))
        #expect(interrupted.description.contains("plateau train --output \(stopped.path) --resume"), "\(interrupted)")
    }
    #expect(stopping.steps == stopAfter, "steps were taken after the stop")
    let saved = try Checkpoint.read(from: stopped.appendingPathComponent(RunDirectory.lastCheckpointFile))
    #expect(saved.epoch == position.epochs && saved.step == stopAfter)
    #expect(saved.partialEpoch?.batchesDone == (position.batches == 0 ? nil : position.batches))
    #expect(MetricsLog.read(from: stopped).map(\.epoch) == Array(0..<position.epochs).map { $0 + 1 })

    var messages = SilentObserver()
    let (summary, model) = try Trainer.prepare(c, output: stopped, resume: true).runReturningModel(observer: &messages)
    #expect(messages.messages.contains { $0.contains("resuming after") }, "\(messages.messages)")

    let a = try Checkpoint.read(from: straight.appendingPathComponent(RunDirectory.lastCheckpointFile))
    let b = try Checkpoint.read(from: stopped.appendingPathComponent(RunDirectory.lastCheckpointFile))
    #expect(b.partialEpoch == nil)
    #expect(a.epoch == b.epoch && a.step == b.step)
    #expect(a.model == b.model, "\(c.optimizer): weights differ after the stop and resume")
    #expect(a.optimizer.tensors == b.optimizer.tensors, "\(c.optimizer): optimizer buffers differ")
    #expect(a.optimizer.scalars.mapValues(\.bitPattern) == b.optimizer.scalars.mapValues(\.bitPattern), "\(c.optimizer): optimizer scalars differ")
    #expect(a.extras == b.extras, "\(c.optimizer): SAF/MESA state differs")
    #expect(referenceModel.stateDictionary == model.stateDictionary)
    // The metrics rows on disk and returned: all but the wall-clock fields are the same.
    #expect(MetricsLog.read(from: stopped).map(TrainingNumbers.init) == MetricsLog.read(from: straight).map(TrainingNumbers.init), "\(c.optimizer): metrics rows differ")
    #expect(summary.metrics.map(TrainingNumbers.init) == referenceSummary.metrics.map(TrainingNumbers.init))
    let best = (try Checkpoint.read(from: straight.appendingPathComponent(RunDirectory.bestCheckpointFile)),
                try Checkpoint.read(from: stopped.appendingPathComponent(RunDirectory.bestCheckpointFile)))
    #expect(best.0.model == best.1.model && best.0.epoch == best.1.epoch)
}

@Test func aStopMidEpochThenResumeEqualsTheUninterruptedRunForSGD() throws {
    try checkStopAndResume(digits("sgd"), stopAfter: 6, expect: (1, 2))
}

@Test func aStopMidEpochThenResumeEqualsTheUninterruptedRunForSAFAndItsBank() throws {
    // Start 1 and lag 1: epoch 2 (stopped in its middle) reads the bank epoch 1 filled.
    var c = digits("saf", epochs: 3)
    c.methodOptions = ["saf-lag": 1, "saf-start": 1, "saf-lambda": 0.5, "saf-tau": 2]
    try checkStopAndResume(c, stopAfter: 7, expect: (1, 3))
}

@Test func aStopMidEpochThenResumeEqualsTheUninterruptedRunForMESAWithAugmentation() throws {
    var c = digits("mesa")
    c.methodOptions = ["saf-start": 0, "ema-decay": 0.9]
    c.augment = true
    try checkStopAndResume(c, stopAfter: 3, expect: (0, 3))
}

@Test func aStopOnTheLastStepOfAnEpochResumesWithItsEvaluation() throws {
    // The epoch's steps are all done but it was not evaluated: the resume evaluates it.
    try checkStopAndResume(digits("sgd"), stopAfter: 4, expect: (0, 4))
    // The last step of the run: the resume only evaluates and writes the last row.
    try checkStopAndResume(digits("sgd"), stopAfter: 8, expect: (1, 4))
}

@Test func aStopDuringTheEvaluationStopsAtTheEpochsCheckpoint() throws {
    try checkStopAndResume(digits("sgd"), stopAfter: 4, duringEvaluation: true, expect: (1, 0))
}

@Test func aCheckpointWithoutTheStopFieldsStillResumes() throws {
    // Checkpoints written before stops existed have no partial_epoch: an epoch boundary.
    let c = digits("sgd")
    var half = c
    half.epochs = 1
    let straight = try temporaryDirectory("old-straight")
    let resumed = try temporaryDirectory("old-resumed")
    defer {
        try? FileManager.default.removeItem(at: straight)
        try? FileManager.default.removeItem(at: resumed)
    }
    var silent = SilentObserver()
    _ = try Trainer.prepare(c, output: straight).run(observer: &silent)
    _ = try Trainer.prepare(half, output: resumed).run(observer: &silent)
    let url = resumed.appendingPathComponent(RunDirectory.lastCheckpointFile)
    let contents = try Safetensors.read(from: url)
    #expect(contents.metadata["partial_epoch"] == nil, "an epoch-boundary checkpoint records a partial epoch")
    _ = try Trainer.prepare(c, output: resumed, resume: true).run(observer: &silent)
    let a = try Checkpoint.read(from: straight.appendingPathComponent(RunDirectory.lastCheckpointFile))
    let b = try Checkpoint.read(from: url)
    #expect(a.model == b.model && a.optimizer.tensors == b.optimizer.tensors)
}

@Test func aStoppedRunCannotResumeWithFewerEpochsThanItStarted() throws {
    let directory = try temporaryDirectory("stopped-epochs")
    defer { try? FileManager.default.removeItem(at: directory) }
    var trainer = try Trainer.prepare(digits("sgd"), output: directory)
    trainer.stopToken = StopToken()
    var stopping = StoppingObserver(token: trainer.stopToken!, stopAfter: 6)
    #expect(throws: TrainingInterrupted.self) { try trainer.run(observer: &stopping) }
    var silent = SilentObserver()
    let error = #expect(throws: ConfigurationError.self) { try Trainer.prepare(digits("sgd", epochs: 1), output: directory, resume: true).run(observer: &silent) }
    #expect(error?.description.contains("--epochs 2 or more") == true, "\(String(describing: error))")
}

@Test func aCorruptPartialEpochIsAnErrorNamingTheField() throws {
    let directory = try temporaryDirectory("partial-corrupt")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("c.safetensors")
    try Safetensors.write([("w", Tensor(shape: [1], scalars: [1]))], metadata: [
        "format": Checkpoint.midEpochFormat, "epoch": "0", "step": "1", "config": String(decoding: RunConfiguration().json, as: UTF8.self),
        "optimizer_scalars": "{}", "partial_epoch": "{\"batches_done\":\"x\"}",
    ], to: url)
    let error = #expect(throws: DataError.self) { try Checkpoint.read(from: url) }
    #expect(error?.field == "__metadata__.partial_epoch.batches_done", "\(String(describing: error))")
}

@Test func aResumeFromAStopThatDivergesKeepsTheStoppedCheckpointAndSaysWhichItIs() throws {
    // Stopped after step 2 of the first epoch, then resumed with a learning rate that
    // overflows at once (the library's default policy accepts changed settings).
    let c = configuration("sgd", epochs: 3)
    let output = try temporaryDirectory("stop-diverge")
    defer { try? FileManager.default.removeItem(at: output) }
    var trainer = try Trainer(configuration: c, train: trainSet, test: testSet, output: output)
    trainer.stopToken = StopToken()
    var stopping = StoppingObserver(token: trainer.stopToken!, stopAfter: 2)
    #expect(throws: TrainingInterrupted.self) { try trainer.run(observer: &stopping) }
    let config = try Data(contentsOf: output.appendingPathComponent(RunDirectory.configurationFile))
    var diverging = c
    diverging.weightDecay = 100
    diverging.learningRate = 3e38
    let error = #expect(throws: TrainingError.self) { try train(diverging, output: output, resume: true) }
    #expect(error?.description.contains("the last good checkpoint (epoch 1, step 2) is kept") == true, "\(String(describing: error))")
    #expect(try Data(contentsOf: output.appendingPathComponent(RunDirectory.configurationFile)) == config, "config.json was rewritten")
    let kept = try Checkpoint.read(from: output.appendingPathComponent(RunDirectory.lastCheckpointFile))
    #expect(kept.epoch == 0 && kept.partialEpoch?.batchesDone == 2)
}

/// A mid-epoch checkpoint has its own format name, so a Plateau from before stops (which
/// accepts only v1) refuses it instead of redoing the stopped epoch's first batches; and a
/// file whose format and `partial_epoch` disagree is refused.
@Test func aMidEpochCheckpointHasItsOwnFormatAndItMustAgreeWithItsPosition() throws {
    let directory = try temporaryDirectory("partial-format")
    defer { try? FileManager.default.removeItem(at: directory) }
    var trainer = try Trainer(configuration: configuration("sgd", epochs: 2), train: trainSet, test: testSet, output: directory)
    trainer.stopToken = StopToken()
    var stopping = StoppingObserver(token: trainer.stopToken!, stopAfter: 3)
    #expect(throws: TrainingInterrupted.self) { try trainer.run(observer: &stopping) }
    let url = directory.appendingPathComponent(RunDirectory.lastCheckpointFile)
    let contents = try Safetensors.read(from: url)
    #expect(contents.metadata["format"] == Checkpoint.midEpochFormat)
    #expect(try Checkpoint.read(from: url).partialEpoch != nil)

    let mislabelled = directory.appendingPathComponent("mislabelled.safetensors")
    var metadata = contents.metadata
    metadata["format"] = Checkpoint.format
    try Safetensors.write([("w", Tensor(shape: [1], scalars: [1]))], metadata: metadata, to: mislabelled)
    let error = #expect(throws: DataError.self) { try Checkpoint.read(from: mislabelled) }
    #expect(error?.field == "__metadata__.partial_epoch", "\(String(describing: error))")
}
