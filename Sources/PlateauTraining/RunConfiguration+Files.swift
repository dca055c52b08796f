import Foundation
import Yams

/// The two spellings of a configuration file: JSON (what runs write) and YAML (easier to
/// write by hand). Both hold the same keys, the flags' names.
public enum ConfigurationFormat: String, Sendable, CaseIterable {
    case json, yaml

    /// `.yaml`/`.yml` is YAML and `.json` JSON; any other name is decided by ``init(content:)``.
    public init(path: String, content: Data) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "yaml", "yml": self = .yaml
        case "json": self = .json
        default: self.init(content: content)
        }
    }

    /// JSON when the text starts (after blanks) with `{` or `[`, YAML otherwise — a JSON
    /// file is also YAML, but its errors read better from the JSON reader.
    public init(content: Data) {
        let first = content.first { ![0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }
        self = first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? .json : .yaml
    }
}

extension RunConfiguration {
    /// The configuration as a file of `format` that ``decode(_:source:format:registry:)``
    /// reads back: every key (unset ones as null) and every option of the method, with its
    /// default when the configuration does not set it.
    public func printed(as format: ConfigurationFormat, registry: MethodRegistry = .standard) throws -> String {
        var resolved = self
        resolved.methodOptions = try registry.resolvedOptions(for: self)
        let json = String(decoding: resolved.json, as: UTF8.self)
        guard format == .yaml else { return json + "\n" }
        // YAML 1.2 is a superset of JSON: each value's JSON text is a valid YAML flow value,
        // so `key: <json>` lines round-trip exactly (strings stay quoted, "inf" stays a string).
        guard let object = (try? JSONSerialization.jsonObject(with: resolved.json)) as? [String: Any] else { return json + "\n" }
        var lines = ["# plateau train configuration (keys: the flags' names; `plateau train --config FILE` reads it back)"]
        for key in object.keys.sorted() {
            let data = (try? JSONSerialization.data(withJSONObject: object[key]!, options: [.fragmentsAllowed])) ?? Data("null".utf8)
            lines.append("\(key): \(String(decoding: data, as: UTF8.self))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML file's settings as the JSON the decoder reads, with the line of each top-level key.
    static func jsonFromYAML(_ data: Data, source: String) throws -> (json: Data, lines: [String: Int]) {
        let node: Node?
        do { node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw ConfigurationError(field: source, message: "not valid YAML: \(error)")
        }
        // Yams itself rejects a key given twice.
        var lines: [String: Int] = [:]
        for (key, _) in node?.mapping ?? [:] {
            if let line = key.mark?.line { lines[key.string ?? "\(key)"] = line }
        }
        let value = node.map(plainValue) ?? NSNull()
        let json = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])) ?? Data("null".utf8)
        return (json, lines)
    }

    /// A YAML node as JSONSerialization's values: scalars by their resolved YAML type,
    /// non-finite numbers spelled as ``json`` spells them ("inf").
    static func plainValue(_ node: Node) -> Any {
        switch node {
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping { object[key.string ?? "\(key)"] = plainValue(value) }
            return object
        case .sequence(let sequence):
            return sequence.map(plainValue)
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return NSNull()
            case .bool: if let bool = node.bool { return bool }
            case .int:
                if let int = node.int { return int }
                if let unsigned = UInt64(scalar.string) { return NSNumber(value: unsigned) }
                if let double = Double(scalar.string), double.isFinite { return double }
            case .float:
                if let double = node.float {
                    if double.isNaN { return "nan" }
                    if double.isInfinite { return double > 0 ? "inf" : "-inf" }
                    return double
                }
            default: break
            }
            return scalar.string
        default:
            return node.string ?? NSNull()
        }
    }
}
