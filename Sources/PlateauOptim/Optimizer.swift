import PlateauTensor

/// A first-order update rule: given the gradient of the loss at the current parameters,
/// moves the parameters one step, keeping whatever running statistics it needs (momentum,
/// moment estimates) in its own value.
///
/// Optimizers are value types. `update(_:along:)` works on the raw `[Float]` buffers of the
/// parameters and of its own state, so it builds no differentiation graph and, when the
/// parameters are not shared with another copy, allocates no element storage after the
/// first step.
///
/// Conventions shared by every optimizer in this module:
/// - Entries of `parameters` that have no entry in `gradient` are left unchanged (frozen
///   parameters) and their state is not advanced.
/// - A gradient entry whose key is not a parameter, or whose shape differs from the
///   parameter's, is a precondition failure naming the key.
/// - Updated parameters are constants (no graph history), even if they were tracked.
/// - ``state`` is keyed like PyTorch's per-parameter state (`"momentum_buffer.<path>"`,
///   `"exp_avg.<path>"`, `"exp_avg_sq.<path>"`, `"step.<path>"`), in the order parameters
///   were first updated. Hyperparameters (including the learning rate, which a schedule
///   sets every step) are not part of the state: rebuild the optimizer with the same
///   configuration, then ``restore(_:)``.
public protocol Optimizer: Sendable {
    /// The step size used by the next update (schedules set it each step).
    var learningRate: Float { get set }
    /// Applies one update step in place: parameters ← parameters − step(gradient).
    mutating func update(_ parameters: inout ParameterSet, along gradient: ParameterSet)
    /// Everything needed to resume bit-identically: named tensors (momentum buffers, Adam moments,
    /// keyed like "momentum_buffer.<param path>" / "exp_avg.<path>" / "exp_avg_sq.<path>") and scalars (step count).
    var state: OptimizerState { get }
    /// Restores a saved state; throws a clear error naming the missing/mismatched key or shape.
    mutating func restore(_ state: OptimizerState) throws
    /// Scalars about the last update for the training log (TensorBoard tag, value), such as
    /// LANTON's per-layer noise and learning rate; none by default.
    var diagnostics: [(tag: String, value: Float)] { get }
}

extension Optimizer {
    public var diagnostics: [(tag: String, value: Float)] { [] }
}

/// An optimizer's resumable state: named tensors (buffers keyed `"<kind>.<parameter path>"`)
/// and named scalars (step counts, keyed `"step.<parameter path>"`).
public struct OptimizerState: Sendable, Equatable {
    /// Named buffers, keyed `"<kind>.<parameter path>"` (e.g. `"momentum_buffer.fc.weight"`).
    public var tensors: ParameterSet
    /// Named scalars, e.g. per-parameter step counts `"step.<parameter path>"`.
    public var scalars: [String: Double]

    /// A state holding `tensors` and `scalars` (both empty by default: a fresh optimizer's state).
    public init(tensors: ParameterSet = ParameterSet(), scalars: [String: Double] = [:]) {
        self.tensors = tensors
        self.scalars = scalars
    }

    /// Checks that every buffer and per-parameter scalar belongs to a parameter of
    /// `parameters`, and that every buffer has that parameter's shape.
    ///
    /// Keys are `"<kind>.<parameter path>"`; the kind is everything before the first dot.
    /// An optimizer alone cannot know the model's shapes, so call this when resuming,
    /// before ``Optimizer/restore(_:)``, to reject a checkpoint of another model with an
    /// error instead of a precondition failure at the next update.
    public func validate(against parameters: ParameterSet) throws(OptimizerStateError) {
        for (key, tensor) in tensors.entries {
            guard let path = OptimizerState.parameterPath(of: key) else { throw .unexpectedKey(key) }
            guard let parameter = parameters[path] else { throw .unknownParameter(key: key, path: path) }
            guard parameter.shape == tensor.shape else {
                throw .shapeMismatch(key: key, expected: parameter.shape, actual: tensor.shape)
            }
        }
        for key in scalars.keys.sorted() {
            guard let path = OptimizerState.parameterPath(of: key) else { continue }
            guard parameters[path] != nil else { throw .unknownParameter(key: key, path: path) }
        }
    }

    /// The parameter path of a key `"<kind>.<path>"`, or `nil` if the key has no dot.
    static func parameterPath(of key: String) -> String? {
        guard let dot = key.firstIndex(of: ".") else { return nil }
        let path = key[key.index(after: dot)...]
        return path.isEmpty ? nil : String(path)
    }

