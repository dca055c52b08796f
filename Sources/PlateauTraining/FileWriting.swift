import Foundation

/// Writes `data` to a temporary file beside `url`, then renames it over `url`.
func writeAtomically(_ data: Data, to url: URL) throws {
    do {
        try data.write(to: url, options: .atomic)
    } catch {
        throw ConfigurationError(field: "output", message: "cannot write \(url.path): \(error.localizedDescription)")
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
