/// An ordered collection of named tensors — a model's parameters, a gradient, an optimizer's
/// momentum, a SAM perturbation — keyed by dotted paths in PyTorch `state_dict` style
/// (`"features.0.weight"`).
///
/// Arithmetic is elementwise per entry over matching keys, so the sharpness-aware rules
/// read like their papers: `let epsilon = gradient.scaled(by: rho / gradient.norm())`.
public struct ParameterSet: Sendable, Equatable {
    /// The paths in insertion order.
    public private(set) var keys: [String] = []
    private var storage: [String: Tensor] = [:]

    /// An empty set.
    public init() {}

    /// Creates a set from `(path, tensor)` pairs in order; paths must be unique.
    public init(_ entries: [(String, Tensor)]) {
        for (key, value) in entries {
            precondition(storage[key] == nil, "ParameterSet: duplicate key \(key)")
            keys.append(key)
            storage[key] = value
        }
    }

    /// The number of entries (tensors, not scalars; see ``scalarCount``).
    public var count: Int { keys.count }
    /// Whether the set has no entries.
    public var isEmpty: Bool { keys.isEmpty }

    /// The tensor at `key`, or `nil`. Setting a new key appends it; setting `nil` removes it.
    public subscript(key: String) -> Tensor? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The entries in insertion order.
    public var entries: [(key: String, value: Tensor)] { keys.map { ($0, storage[$0]!) } }
    /// The tensors in insertion order.
    public var values: [Tensor] { keys.map { storage[$0]! } }

    /// The total number of scalars.
    public var scalarCount: Int { keys.reduce(0) { $0 + storage[$1]!.count } }

    /// Applies `transform` to each entry, keeping the keys.
    public func map(_ transform: (Tensor) -> Tensor) -> ParameterSet {
        var result = self
        for key in keys { result.storage[key] = transform(storage[key]!) }
        return result
    }

    /// Applies `transform` to each entry with its key.
    public func mapWithKeys(_ transform: (String, Tensor) -> Tensor) -> ParameterSet {
        var result = self
        for key in keys { result.storage[key] = transform(key, storage[key]!) }
        return result
    }

    /// Combines matching entries; the two sets must have the same keys.
    public func zip(_ other: ParameterSet, _ combine: (Tensor, Tensor) -> Tensor) -> ParameterSet {
        precondition(Set(keys) == Set(other.keys), "ParameterSet: keys differ: \(Set(keys).symmetricDifference(other.keys).sorted())")
        var result = self
        for key in keys { result.storage[key] = combine(storage[key]!, other.storage[key]!) }
        return result
    }

    /// The entries whose key satisfies `isIncluded`.
    public func filter(_ isIncluded: (String) -> Bool) -> ParameterSet {
        ParameterSet(entries.filter { isIncluded($0.key) }.map { ($0.key, $0.value) })
    }

    /// Entrywise sum over matching keys.
    public static func + (a: ParameterSet, b: ParameterSet) -> ParameterSet { a.combined(with: b, Adding()) }
    /// Entrywise difference over matching keys.
    public static func - (a: ParameterSet, b: ParameterSet) -> ParameterSet { a.combined(with: b, Subtracting()) }
    /// Entrywise (Hadamard) product over matching keys.
    public static func * (a: ParameterSet, b: ParameterSet) -> ParameterSet { a.combined(with: b, Multiplying()) }

    /// Every entry multiplied by `factor`.
    public func scaled(by factor: Float) -> ParameterSet { combined(with: self, ScaledFirst(factor: factor)) }

    /// `self + factor · other` in one pass per entry (BLAS's axpy): the update rules of the
    /// sharpness-aware family are mostly this.
    public func adding(_ other: ParameterSet, scaledBy factor: Float) -> ParameterSet {
        combined(with: other, AddingScaled(factor: factor))
    }

