import PlateauNN
import PlateauOptim
import PlateauTensor

/// Tent: fully test-time adaptation by entropy minimization (Wang, Shelhamer, Liu, Olshausen
/// & Darrell, ICLR 2021, *Tent: Fully Test-Time Adaptation by Entropy Minimization*).
///
/// For each incoming batch x of n samples, with θ the normalization layers' affine
/// parameters (``NormAffineView``) and BatchNorm on the batch's statistics:
///
///     z = f_θ(x)                                   (the predictions reported for the batch)
///     L(θ) = (1/n) Σ_i H(z_i),  H(z) = −Σ_c softmax(z)_c log softmax(z)_c
///     θ ← SGD(θ, ∇_θ L)                            (momentum 0.9, as the official code)
///
/// One step per batch, no filtering, no reset: the model keeps adapting for the whole stream.
public struct Tent<Model: Layer>: TestTimeAdapter {
    public private(set) var model: Model
    /// SGD over the normalization parameters (its state is keyed by their paths).
    public var optimizer: SGD

    /// - Throws: ``AdaptationError`` when `model` has no normalization layers.
    public init(model: Model, learningRate: Float, momentum: Float = 0.9) throws {
        try AdaptationError.requireNormParameters(model, method: "tent")
        self.model = model.training(true)
        optimizer = SGD(learningRate: learningRate, momentum: momentum)
    }

    public mutating func adapt(_ images: Tensor) -> AdaptationStep {
        var logits = Tensor(0)
        let result = valueWithGradient(at: NormAffineView(model: model)) { (view: inout NormAffineView<Model>) -> Tensor in
            logits = view(images)
            return predictionEntropies(logits).mean()
        }
        var view = result.model
        var parameters = view.parameters
        optimizer.update(&parameters, along: result.gradient)
        view.update(parameters)
        model = view.model
        return AdaptationStep(logits: logits.detached, loss: result.loss.scalars[0], kept: images.shape[0])
    }
}
