import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a run directory while a trainer writes into it: the file `.lock`,
/// created with `O_CREAT | O_EXCL` and holding the process id, removed when training ends.
/// A lock whose process is no longer alive (a run killed mid-training) is stale and taken
/// over with a message.
public final class RunLock {
    public static let fileName = ".lock"

    public let url: URL
    private var held = true

    private init(url: URL) { self.url = url }

    deinit { release() }

    /// The process holding `directory`'s lock, if that process is alive.
    public static func activeHolder(of directory: URL) -> Int32? {
        let url = directory.appendingPathComponent(fileName)
        guard let pid = holder(url), isAlive(pid) else { return nil }
        return pid
    }

    /// The error for a directory in use by process `pid`.
    public static func inUse(_ directory: URL, by pid: Int32) -> TrainingError {
        TrainingError(description: "\(directory.path) is in use by process \(pid), which is training there (lock file \(directory.appendingPathComponent(fileName).path)); wait for it to finish or stop it, or train into another --output")
    }

    /// Takes `directory`'s lock; `message` reports a stale lock taken over.
    ///
    /// - Throws: ``TrainingError`` naming the process when another live process holds it,
    ///   ``ConfigurationError`` when the lock file cannot be created.
    public static func acquire(_ directory: URL, message: (String) -> Void) throws -> RunLock {
        let url = directory.appendingPathComponent(fileName)
        for _ in 0..<50 {
            let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 {
                let text = "\(getpid())\n"
                _ = text.withCString { write(descriptor, $0, strlen($0)) }
                close(descriptor)
                return RunLock(url: url)
            }
            guard errno == EEXIST else {
                throw ConfigurationError(field: "output", message: "cannot create the lock file \(url.path): \(String(cString: strerror(errno)))")
            }
            if let pid = holder(url) {
                if isAlive(pid) { throw inUse(directory, by: pid) }
                message("taking over the stale lock \(url.path) of process \(pid), which is no longer running")
            } else {
                // Just created by a process that has not written its id yet, or garbage.
                let modified = (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? nil
                if let modified, Date().timeIntervalSince(modified) < 2 {
                    Thread.sleep(forTimeInterval: 0.1)
                    continue
                }
                message("taking over the lock \(url.path), which holds no process id")
            }
            unlink(url.path)
        }
        throw ConfigurationError(field: "output", message: "cannot take the lock file \(url.path): it keeps changing")
    }

    /// Removes the lock file if it is still this process's.
    public func release() {
        guard held else { return }
        held = false
        if Self.holder(url) == getpid() { unlink(url.path) }
    }

    private static func holder(_ url: URL) -> Int32? {
        guard let text = try? String(contentsOf: url, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return nil }
        return pid
    }

    private static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
