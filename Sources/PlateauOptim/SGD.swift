import PlateauTensor

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2
/// weight decay, with exactly the semantics of PyTorch's `torch.optim.SGD`.
///
/// For each parameter w with gradient g, at step t (μ momentum, τ dampening, λ weight decay,
/// η learning rate):
///
///     d  = g + λ·w                            (weight decay enters the gradient)
///     b₁ = d                                  (first step: the buffer is the gradient, undamped)
///     bₜ = μ·bₜ₋₁ + (1 − τ)·d                 (later steps)
///     d  = d + μ·bₜ   if Nesterov, else  d = bₜ      (only when μ ≠ 0)
///     w  ← w − η·d
///
/// State: `"momentum_buffer.<path>"` per parameter once it has been updated (only when μ ≠ 0).
///
/// References: Polyak 1964, *Some methods of speeding up the convergence of iteration
/// methods* (heavy-ball momentum); Sutskever, Martens, Dahl & Hinton 2013, *On the
/// importance of initialization and momentum in deep learning* (the Nesterov form used here,
/// after Nesterov 1983).
public struct SGD: Optimizer {
    /// η, the step size (no default: it is required); schedules set it each step.
    public var learningRate: Float
    /// μ, the momentum factor; default 0 (plain SGD, no buffer).
    public let momentum: Float
    /// τ, the dampening of the gradient entering the buffer, bₜ = μ·bₜ₋₁ + (1 − τ)·d; default 0.
    public let dampening: Float
    /// λ, the L2 weight decay added to the gradient (d = g + λ·w); default 0.
    public let weightDecay: Float
    /// Whether to use Nesterov momentum (d = d + μ·bₜ); default `false`.
    public let nesterov: Bool

    private var store = BufferStore()

    /// SGD with learning rate η and, optionally, momentum μ, dampening τ, L2 decay λ and Nesterov momentum (all off by default).
    ///
    /// - Precondition: `learningRate`, `momentum`, `dampening` and `weightDecay` are finite and
    ///   non-negative; Nesterov momentum needs `momentum > 0` and `dampening == 0` (as in PyTorch).
    public init(
        learningRate: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0,
        nesterov: Bool = false
    ) {
        precondition(learningRate.isFinite && learningRate >= 0, "SGD: learningRate must be finite and ≥ 0, got \(learningRate)")
        precondition(momentum.isFinite && momentum >= 0, "SGD: momentum must be finite and ≥ 0, got \(momentum)")
        precondition(dampening.isFinite && dampening >= 0, "SGD: dampening must be finite and ≥ 0, got \(dampening)")
        precondition(weightDecay.isFinite && weightDecay >= 0, "SGD: weightDecay must be finite and ≥ 0, got \(weightDecay)")
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: nesterov requires momentum > 0 and dampening == 0")
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public mutating func update(_ parameters: inout ParameterSet, along gradient: ParameterSet) {
        let (lr, mu, wd, damping, nesterov) = (learningRate, momentum, weightDecay, dampening, nesterov)
        forEachParameter(&parameters, along: gradient, optimizer: "SGD") { key, w, g in
            guard mu != 0 else { return OptimizerKernels.sgd(parameter: w, gradient: g, learningRate: lr, weightDecay: wd) }
            let slot = store.slot(for: key, shape: w.shape, bufferCount: 1, optimizer: "SGD")
            let first = store[slot].step == 0
            store[slot].step += 1
            return OptimizerKernels.sgdMomentum(
                parameter: w, gradient: g, buffer: &store[slot].first, isFirstStep: first, learningRate: lr, momentum: mu,
                dampening: damping, weightDecay: wd, nesterov: nesterov)
        }
    }

    public var state: OptimizerState {
        var tensors = ParameterSet()
        for slot in store.slots where slot.step > 0 {
            tensors["momentum_buffer.\(slot.key)"] = slot.first
        }
        return OptimizerState(tensors: tensors)
    }

    /// Replaces the momentum buffers by those of `state`.
    ///
    /// Throws ``OptimizerStateError/unexpectedKey(_:)`` for any key other than
    /// `"momentum_buffer.<path>"` (and for momentum buffers when `momentum == 0`) and for any
    /// scalar. Shapes are checked against the parameters at the next update, or earlier with
    /// ``OptimizerState/validate(against:)``.
    public mutating func restore(_ state: OptimizerState) throws {
        var restored = BufferStore()
        for (key, tensor) in state.tensors.entries {
            guard momentum != 0, let path = OptimizerState.parameterPath(of: key, kind: "momentum_buffer") else {
                throw OptimizerStateError.unexpectedKey(key)
            }
            restored.append(.init(key: path, shape: tensor.shape, first: tensor.detached, second: BufferStore.Slot.none, step: 1))
        }
        if let key = state.scalars.keys.sorted().first { throw OptimizerStateError.unexpectedKey(key) }
        store = restored
    }
}
