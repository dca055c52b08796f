import Foundation
import PlateauData
import Testing
@testable import PlateauTraining

// Run files are replaced atomically, and a failed write leaves no temporary file behind.

@Test func aWriteWhoseRenameFailsThrowsAndLeavesNoTemporaryFile() throws {
    let directory = try temporaryDirectory("atomic-rename")
    defer { try? FileManager.default.removeItem(at: directory) }
    // A non-empty directory where the file should go: rename(2) cannot replace it.
    let target = directory.appendingPathComponent("metrics.jsonl")
    try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
    try Data("x".utf8).write(to: target.appendingPathComponent("inside"))
    let error = #expect(throws: ConfigurationError.self) { try writeAtomically(Data("row\n".utf8), to: target) }
    #expect(error?.description.contains(target.path) == true, "\(String(describing: error))")
    #expect(error?.description.contains("rename") == true, "\(String(describing: error))")
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["metrics.jsonl"])
}

@Test func aWriteIntoAReadOnlyDirectoryIsAClearError() throws {
    let directory = try temporaryDirectory("atomic-readonly")
    defer {
        chmod(directory.path, 0o755)
        try? FileManager.default.removeItem(at: directory)
    }
    // A directory that cannot hold the temporary file: read-only (root may write there all
    // the same, so it is checked only for other users), or not a directory at all.
    var targets = [directory.appendingPathComponent("not-a-directory").appendingPathComponent("config.json")]
    try Data("a file".utf8).write(to: targets[0].deletingLastPathComponent())
    if geteuid() != 0 {
        let readOnly = directory.appendingPathComponent("read-only")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: false)
        chmod(readOnly.path, 0o555)
        targets.append(readOnly.appendingPathComponent("config.json"))
    }
    for target in targets {
        let error = #expect(throws: ConfigurationError.self) { try writeAtomically(Data("{}".utf8), to: target) }
        let text = error?.description ?? ""
        #expect(text.contains("cannot write \(target.path)") && text.contains("temporary file") && text.contains("writable directory"), "\(text)")
    }
    if geteuid() != 0 { chmod(directory.appendingPathComponent("read-only").path, 0o755) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).allSatisfy { !AtomicFile.isTemporaryFile($0) })
}

@Test func aWriteReplacesTheFileAndLeavesOnlyIt() throws {
    let directory = try temporaryDirectory("atomic-replace")
    defer { try? FileManager.default.removeItem(at: directory) }
    let target = directory.appendingPathComponent("config.json")
    try writeAtomically(Data("old".utf8), to: target)
    try writeAtomically(Data("new".utf8), to: target)
    #expect(try Data(contentsOf: target) == Data("new".utf8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["config.json"])
}

@Test func temporaryFilesLeftByACrashAreRemovedAndDoNotBlockAResume() throws {
    let directory = try temporaryDirectory("atomic-leftover")
    defer { try? FileManager.default.removeItem(at: directory) }
    try train(configuration("sgd", epochs: 1), output: directory)
    let leftover = directory.appendingPathComponent(".checkpoint-last.safetensors.tmp-0A1B2C3D-0000-0000-0000-000000000000")
    try Data("half a checkpoint".utf8).write(to: leftover)
    let trainer = try Trainer(configuration: configuration("sgd", epochs: 2), train: trainSet, test: testSet, output: directory, resume: true)
    var observer = SilentObserver()
    _ = try trainer.run(observer: &observer)
    #expect(!FileManager.default.fileExists(atPath: leftover.path))
    #expect(observer.messages.contains { $0.contains("temporary file") }, "\(observer.messages)")
    #expect(MetricsLog.read(from: directory).map(\.epoch) == [1, 2])
}
