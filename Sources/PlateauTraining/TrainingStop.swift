import Foundation

/// A request to stop a training early, shared between whoever asks (a signal handler, a
/// test, a user interface) and the ``Trainer`` that honours it.
///
/// The trainer looks at it after every optimizer step: once it is requested, the trainer
/// finishes that step, saves the run in the middle of its epoch and throws
/// ``TrainingInterrupted``. Requests from any thread are safe.
public final class StopToken: @unchecked Sendable {
    // A lock, not an atomic: `Synchronization.Atomic` needs macOS 15, the package does not.
    private let lock = NSLock()
    private var requestedSignal: Int32?

    public init() {}

    /// Asks the training to stop; `signal` (e.g. `SIGINT`) is what asked, 0 for a program.
    /// Returns whether a stop had already been requested (a second Ctrl-C).
    @discardableResult
    public func request(signal: Int32 = 0) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if requestedSignal != nil { return true }
        requestedSignal = signal
        return false
    }

    /// Whether a stop was requested.
    public var isRequested: Bool { signal != nil }

    /// The signal that requested the stop (0 for a program), `nil` when none was requested.
    public var signal: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return requestedSignal
    }
}

/// Thrown by ``Trainer`` when its ``StopToken`` stopped it: the run is saved and can be
/// continued with a resume that gives the same result as an uninterrupted run.
public struct TrainingInterrupted: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// The run directory holding the saved run, `nil` when the trainer writes nothing.
    public var output: URL?
    /// Epochs completed before the stop.
    public var epochsDone: Int
    /// Batches done in the epoch that was stopped (0: the stop came at an epoch boundary).
    public var batchesDone: Int
    /// Batches in an epoch.
    public var batchesPerEpoch: Int
    /// The signal of the ``StopToken`` (0 when a program asked).
    public var signal: Int32

    public init(output: URL?, epochsDone: Int, batchesDone: Int, batchesPerEpoch: Int, signal: Int32) {
        self.output = output
        self.epochsDone = epochsDone
        self.batchesDone = batchesDone
        self.batchesPerEpoch = batchesPerEpoch
        self.signal = signal
    }

    /// Where the run stopped, in words: "after step 3 of 12 of epoch 2".
    public var position: String {
        batchesDone == 0 ? "after epoch \(epochsDone)" : "after step \(batchesDone) of \(batchesPerEpoch) of epoch \(epochsDone + 1)"
    }

    /// The command that continues the run (`nil` when nothing was saved).
    public var resumeCommand: String? {
        output.map { "plateau train --output \(shellQuoted($0.path)) --resume" }
    }

    public var description: String {
        guard let output, let resumeCommand else { return "training stopped \(position); nothing was saved (no run directory)" }
        return "training stopped \(position); the run is saved in \(output.path) (\(RunDirectory.lastCheckpointFile)). Continue it with: \(resumeCommand)"
    }

    public var errorDescription: String? { description }
}

/// `text` as one shell word: unchanged when it is plain, else in single quotes.
func shellQuoted(_ text: String) -> String {
    let plain = text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-+=:,@%".unicodeScalars.contains($0) }
    return plain && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
