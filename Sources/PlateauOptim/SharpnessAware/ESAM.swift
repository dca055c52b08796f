import PlateauTensor

/// Efficient SAM (Du et al. 2022, arXiv:2110.03141), SAM with its two savings:
///
///     g = ∇L(w)
///     SWP: each parameter tensor is perturbed with probability β (mask M), the ascent
///          scaled by 1/β
///     SDS: a forward-only pass at w + ε scores each sample by sᵢ = ℓᵢ(w + ε) − ℓᵢ(w); only
///          the sharpest samples are back-propagated:   g_p = ∇L_{selected}(w + ε)
///     w ← base(w, g_p)
///
/// Two forms (``Form``) differ in ε's norm and in how many samples SDS keeps:
///
/// - ``Form/official`` (the default), as the official code (dydjw9/Efficient_SAM,
///   `utils/Esam.py`) does it. The masked tensors take no gradient in the first pass, so
///   the norm is the kept gradient's:
///
///       ε = ρ·(M ⊙ g)/(β‖M ⊙ g‖),   ‖ε‖ = ρ/β
///
///   SDS keeps the samples whose score is strictly above the k-th largest, k = ⌊γ·n⌋ —
///   k − 1 samples without ties, fewer when scores tie with the k-th — and every sample,
///   with no scoring pass, when γ ≥ 0.99. Where the official code would back-propagate
///   no sample at all (nothing strictly above: k ≤ 1, or the k-th largest is the
///   maximum), the samples with the largest score are kept.
///
/// - ``Form/plateau``, Plateau's form before issue 10. ε is normalized by the full
///   gradient's norm, so ‖ε‖ = ρ·‖M ⊙ g‖/(β‖g‖), about ρ/√β (ρ/β above is 23–29% larger
///   at β = 0.6):
///
///       ε = M ⊙ ρ·g/(β‖g‖)
///
///   SDS keeps the ⌊γ·n⌉ (at least one) samples with the largest score, earlier samples
///   first on ties, and every sample (no scoring pass) when that is all of them.
///
/// Both forms draw the masks alike: in ``prepare(gradient:context:)``, one mask per
/// perturbation group (m-sharpness chunk), in group order, one uniform number per tensor in
/// parameter order, a tensor unperturbed when its number is ≥ β (nothing drawn at β = 1).
/// Not followed from the official code: it draws the next step's masks after each step, so
/// its first step perturbs every tensor; and it adds 1e-7 to the norm where Plateau adds
/// 1e-12. The selection (SDS) is this rule's ``SampleSelectingRule`` hook.
///
/// A step costs about 1 + 1/3 + γ passes instead of SAM's 2.
public struct ESAM: SampleSelectingRule {
    /// Which reading of ESAM a rule follows; see ``ESAM``.
    public enum Form: String, Sendable, CaseIterable {
        /// The official code: ε normalized by the kept gradient, samples strictly above the
        /// ⌊γ·n⌋-th largest score.
        case official
        /// Plateau before issue 10: ε normalized by the full gradient, the ⌊γ·n⌉ sharpest samples.
        case plateau
    }

    /// ρ, the radius before SWP's 1/β scaling; default 0.05.
    public var radius: PerturbationRadius
    /// Which reading of ESAM (``Form``); default ``Form/official``.
    public var form: Form
    /// β ∈ (0, 1], SWP's probability that a tensor is perturbed; default 0.6.
    public var beta: Float
    /// γ ∈ (0, 1], SDS's fraction of samples kept for the second backward pass; default 0.5.
    public var gamma: Float
    /// The generator of SWP's masks (seeded by `seed`, default 0); saved in ``state``.
    public var generator: SeededGenerator
    /// This step's SWP masks: for each perturbation group, the tensors left unperturbed.
    private var unperturbed: [Set<String>] = []

