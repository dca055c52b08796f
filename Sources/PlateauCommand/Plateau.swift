import ArgumentParser
import Foundation
#if canImport(Glibc)
// glibc's mallopt(3); <malloc.h> is not part of the Glibc module map.
@_silgen_name("mallopt") private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
private let M_TRIM_THRESHOLD: Int32 = -1
private let M_MMAP_MAX: Int32 = -4
#endif

/// The version `plateau --version` prints; the one place it is written.
enum PlateauVersion {
    static let current = "0.3.0"
}

/// A failure while running a command (a file, the data, the numbers), as opposed to a
/// command line that cannot be run: printed as `Error: …` without the usage, exit status 1.
struct RuntimeError: Error, CustomStringConvertible, LocalizedError {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
    var errorDescription: String? { message }
}

/// The `plateau` command: train, evaluate, compare and benchmark sharpness-aware optimizers.
///
/// Exit statuses, one convention for every subcommand:
/// - 64 (`EX_USAGE`): the command line cannot be run — a parse error or a `ValidationError`
///   (an unknown flag, a value out of range); the message is followed by the command's usage.
/// - 1: the command failed while running (`RuntimeError`, a file that cannot be read, a
///   corrupt checkpoint, a NaN result, …): `Error: …` on standard error, no usage.
/// - 130 / 143: `train` was stopped by SIGINT / SIGTERM and saved its run (128 + the
///   signal's number, as a shell reports a process the signal ended).
@main
struct PlateauCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plateau",
        abstract: "Sharpness-aware training (SAM, SAF and family) in Swift.",
        version: PlateauVersion.current,
        subcommands: [TrainCommand.self, EvalCommand.self, ExportIntCommand.self, AdaptCommand.self, DriftCommand.self, UnlearnCommand.self, RelearnCommand.self,
                      MethodsCommand.self, CompareCommand.self, SharpnessCommand.self, LandscapeCommand.self, UsefulCommand.self, PruneCommand.self,
                      PruneGridCommand.self, ConnectCommand.self, SignalsCommand.self, DemoCommand.self, BenchCommand.self, DataCommand.self,
                      ALIASToyCommand.self, FederateCommand.self]
    )

    static func main() {
        var command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }  // --help, --version, parse errors (64)
        do { try command.run() } catch { fail(error, in: type(of: command)) }
    }

    /// Ends the process for an error thrown by `subcommand.run()`, following the convention above.
    static func fail(_ error: any Error, in subcommand: any ParsableCommand.Type) -> Never {
        switch error {
        case let error as ValidationError:
            // The usage of the subcommand that was run, not of `plateau` itself.
            let path = ([self] + commandPath(to: subcommand)).map { $0._commandName }.joined(separator: " ")
            let usage = usageString(for: subcommand)
            FileHandle.standardError.write(Data("Error: \(error.message)\nUsage: \(usage)\n  See '\(path) --help' for more information.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        case _ where String(reflecting: type(of: error)).hasPrefix("ArgumentParser."):
            // ExitCode, CleanExit, and the built-in help and version commands' requests.
            exit(withError: error)
        default:
            FileHandle.standardError.write(Data("Error: \(describe(error))\n".utf8))
            Foundation.exit(EXIT_FAILURE)
        }
    }

    /// An error's message for people: its `LocalizedError` description, else its description.
    static func describe(_ error: any Error) -> String {
        if let description = (error as? any LocalizedError)?.errorDescription { return description }
        return String(describing: error)
    }

    /// The subcommands from the root to `target` (`[DataCommand, Fetch]`), empty for the root.
    private static func commandPath(to target: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
        func search(_ command: any ParsableCommand.Type) -> [any ParsableCommand.Type]? {
            if command == target { return [command] }
            for sub in command.configuration.subcommands {
                if let path = search(sub) { return [command] + path }
            }
            return nil
        }
        return Array((search(self) ?? [self]).dropFirst())
    }

    /// Process-wide tuning done once at start-up.
    static func configureRuntime() {
        #if canImport(Glibc)
        // Every tensor operation allocates its result; glibc would serve the large ones (im2col
        // buffers reach 75 MB for ResNet-20) with fresh mmap'd pages — a page fault and a
        // kernel zeroing per 4 KiB — and unmap them on free. Serving everything from the heap
        // and never trimming it lets each step reuse the previous step's memory.
        _ = mallopt(M_MMAP_MAX, 0)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        #endif
    }
}
