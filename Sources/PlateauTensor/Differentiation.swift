/// One recorded operation in the differentiation graph.
///
/// A node keeps the operation's inputs and its *pullback*: a function from the gradient
/// of the output to the gradients of the inputs. Pullbacks are written with ordinary
/// ``Tensor`` operations, so when the backward pass itself is recorded
/// (`createGraph: true`) it becomes a graph that can be differentiated again. That is how
/// Plateau gets exact Hessian-vector products ("double backward", Pearlmutter 1994) with no
/// second set of derivative rules. Nodes are immutable once built (only `deinit` empties
/// `inputs` and `pullback`, with exclusive access), hence `@unchecked Sendable`.
final class Node: @unchecked Sendable {
    typealias Pullback = @Sendable (_ upstream: Tensor, _ output: Tensor) -> [Tensor?]

    let name: String
    private(set) var inputs: [Tensor]
    /// The output's value, shared with the output tensor (copy-on-write, no copy). Kept
    /// here rather than as a `Tensor` so that the node does not own itself; the engine hands
    /// the pullback a tensor rebuilt from it, graph node included, so rules such as
    /// d exp(x) = exp(x) dx stay differentiable.
    let shape: [Int]
    let scalars: [Float]
    private(set) var pullback: Pullback?

    init(name: String, inputs: [Tensor], shape: [Int], scalars: [Float], pullback: @escaping Pullback) {
        self.name = name
        self.inputs = inputs
        self.shape = shape
        self.scalars = scalars
        self.pullback = pullback
    }

    init(leafWithShape shape: [Int]) {
        self.name = "leaf"
        self.inputs = []
        self.shape = shape
        self.scalars = []
        self.pullback = nil
    }

    /// Frees the graph behind this node iteratively. Left to the default, releasing a chain
    /// (node → input tensor → node → …) recurses once per operation and overflows the stack
    /// for graphs a few hundred thousand operations deep. Each input node this one owns
    /// outright is emptied here before it is released, so its own `deinit` has nothing left
    /// to recurse into.
    deinit {
        guard !inputs.isEmpty else { return }
        var pending = takeInputNodes()
        while var node = pending.popLast() {
            if isKnownUniquelyReferenced(&node) { pending.append(contentsOf: node.takeInputNodes()) }
        }
    }

    /// Drops the references to the inputs (the pullback captures them too), returning their nodes.
    private func takeInputNodes() -> [Node] {
        let nodes = inputs.compactMap(\.node)
        inputs = []
        pullback = nil
        return nodes
    }
}

/// Whether operations are being recorded for differentiation in the current task.
public enum GradientRecording {
    @TaskLocal static var isEnabled = true

    /// Whether new operations are recorded right now.
    public static var isRecording: Bool { isEnabled }
}

/// Runs `body` with recording switched off: results carry no graph, and no memory is kept
/// for a backward pass. Use it for evaluation, optimizer updates and statistics.
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradientRecording.$isEnabled.withValue(false, operation: body)
}

/// Runs `body` with recording switched on (used to record a backward pass for
/// higher-order derivatives).
public func withGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradientRecording.$isEnabled.withValue(true, operation: body)
}

extension Tensor {
    /// Builds the result of an operation: it is recorded when recording is on and any input
    /// is tracked, otherwise it is a plain constant.
    @inline(__always)
    static func recorded(
        _ name: String, shape: [Int], scalars: [Float], inputs: [Tensor],
        pullback: @escaping Node.Pullback
    ) -> Tensor {
        guard GradientRecording.isEnabled, inputs.contains(where: { $0.node != nil }) else {
            return Tensor(shape: shape, scalars: scalars, node: nil)
        }
        let node = Node(name: name, inputs: inputs, shape: shape, scalars: scalars, pullback: pullback)
        return Tensor(shape: shape, scalars: scalars, node: node)
    }
}

/// Reverse-mode differentiation: the gradients of `output` with respect to each of
/// `inputs`, which must be tracked (see ``Tensor/trackingGradients()``) or results of
/// tracked operations.
///
/// - Parameters:
///   - output: the quantity to differentiate; usually a scalar loss.
///   - inputs: the tensors to differentiate with respect to.
///   - seed: the gradient of some outer scalar with respect to `output`; defaults to ones
///     (for a scalar output, d output / d output = 1).
///   - createGraph: records the backward pass itself, so the returned gradients can be
///     differentiated again (Hessian-vector products). Off for ordinary training.
/// - Returns: one gradient per input, shaped like it; zeros where `output` does not depend
///   on an input.
public func gradients(
    of output: Tensor, withRespectTo inputs: [Tensor], seed: Tensor? = nil, createGraph: Bool = false
) -> [Tensor] {
    let seed = seed ?? Tensor.ones(output.shape)
    precondition(seed.shape == output.shape, "gradients: seed shape \(seed.shape) differs from output shape \(output.shape)")
    guard let root = output.node else {
        return inputs.map { Tensor.zeros($0.shape) }
    }
    let order = topologicalOrder(from: root)
    var accumulated: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
    let wanted = Set(inputs.compactMap { $0.node.map(ObjectIdentifier.init) })
    // The nodes through which a wanted input is reached: only their pullbacks can contribute.
    // (A gradient taken inside a larger graph — a fused operation's recorded backward
    // differentiating its composite — then stops at its inputs instead of running the
    // pullbacks of everything they were computed from.)
    var leadsToWanted: Set<ObjectIdentifier> = []
    for node in order where node.inputs.contains(where: { input in
        input.node.map { wanted.contains(ObjectIdentifier($0)) || leadsToWanted.contains(ObjectIdentifier($0)) } ?? false
    }) {
        leadsToWanted.insert(ObjectIdentifier(node))
    }

    GradientRecording.$isEnabled.withValue(createGraph) {
        for node in order.reversed() {
            let key = ObjectIdentifier(node)
            guard leadsToWanted.contains(key), let pullback = node.pullback, let upstream = accumulated[key] else { continue }
            // Intermediate gradients are no longer needed once passed on.
            if !wanted.contains(key) { accumulated[key] = nil }
            let output = Tensor(shape: node.shape, scalars: node.scalars, node: node)
            let contributions = pullback(upstream, output)
            for (input, contribution) in zip(node.inputs, contributions) {
                guard let inputNode = input.node, let contribution else { continue }
                precondition(contribution.shape == input.shape,
                             "gradients: the pullback of '\(node.name)' returned shape \(contribution.shape) for an input of shape \(input.shape)")
                let inputKey = ObjectIdentifier(inputNode)
                if let existing = accumulated[inputKey] {
                    accumulated[inputKey] = existing + contribution
                } else {
                    accumulated[inputKey] = contribution
                }
            }
        }
    }
    return inputs.map { input in
        guard let node = input.node, let gradient = accumulated[ObjectIdentifier(node)] else {
            return Tensor.zeros(input.shape)
        }
        return gradient
    }
}

