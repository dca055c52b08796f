import PlateauNN
import PlateauTensor

/// TRAM's reference function and the trust-region distance to it (Sherborne et al., ICLR
/// 2024): each step, under no gradient, ρ_t = s · d(f_ref(x), f_θ(x)) on the batch, which the
/// ``TRAM`` rule uses as its radius. The reference is
///
/// - `initial` (TRAM-θ₀): the weights training started from — the pre-trained model when
///   fine-tuning with `--initial-weights`;
/// - `previous` (TRAM-θ_{t−1}): the weights before the previous step's update (ρ_0 = 0);
/// - `inputNoise` (TRAM-x): the same model on x + z, z ~ N(0, σ²) elementwise.
///
/// d is a KL divergence between the softmaxed outputs, averaged over the batch's samples:
/// `forward` KL(f_ref ‖ f_θ), `reverse` KL(f_θ ‖ f_ref), `symmetric` their sum (the
/// reference code's three). The reference code's value is additionally divided by the class
/// count and the batch size (PyTorch's `kl_div(reduction="mean")` averages over all B·C
/// elements, then the result is divided by B again); `scale` = 1/(C·B) reproduces it.
///
/// It adds nothing to the loss; it is an objective term only to share the terms'
/// lifecycle: it sees every batch, follows the model after each step, and is checkpointed
/// under `tram.*` so a resumed run measures against the same reference.
public struct TrustRegionReference: ObjectiveTerm {
    public enum Reference: String, Sendable, CaseIterable {
        case initial
        case previous
        case inputNoise = "input-noise"
    }

    public enum Divergence: String, Sendable, CaseIterable {
        case forward, reverse, symmetric
    }

    public var reference: Reference
    public var divergence: Divergence
    /// s, the multiplier of the distance.
    public var scale: Float
    /// σ of TRAM-x's input noise.
    public var noise: Float
    /// The reference model (`initial`, `previous`); `nil` for `inputNoise`.
    private var model: (any Layer)?
    private var generator: SeededGenerator

    public init<Model: Layer>(
        model: Model, reference: Reference = .initial, divergence: Divergence = .forward, scale: Float = 0.05, noise: Float = 1e-2, seed: UInt64 = 0
    ) {
        self.reference = reference
        self.divergence = divergence
        self.scale = scale
        self.noise = noise
        self.model = reference == .inputNoise ? nil : model
        generator = SeededGenerator(seed: seed ^ 0x7472_616D)  // "tram"
    }

    public var name: String { "tram" }

    /// No loss of its own.
    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? { nil }

    /// ρ_t for `model` on `batch`; for `previous`, the reference then becomes `model`.
    public mutating func measurement<Model: Layer>(for batch: StepBatch, model current: Model) -> Float? {
        withoutGradients {
            var scratch = current
            let outputs = scratch(batch.inputs)
            let referenceOutputs: Tensor
            switch reference {
            case .initial, .previous:
                var frozen = model!
                referenceOutputs = frozen(batch.inputs)
            case .inputNoise:
                let z = Tensor.randomNormal(batch.inputs.shape, using: &generator) * noise
                referenceOutputs = scratch(batch.inputs + z)
            }
            if reference == .previous { model = current }
            return scale * Self.distance(divergence, reference: referenceOutputs, model: outputs)
        }
    }

    /// The mean over rows of d between softmax(`reference`) and softmax(`model`), `[N, C]` logits.
    public static func distance(_ divergence: Divergence, reference: Tensor, model: Tensor) -> Float {
        func kl(_ p: Tensor, _ q: Tensor) -> Float {  // KL(softmax(p) ‖ softmax(q)), batch mean
            klDivergence(studentLogits: q, teacherLogits: p, temperature: 1, reduction: .mean).scalars[0]
        }
        switch divergence {
        case .forward: return kl(reference, model)
        case .reverse: return kl(model, reference)
        case .symmetric: return kl(reference, model) + kl(model, reference)
        }
    }

    public var checkpointState: ParameterSet {
        var state = model?.stateDictionary ?? ParameterSet()
        // The noise stream's four state words, bit for bit, as eight 32-bit halves.
        let (a, b, c, d) = generator.state
        let halves = [a, b, c, d].flatMap { [UInt32(truncatingIfNeeded: $0 >> 32), UInt32(truncatingIfNeeded: $0)] }
        state["generator"] = Tensor(shape: [8], scalars: halves.map { Float(bitPattern: $0) })
        return state
    }

    public mutating func restore(checkpointState: ParameterSet, source: String) throws {
        var state = checkpointState
        if let halves = state["generator"] {
            guard halves.shape == [8] else {
                throw OptimizerStateError.unexpectedKey("tram.generator of shape \(halves.shape) in \(source), expected [8]")
            }
            let bits = halves.scalars.map(\.bitPattern)
            let words = (0..<4).map { UInt64(bits[2 * $0]) << 32 | UInt64(bits[2 * $0 + 1]) }
            generator = SeededGenerator(state: (words[0], words[1], words[2], words[3]))
            state["generator"] = nil
        }
        if model != nil { try model!.load(stateDictionary: state, source: source + " (TRAM reference)") }
    }

    public var memoryByteCount: Int { (model?.stateDictionary.scalarCount ?? 0) * 4 }
}