    /// ESAM with a constant radius ρ (default 0.05), SWP probability β (0.6) and SDS fraction γ (0.5).
    ///
    /// - Parameters:
    ///   - rho: the radius ρ.
    ///   - beta: SWP's perturbation probability β.
    ///   - gamma: SDS's kept fraction γ.
    ///   - seed: the seed of the mask generator.
    ///   - form: ``Form/official`` or ``Form/plateau``.
    /// - Precondition: `rho ≥ 0`, `beta` in (0, 1], `gamma` in (0, 1].
    public init(rho: Float = 0.05, beta: Float = 0.6, gamma: Float = 0.5, seed: UInt64 = 0, form: Form = .official) {
        precondition(rho >= 0, "ESAM: rho must be non-negative, got \(rho)")
        precondition(beta > 0 && beta <= 1, "ESAM: beta must be in (0, 1], got \(beta)")
        precondition(gamma > 0 && gamma <= 1, "ESAM: gamma must be in (0, 1], got \(gamma)")
        radius = .constant(rho)
        self.beta = beta
        self.gamma = gamma
        self.form = form
        generator = SeededGenerator(seed: seed)
    }

    public var name: String { "esam" }

    /// Draws each group's mask: one uniform number per tensor, in parameter order; a tensor
    /// stays unperturbed when it is ≥ β. With β = 1 nothing is drawn.
    public mutating func prepare(gradient: ParameterSet, context: StepContext) {
        unperturbed = []
        guard beta < 1 else { return }
        for _ in 0..<context.groupCount {
            var dropped = Set<String>()
            for key in gradient.keys where Float.random(in: 0..<1, using: &generator) >= beta { dropped.insert(key) }
            unperturbed.append(dropped)
        }
    }

    /// SWP: ε = ρ·(M ⊙ g)/(β‖M ⊙ g‖) (official) or M ⊙ ρ·g/(β‖g‖) (plateau), M this group's mask.
    ///
    /// - Precondition: ``prepare(gradient:context:)`` ran this step (when β < 1).
    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        let radius = radius.value(in: context) / beta
        if beta < 1 {
            precondition(context.group < unperturbed.count, "ESAM: perturbation before prepare(gradient:context:) for group \(context.group)")
        }
        let dropped = beta < 1 ? unperturbed[context.group] : []
        switch form {
        case .official:
            // The dropped tensors take no gradient in the official first pass: mask, then normalize.
            return gradient.mapWithKeys { key, value in dropped.contains(key) ? Tensor.zeros(value.shape) : value }
                .normalized(toRadius: radius)
        case .plateau:
            var epsilon = gradient.normalized(toRadius: radius)
            for key in epsilon.keys where dropped.contains(key) {
                epsilon[key] = Tensor.zeros(epsilon[key]!.shape)
            }
            return epsilon
        }
    }

    /// SDS for a group of `count` samples, by ``form``: positions ascending, `nil` for all.
    public func secondPassSamples(count: Int, sharpness: () -> [Float]) -> [Int]? {
        switch form {
        case .official:
            // The official code back-propagates every sample from γ = 0.99 on.
            guard gamma < 0.99, count > 0 else { return nil }
            let s = sharpness()
            let k = Int(Float(count) * gamma)
            let descending = s.sorted(by: >)
            let maximum = descending[0]
            let cutoff = k >= 1 ? descending[k - 1] : maximum
            var kept = s.indices.filter { s[$0] > cutoff }
            if kept.isEmpty { kept = s.indices.filter { s[$0] == maximum } }
            return kept.isEmpty || kept.count == count ? nil : kept  // empty only with NaN scores
        case .plateau:
            let keep = Swift.max(1, Int((Float(count) * gamma).rounded()))
            guard keep < count else { return nil }
            let s = sharpness()
            return s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }.prefix(keep).sorted()
        }
    }

    /// The mask generator's four state words, as bit patterns under `"generator.0"` … `"generator.3"`.
    public var state: OptimizerState {
        let s = generator.state
        return OptimizerState(scalars: ["generator.0": Double(bitPattern: s.0), "generator.1": Double(bitPattern: s.1),
                                        "generator.2": Double(bitPattern: s.2), "generator.3": Double(bitPattern: s.3)])
    }

    /// Restores the mask generator; throws ``OptimizerStateError/missingKey(_:)`` for a missing word.
    public mutating func restore(_ state: OptimizerState) throws {
        let words = try (0..<4).map { i -> UInt64 in
            guard let value = state.scalars["generator.\(i)"] else { throw OptimizerStateError.missingKey("generator.\(i)") }
            return value.bitPattern
        }
        generator = SeededGenerator(state: (words[0], words[1], words[2], words[3]))
    }
}
