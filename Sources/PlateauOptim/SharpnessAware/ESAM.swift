import PlateauTensor

/// Efficient SAM (Du et al. 2022, arXiv:2110.03141), its two savings:
///
/// - Stochastic weight perturbation: each parameter tensor is perturbed with probability β,
///   with the ascent scaled by 1/β so its expected size matches SAM's:
///   ε = mask ⊙ ρ·g/(β‖g‖).
/// - Sharpness-sensitive data selection: a forward-only pass at w + ε scores each sample by
///   ℓᵢ(w + ε) − ℓᵢ(w); only the sharpest fraction γ of the batch is back-propagated at w + ε.
///
/// A step costs about 1 + 1/3 + γ passes instead of SAM's 2.
public struct ESAM: SharpnessAwareRule {
    public var radius: PerturbationRadius
    public var beta: Float
    public var gamma: Float
    public var generator: SeededGenerator

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
    public var secondPassFraction: Float? { gamma < 1 ? gamma : nil }

    public mutating func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        let epsilon = gradient.normalized(toRadius: radius.value(in: context) / beta)
        guard beta < 1 else { return epsilon }
        var masked = epsilon
        for key in epsilon.keys where Float.random(in: 0..<1, using: &generator) >= beta {
            masked[key] = Tensor.zeros(epsilon[key]!.shape)
        }
        return masked
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