    /// The parameter path of `key` if it is `"<kind>.<path>"`, else `nil`.
    static func parameterPath(of key: String, kind: String) -> String? {
        guard key.hasPrefix(kind + "."), key.count > kind.count + 1 else { return nil }
        return String(key.dropFirst(kind.count + 1))
    }
}

/// Why an ``OptimizerState`` could not be restored or does not fit a model.
public enum OptimizerStateError: Error, Equatable, CustomStringConvertible {
    /// A key the optimizer needs is absent.
    case missingKey(String)
    /// A key the optimizer does not use (another optimizer's state, or momentum buffers
    /// for an optimizer without momentum).
    case unexpectedKey(String)
    /// A buffer's shape differs from the shape it must have.
    case shapeMismatch(key: String, expected: [Int], actual: [Int])
    /// A scalar has an impossible value (e.g. a step count that is not a positive integer).
    case invalidScalar(key: String, value: Double)
    /// A buffer or scalar refers to a parameter path that the model does not have.
    case unknownParameter(key: String, path: String)

    /// A one-line message naming the key (and shapes or value) at fault.
    public var description: String {
        switch self {
        case .missingKey(let key): "optimizer state: missing key \"\(key)\""
        case .unexpectedKey(let key): "optimizer state: unexpected key \"\(key)\""
        case .shapeMismatch(let key, let expected, let actual):
            "optimizer state: \"\(key)\" has shape \(actual), expected \(expected)"
        case .invalidScalar(let key, let value): "optimizer state: \"\(key)\" has invalid value \(value)"
        case .unknownParameter(let key, let path):
            "optimizer state: \"\(key)\" refers to unknown parameter \"\(path)\""
        }
    }
}

// MARK: - Per-parameter iteration and state

/// Calls `update` once per gradient entry, in the gradient's order, with the parameter and
/// its gradient after checking the shared conventions (known key, same shape), and stores the
/// tensor it returns as the updated parameter (a constant). Runs without gradient recording.
func forEachParameter(
    _ parameters: inout ParameterSet, along gradient: ParameterSet, optimizer: String,
    _ update: (_ key: String, _ parameter: Tensor, _ gradient: Tensor) -> Tensor
) {
    withoutGradients {
        for key in gradient.keys {
            let g = gradient[key]!
            guard let p = parameters[key] else {
                preconditionFailure("\(optimizer).update: gradient has key \"\(key)\", which is not a parameter")
            }
            precondition(
                p.shape == g.shape,
                "\(optimizer).update: gradient \"\(key)\" has shape \(g.shape), the parameter has shape \(p.shape)")
            parameters[key] = update(key, p, g)
        }
    }
}

/// Per-parameter optimizer buffers kept in first-use order, updated in place by the fused
/// kernels of ``OptimizerKernels``.
struct BufferStore: Sendable {
    /// One parameter's state: up to two buffers shaped like it, and its step count.
    struct Slot: Sendable {
        let key: String
        let shape: [Int]
        /// Momentum buffer (SGD) or first moment (Adam).
        var first: Tensor
        /// Second moment (Adam); empty for SGD.
        var second: Tensor
        /// The number of updates this parameter has received.
        var step: Int
    }

    private(set) var slots: [Slot] = []
    private var index: [String: Int] = [:]

    /// The slot index of `key`, creating a slot of zeros (`bufferCount` buffers shaped
    /// `shape`) if absent; an existing slot must have the same shape.
    mutating func slot(for key: String, shape: [Int], bufferCount: Int, optimizer: String) -> Int {
        if let i = index[key] {
            precondition(
                slots[i].shape == shape,
                "\(optimizer).update: state for \"\(key)\" has shape \(slots[i].shape), the parameter has shape \(shape)")
            return i
        }
        let zeros = Tensor.zeros(shape)
        append(Slot(key: key, shape: shape, first: zeros, second: bufferCount > 1 ? zeros : Slot.none, step: 0))
        return slots.count - 1
    }

    /// Adds a slot for a key not yet present.
    mutating func append(_ slot: Slot) {
        precondition(index[slot.key] == nil, "BufferStore: duplicate key \(slot.key)")
        index[slot.key] = slots.count
        slots.append(slot)
    }

    /// Mutable access to slot `i`, in place.
    subscript(i: Int) -> Slot {
        get { slots[i] }
        _modify { yield &slots[i] }
    }

    /// Runs `body` on slot `i` in place (so that both of its buffers can be passed `inout`).
    mutating func update<R>(_ i: Int, _ body: (inout Slot) -> R) -> R { body(&slots[i]) }
}

extension BufferStore.Slot {
    /// The absent second buffer.
    static let none = Tensor(shape: [0], scalars: [])
}
