import Foundation

/// A method option's value as a configuration file stores it: a JSON boolean, integer,
/// number, string or null. Literals make settings read naturally:
/// `configuration.methodOptions["rho"] = 0.1`.
public enum SettingValue: Codable, Sendable, Equatable, CustomStringConvertible,
    ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral {
    case bool(Bool)
    case int(Int)
    case float(Float)
    case string(String)
    case null

    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Float) { self = .float(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let f = try? c.decode(Float.self) { self = .float(f) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a boolean, number, string or null") }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .float(let f): try c.encode(f)
        case .string(let s): try c.encode(s)
        case .null: try c.encodeNil()
        }
    }

    public var description: String {
        switch self {
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .float(let f): "\(f)"
        case .string(let s): s
        case .null: "none"
        }
    }
}

/// The options a run sets for its method, by option name (the flag without `--`).
public typealias MethodSettings = [String: SettingValue]

/// A type that a method option can have: how it is read from a flag's argument and from
/// a configuration value, and written back.
public protocol OptionValue: Sendable {
    init?(argument: String)
    init?(setting: SettingValue)
    var setting: SettingValue { get }
    /// How `--help` names the value (`<float>`, `<int>`, `<forward|reverse>`).
    static var valueName: String { get }
}

extension Float: OptionValue {
    public init?(argument: String) { self.init(argument) }
    public init?(setting: SettingValue) {
        switch setting {
        case .float(let f): self = f
        case .int(let i): self = Float(i)
        case .string(let s): guard let f = Float(s) else { return nil }; self = f  // "inf", "nan"
        default: return nil
        }
    }
    public var setting: SettingValue { isFinite ? .float(self) : .string("\(self)") }
    public static var valueName: String { "float" }
}

extension Int: OptionValue {
    public init?(argument: String) { self.init(argument, radix: 10) }
    public init?(setting: SettingValue) {
        switch setting {
        case .int(let i): self = i
        case .float(let f) where f == f.rounded() && abs(f) < 1e15: self = Int(f)
        default: return nil
        }
    }
    public var setting: SettingValue { .int(self) }
    public static var valueName: String { "int" }
}

extension Bool: OptionValue {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "true", "yes", "1", "on": self = true
        case "false", "no", "0", "off": self = false
        default: return nil
        }
    }
    public init?(setting: SettingValue) {
        guard case .bool(let b) = setting else { return nil }
        self = b
    }
    public var setting: SettingValue { .bool(self) }
    public static var valueName: String { "bool" }
}

extension String: OptionValue {
    public init?(argument: String) { self = argument }
    public init?(setting: SettingValue) {
        guard case .string(let s) = setting else { return nil }
        self = s
    }
    public var setting: SettingValue { .string(self) }
    public static var valueName: String { "string" }
}

extension Optional: OptionValue where Wrapped: OptionValue {
    public init?(argument: String) {
        if argument == "none" { self = .none; return }
        guard let value = Wrapped(argument: argument) else { return nil }
        self = .some(value)
    }
    public init?(setting: SettingValue) {
        if setting == .null { self = .none; return }
        guard let value = Wrapped(setting: setting) else { return nil }
        self = .some(value)
    }
    public var setting: SettingValue { map(\.setting) ?? .null }
    public static var valueName: String { Wrapped.valueName + "|none" }
}

/// An option whose values are the cases of a string enumeration.
public protocol EnumeratedOptionValue: OptionValue, CaseIterable, RawRepresentable where RawValue == String {}

extension EnumeratedOptionValue {
    public init?(argument: String) { self.init(rawValue: argument) }
    public init?(setting: SettingValue) {
        guard case .string(let s) = setting else { return nil }
        self.init(rawValue: s)
    }
    public var setting: SettingValue { .string(rawValue) }
    public static var valueName: String { allCases.map(\.rawValue).joined(separator: "|") }
}

/// One option of a method: its name (the flag `--name` and the configuration key `name`),
/// its help line, and where its value lives in the method's options value.
public struct OptionSpec<Options>: Sendable {
    public let name: String
    public let help: String
    public let valueName: String
    let read: @Sendable (Options) -> SettingValue
    let write: @Sendable (inout Options, SettingValue) -> Bool
    let parse: @Sendable (String) -> SettingValue?