/// The nodes reachable from `root`, each after all of its inputs (iterative, so deep
/// networks cannot overflow the stack).
private func topologicalOrder(from root: Node) -> [Node] {
    var order: [Node] = []
    var visited: Set<ObjectIdentifier> = []
    var stack: [(node: Node, nextInput: Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while !stack.isEmpty {
        let (node, index) = stack[stack.count - 1]
        if index < node.inputs.count {
            stack[stack.count - 1].nextInput += 1
            if let child = node.inputs[index].node, visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(node)
            stack.removeLast()
        }
    }
    return order
}

/// The value of a scalar function and its gradient with respect to each argument.
///
/// ```swift
/// let (value, grads) = valueWithGradient(at: [w, b]) { p in ((x ⊗ p[0]) + p[1]).square().mean() }
/// ```
public func valueWithGradient(
    at arguments: [Tensor], of function: ([Tensor]) -> Tensor
) -> (value: Tensor, gradients: [Tensor]) {
    let tracked = arguments.map { $0.trackingGradients() }
    let value = withGradients { function(tracked) }
    return (value.detached, gradients(of: value, withRespectTo: tracked))
}

/// The exact Hessian-vector product H·v of a scalar function, H = ∇²f(arguments), by
/// differentiating the recorded backward pass: ∇(∇f · v) = H v (Pearlmutter 1994).
/// Costs about two and a half gradient evaluations; for several products at one point,
/// linearize once with ``HessianLinearization`` instead (the same numbers, bit for bit).
public func hessianVectorProduct(
    at arguments: [Tensor], along direction: [Tensor], of function: ([Tensor]) -> Tensor
) -> [Tensor] {
    HessianLinearization(at: arguments, of: function).product(along: direction)
}

/// The Hessian of a scalar function at a fixed point as a linear map v ↦ H v, with the
/// forward and the first backward pass recorded once.
///
/// Pearlmutter's product H v = ∇(∇f · v) differentiates the recorded backward pass. All of
/// that pass — the forward values, the first-order gradient ∇f and the graph that computes
/// it — depends on the point and not on v, so Power iteration, Lanczos and Hutchinson's
/// trace, which take tens of products at one point, need only the last reverse sweep per
/// product: on an MLP that is about 1.5 gradient evaluations instead of 2.5 (the tangent
/// half of the work; see docs/results.md, "Hessian-vector products"). This is the reverse
/// mode counterpart of `jax.linearize` applied to the gradient.
///
/// The recording is kept alive while the value lives: ``recordedBytes`` says how much.
/// Each product runs exactly the operations of a one-off ``hessianVectorProduct(at:along:of:)``
/// in the same order, so both give bit-identical results.
public struct HessianLinearization {
    private let arguments: [Tensor]
    private let firstOrder: [Tensor]

    /// Records f and ∇f at `arguments`.
    public init(at arguments: [Tensor], of function: ([Tensor]) -> Tensor) {
        let tracked = arguments.map { $0.trackingGradients() }
        self.arguments = tracked
        firstOrder = withGradients {
            let value = function(tracked)
            return PlateauTensor.gradients(of: value, withRespectTo: tracked, createGraph: true)
        }
    }

    /// ∇f at the point (free: it was computed while recording).
    public var gradient: [Tensor] { firstOrder.map(\.detached) }

    /// The bytes of the values held by the recorded graph (each operation's output once):
    /// the memory a linearization keeps until it is released.
    public var recordedBytes: Int {
        var seen: Set<ObjectIdentifier> = []
        var pending = firstOrder.compactMap(\.node)
        var total = 0
        while let node = pending.popLast() {
            guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
            total += node.scalars.count * MemoryLayout<Float>.stride
            pending.append(contentsOf: node.inputs.compactMap(\.node))
        }
        return total
    }

    /// H v, shaped like the arguments; `direction` holds one tensor per argument.
    public func product(along direction: [Tensor]) -> [Tensor] {
        precondition(arguments.count == direction.count, "hessianVectorProduct: \(arguments.count) arguments, \(direction.count) direction parts")
        for (a, v) in zip(arguments, direction) {
            precondition(a.shape == v.shape, "hessianVectorProduct: argument shape \(a.shape) differs from direction shape \(v.shape)")
        }
        return withGradients {
            var inner = Tensor(0)
            for (g, v) in zip(firstOrder, direction) { inner = inner + (g * v).sum() }
            return PlateauTensor.gradients(of: inner, withRespectTo: arguments)
        }
    }
}
