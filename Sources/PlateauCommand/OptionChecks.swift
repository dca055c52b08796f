import ArgumentParser

/// Range checks for command-line values, run in each command's `validate()` before anything
/// is read or trained: a value outside what the command can use is a usage error (exit 64)
/// naming the option, the accepted range and the value found — never a crash deep inside a
/// measurement (a precondition's message is not even printed in `-O` builds) and never an
/// hour-long loop because a count was typed with three extra zeros.
enum OptionCheck {
    /// Threads beyond this are a typo, not a machine (the thread pool allocates per thread).
    static let maximumThreads = 1024

    /// `value` must lie in `range`.
    static func count(_ value: Int, _ option: String, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ValidationError("--\(option): expected \(describe(range)), got \(value)")
        }
    }

    static func count(_ value: Int?, _ option: String, in range: ClosedRange<Int>) throws {
        if let value { try count(value, option, in: range) }
    }

    /// A thread count: 1 up to ``maximumThreads``.
    static func threads(_ value: Int?, _ option: String = "threads") throws {
        try count(value, option, in: 1...maximumThreads)
    }

    /// A finite number no smaller than `minimum` (or greater than it, when `strictly`).
    static func number(_ value: Float, _ option: String, atLeast minimum: Float, strictly: Bool = false) throws {
        let ok = value.isFinite && (strictly ? value > minimum : value >= minimum)
        guard ok else {
            throw ValidationError("--\(option): expected a finite number \(strictly ? ">" : "≥") \(minimum), got \(value)")
        }
    }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "at least \(range.lowerBound)" }
        return "\(range.lowerBound)...\(range.upperBound)"
    }
}
