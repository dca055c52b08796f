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
    /// For an operation linear in some of its inputs (a product's weights, a bias): given the
    /// upstream gradient g and directions v_i for some inputs, the tangent Σ_i J_i v_i of the
    /// output along those directions, and the other inputs' gradients as the pullback gives
    /// them (`nil` for every input with a direction). ⟨g, J_i v_i⟩ = ⟨J_iᵀ g, v_i⟩, so a
    /// directional derivative of the backward pass (``directionalDerivative(of:withRespectTo:along:)``)
    /// never forms J_iᵀ g: for y = x·Wᵀ the weight gradient gᵀx is replaced by x·vᵀ, the same
    /// cost, but x·vᵀ is also what the second sweep of a Hessian-vector product needs again.
    typealias DirectionalPullback = @Sendable (_ upstream: Tensor, _ directions: [Tensor?]) -> (gradients: [Tensor?], tangent: Tensor)

    let name: String
    private(set) var inputs: [Tensor]
    /// The output's value, shared with the output tensor (copy-on-write, no copy). Kept
    /// here rather than as a `Tensor` so that the node does not own itself; the engine hands
    /// the pullback a tensor rebuilt from it, graph node included, so rules such as
    /// d exp(x) = exp(x) dx stay differentiable.
    let shape: [Int]
    let scalars: [Float]
    private(set) var pullback: Pullback?
    private(set) var directional: DirectionalPullback?

    init(name: String, inputs: [Tensor], shape: [Int], scalars: [Float], pullback: @escaping Pullback, directional: DirectionalPullback? = nil) {
        self.name = name
        self.inputs = inputs
        self.shape = shape
        self.scalars = scalars
        self.pullback = pullback
        self.directional = directional
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
        directional = nil
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
        directional: Node.DirectionalPullback? = nil, pullback: @escaping Node.Pullback
    ) -> Tensor {
        guard GradientRecording.isEnabled, inputs.contains(where: { $0.node != nil }) else {
            return Tensor(shape: shape, scalars: scalars, node: nil)
        }
        let node = Node(name: name, inputs: inputs, shape: shape, scalars: scalars, pullback: pullback, directional: directional)
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
    let sweep = ReverseSweep(from: root, seed: seed, to: inputs, directions: nil, createGraph: createGraph)
    return inputs.map { input in
        guard let node = input.node, let gradient = sweep.accumulated[ObjectIdentifier(node)] else {
            return Tensor.zeros(input.shape)
        }
        return gradient
    }
}

/// The derivative of a scalar `output` along `directions`, ⟨∇output, v⟩ = Σ_i ⟨∂output/∂inputs[i],
/// directions[i]⟩, computed by a reverse sweep that is recorded (so it can be differentiated
/// again) but that does not form the gradients it contracts wherever an operation can give
/// its tangent instead.
///
/// This is the first half of a one-off Hessian-vector product, H v = ∇⟨∇f, v⟩ (Pearlmutter
/// 1994). Differentiating the recorded backward pass of ``gradients(of:withRespectTo:seed:createGraph:)``
/// computes every weight gradient gᵀx only to contract it with v; for an operation linear in
/// its weights, ⟨gᵀx, v⟩ = ⟨g, x·vᵀ⟩, and x·vᵀ is exactly what the second sweep needs as the
/// derivative with respect to g. On the MNIST MLP that drops a sixth of the product's
/// multiply-adds (docs/results.md, "Issue 11, session 10"). Operations without a
/// tangent rule fall back to forming their gradient and contracting it, so the result is
/// always ⟨∇output, v⟩ up to rounding.
///
/// - Parameters:
///   - output: a scalar.
///   - inputs: tracked tensors (``Tensor/trackingGradients()``) or results of tracked operations.
///   - directions: one tensor per input, shaped like it.
public func directionalDerivative(of output: Tensor, withRespectTo inputs: [Tensor], along directions: [Tensor]) -> Tensor {
    precondition(output.count == 1, "directionalDerivative: output must be a scalar, got shape \(output.shape)")
    precondition(inputs.count == directions.count, "directionalDerivative: \(inputs.count) inputs, \(directions.count) directions")
    for (input, direction) in zip(inputs, directions) {
        precondition(input.shape == direction.shape, "directionalDerivative: input shape \(input.shape) differs from direction shape \(direction.shape)")
    }
    guard let root = output.node else { return Tensor(0) }
    var byNode: [ObjectIdentifier: Tensor] = [:]
    for (input, direction) in zip(inputs, directions) {
        guard let node = input.node else { continue }
        // An input listed twice: its gradient is contracted with the sum of its directions.
        let key = ObjectIdentifier(node)
        byNode[key] = byNode[key].map { $0 + direction } ?? direction
    }
    let sweep = ReverseSweep(from: root, seed: Tensor.ones(output.shape), to: inputs, directions: byNode, createGraph: true)
    return withGradients {
        var total = Tensor(0)
        for term in sweep.tangentTerms { total = total + term }
        var contracted: Set<ObjectIdentifier> = []
        for input in inputs {
            guard let node = input.node, contracted.insert(ObjectIdentifier(node)).inserted,
                  let gradient = sweep.accumulated[ObjectIdentifier(node)] else { continue }
            total = total + gradient.innerProduct(with: byNode[ObjectIdentifier(node)]!)
        }
        return total.reshaped(to: output.shape)
    }
}

