import Foundation
import Testing

/// Ctrl-C during `plateau train`: the run is saved where it stopped, the resume command is
/// printed, and the exit status is the shell's for SIGINT (130).
@Test func sigintSavesTheRunPrintsTheResumeCommandAndExits130() throws {
    let directory = try CLITests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let run = directory.appendingPathComponent("run")
    let process = Process()
    process.executableURL = CLITests.binary
    // More epochs than the test waits for: only the signal ends it.
    process.arguments = ["train", "--epochs", "1000", "--tensorboard-interval", "0", "--output", run.path]
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    // The lock is taken inside the training, after the signal handlers are installed.
    let lock = run.appendingPathComponent(".lock")
    for _ in 0..<600 where !FileManager.default.fileExists(atPath: lock.path) { Thread.sleep(forTimeInterval: 0.1) }
    #expect(FileManager.default.fileExists(atPath: lock.path), "the training did not start")
    kill(process.processIdentifier, SIGINT)
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == 130, "status \(process.terminationStatus): \(error)")
    #expect(output.contains("plateau train --output \(run.path) --resume"), "\(output)")
    #expect(error.contains("press Ctrl-C again"), "\(error)")
    #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint-last.safetensors").path))
    #expect(!FileManager.default.fileExists(atPath: lock.path), "the lock was left behind")
}
