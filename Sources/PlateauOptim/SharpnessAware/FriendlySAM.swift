import PlateauTensor

/// Friendly SAM (Li et al. 2024, arXiv:2403.12350): perturb only along the batch-specific
/// part of the gradient, removing an estimate m of the full gradient. Two forms (``Form``)
/// differ in how m starts and which m the perturbation uses; with g_t = ∇L_B(w_t):
///
/// - ``Form/official`` (the default), as the official code (nblt/F-SAM, `utils.py`) does it:
///   the average starts at the first gradient, and the perturbation uses the average from
///   before this step's update:
///
///       step 0:  m₀ = g₀,                          ε₀ = ρ·g₀/‖g₀‖
///       step t:  ε_t = ρ·(g_t − σ·m_{t−1})/‖g_t − σ·m_{t−1}‖,   m_t = λ·m_{t−1} + (1 − λ)·g_t
///
/// - ``Form/paper``, the paper's Algorithm 1 (and Plateau before issue 10): the average
///   starts at zero and the perturbation uses the updated one:
///
///       m_{−1} = 0,   m_t = λ·m_{t−1} + (1 − λ)·g_t,   ε_t = ρ·(g_t − σ·m_t)/‖g_t − σ·m_t‖
///
/// Then, in both, w ← base(w, ∇L_B(w + ε)). m is an EMA of the raw stochastic gradient in
/// both (as the official code; some ports average g − σ·m instead). With σ = 1 the two
/// directions agree once m exists, since g_t − m_t = λ·(g_t − m_{t−1}); the forms then
/// differ only in m's start (g₀ against (1 − λ)·g₀). With σ ≠ 1 they differ at every step.
///
/// m advances once per step, from the whole batch's gradient, in
/// ``prepare(gradient:context:)``; under m-sharpness each chunk c is then perturbed along
/// g_c − σ·m (m_{t−1} or m_t by form; g_c alone at the official form's first step).
/// (Before issue 9 m advanced once per chunk, so its memory shrank with m.)
///
/// The resumable state is m after the last step's update, under `gradient_average.` in
/// both forms, so a checkpoint of either form restores into either.
///
/// Defaults follow the official CIFAR scripts: σ = 1, λ = 0.6 (ρ 0.05–0.2).
public struct FriendlySAM: SharpnessAwareRule {
    /// Which reading of Friendly SAM a rule follows; see ``FriendlySAM``.
    public enum Form: String, Sendable, CaseIterable {
        /// The official code: m₀ = g₀ (a plain SAM step first), ε from m_{t−1}.
        case official
        /// The paper: m_{−1} = 0, ε from m_t.
        case paper
    }

    /// ρ, the neighbourhood radius; default 0.05.
    public var radius: PerturbationRadius
    /// σ, how much of the average m is removed from g before normalizing; default 1.
    public var sigma: Float
    /// λ ∈ [0, 1), the EMA decay of m: m_t = λ·m_{t−1} + (1 − λ)·g_t; default 0.6.
    public var lambda: Float
    /// Which reading of Friendly SAM (``Form``); default ``Form/official``.
    public var form: Form
    /// m after the latest ``prepare(gradient:context:)``: m_t, or m_{t−1} between steps.
    public private(set) var gradientAverage: ParameterSet?
    /// What this step's perturbation subtracts (before σ): m_t (paper), m_{t−1} (official),
    /// or `nil` at the official form's first step. Set in `prepare`, dropped after the step.
    private var subtracted: ParameterSet?

    /// Friendly SAM with a constant radius ρ, removal weight σ and EMA decay λ (the official CIFAR defaults).
    ///
    /// - Precondition: `rho ≥ 0` and `lambda` in [0, 1).
    public init(rho: Float = 0.05, sigma: Float = 1, lambda: Float = 0.6, form: Form = .official) {
        precondition(rho >= 0, "FriendlySAM: rho must be non-negative, got \(rho)")
        precondition(lambda >= 0 && lambda < 1, "FriendlySAM: lambda must be in [0, 1), got \(lambda)")
        radius = .constant(rho)
        self.sigma = sigma
        self.lambda = lambda
        self.form = form
    }

    public var name: String { "fsam" }

    /// Advances m with the batch gradient and picks what ε subtracts: m_{t−1} (official) or m_t (paper).
    public mutating func prepare(gradient: ParameterSet, context: StepContext) {
        switch form {
        case .official:
            subtracted = gradientAverage
            gradientAverage = gradientAverage.map { $0.scaled(by: lambda) + gradient.scaled(by: 1 - lambda) } ?? gradient
        case .paper:
            gradientAverage = gradientAverage.map { $0.scaled(by: lambda) + gradient.scaled(by: 1 - lambda) } ?? gradient.scaled(by: 1 - lambda)
            subtracted = gradientAverage
        }
    }

    /// ε = ρ·(g − σ·m)/‖g − σ·m‖, or ρ·g/‖g‖ at the official form's first step.
    ///
    /// - Precondition: ``prepare(gradient:context:)`` has run.
    public func perturbation(parameters: ParameterSet, gradient: ParameterSet, context: StepContext) -> ParameterSet? {
        guard gradientAverage != nil else { preconditionFailure("FriendlySAM: perturbation before prepare(gradient:context:)") }
        guard let subtracted else { return gradient.normalized(toRadius: radius.value(in: context)) }  // official, step 0
        return (gradient - subtracted.scaled(by: sigma)).normalized(toRadius: radius.value(in: context))
    }

    /// Releases this step's copy of m_{t−1}; the direction is g_p, as SAM's.
    public mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?, context: StepContext) -> ParameterSet {
        subtracted = nil
        return perturbedGradient ?? gradient
    }

    /// m under `"gradient_average.<path>"`; empty before the first step.
    public var state: OptimizerState { OptimizerState(prefix: "gradient_average.", gradientAverage) }

    /// Restores m (saved by either form).
    public mutating func restore(_ state: OptimizerState) throws {
        gradientAverage = try state.tensors(withPrefix: "gradient_average.")
        subtracted = nil
    }
}