    /// The option `--name`, stored at `keyPath`.
    public init<Value: OptionValue>(_ name: String, _ keyPath: WritableKeyPath<Options, Value> & Sendable, help: String) {
        self.name = name
        self.help = help
        valueName = Value.valueName
        read = { $0[keyPath: keyPath].setting }
        write = { options, setting in
            guard let value = Value(setting: setting) else { return false }
            options[keyPath: keyPath] = value
            return true
        }
        parse = { Value(argument: $0)?.setting }
    }
}

extension OptionSpec {
    /// This option as one of an options type that holds `Options` at `keyPath` (a method
    /// that extends another's options, as LANTON extends Muon's).
    public func lifted<Outer>(_ keyPath: WritableKeyPath<Outer, Options> & Sendable) -> OptionSpec<Outer> {
        let (read, write) = (self.read, self.write)
        return OptionSpec<Outer>(
            name: name, help: help, valueName: valueName, read: { read($0[keyPath: keyPath]) },
            write: { outer, setting in write(&outer[keyPath: keyPath], setting) }, parse: parse)
    }

    private init(
        name: String, help: String, valueName: String, read: @escaping @Sendable (Options) -> SettingValue,
        write: @escaping @Sendable (inout Options, SettingValue) -> Bool, parse: @escaping @Sendable (String) -> SettingValue?
    ) {
        (self.name, self.help, self.valueName, self.read, self.write, self.parse) = (name, help, valueName, read, write, parse)
    }
}

/// The typed options of one method: a value with the paper's defaults, the list of its
/// options, and a check of their ranges.
///
/// ```swift
/// struct SAMOptions: MethodOptions {
///     var rho: Float = 0.05
///     static let options = [OptionSpec("rho", \SAMOptions.rho, help: "Radius ρ.")]
///     func validate() throws(ConfigurationError) {
///         guard rho >= 0 else { throw ConfigurationError(field: "rho", message: "expected ρ ≥ 0, got \(rho)") }
///     }
/// }
/// ```
///
/// Why not argument-parser `@Option`s: those are declared when the command is compiled,
/// while the method table is a value that tests and plug-in files extend at run time. The
/// specs give the same things — flags, typed parsing, help lines, configuration keys — from
/// one declaration that a ``MethodRegistry`` can list.
public protocol MethodOptions: Sendable {
    /// The defaults.
    init()
    static var options: [OptionSpec<Self>] { get }
    /// Rejects values the method cannot use; the default accepts everything.
    func validate() throws(ConfigurationError)
}

extension MethodOptions {
    public func validate() throws(ConfigurationError) {}

    /// Every option's current value, by name.
    public var settings: MethodSettings {
        Dictionary(uniqueKeysWithValues: Self.options.map { ($0.name, $0.read(self)) })
    }

    /// The defaults with `settings` applied, validated. An unknown name or a value of the
    /// wrong type is an error naming the option and the method.
    public init(settings: MethodSettings, method: String) throws(ConfigurationError) {
        self.init()
        for name in settings.keys.sorted() {
            guard let spec = Self.options.first(where: { $0.name == name }) else {
                throw ConfigurationError(
                    field: name,
                    message: "not an option of \(method)" + suggestion(for: name, among: Self.options.map(\.name))
                        + (Self.options.isEmpty ? " (it has none)" : " (its options: \(Self.options.map { "--" + $0.name }.joined(separator: ", ")))"))
            }
            guard spec.write(&self, settings[name]!) else {
                throw ConfigurationError(field: name, message: "expected a value of type \(spec.valueName), got \(settings[name]!)")
            }
        }
        try validate()
    }
}

/// ", did you mean --x?" when a known name is within two edits of `name`.
func suggestion(for name: String, among names: [String]) -> String {
    nearestName(to: name, among: names).map { ", did you mean --\($0)?" } ?? ""
}

/// The name of `names` fewest edits from `name`, if within two.
func nearestName(to name: String, among names: [String]) -> String? {
    names.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
}

/// Levenshtein distance between two short strings.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