    /// `f` elementwise over matching entries, as constants (no graph). These whole-model
    /// passes run every step of a sharpness-aware method: loops specialized for `f` (a type,
    /// so the call inlines) and split over the threads, not general tensor operations.
    @inline(__always)
    private func combined<F: BinaryScalarFunction>(with other: ParameterSet, _ f: F) -> ParameterSet {
        precondition(Set(keys) == Set(other.keys), "ParameterSet: keys differ: \(Set(keys).symmetricDifference(other.keys).sorted())")
        var result = self
        for key in keys {
            let a = storage[key]!, b = other.storage[key]!
            precondition(a.shape == b.shape, "ParameterSet: \(key) has shapes \(a.shape) and \(b.shape)")
            // The engine's own elementwise loop (its own loop here once ran scalar).
            result.storage[key] = Tensor(shape: a.shape, scalars: zipScalars(a.scalars, b.scalars, f))
        }
        return result
    }

    /// Σ over entries of Σ aᵢbᵢ, accumulated in double precision (so neither large
    /// elements nor long tensors lose the sum).
    public func dot(_ other: ParameterSet) -> Float {
        var total: Double = 0
        for key in keys {
            guard let b = other.storage[key] else { preconditionFailure("ParameterSet.dot: missing key \(key)") }
            let a = storage[key]!
            precondition(a.shape == b.shape, "ParameterSet.dot: \(key) has shapes \(a.shape) and \(b.shape)")
            total += blockedInnerProduct(a.scalars, b.scalars)
        }
        return Float(total)
    }

    private struct ScaledFirst: BinaryScalarFunction {
        let factor: Float
        @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x * factor }
    }

    private struct AddingScaled: BinaryScalarFunction {
        let factor: Float
        @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { x + factor * y }
    }

    /// The global Euclidean norm over all entries.
    public func norm() -> Float { dot(self).squareRoot() }

    /// Σ over entries (in key order) and elements (in order) of x², accumulated serially in
    /// double precision — the order `clip_grad_norm_`'s definition reads in. Slower than
    /// ``dot(_:)``'s blocked sum, and not equal to it in the last bits.
    public func sumOfSquares() -> Double {
        var total: Double = 0
        for key in keys {
            storage[key]!.scalars.withUnsafeBufferPointer { x in
                for value in x { total += Double(value) * Double(value) }
            }
        }
        return total
    }

    /// Multiplies every entry by `factor` (`x · factor`, as ``scaled(by:)``) in place: entries
    /// whose storage is not shared are written without a copy. Entries become constants.
    public mutating func scale(by factor: Float) {
        for key in keys {
            storage[key]!.updateScalars { x in
                parallelFor(x.count, grain: elementGrain) { range in
                    for i in range { x[i] *= factor }
                }
            }
        }
    }

    /// The exponential moving average step `decay·self + (1 − decay)·other` per entry (see
    /// ``Tensor/movingAverage(toward:decay:)``), over `self`'s keys; `other` must have each
    /// of them, with the same shape.
    public func movingAverage(toward other: ParameterSet, decay: Float) -> ParameterSet {
        mapWithKeys { key, v in
            guard let theta = other.storage[key], theta.shape == v.shape else {
                preconditionFailure("ParameterSet.movingAverage: \"\(key)\" is \(other.storage[key].map { "\($0.shape)" } ?? "missing") in the target, \(v.shape) here")
            }
            return v.movingAverage(toward: theta, decay: decay)
        }
    }

    /// A set with the same keys and shapes, filled with zeros.
    public func zeros() -> ParameterSet { map { Tensor.zeros($0.shape) } }

    /// The entries with graph history dropped.
    public var detached: ParameterSet { map { $0.detached } }

    /// Equal when the keys (in order) and every tensor's value are equal.
    public static func == (a: ParameterSet, b: ParameterSet) -> Bool {
        a.keys == b.keys && a.keys.allSatisfy { a.storage[$0] == b.storage[$0] }
    }
}
