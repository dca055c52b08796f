import Dispatch
import Foundation
import Plateau

/// Turns Ctrl-C (SIGINT) and SIGTERM into a ``StopToken`` request while a training runs, so
/// that the trainer finishes its step and saves the run instead of dying with it.
///
/// A second signal while the first is being honoured ends the process at once (status 130 or
/// 143) without saving more: the last checkpoint on disk stays intact, since every run file
/// is replaced by an atomic rename.
final class StopSignals {
    let token = StopToken()
    private var sources: [any DispatchSourceSignal] = []
    private let signals: [Int32] = [SIGINT, SIGTERM]

    /// Starts catching the signals; `notice` is printed on the first one (on standard error
    /// unless told otherwise, so that it never mixes into JSON on standard output).
    init(notice: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        let token = self.token
        for number in signals {
            // Ignored by the default handler, delivered to the dispatch source instead.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if token.request(signal: number) { _exit(StopSignals.exitStatus(for: number)) }
                notice("\n\(StopSignals.name(of: number)): stopping after this step to save the run; press Ctrl-C again to quit at once (the unsaved part of the epoch is then lost)")
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Restores the default handlers.
    func stop() {
        for source in sources { source.cancel() }
        sources = []
        for number in signals { signal(number, SIG_DFL) }
    }

    /// The status a shell gives a process ended by `signal`: 128 + its number (130, 143).
    static func exitStatus(for signal: Int32) -> Int32 { 128 + signal }

    static func name(of signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}
