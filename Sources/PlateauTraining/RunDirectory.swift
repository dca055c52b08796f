import Foundation

/// How a ``Trainer`` treats what it finds in its run directory before it writes anything.
///
/// The library's default keeps the permissive behaviour `compare`'s ``ExperimentRunner``
/// relies on (it restarts interrupted runs in place and resumes with its own plan);
/// `plateau train` refuses to mix runs unless asked.
public struct RunDirectoryPolicy: Sendable, Equatable {
    /// What to do when the directory already holds a run and the trainer does not resume.
    public enum ExistingRun: Sendable, Equatable {
        /// Train into it, replacing the files the new run writes (the library's default).
        case reuse
        /// Stop with an error naming the directory.
        case refuse
        /// Remove the old run's files first (``RunDirectory/runFiles(in:)``), then train.
        case overwrite
    }

    public var existingRun: ExistingRun
    /// Whether a resume may change settings other than `epochs` (growing), `threads`,
    /// `tensorboardInterval` and `output`.
    public var allowsChangedSettings: Bool

    public init(existingRun: ExistingRun = .reuse, allowsChangedSettings: Bool = true) {
        self.existingRun = existingRun
        self.allowsChangedSettings = allowsChangedSettings
    }
}

/// The files of a run directory and the checks made on them before training.
public enum RunDirectory {
    public static let configurationFile = "config.json"
    public static let lastCheckpointFile = "checkpoint-last.safetensors"
    public static let bestCheckpointFile = "checkpoint-best.safetensors"
    public static let labelNoiseFile = "label-noise.json"
    static let metricsFiles = ["metrics.jsonl", "metrics.csv"]
    static let eventFilePrefix = "events.out.tfevents."

    /// Fields a resume may change without ``RunDirectoryPolicy/allowsChangedSettings``:
    /// they do not change what is computed (`epochs` may only grow, checked separately).
    public static let resumableFields: Set<String> = ["epochs", "threads", "tensorboard-interval", "output"]

    /// Whether `directory` holds a run: its configuration, a checkpoint or metrics.
    public static func holdsRun(_ directory: URL) -> Bool {
        ([configurationFile, lastCheckpointFile, bestCheckpointFile] + metricsFiles).contains {
            FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path)
        }
    }

    /// The files a run writes that exist in `directory`: checkpoints, metrics, TensorBoard
    /// event files, `label-noise.json` and `config.json` — nothing else.
    public static func runFiles(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let fixed = Set([configurationFile, lastCheckpointFile, bestCheckpointFile, labelNoiseFile] + metricsFiles)
        return names.filter { fixed.contains($0) || $0.hasPrefix(eventFilePrefix) }.sorted().map { directory.appendingPathComponent($0) }
    }

    /// Removes ``runFiles(in:)``.
    static func removeRunFiles(in directory: URL) throws {
        for url in runFiles(in: directory) {
            do { try FileManager.default.removeItem(at: url) } catch {
                throw ConfigurationError(field: "output", message: "cannot remove \(url.path) of the old run: \(error.localizedDescription)")
            }
        }
    }

    /// The settings that differ between the configuration a run was started with and the
    /// one it is resumed with, as (config.json key, stored value, given value), values in
    /// JSON; ``resumableFields`` are left out.
    public static func changedSettings(stored: RunConfiguration, given: RunConfiguration, registry: MethodRegistry = .standard) -> [(field: String, stored: String, given: String)] {
        stored.differences(from: given, ignoring: resumableFields, registry: registry).map { ($0.key, $0.stored, $0.given) }
    }

    /// Checks `directory` before a trainer writes anything into it and returns the checkpoint
    /// to resume from (`nil` when not resuming).
    ///
    /// - Throws: ``ConfigurationError`` naming the file and field: nothing to resume, fewer
    ///   epochs than the run has done, settings changed without permission, or an existing
    ///   run in the way.
    static func check(
        _ directory: URL, configuration: RunConfiguration, resume: Bool, policy: RunDirectoryPolicy, registry: MethodRegistry
    ) throws -> Checkpoint? {
        let fileManager = FileManager.default
        let configURL = directory.appendingPathComponent(configurationFile)
        let lastURL = directory.appendingPathComponent(lastCheckpointFile)
        guard resume else {
            if policy.existingRun == .refuse, holdsRun(directory) {
                throw ConfigurationError(field: "output", message: "\(directory.path) already holds a run (\(runFiles(in: directory).map(\.lastPathComponent).joined(separator: ", "))); continue it with --resume, replace it with --overwrite, or choose another --output")
            }
            return nil
        }
        guard fileManager.fileExists(atPath: configURL.path) else {
            throw ConfigurationError(field: "output", message: nothingToResume(directory, "it holds no \(configurationFile), so no run was started there") + "; start one with `plateau train --output \(directory.path) …`")
        }
        guard fileManager.fileExists(atPath: lastURL.path) else {
            throw ConfigurationError(field: "output", message: nothingToResume(directory, "the run has no checkpoint yet (\(lastCheckpointFile) is written at the end of each epoch)") + "; start it again with `plateau train --config \(configURL.path) --output \(directory.path) --overwrite`")
        }
        let checkpoint = try Checkpoint.read(from: lastURL)
        guard checkpoint.epoch <= configuration.epochs else {
            throw ConfigurationError(field: "epochs", message: "the run in \(directory.path) has \(checkpoint.epoch) epochs done (\(lastCheckpointFile)); resume it with --epochs \(checkpoint.epoch) or more, got \(configuration.epochs)")
        }
        if let partial = checkpoint.partialEpoch, checkpoint.epoch >= configuration.epochs {
            throw ConfigurationError(field: "epochs", message: "the run in \(directory.path) was stopped in epoch \(checkpoint.epoch + 1), after step \(partial.batchesDone) (\(lastCheckpointFile)); resume it with --epochs \(checkpoint.epoch + 1) or more, got \(configuration.epochs)")
        }
        if !policy.allowsChangedSettings {
            let stored = try RunConfiguration.load(from: configURL)
            let changes = changedSettings(stored: stored, given: configuration, registry: registry)
            if !changes.isEmpty {
                let list = changes.map { "--\($0.field) \($0.stored) → \($0.given)" }.joined(separator: ", ")
                throw ConfigurationError(field: configURL.path, message: "resuming would change the run's settings (stored → given): \(list); pass --allow-changes to resume with them anyway, or train into another --output")
            }
        }
        return checkpoint
    }

    public static func nothingToResume(_ directory: URL, _ reason: String) -> String {
        "nothing to resume in \(directory.path): \(reason)"
    }
}
