import Foundation
import PlateauData
import PlateauTensor
import Testing
@testable import PlateauTraining

// What a trainer finds in its run directory, and what it leaves there when it stops:
// runs must never be lost or mixed.

private func trainer(_ c: RunConfiguration, output: URL?, resume: Bool = false, policy: RunDirectoryPolicy = .init()) throws -> Trainer {
    var trainer = try Trainer(configuration: c, train: trainSet, test: testSet, output: output, resume: resume)
    trainer.runDirectoryPolicy = policy
    return trainer
}

private func configText(_ directory: URL) throws -> Data {
    try Data(contentsOf: directory.appendingPathComponent("config.json"))
}

@Test func resumingWithFewerEpochsThanDoneIsRefusedBeforeAnythingIsWritten() throws {
    let output = try temporaryDirectory("fewer-epochs")
    defer { try? FileManager.default.removeItem(at: output) }
    try train(configuration("sgd", epochs: 2), output: output)
    let before = try configText(output)
    do {
        try train(configuration("sgd", epochs: 1), output: output, resume: true)
        Issue.record("resuming a 2-epoch run with 1 epoch went ahead")
    } catch let error as ConfigurationError {
        #expect(error.field == "epochs")
        #expect(error.message.contains("2 epochs done"), "\(error)")
    }
    #expect(try configText(output) == before, "config.json was rewritten")
    // The run can still be resumed.
    let (metrics, _) = try train(configuration("sgd", epochs: 3), output: output, resume: true)
    #expect(metrics.map(\.epoch) == [1, 2, 3])
}

@Test func aPolicyThatRefusesChangesNamesEachChangedSetting() throws {
    let output = try temporaryDirectory("changes")
    defer { try? FileManager.default.removeItem(at: output) }
    try train(configuration("sam", epochs: 1), output: output)
    let before = try configText(output)
    var changed = configuration("sam", epochs: 2)
    changed.learningRate = 0.1
    changed.methodOptions["rho"] = 0.2
    changed.threads = 1  // not a change of the run
    changed.tensorboardInterval = 0
    let strict = RunDirectoryPolicy(allowsChangedSettings: false)
    do {
        var observer = SilentObserver()
        _ = try trainer(changed, output: output, resume: true, policy: strict).run(observer: &observer)
        Issue.record("a resume with other settings went ahead")
    } catch let error as ConfigurationError {
        #expect(error.field.hasSuffix("config.json"))
        #expect(error.message.contains("--lr 0.05 → 0.1"), "\(error)")
        #expect(error.message.contains("--rho 0.05 → 0.2"), "\(error)")
        #expect(!error.message.contains("threads") && !error.message.contains("epochs") && !error.message.contains("tensorboard"), "\(error)")
    }
    #expect(try configText(output) == before)
    // Growing epochs, threads and the TensorBoard interval are no change of the run.
    var same = configuration("sam", epochs: 2)
    same.threads = 1
    same.tensorboardInterval = 0
    var observer = SilentObserver()
    _ = try trainer(same, output: output, resume: true, policy: strict).run(observer: &observer)
    // The library's default policy accepts the change (compare resumes with its own plan).
    changed.epochs = 3
    _ = try trainer(changed, output: output, resume: true).run(observer: &observer)
    #expect(try RunConfiguration.load(from: output.appendingPathComponent("config.json")).learningRate == 0.1)
}

/// The overflow of `nonFiniteWeightsAfterTheLastStepOfAnEpochAreNeverCheckpointed`: the
/// first step of the first epoch.
private func divergingAtTheFirstStep() -> RunConfiguration {
    var c = configuration("sgd", epochs: 3)
    c.batchSize = 64
    c.momentum = 0
    c.weightDecay = 100
    c.learningRate = 3e38
    return c
}

@Test func divergingBeforeAnyCheckpointDoesNotClaimOneIsKept() throws {
    let output = try temporaryDirectory("diverge-early")
    defer { try? FileManager.default.removeItem(at: output) }
    for directory in [nil, output] {
        do {
            try train(divergingAtTheFirstStep(), output: directory)
            Issue.record("training with a learning rate of 3e38 finished")
        } catch let error as TrainingError {
            #expect(!error.description.contains("is kept"), "\(error)")
            #expect(error.description.contains(directory == nil ? "nothing was saved" : "no checkpoint was written"), "\(error)")
        }
    }
}

