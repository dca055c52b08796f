import PlateauTensor

/// Efficient SAM (Du et al. 2022, arXiv:2110.03141), SAM with its two savings:
///
///     g = ∇L(w)
///     SWP: each parameter tensor is perturbed with probability β, the ascent scaled by 1/β
///          so its expected size matches SAM's:   ε = mask ⊙ ρ·g/(β‖g‖)
///     SDS: a forward-only pass at w + ε scores each sample by ℓᵢ(w + ε) − ℓᵢ(w); only the
///          sharpest fraction γ is back-propagated:   g_p = ∇L_{top γ}(w + ε)
///     w ← base(w, g_p)
///
/// A step costs about 1 + 1/3 + γ passes instead of SAM's 2. The masks are drawn in
/// ``prepare(gradient:context:)``, one per perturbation group (m-sharpness chunk), in group
/// order; the selection (SDS) is this rule's ``SampleSelectingRule`` hook.
public struct ESAM: SampleSelectingRule {
    public var radius: PerturbationRadius
    public var beta: Float
    public var gamma: Float
    public var generator: SeededGenerator
    /// This step's SWP masks: for each perturbation group, the tensors left unperturbed.
    private var unperturbed: [Set<String>] = []

    public init(rho: Float = 0.05, beta: Float = 0.6, gamma: Float = 0.5, seed: UInt64 = 0) {
        precondition(rho >= 0, "ESAM: rho must be non-negative, got \(rho)")
        precondition(beta > 0 && beta <= 1, "ESAM: beta must be in (0, 1], got \(beta)")
        precondition(gamma > 0 && gamma <= 1, "ESAM: gamma must be in (0, 1], got \(gamma)")
        radius = .constant(rho)
        self.beta = beta
        self.gamma = gamma
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

    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        var epsilon = gradient.normalized(toRadius: radius.value(in: context) / beta)
        guard beta < 1 else { return epsilon }
        precondition(context.group < unperturbed.count, "ESAM: perturbation before prepare(gradient:context:) for group \(context.group)")
        for key in epsilon.keys where unperturbed[context.group].contains(key) {
            epsilon[key] = Tensor.zeros(epsilon[key]!.shape)
        }
        return epsilon
    }

    /// SDS: the ⌊γ·n⌉ (at least one) samples with the largest ℓᵢ(w + ε) − ℓᵢ(w), earlier
    /// samples first on ties; all of them (no scoring pass) when that is every sample.
    public func secondPassSamples(count: Int, sharpness: () -> [Float]) -> [Int]? {
        let keep = Swift.max(1, Int((Float(count) * gamma).rounded()))
        guard keep < count else { return nil }
        let s = sharpness()
        return s.indices.sorted { s[$0] != s[$1] ? s[$0] > s[$1] : $0 < $1 }.prefix(keep).sorted()
    }

    public var state: OptimizerState {
        let s = generator.state
        return OptimizerState(scalars: ["generator.0": Double(bitPattern: s.0), "generator.1": Double(bitPattern: s.1),
                                        "generator.2": Double(bitPattern: s.2), "generator.3": Double(bitPattern: s.3)])
    }

    public mutating func restore(_ state: OptimizerState) throws {
        let words = try (0..<4).map { i -> UInt64 in
            guard let value = state.scalars["generator.\(i)"] else { throw OptimizerStateError.missingKey("generator.\(i)") }
            return value.bitPattern
        }
        generator = SeededGenerator(state: (words[0], words[1], words[2], words[3]))
    }
}
