import PlateauData

/// Which training samples an unlearning run forgets; the retain set is every other sample.
///
/// Spelled on the command line as `class:K` (every training sample of class K),
/// `class:K:F` (a seeded random fraction F of class K's samples) or `random:F` (a seeded
/// random fraction F of the whole training set).
public enum ForgetSpec: Sendable, Equatable, CustomStringConvertible {
    case wholeClass(Int)
    case classFraction(Int, Double)
    case randomFraction(Double)

    /// Parses `class:K`, `class:K:F` or `random:F`; errors name the field `forget`, what was
    /// expected and what was found. `classCount`, when known, bounds K.
    public init(parsing text: String, classCount: Int? = nil) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func fail(_ message: String) -> ConfigurationError {
            ConfigurationError(field: "forget", message: "\(message), got '\(text)' (expected class:K, class:K:F or random:F, e.g. class:7, class:7:0.1, random:0.01)")
        }
        func fraction(_ value: String) throws -> Double {
            guard let f = Double(value), f.isFinite, f > 0, f <= 1 else { throw fail("the fraction must be a number in (0, 1]") }
            return f
        }
        switch parts.first {
        case "class":
            guard parts.count == 2 || parts.count == 3 else { throw fail("class takes a class index and optionally a fraction") }
            guard let k = Int(parts[1]), k >= 0 else { throw fail("the class must be a non-negative integer") }
            if let classCount, k >= classCount { throw fail("the class must be below the dataset's \(classCount) classes") }
            self = parts.count == 2 ? .wholeClass(k) : .classFraction(k, try fraction(parts[2]))
        case "random":
            guard parts.count == 2 else { throw fail("random takes one fraction") }
            self = .randomFraction(try fraction(parts[1]))
        default:
            throw fail("unknown kind '\(parts.first ?? "")'")
        }
    }

    public var description: String {
        switch self {
        case .wholeClass(let k): "class:\(k)"
        case .classFraction(let k, let f): "class:\(k):\(f)"
        case .randomFraction(let f): "random:\(f)"
        }
    }

    /// The forgotten class, `nil` for a random fraction of the training set.
    public var forgetClass: Int? {
        switch self {
        case .wholeClass(let k), .classFraction(let k, _): k
        case .randomFraction: nil
        }
    }

    /// The positions of the forget and retain samples in `labels` (both ascending). A
    /// fraction F of n candidates keeps max(1, round(F·n)) of them, drawn by a shuffle
    /// seeded with `seed`: the same seed gives the same forget set.
    ///
    /// - Throws: ``ConfigurationError`` (field `forget`) when the forget or the retain set
    ///   would be empty (a class absent from the data, a fraction of the whole set that is all of it).
    public func partition(labels: [Int], seed: UInt64) throws -> (forget: [Int], retain: [Int]) {
        let candidates: [Int] = switch self {
        case .wholeClass(let k), .classFraction(let k, _): labels.indices.filter { labels[$0] == k }
        case .randomFraction: Array(labels.indices)
        }
        var forget: [Int]
        switch self {
        case .wholeClass: forget = candidates
        case .classFraction(_, let f), .randomFraction(let f):
            let count = Swift.max(1, Int((f * Double(candidates.count)).rounded()))
            // Batches' Fisher–Yates, not the standard library's shuffle (whose algorithm is unspecified).
            forget = Batches.permutation(count: candidates.count, seed: seed, epoch: 0).prefix(count).map { candidates[$0] }.sorted()
        }
        guard !forget.isEmpty else {
            throw ConfigurationError(field: "forget", message: "\(self) selects no training sample (class \(forgetClass ?? -1) does not occur in the \(labels.count) training labels)")
        }
        let forgotten = Set(forget)
        let retain = labels.indices.filter { !forgotten.contains($0) }
        guard !retain.isEmpty else {
            throw ConfigurationError(field: "forget", message: "\(self) selects every one of the \(labels.count) training samples: nothing would be retained")
        }
        return (forget, retain)
    }

    /// Test samples standing for the forget and retain sets: for a class, the class's test
    /// samples and the others; for a random fraction of the training set, no forget test
    /// samples (nothing held out is like them) and the whole test set as retain.
    public func testPartition(labels: [Int]) -> (forget: [Int], retain: [Int]) {
        guard let k = forgetClass else { return ([], Array(labels.indices)) }
        return (labels.indices.filter { labels[$0] == k }, labels.indices.filter { labels[$0] != k })
    }
}
