import Foundation
import Testing

/// Issue 10: one exit-status convention (64 usage, 1 runtime), --version, and `data fetch`
/// from any folder. Each test failed before its fix.
extension CLITests {
    // MARK: - Exit statuses

    /// Usage errors exit 64 with the usage of the subcommand that was run.
    @Test(arguments: [["train", "--epochs", "0"], ["train", "--optimizer", "bogus"], ["eval"]])
    func usageErrorsExit64WithTheSubcommandsUsage(arguments: [String]) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.status) \(result.error)")
        #expect(result.error.contains("Usage: plateau \(arguments[0])"), "\(arguments): \(result.error)")
        #expect(!result.error.contains("plateau <subcommand>"), "\(arguments): \(result.error)")
    }

    /// Runtime errors exit 1 with `Error: …` and no usage.
    @Test(arguments: [
        ["eval", "/nonexistent/checkpoint.safetensors"],
        ["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"],
        ["train", "--epochs", "1", "--output", "/proc/plateau-run"],
    ])
    func runtimeErrorsExit1WithoutUsage(arguments: [String]) throws {
        let result = try Self.run(arguments)
        #expect(result.status == 1, "\(arguments): \(result.status) \(result.error)")
        #expect(result.error.hasPrefix("Error: ") || result.error.contains("\nError: "), "\(arguments): \(result.error)")
        #expect(!result.error.contains("Usage:"), "\(arguments): \(result.error)")
    }

    // MARK: - --version and data fetch

    @Test func versionIsPrinted() throws {
        let result = try Self.run(["--version"])
        #expect(result.status == 0, "\(result.error)")
        let version = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.split(separator: ".").count == 3 && version.split(separator: ".").allSatisfy { Int($0) != nil }, "'\(version)'")
    }

    /// The fetch script is found from any folder (walking up from the executable).
    @Test func dataFetchFindsItsScriptFromAnyFolder() throws {
        let elsewhere = try Self.temporaryDirectory()
        let result = try Self.run(["data", "fetch", "mnist", "--dry-run"], in: elsewhere)
        #expect(result.status == 0, "\(result.error)")
        let words = result.output.split(separator: " ").map(String.init)
        #expect(words.count >= 2 && words[0] == "python3" && words[1].hasSuffix("scripts/fetch_mnist.py"), "\(result.output)")
        if words.count >= 2 { #expect(FileManager.default.fileExists(atPath: words[1]), "\(words[1])") }
        let missing = try Self.run(["data", "fetch", "mnist", "--dry-run", "--script", "/nonexistent/fetch.py"], in: elsewhere)
        #expect(missing.status == 1 && missing.error.contains("/nonexistent/fetch.py"), "\(missing.error)")
    }
}
