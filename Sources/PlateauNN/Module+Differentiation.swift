import PlateauTensor

/// The outcome of differentiating a loss with respect to a model's parameters.
public struct ModelGradient<Model: Module>: Sendable {
    /// The loss at the given parameters.
    public var loss: Tensor
    /// ∂loss/∂parameter for every parameter, by path.
    public var gradient: ParameterSet
    /// The model after the forward pass: parameters unchanged, buffers (BatchNorm running
    /// statistics) as the pass left them. Keep it to accept the statistics, or drop it —
    /// SAM's perturbed pass drops it.
    public var model: Model
}

/// The loss and its gradient with respect to every parameter of `model`.
///
/// ```swift
/// let result = valueWithGradient(at: model) { model in
///     crossEntropy(logits: model(batch.images), labels: batch.labels)
/// }
/// optimizer.update(&parameters, along: result.gradient)
/// ```
///
/// `loss` may return any tensor; it is differentiated with a seed of ones (a scalar loss
/// in the usual case).
public func valueWithGradient<Model: Module>(
    at model: Model, of loss: (inout Model) -> Tensor
) -> ModelGradient<Model> {
    var tracked = model
    let parameters = model.parameters
    let leaves = parameters.map { $0.trackingGradients() }
    tracked.update(leaves)
    let value = withGradients { loss(&tracked) }
    let grads = gradients(of: value, withRespectTo: leaves.values)
    tracked.update(parameters)
    tracked.update(tracked.buffers.detached)
    return ModelGradient(
        loss: value.detached,
        gradient: ParameterSet(Array(zip(parameters.keys, grads))),
        model: tracked)
}

/// The exact Hessian-vector product ∇²L(w)·v of a loss with respect to the model's
/// parameters, by differentiating the recorded backward pass (Pearlmutter 1994). Costs
/// about two gradient evaluations. Buffer updates made by the pass are discarded.
public func hessianVectorProduct<Model: Module>(
    at model: Model, along direction: ParameterSet, of loss: (inout Model) -> Tensor
) -> ParameterSet {
    let parameters = model.parameters
    precondition(Set(direction.keys) == Set(parameters.keys), "hessianVectorProduct: direction keys differ from the model's parameters")
    let keys = parameters.keys
    let product = hessianVectorProduct(at: parameters.values, along: keys.map { direction[$0]! }) { leaves in
        var tracked = model
        tracked.update(ParameterSet(Array(zip(keys, leaves))))
        return loss(&tracked)
    }
    return ParameterSet(Array(zip(keys, product)))
}