/// One reverse sweep from `root` to the wanted inputs: their accumulated gradients, and, with
/// `directions`, the terms ⟨g, tangent⟩ of operations that contracted a wanted input's
/// gradient with its direction instead of forming it.
private struct ReverseSweep {
    var accumulated: [ObjectIdentifier: Tensor]
    var tangentTerms: [Tensor] = []

    init(from root: Node, seed: Tensor, to inputs: [Tensor], directions: [ObjectIdentifier: Tensor]?, createGraph: Bool) {
        let order = topologicalOrder(from: root)
        accumulated = [ObjectIdentifier(root): seed]
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
        // A direction applies to an input whose gradient goes nowhere else: a wanted input
        // that no other wanted input is reached through.
        func direction(for input: Tensor) -> Tensor? {
            guard let directions, let node = input.node else { return nil }
            let key = ObjectIdentifier(node)
            return leadsToWanted.contains(key) ? nil : directions[key]
        }

        GradientRecording.$isEnabled.withValue(createGraph) {
            for node in order.reversed() {
                let key = ObjectIdentifier(node)
                guard leadsToWanted.contains(key), let pullback = node.pullback, let upstream = accumulated[key] else { continue }
                // Intermediate gradients are no longer needed once passed on.
                if !wanted.contains(key) { accumulated[key] = nil }
                let contributions: [Tensor?]
                if let directional = node.directional, directions != nil,
                   case let along = node.inputs.map(direction(for:)), along.contains(where: { $0 != nil }) {
                    let (gradients, tangent) = directional(upstream, along)
                    precondition(tangent.shape == node.shape,
                                 "gradients: the tangent of '\(node.name)' has shape \(tangent.shape), its output \(node.shape)")
                    tangentTerms.append(upstream.innerProduct(with: tangent))
                    contributions = gradients
                } else {
                    let output = Tensor(shape: node.shape, scalars: node.scalars, node: node)
                    contributions = pullback(upstream, output)
                }
                for (input, contribution) in zip(node.inputs, contributions) {
                    guard let inputNode = input.node, let contribution else { continue }
                    precondition(contribution.shape == input.shape,
                                 "gradients: the pullback of '\(node.name)' returned shape \(contribution.shape) for an input of shape \(input.shape)")
                    let inputKey = ObjectIdentifier(inputNode)
                    if var sum = accumulated.removeValue(forKey: inputKey) {
                        // Out of the dictionary first, so that an unrecorded sum can be formed
                        // in place: a residual's input gradient, for one, need not be a fresh array.
                        if createGraph { sum = sum + contribution } else { sum.accumulate(contribution) }
                        accumulated[inputKey] = sum
                    } else {
                        accumulated[inputKey] = contribution
                    }
                }
            }
        }
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
/// differentiating a recorded backward pass: ∇⟨∇f, v⟩ = H v (Pearlmutter 1994).
///
/// The backward pass records ⟨∇f, v⟩ directly (``directionalDerivative(of:withRespectTo:along:)``),
/// never forming the weight gradients it contracts, so a product costs about 2.1–2.2
/// gradient evaluations on an MLP (2.07 by its multiply-adds) instead of 2.5. For several
/// products at one point, linearize once with ``HessianLinearization`` instead (about 1.5
/// gradients each; the same numbers up to rounding).
public func hessianVectorProduct(
    at arguments: [Tensor], along direction: [Tensor], of function: ([Tensor]) -> Tensor
) -> [Tensor] {
    let tracked = arguments.map { $0.trackingGradients() }
    let inner = withGradients { directionalDerivative(of: function(tracked), withRespectTo: tracked, along: direction) }
    return PlateauTensor.gradients(of: inner, withRespectTo: tracked)
}

/// The Hessian of a scalar function at a fixed point as a linear map v ↦ H v, with the
/// forward and the first backward pass recorded once.
///
/// Pearlmutter's product H v = ∇(∇f · v) differentiates the recorded backward pass. All of
/// that pass — the forward values, the first-order gradient ∇f and the graph that computes
/// it — depends on the point and not on v, so Power iteration, Lanczos and Hutchinson's
/// trace, which take tens of products at one point, need only the last reverse sweep per
/// product: on an MLP that is about 1.5 gradient evaluations instead of 2.1 for a one-off
/// product (see docs/results.md, "Hessian-vector products"). This is the reverse mode
/// counterpart of `jax.linearize` applied to the gradient.
///
/// The recording is kept alive while the value lives: ``recordedBytes`` says how much.
/// Its products equal those of a one-off ``hessianVectorProduct(at:along:of:)`` up to
/// rounding (the one-off product contracts the weight gradients with v before forming them;
/// a linearization has formed them already).
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
            for (g, v) in zip(firstOrder, direction) { inner = inner + g.innerProduct(with: v) }
            return PlateauTensor.gradients(of: inner, withRespectTo: arguments)
        }
    }
}
