import Foundation
import PlateauNN
import PlateauTensor

/// Online test-time adaptation: a trained model meets an unlabeled, shifted test stream one
/// batch at a time; each batch is predicted first and only then used to update the model,
/// so the reported (online) accuracy never sees a batch the model has adapted to.
///
/// Both methods here, ``Tent`` and ``SAR``, minimize the Shannon entropy of the model's
/// predictions, H(x) = −Σ_c p_c(x) log p_c(x) with p = softmax(f(x)), and update only the
/// affine parameters (γ, β) of the normalization layers (``NormAffineView``); BatchNorm
/// normalizes with the statistics of the incoming batch (training mode).
public protocol TestTimeAdapter {
    associatedtype Model: Layer
    /// The model as adapted so far.
    var model: Model { get }
    /// Predicts `images` and then adapts to them.
    mutating func adapt(_ images: Tensor) -> AdaptationStep
}

/// What one batch of online adaptation did.
public struct AdaptationStep: Sendable {
    /// The logits the batch was scored with: from the forward pass before the update.
    public var logits: Tensor
    /// The mean entropy minimized (over the samples the method kept; NaN when none).
    public var loss: Float
    /// Samples that entered the update (all for Tent; those under E₀ for SAR's first pass).
    public var kept: Int
    /// Samples of SAR's second pass (kept by both filters); `nil` for other methods.
    public var keptTwice: Int?
    /// Whether the model was reset to its source weights after this batch.
    public var reset: Bool

    public init(logits: Tensor, loss: Float, kept: Int, keptTwice: Int? = nil, reset: Bool = false) {
        self.logits = logits
        self.loss = loss
        self.kept = kept
        self.keptTwice = keptTwice
        self.reset = reset
    }
}

/// The adaptation methods of `plateau adapt`.
public enum AdaptationMethod: String, CaseIterable, Sendable {
    /// The source model, unchanged (BatchNorm with its running statistics).
    case none
    /// ``Tent``.
    case tent
    /// ``SAR``.
    case sar

    /// The learning rate of the SAR authors' rule for a ResNet-50 (BN or GN) at batch size B,
    /// which Tent's runs in their code share: 0.00025 for B ≥ 32, else 0.00025·B/64·2;
    /// SAR doubles it at B = 1. (The rule was tuned for ImageNet models; a small model may
    /// want a larger one, which `--lr` sets.)
    public func defaultLearningRate(batchSize: Int) -> Float {
        let base: Float = batchSize >= 32 ? 0.00025 : 0.00025 / 64 * Float(batchSize) * 2
        return self == .sar && batchSize == 1 ? 2 * base : base
    }
}

/// A model presented with only the affine parameters (weight γ and bias β) of its
/// normalization layers as parameters: what test-time adaptation differentiates and
/// updates. Every other tensor stays a constant of the forward pass, and buffers are not
/// presented at all (reset the wrapped ``model`` to restore them).
///
/// Normalization layers are recognized by their path, as the models of this package name
/// them: a module named `norm…`, `bn…`, `ln…` or `gn…` (LeNet's `norm1`, the MLP's
/// `norms.0`, ResNet's `bn1`, ViT's `norm1`). Unlike the SAR code, which skips ResNet-50's
/// `layer4` and ViT's last blocks, every normalization layer is adapted: the models here are small.
public struct NormAffineView<Model: Layer>: Layer {
    public var model: Model

    public init(model: Model) { self.model = model }

    public mutating func visit(_ visitor: ModuleVisitor) {
        model.visit(ModuleVisitor { path, role, tensor in
            if role == .parameter, Self.isNormAffine(path) { visitor.parameter(path, &tensor) }
        })
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor { model(input) }

    /// Whether `path` names a normalization layer's `weight` or `bias`.
    public static func isNormAffine(_ path: String) -> Bool {
        let parts = path.split(separator: ".")
        guard let last = parts.last, last == "weight" || last == "bias" else { return false }
        return parts.dropLast().contains { part in ["norm", "bn", "ln", "gn"].contains { part.hasPrefix($0) } }
    }

    /// The adapted parameters' paths.
    public var adaptedPaths: [String] { parameters.keys }
}

/// A model that cannot be adapted.
public struct AdaptationError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }

    /// Throws unless `model` has normalization parameters for `method` to adapt.
    public static func requireNormParameters<M: Layer>(_ model: M, method: String) throws {
        guard !NormAffineView(model: model).parameters.isEmpty else {
            throw AdaptationError(
                "\(method) adapts only the affine parameters of normalization layers, and this model has none: "
                    + "train it with --norm batch, group or layer (lenet, mlp), or use a model with its own (resnet, vit, mixer)")
        }
    }
}

/// The Shannon entropy of each row's softmax, H = −Σ_c p_c log p_c with log p =
/// logSoftmax(z) (stable for large logits): shape `[N]` for logits `[N, C]`, differentiable.
public func predictionEntropies(_ logits: Tensor) -> Tensor {
    precondition(logits.rank == 2, "predictionEntropies: expected [N, C] logits, got \(logits.shape)")
    let logProbabilities = logits.logSoftmax(alongAxis: 1)
    return -(logProbabilities.exp() * logProbabilities).sum(alongAxis: 1)
}

/// The reliable-entropy filter of SAR (Niu et al. 2023, Eq. 2): a sample enters the update
/// only when its entropy is below E₀ = 0.4·ln C (C classes), since high-entropy samples
/// have large, noisy gradients that drive collapse.
public enum EntropyFilter {
    /// E₀ = 0.4·ln C.
    public static func defaultMargin(classCount: Int) -> Float { 0.4 * Float(log(Double(classCount))) }

    /// The positions whose entropy is strictly below `margin`, in order.
    public static func kept(_ entropies: [Float], below margin: Float) -> [Int] {
        entropies.indices.filter { entropies[$0] < margin }
    }

    /// Per-sample weights n/k on the k `kept` positions of a batch of n (0 elsewhere), so
    /// that the plain mean of the weighted entropies is the mean over the kept samples
    /// (0, with a zero gradient, when none is kept).
    public static func meanWeights(kept: [Int], count: Int) -> Tensor {
        var weights = [Float](repeating: 0, count: count)
        for i in kept { weights[i] = Float(count) / Float(kept.count) }
        return Tensor(shape: [count], scalars: weights)
    }
}

/// The source model without adaptation: BatchNorm in evaluation mode (running statistics).
public struct NoAdaptation<Model: Layer>: TestTimeAdapter {
    public private(set) var model: Model

    public init(model: Model) {
        self.model = model.training(false)
    }

    public mutating func adapt(_ images: Tensor) -> AdaptationStep {
        var copy = model
        let logits = withoutGradients { copy(images) }
        return AdaptationStep(logits: logits, loss: .nan, kept: 0)
    }
}
