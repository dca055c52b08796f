import Foundation
import PlateauNN
import PlateauTensor

/// A network whose penultimate features can be read without its classifier head: the
/// backbone of a prototype classifier.
public protocol FeatureExtracting: Layer {
    /// The features `[N, D]` the network's last layer would read.
    mutating func features(_ input: Tensor) -> Tensor
}

// The models' own `features(_:)` (LinearHeaded's: everything but the last linear layer, after
// the last hidden normalization and ReLU) is the backbone's output.
extension LeNet5: FeatureExtracting {}
extension MLP: FeatureExtracting {}

/// A cosine classifier over a backbone's L2-normalized features (Gidaris & Komodakis 2018;
/// the classifier of TEEN and CSFA): logits_c = s · ⟨f̂(x), p̂_c⟩, with f̂ = f/‖f‖ and p̂_c the
/// unit prototype of class c. The prototypes are constants — only the backbone's tensors are
/// parameters, under `backbone.` — so test-time adaptation (``NormAffineView``) moves the
/// backbone's normalization layers and never the prototypes.
public struct PrototypeClassifier<Backbone: FeatureExtracting>: Layer {
    public var backbone: Backbone
    /// `[C, D]`, each row of unit length.
    public private(set) var prototypes: Tensor
    /// s, the scale of the cosine logits (16 in TEEN).
    public var scale: Float

    /// - Parameter prototypes: one row per class, normalized here.
    public init(backbone: Backbone, prototypes: [[Float]], scale: Float = 16) {
        precondition(!prototypes.isEmpty, "PrototypeClassifier: needs at least one prototype")
        self.backbone = backbone
        self.scale = scale
        let rows = prototypes.map(PrototypeCalibration.normalized)
        self.prototypes = Tensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0 })
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("backbone", &backbone)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        let f = backbone.features(input)
        let unit = f / ((f * f).sum(alongAxis: 1, keepingDimensions: true) + 1e-12).sqrt()
        return unit.matmul(prototypes, transposingOther: true) * scale
    }
}

/// Prototypes from few labelled features, and TEEN's training-free calibration of a new
/// class's prototype toward the base classes (Wang et al., NeurIPS 2023, *Few-shot
/// class-incremental learning via training-free prototype calibration*), which CSFA uses.
///
/// With unit base prototypes b_1…b_B and a new class's prototype c (the mean of its shots'
/// unit features, then normalized to ĉ):
///
///     w_b = softmax_b(τ · ⟨ĉ, b_b⟩)            (which base classes the new one resembles)
///     Δ   = normalize(Σ_b w_b · b_b)
///     c'  = (1 − α) · ĉ + α · Δ                (the calibrated prototype; the classifier
///                                               normalizes it again)
///
/// Defaults are TEEN's: τ = 16, α = 0.1. The fusion pulls a few-shot prototype, biased
/// toward its handful of images, toward the well-estimated base prototypes it resembles;
/// TEEN reports fewer new-class samples absorbed into base classes.
public enum PrototypeCalibration {
    /// v/‖v‖ (the zero vector stays zero).
    public static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    /// The class mean of unit features: normalize each row, average, normalize.
    public static func prototype(of features: [[Float]]) -> [Float] {
        precondition(!features.isEmpty, "PrototypeCalibration: a prototype needs at least one feature")
        var sum = [Float](repeating: 0, count: features[0].count)
        for row in features { for (k, value) in normalized(row).enumerated() { sum[k] += value } }
        return normalized(sum.map { $0 / Float(features.count) })
    }

    /// The softmax weights w_b = softmax_b(τ·⟨ĉ, b̂_b⟩).
    public static func weights(novel: [Float], base: [[Float]], temperature: Float) -> [Float] {
        let c = normalized(novel)
        let logits = base.map { b in temperature * zip(c, normalized(b)).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
        let top = logits.max() ?? 0
        let exps = logits.map { Foundation.exp($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// c' = (1 − α)·ĉ + α·normalize(Σ_b w_b b̂_b).
    public static func calibrated(novel: [Float], base: [[Float]], temperature: Float = 16, alpha: Float = 0.1) -> [Float] {
        precondition(!base.isEmpty, "PrototypeCalibration: calibration needs base prototypes")
        let c = normalized(novel), w = weights(novel: novel, base: base, temperature: temperature)
        var mix = [Float](repeating: 0, count: c.count)
        for (weight, b) in zip(w, base) { for (k, value) in normalized(b).enumerated() { mix[k] += weight * value } }
        let delta = normalized(mix)
        return zip(c, delta).map { (1 - alpha) * $0 + alpha * $1 }
    }

    /// Each row of `features` (`[N, D]`) as an array.
    static func rows(_ features: Tensor) -> [[Float]] {
        let d = features.shape[1], scalars = features.scalars
        return (0..<features.shape[0]).map { Array(scalars[($0 * d)..<(($0 + 1) * d)]) }
    }
}