@Test func aResumeThatDivergesKeepsTheRunsConfigurationAndCheckpoint() throws {
    // The learning rate jumps to 0.05·1e31 at the start of the second epoch.
    var c = configuration("sgd", epochs: 1)
    c.schedule = "multistep"
    c.milestones = [1]
    c.gamma = 1e31
    let output = try temporaryDirectory("diverge-resume")
    defer { try? FileManager.default.removeItem(at: output) }
    try train(c, output: output)
    let before = try configText(output)
    c.epochs = 3
    do {
        try train(c, output: output, resume: true)
        Issue.record("the resumed run with a learning rate of 5e29 finished")
    } catch let error as TrainingError {
        #expect(error.description.contains("the last good checkpoint (epoch 1) is kept"), "\(error)")
    }
    #expect(try configText(output) == before, "config.json was rewritten by a resume that diverged")
    #expect(try Checkpoint.read(from: output.appendingPathComponent("checkpoint-last.safetensors")).epoch == 1)
}

@Test func existingRunPoliciesRefuseOrRemoveOnlyTheRunsFiles() throws {
    let output = try temporaryDirectory("existing")
    defer { try? FileManager.default.removeItem(at: output) }
    var noisy = configuration("sgd", epochs: 1)
    noisy.labelNoise = 0.2
    try train(noisy, output: output)
    try Data("x".utf8).write(to: output.appendingPathComponent("notes.txt"))
    #expect(RunDirectory.holdsRun(output))
    #expect(Set(RunDirectory.runFiles(in: output).map(\.lastPathComponent)).isSuperset(of: ["config.json", "label-noise.json", "metrics.jsonl", "metrics.csv", "checkpoint-last.safetensors"]))
    var observer = SilentObserver()
    #expect(throws: ConfigurationError.self) {
        _ = try trainer(configuration("sgd", epochs: 1), output: output, policy: .init(existingRun: .refuse)).run(observer: &observer)
    }
    _ = try trainer(configuration("sgd", epochs: 1), output: output, policy: .init(existingRun: .overwrite)).run(observer: &observer)
    let left = try FileManager.default.contentsOfDirectory(atPath: output.path)
    #expect(left.contains("notes.txt"))
    #expect(!left.contains("label-noise.json"), "the old run's label noise was kept")
    #expect(observer.messages.contains { $0.contains("removed the old run") })
}

@Test func theRunLockIsHeldWhileTrainingAndReleasedOnEveryExit() throws {
    let output = try temporaryDirectory("lock")
    defer { try? FileManager.default.removeItem(at: output) }
    let lock = output.appendingPathComponent(".lock")
    // Held by a live process (this one): refused, naming it, the file left alone.
    try Data("\(getpid())\n".utf8).write(to: lock)
    do {
        try train(configuration("sgd", epochs: 1), output: output)
        Issue.record("trained in a locked directory")
    } catch let error as TrainingError {
        #expect(error.description.contains("in use by process \(getpid())"), "\(error)")
    }
    #expect(FileManager.default.fileExists(atPath: lock.path))
    #expect(!RunDirectory.holdsRun(output))
    try FileManager.default.removeItem(at: lock)

    // Released after a run, and after a run that fails.
    try train(configuration("sgd", epochs: 1), output: output)
    #expect(!FileManager.default.fileExists(atPath: lock.path))
    #expect(throws: TrainingError.self) { try train(divergingAtTheFirstStep(), output: output) }
    #expect(!FileManager.default.fileExists(atPath: lock.path))

    // Only this process's lock is removed: one taken over meanwhile stays.
    let taken = try RunLock.acquire(output) { _ in }
    try Data("999999999\n".utf8).write(to: lock)
    taken.release()
    #expect(FileManager.default.fileExists(atPath: lock.path))
    // 999999999 is no process: a stale lock, taken over with a message.
    var messages: [String] = []
    let again = try RunLock.acquire(output) { messages.append($0) }
    #expect(messages.first?.contains("stale lock") == true && messages.first?.contains("999999999") == true, "\(messages)")
    again.release()
    #expect(!FileManager.default.fileExists(atPath: lock.path))
}
