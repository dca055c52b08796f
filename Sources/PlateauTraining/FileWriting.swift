import Foundation
import PlateauData

/// Writes a file of a run or an experiment (checkpoints, metrics, `config.json`, reports)
/// atomically (`AtomicFile`): a temporary file beside `url`, flushed, then renamed over
/// `url`; on failure the temporary file is removed.
///
/// - Throws: ``ConfigurationError`` (field `output`) naming the file and the reason.
public func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try AtomicFile.write(data, to: url)
    } catch let error as DataError {
        throw ConfigurationError(field: "output", message: "cannot write \(url.path): \(error.field) failed (\(error.found)); expected \(error.expected)")
    }
}

/// Creates the run directory `url` (and its parents) if needed and checks that it is writable.
func createRunDirectory(_ url: URL) throws {
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        throw ConfigurationError(field: "output", message: "cannot create the run directory \(url.path): \(error.localizedDescription)")
    }
    guard FileManager.default.isWritableFile(atPath: url.path) else {
        throw ConfigurationError(field: "output", message: "the run directory \(url.path) is not writable")
    }
}
