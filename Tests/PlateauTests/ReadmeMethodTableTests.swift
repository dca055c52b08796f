import Foundation
import Plateau
import Testing

/// The README's method list is generated from the method table (`plateau methods
/// --markdown`): a method added to the table and not to the README fails here.
@Test func readmeMethodTableIsTheGeneratedOne() throws {
    let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("README.md")
    let text = try String(contentsOf: readme, encoding: .utf8)
    let start = try #require(text.range(of: "<!-- methods -->\n"))
    let end = try #require(text.range(of: "\n<!-- /methods -->"))
    #expect(String(text[start.upperBound..<end.lowerBound]) == MethodRegistry.standard.markdownTable,
            "README.md's method table is stale: replace it with the output of `plateau methods --markdown`")
}
