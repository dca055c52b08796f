import ArgumentParser
import Foundation
import Plateau

/// `plateau methods`: the method table — every optimizer, sharpness-aware rule and
/// objective term with its options and defaults.
struct MethodsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "methods",
        abstract: "List the methods (--optimizer) with their options and defaults.",
        discussion: "--markdown prints the table that the README carries between its <!-- methods --> markers."
    )

    @Flag(help: "Print the README's Markdown table.") var markdown = false

    func run() throws {
        print(markdown ? MethodRegistry.standard.markdownTable : MethodRegistry.standard.helpText())
    }
}
