import Foundation

extension MethodRegistry {
    /// The method list of `plateau train --help` and `plateau methods`: each method with its
    /// one-line summary and its options with their defaults, wrapped to `width` columns (a
    /// help text is re-wrapped by the argument parser only where a line is too long).
    public func helpText(width: Int = 78) -> String {
        var lines: [String] = []
        for kind in MethodEntry.Kind.allCases {
            let members = entries.filter { $0.kind == kind }
            guard !members.isEmpty else { continue }
            switch kind {
            case .optimizer: lines += wrap("Base optimizers (--optimizer, or --base-optimizer under the others):", width: width, indent: "")
            case .sharpnessAware: lines += wrap("Sharpness-aware rules (--optimizer NAME; run over --base-optimizer):", width: width, indent: "")
            case .objective: lines += wrap("Objective terms (--optimizer NAME; added to the cross-entropy, trained by --base-optimizer):", width: width, indent: "")
            }
            for entry in members {
                lines += wrap("  \(entry.name): \(entry.summary)", width: width, indent: "      ")
                for option in entry.options {
                    lines += wrap("      --\(option.name) <\(option.valueName)> (default \(option.defaultValue)): \(option.help)", width: width, indent: "          ")
                }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    private func wrap(_ text: String, width: Int, indent: String) -> [String] {
        let leading = String(text.prefix { $0 == " " })
        var lines: [String] = [], current = leading
        for word in text.split(separator: " ") {
            if current.count > leading.count, current.count + 1 + word.count > width {
                lines.append(current)
                current = indent + word
            } else {
                current += (current.count > leading.count ? " " : "") + word
            }
        }
        lines.append(current)
        return lines
    }

    /// The method table of the README, between its `<!-- methods -->` markers.
    public var markdownTable: String {
        var lines = ["| method | kind | what it does | options (defaults) |", "|---|---|---|---|"]
        for entry in entries {
            let options = entry.options.map { "`--\($0.name)` \($0.defaultValue)" }.joined(separator: ", ")
            lines.append("| `\(entry.name)` | \(entry.kind.rawValue) | \(entry.summary) | \(options.isEmpty ? "—" : options) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Method options given as command-line words (`--rho 0.1 --saf-half`), typed by the
    /// entries of `methods`: a flag must be an option of at least one of them. Flags of
    /// `bool` options may stand alone.
    public func settings(fromArguments arguments: [String], for methods: [String]) throws(ConfigurationError) -> MethodSettings {
        let entries = try methods.map { name throws(ConfigurationError) in try entry(named: name) }
        var settings: MethodSettings = [:]
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            guard word.hasPrefix("--"), word.count > 2 else {
                throw ConfigurationError(field: word, message: "unexpected argument")
            }
            var name = String(word.dropFirst(2)), inlineValue: String? = nil
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let owner = entries.first(where: { $0.options.contains { $0.name == name } }),
                  let option = owner.options.first(where: { $0.name == name }) else {
                let known = Array(Set(self.entries.flatMap { $0.options.map(\.name) })).sorted()
                let users = self.entries.filter { $0.options.contains { $0.name == name } }.map(\.name)
                let why = users.isEmpty
                    ? "unknown option" + suggestion(for: name, among: known + ["optimizer", "base-optimizer"])
                    : "an option of \(users.joined(separator: ", ")), not of \(methods.joined(separator: ", "))"
                throw ConfigurationError(field: "--\(name)", message: why)
            }
            let argument: String
            if let inlineValue {
                argument = inlineValue
                index += 1
            } else if option.valueName == "bool", index + 1 == arguments.count || arguments[index + 1].hasPrefix("--") {
                argument = "true"
                index += 1
            } else {
                guard index + 1 < arguments.count else { throw ConfigurationError(field: "--\(name)", message: "expected a value of type \(option.valueName)") }
                argument = arguments[index + 1]
                index += 2
            }
            guard let value = owner.parse(option: name, argument: argument) else {
                throw ConfigurationError(field: "--\(name)", message: "expected a value of type \(option.valueName), got '\(argument)'")
            }
            settings[name] = value
        }
        return settings
    }

    /// The settings of `settings` that `method` has as options.
    public func settings(_ settings: MethodSettings, for method: String) -> MethodSettings {
        guard let entry = entries.first(where: { $0.name == method }) else { return settings }
        return settings.filter { key, _ in entry.options.contains { $0.name == key } }
    }
}
