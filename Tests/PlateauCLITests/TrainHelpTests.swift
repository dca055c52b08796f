import Foundation
import Testing

/// Issue 10: `train --help` in groups, defaults shown, examples whole. Failed before the fix.
extension CLITests {
    // MARK: - train --help

    @Test func trainHelpGroupsItsOptionsAndKeepsExamplesWhole() throws {
        let result = try Self.run(["train", "--help"])
        #expect(result.status == 0)
        let help = result.output
        for heading in ["MODEL AND DATA:", "OPTIMIZER:", "SCHEDULE:", "SHARPNESS-AWARE:", "RUN:"] {
            #expect(help.contains(heading), "train --help has no \(heading) heading")
        }
        #expect(help.contains("Epochs to train (default: 10)"), "the default of --epochs is not shown")
        // Each example is whole: a line starting with `plateau`, or the continuation of one ending in `\`.
        let lines = help.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "Examples:" }) else {
            Issue.record("no Examples: in train --help")
            return
        }
        var previous = ""
        for line in lines[(start + 1)...] {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { break }
            #expect(text.hasPrefix("plateau ") || previous.hasSuffix("\\"), "an example wraps mid-command: '\(line)'")
            previous = text
        }
    }

    /// The README documents shell completion; the custom main keeps it working.
    @Test func completionScriptIsGenerated() throws {
        let result = try Self.run(["--generate-completion-script", "bash"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("plateau") && result.output.contains("train"))
    }
}
