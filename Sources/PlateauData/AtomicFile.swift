import Foundation

/// Whole-file writes that never leave a half-written file, nor a stray temporary file.
///
/// The bytes go to a uniquely named hidden file beside the target (``temporaryPrefix``),
/// are flushed to disk, and the file is renamed over the target: a reader sees the old
/// contents or the new, never a mix. When anything fails (a full disk, a read-only
/// directory, a target that cannot be replaced) the temporary file is removed and the error
/// names the target.
public enum AtomicFile {
    /// Temporary files are named `.<target name>` + this marker + a UUID; a file of that form
    /// left by a crash is garbage (``isTemporaryFile(_:)``).
    public static let temporaryMarker = ".tmp-"

    /// Whether `name` (a file name, no directory) is one of our temporary files.
    public static func isTemporaryFile(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(temporaryMarker)
    }

    /// Writes `data` to `url` atomically.
    ///
    /// - Throws: ``DataError`` of kind `.unwritable` naming the file, the stage that failed
    ///   and the system's reason.
    public static func write(_ data: Data, to url: URL) throws {
        let name = url.lastPathComponent
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent("." + name + temporaryMarker + UUID().uuidString)
        func failure(_ stage: String, _ expected: String) -> DataError {
            DataError(.unwritable, file: url.path, field: stage, expected: expected, found: String(cString: strerror(errno)))
        }
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw failure("temporary file", "a writable directory \(directory.path)")
        }
        var closed = false
        var renamed = false
        defer {
            if !closed { close(descriptor) }
            if !renamed { unlink(temporary.path) }
        }
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure("write", "room for \(buffer.count) bytes in \(directory.path)")
                }
                offset += written
            }
        }
        // Flushed before the rename, so that a crash after it cannot leave an empty file.
        guard fsync(descriptor) == 0 else { throw failure("fsync", "the bytes on disk") }
        closed = true
        guard close(descriptor) == 0 else { throw failure("close", "the bytes on disk") }
        guard rename(temporary.path, url.path) == 0 else {
            throw failure("rename", "to replace \(url.path) with the new file")
        }
        renamed = true
    }

    /// Removes the temporary files a crashed write left in `directory` (call it only while
    /// no other process writes there, e.g. under a run lock); returns their names.
    @discardableResult
    public static func removeLeftovers(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter(isTemporaryFile).filter { unlink(directory.appendingPathComponent($0).path) == 0 }.sorted()
    }
}
