import Foundation

extension RunConfiguration {
    /// The settings in which `self` (a stored run's configuration) and `other` differ, by
    /// configuration key, as their JSON spells them — ignoring the keys in `ignoring`
    /// (settings that do not change results, such as `threads` or `output`). Method options
    /// are compared after `registry` fills in their defaults.
    public func differences(
        from other: RunConfiguration, ignoring: Set<String> = ["threads", "output", "tensorboard-interval"],
        registry: MethodRegistry = .standard
    ) -> [(key: String, stored: String, given: String)] {
        func object(_ c: RunConfiguration) -> [String: Any] {
            var resolved = c
            if let options = try? registry.resolvedOptions(for: c) { resolved.methodOptions = options }
            return (try? JSONSerialization.jsonObject(with: resolved.json)) as? [String: Any] ?? [:]
        }
        let (a, b) = (object(self), object(other))
        func text(_ value: Any?) -> String {
            guard let value else { return "(unset)" }
            if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
                return String(decoding: data, as: UTF8.self)
            }
            return "\(value)"
        }
        return Set(a.keys).union(b.keys).subtracting(ignoring).sorted().compactMap { key in
            let (x, y) = (text(a[key]), text(b[key]))
            return x == y ? nil : (key, x, y)
        }
    }
}
