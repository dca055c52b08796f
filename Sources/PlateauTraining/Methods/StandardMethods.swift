import PlateauNN
import PlateauOptim
import PlateauTensor

extension MethodRegistry {
    /// Every method Plateau ships, in the order `--help` and the README list them. A new
    /// method is its options type (below or in its own file) plus one line here.
    public static let standard = MethodRegistry([
        .optimizer("sgd", summary: "SGD with momentum, Nesterov and L2 weight decay (--momentum, --nesterov, --weight-decay)") { _, context in
            let c = context.configuration
            return SGD(learningRate: c.learningRate, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov)
        },
        .optimizer("adam", summary: "Adam (Kingma & Ba 2015), L2 weight decay") { _, context in
            Adam(learningRate: context.configuration.learningRate, weightDecay: context.configuration.weightDecay)
        },
        .optimizer("adamw", summary: "AdamW (Loshchilov & Hutter 2019), decoupled weight decay") { _, context in
            AdamW(learningRate: context.configuration.learningRate, weightDecay: context.configuration.weightDecay)
        },
        .optimizer("muon", summary: "Muon (Jordan et al. 2024): Nesterov momentum orthogonalized by 5 Newton–Schulz steps on hidden weight matrices, AdamW for the rest (reference --lr 0.02)", options: MuonOptions.self) { o, context in
            o.make(context.configuration, noiseAdaptation: nil)
        },
        .optimizer("lanton", summary: "LANTON (Hao et al. 2025) over Muon: each hidden layer's lr scaled by √(min H / H_ℓ), H an EMA of its gradient noise in the nuclear norm", options: LANTONOptions.self) { o, context in
            o.muon.make(context.configuration, noiseAdaptation: Muon.NoiseAdaptation(beta2: o.lantonBeta2))
        },
        .sharpnessAware("sam", summary: "SAM (Foret et al. 2021): ε = ρ·g/‖g‖, descend along ∇L(w + ε)", options: RadiusOptions.self) { o, _ in
            SAM(rho: o.rho)
        },
        .sharpnessAware("asam", summary: "Adaptive SAM (Kwon et al. 2021): ε = ρ·T²g/‖Tg‖, T = |w| + η", options: ASAMOptions.self) { o, _ in
            ASAM(rho: o.rho, eta: o.eta)
        },
        .sharpnessAware("gsam", summary: "GSAM (Zhuang et al. 2022): SAM minus α × the part of g orthogonal to g_p; ρ follows the lr", options: GSAMOptions.self) { o, context in
            GSAM(rhoMax: o.rho, rhoMin: o.rhoMin ?? o.rho, maximumLearningRate: context.configuration.learningRate, minimumLearningRate: 0, alpha: o.alpha)
        },
        .sharpnessAware("looksam", summary: "LookSAM (Liu et al. 2022): a SAM step every k steps, the cached sharpness direction between", options: LookSAMOptions.self) { o, _ in
            LookSAM(rho: o.rho, interval: o.k, alpha: o.alpha)
        },
        .sharpnessAware("esam", summary: "Efficient SAM (Du et al. 2022): stochastic weight perturbation and sharpness-sensitive data selection", options: ESAMOptions.self) { o, context in
            ESAM(rho: o.rho, beta: o.esamBeta, gamma: o.esamGamma, seed: context.configuration.seed, form: o.esamForm)
        },
        .sharpnessAware("wsam", summary: "Weighted SAM (Yue et al. 2023): sharpness weighted by γ/(1−γ), decoupled from the base step", options: WSAMOptions.self) { o, _ in
            WSAM(rho: o.rho, gamma: o.wsamGamma)
        },
        .sharpnessAware("fsam", summary: "Friendly SAM (Li et al. 2024): perturb along g minus an EMA of the full gradient", options: FriendlySAMOptions.self) { o, _ in
            FriendlySAM(rho: o.rho, sigma: o.fsamSigma, lambda: o.fsamLambda, form: o.fsamForm)
        },
        .sharpnessAware(
            "tram", summary: "TRAM (Sherborne et al. 2024): SAM with ρ_t = s·KL(f_ref(x) ‖ f_θ(x)), the distance to a reference function",
            options: TRAMOptions.self, make: { _, _ in TRAM() },
            measuredBy: { o, context, model in
                TrustRegionReference(model: model, reference: o.tramReference, divergence: o.tramDivergence, scale: o.tramScale,
                                     noise: o.tramNoise, seed: context.configuration.seed)
            }),
        .sharpnessAware(
            "udim", summary: "UDIM (Shin et al. 2024): SAM + λ × the last layer's gradient inconsistency between x and x̃, x̃ an ascent step on L + ρ‖∇L‖",
            options: UDIMOptions.self, make: { o, _ in SAM(rho: o.rho) },
            withTerm: { o, context, model in
                guard model is any LinearHeaded else {
                    throw ConfigurationError(
                        field: "model", message: "udim needs a model whose last layer is linear (mlp, lenet), got '\(context.configuration.model)'")
                }
                return UDIM(rho: o.rho, inputRadius: o.udimRhoX, lambda: o.udimLambda, warmupEpochs: o.udimWarmup, normalization: o.udimNormalization)
            }),
        .sharpnessAware("fmtl", summary: "F-MTL (Phan et al. 2022): SAM per task; loss and flat parts of the task gradients aggregated apart (--tasks, --aggregator)", options: FMTLOptions.self) { o, _ in
            FMTL(rho: o.rho, adaptive: o.fmtlAdaptive, eta: o.eta)
        },
        .sharpnessAware("gaqat", summary: "GAQAT (Jiang et al. 2024) over SAM: freezes a quantizer step size whose task and sharpness gradients conflict in sign in more than τ of a window's steps (needs --quantize)", options: GAQATOptions.self) { o, context in
            guard context.configuration.quantize != "none" else {
                throw ConfigurationError(field: "quantize", message: "gaqat freezes quantizer step sizes and needs a quantized model (--quantize w4a4, …), got none")
            }
            return GAQAT(rho: o.rho, window: o.gaqatWindow, threshold: o.gaqatThreshold, warmupSteps: o.gaqatWarmup)
        },
        .objective("saf", summary: "SAF (Du et al. 2022): + λ·τ²·KL(outputs E epochs ago ‖ now), no extra pass", options: SAFOptions.self) { o, context, _ in
            SAF(sampleCount: context.sampleCount, classCount: context.classCount, lambda: o.safLambda, temperature: o.safTau,
                lag: o.safLag, startEpoch: o.safStart, halfPrecision: o.safHalf)
        },
        .objective("mesa", summary: "MESA (Du et al. 2022): SAF with an EMA of the model as teacher", options: MESAOptions.self) { o, _, model in
            MESA(model: model, decay: o.emaDecay, lambda: o.safLambda, temperature: o.safTau, startEpoch: o.safStart)
        },
    ])
}

private func nonNegativeRadius(_ rho: Float) throws(ConfigurationError) {
    guard rho >= 0, rho.isFinite else { throw ConfigurationError(field: "rho", message: "expected a finite radius ≥ 0, got \(rho)") }
}

private func unitInterval(_ value: Float, _ option: String, closedAbove: Bool) throws(ConfigurationError) {
    guard value >= 0, closedAbove ? value <= 1 : value < 1 else {
        throw ConfigurationError(field: option, message: "expected a value in [0, 1\(closedAbove ? "]" : ")"), got \(value)")
    }
}

/// SAM's only option: the radius ρ (0.05, the paper's CIFAR setting).
public struct RadiusOptions: MethodOptions {
    public var rho: Float = 0.05
    public init() {}
    public static let options = [OptionSpec("rho", \RadiusOptions.rho, help: "Perturbation radius ρ.")]
    public func validate() throws(ConfigurationError) { try nonNegativeRadius(rho) }
}

/// ASAM's options: ρ (0.5, about ten times SAM's) and η in T = |w| + η (0.01).
public struct ASAMOptions: MethodOptions {
    public var rho: Float = 0.5
    public var eta: Float = 0.01
    public init() {}
    public static let options = [
        OptionSpec("rho", \ASAMOptions.rho, help: "Radius ρ (about ten times SAM's)."),
        OptionSpec("eta", \ASAMOptions.eta, help: "η in T = |w| + η."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        guard eta >= 0, eta.isFinite else { throw ConfigurationError(field: "eta", message: "expected a finite η ≥ 0, got \(eta)") }
    }
}

/// GSAM's options: ρ at the peak learning rate (0.05), ρ at learning rate 0 (default: ρ),
/// and α (0.4).
public struct GSAMOptions: MethodOptions {
    public var rho: Float = 0.05
    public var rhoMin: Float? = nil
    public var alpha: Float = 0.4
    public init() {}
    public static let options = [
        OptionSpec("rho", \GSAMOptions.rho, help: "ρ at the peak learning rate."),
        OptionSpec("rho-min", \GSAMOptions.rhoMin, help: "ρ at learning rate 0 (none: --rho)."),
        OptionSpec("alpha", \GSAMOptions.alpha, help: "α, the weight of the surrogate-gap descent."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        if let rhoMin, !(rhoMin >= 0 && rhoMin.isFinite) { throw ConfigurationError(field: "rho-min", message: "expected a finite radius ≥ 0, got \(rhoMin)") }
        guard alpha.isFinite else { throw ConfigurationError(field: "alpha", message: "expected a finite α, got \(alpha)") }
    }
}

/// LookSAM's options: ρ (0.1), the interval k between SAM steps (5) and α (0.7).
public struct LookSAMOptions: MethodOptions {
    public var rho: Float = 0.1
    public var k: Int = 5
    public var alpha: Float = 0.7
    public init() {}
    public static let options = [
        OptionSpec("rho", \LookSAMOptions.rho, help: "Perturbation radius ρ."),
        OptionSpec("k", \LookSAMOptions.k, help: "A full SAM step every k steps."),
        OptionSpec("alpha", \LookSAMOptions.alpha, help: "α, the weight of the reused direction."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        guard k >= 1 else { throw ConfigurationError(field: "k", message: "expected a positive interval, got \(k)") }
        guard alpha.isFinite else { throw ConfigurationError(field: "alpha", message: "expected a finite α, got \(alpha)") }
    }
}

/// ESAM's forms as an option value: `official` or `plateau`.
extension ESAM.Form: EnumeratedOptionValue {}
extension TrustRegionReference.Reference: EnumeratedOptionValue {}
extension TrustRegionReference.Divergence: EnumeratedOptionValue {}

/// TRAM's options: the reference (θ₀, θ_{t−1} or the input-noised model), the divergence,
/// the scale s of ρ_t = s·d and TRAM-x's noise σ. The paper sets none of them: forward KL
/// follows the reference code; s = 0.05 puts ρ_t in SAM's usual range (a fine-tuned model's
/// KL from its start is of the order of 1 nat) — measured on Rotated MNIST (docs/results.md):
/// s = 1, the formula taken literally, destabilized fine-tuning; the code's 1/(C·B) left it
/// at the base optimizer's results; 0.05 matched SAM ρ 0.05 with the least drift.
public struct TRAMOptions: MethodOptions {
    public var tramReference: TrustRegionReference.Reference = .initial
    public var tramDivergence: TrustRegionReference.Divergence = .forward
    public var tramScale: Float = 0.05
    public var tramNoise: Float = 0.01
    public init() {}
    public static let options = [
        OptionSpec("tram-reference", \TRAMOptions.tramReference,
                   help: "initial: the starting (pre-trained) weights θ₀; previous: the weights before the last update; input-noise: the model on x + N(0, σ²)."),
        OptionSpec("tram-divergence", \TRAMOptions.tramDivergence, help: "forward KL(f_ref ‖ f_θ), reverse KL(f_θ ‖ f_ref), or symmetric (their sum), averaged over the batch."),
        OptionSpec("tram-scale", \TRAMOptions.tramScale, help: "s in ρ_t = s·d (0.05 puts ρ_t in SAM's range; the reference code's scaling is 1/(classes·batch size))."),
        OptionSpec("tram-noise", \TRAMOptions.tramNoise, help: "σ of TRAM-x's input noise (--tram-reference input-noise)."),
    ]
    public func validate() throws(ConfigurationError) {
        guard tramScale >= 0, tramScale.isFinite else { throw ConfigurationError(field: "tram-scale", message: "expected a finite scale ≥ 0, got \(tramScale)") }
        guard tramNoise > 0, tramNoise.isFinite else { throw ConfigurationError(field: "tram-noise", message: "expected a finite σ > 0, got \(tramNoise)") }
    }
}

extension UDIM.Normalization: EnumeratedOptionValue {}

/// UDIM's options: SAM's ρ (0.05, also the ρ of the input objective L + ρ‖∇L‖), the input
/// step ρ_x (1, per-sample L2 in normalized-input units; the code's 10 is for its
/// batch-dimension normalization), λ (1, the code's scripts), the epochs of plain SAM
/// before the term switches on (1; the code warms up for a fifth of its steps) and the
/// normalization of the input step.
public struct UDIMOptions: MethodOptions {
    public var rho: Float = 0.05
    public var udimRhoX: Float = 1
    public var udimLambda: Float = 1
    public var udimWarmup: Int = 1
    public var udimNormalization: UDIM.Normalization = .sample
    public init() {}
    public static let options = [
        OptionSpec("rho", \UDIMOptions.rho, help: "SAM's radius ρ, also the ρ of the input objective L + ρ‖∇L‖."),
        OptionSpec("udim-rho-x", \UDIMOptions.udimRhoX, help: "ρ_x, the size of the input perturbation (normalized-input units)."),
        OptionSpec("udim-lambda", \UDIMOptions.udimLambda, help: "λ, the weight of the inconsistency penalty."),
        OptionSpec("udim-warmup", \UDIMOptions.udimWarmup, help: "Epochs of plain SAM before the penalty switches on."),
        OptionSpec(
            "udim-normalization", \UDIMOptions.udimNormalization,
            help: "sample: each sample's input step has norm ρ_x; batch: each input coordinate's steps across the batch do (the reference code)."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        guard udimRhoX >= 0, udimRhoX.isFinite else { throw ConfigurationError(field: "udim-rho-x", message: "expected a finite radius ≥ 0, got \(udimRhoX)") }
        guard udimLambda >= 0, udimLambda.isFinite else { throw ConfigurationError(field: "udim-lambda", message: "expected a finite weight ≥ 0, got \(udimLambda)") }
        guard udimWarmup >= 0 else { throw ConfigurationError(field: "udim-warmup", message: "expected a number of epochs ≥ 0, got \(udimWarmup)") }
    }
}

/// FriendlySAM's forms as an option value: `official` or `paper`.
extension FriendlySAM.Form: EnumeratedOptionValue {}

/// ESAM's options: ρ (0.05), the fraction β of weight tensors perturbed (0.6), the
/// fraction γ of samples in the second pass (0.5), and the form (`official`: ε normalized
/// by the kept gradient, samples strictly above the ⌊γn⌋-th largest sharpness; `plateau`:
/// by the full gradient, the ⌊γn⌉ sharpest).
public struct ESAMOptions: MethodOptions {
    public var rho: Float = 0.05
    public var esamBeta: Float = 0.6
    public var esamGamma: Float = 0.5
    public var esamForm: ESAM.Form = .official
    public init() {}
    public static let options = [
        OptionSpec("rho", \ESAMOptions.rho, help: "Perturbation radius ρ."),
        OptionSpec("esam-beta", \ESAMOptions.esamBeta, help: "β, the fraction of weight tensors perturbed."),
        OptionSpec("esam-gamma", \ESAMOptions.esamGamma, help: "γ, the fraction of samples in the second pass."),
        OptionSpec(
            "esam-form", \ESAMOptions.esamForm,
            help: "official: ‖ε‖ = ρ/β from the kept gradient, samples above the ⌊γn⌋-th sharpest; plateau: ε from the full gradient, the ⌊γn⌉ sharpest."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        guard esamBeta > 0, esamBeta <= 1 else { throw ConfigurationError(field: "esam-beta", message: "expected a value in (0, 1], got \(esamBeta)") }
        guard esamGamma > 0, esamGamma <= 1 else { throw ConfigurationError(field: "esam-gamma", message: "expected a value in (0, 1], got \(esamGamma)") }
    }
}

/// WSAM's options: ρ (0.05) and γ (0.9), the sharpness weight being γ/(1 − γ).
public struct WSAMOptions: MethodOptions {
    public var rho: Float = 0.05
    public var wsamGamma: Float = 0.9
    public init() {}
    public static let options = [
        OptionSpec("rho", \WSAMOptions.rho, help: "Perturbation radius ρ."),
        OptionSpec("wsam-gamma", \WSAMOptions.wsamGamma, help: "γ: the sharpness term is weighted γ/(1−γ)."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        try unitInterval(wsamGamma, "wsam-gamma", closedAbove: false)
    }
}

/// FriendlySAM's options: ρ (0.05), σ (1) and the EMA factor λ (0.6) of the official
/// CIFAR scripts, and the form (`official`: m₀ = g₀, ε from m_{t−1}; `paper`: m_{−1} = 0,
/// ε from m_t).
public struct FriendlySAMOptions: MethodOptions {
    public var rho: Float = 0.05
    public var fsamSigma: Float = 1
    public var fsamLambda: Float = 0.6
    public var fsamForm: FriendlySAM.Form = .official
    public init() {}
    public static let options = [
        OptionSpec("rho", \FriendlySAMOptions.rho, help: "Perturbation radius ρ."),
        OptionSpec("fsam-sigma", \FriendlySAMOptions.fsamSigma, help: "σ, how much of the full-gradient estimate is removed."),
        OptionSpec("fsam-lambda", \FriendlySAMOptions.fsamLambda, help: "λ, the EMA factor of the full-gradient estimate."),
        OptionSpec(
            "fsam-form", \FriendlySAMOptions.fsamForm,
            help: "official: the average starts at g₀ and ε uses m_{t−1}; paper: it starts at 0 and ε uses m_t."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        guard fsamSigma.isFinite else { throw ConfigurationError(field: "fsam-sigma", message: "expected a finite σ, got \(fsamSigma)") }
        try unitInterval(fsamLambda, "fsam-lambda", closedAbove: false)
    }
}

/// SAF's options; the defaults are the paper's (λ 0.3, τ 5, E 3, E_start 5).
public struct SAFOptions: MethodOptions {
    public var safLambda: Float = 0.3
    public var safTau: Float = 5
    public var safLag: Int = 3
    public var safStart: Int = 5
    public var safHalf = false
    public init() {}
    public static let options = [
        OptionSpec("saf-lambda", \SAFOptions.safLambda, help: "λ, the weight of the trajectory loss."),
        OptionSpec("saf-tau", \SAFOptions.safTau, help: "τ, the softmax temperature."),
        OptionSpec("saf-lag", \SAFOptions.safLag, help: "E: compare with the outputs of E epochs ago."),
        OptionSpec("saf-start", \SAFOptions.safStart, help: "E_start: the loss is on in the epochs after this one (0-based e > E_start; 5: from the 7th epoch)."),
        OptionSpec("saf-half", \SAFOptions.safHalf, help: "Store the memory bank in half precision."),
    ]
    public func validate() throws(ConfigurationError) {
        guard safLambda >= 0, safLambda.isFinite else { throw ConfigurationError(field: "saf-lambda", message: "expected a finite weight ≥ 0, got \(safLambda)") }
        guard safTau > 0, safTau.isFinite else { throw ConfigurationError(field: "saf-tau", message: "expected a positive temperature, got \(safTau)") }
        guard safLag >= 1 else { throw ConfigurationError(field: "saf-lag", message: "expected at least 1 epoch, got \(safLag)") }
        guard safStart >= safLag - 1 else {
            throw ConfigurationError(
                field: "saf-start", message: "expected at least the lag minus one (\(safLag - 1)) so that the first active epoch, \(safStart + 1), has outputs from \(safLag) epochs before, got \(safStart)")
        }
    }
}

/// MESA's options; the defaults are the paper's (λ 0.8, τ 5, E_start 5, β 0.9998).
public struct MESAOptions: MethodOptions {
    public var safLambda: Float = 0.8
    public var safTau: Float = 5
    public var safStart: Int = 5
    public var emaDecay: Float = 0.9998
    public init() {}
    public static let options = [
        OptionSpec("saf-lambda", \MESAOptions.safLambda, help: "λ, the weight of the teacher loss."),
        OptionSpec("saf-tau", \MESAOptions.safTau, help: "τ, the softmax temperature."),
        OptionSpec("saf-start", \MESAOptions.safStart, help: "E_start: the loss is on in the epochs after this one (0-based e > E_start; 5: from the 7th epoch)."),
        OptionSpec("ema-decay", \MESAOptions.emaDecay, help: "β, the teacher's EMA decay per step."),
    ]
    public func validate() throws(ConfigurationError) {
        guard safLambda >= 0, safLambda.isFinite else { throw ConfigurationError(field: "saf-lambda", message: "expected a finite weight ≥ 0, got \(safLambda)") }
        guard safTau > 0, safTau.isFinite else { throw ConfigurationError(field: "saf-tau", message: "expected a positive temperature, got \(safTau)") }
        guard safStart >= 0 else { throw ConfigurationError(field: "saf-start", message: "expected an epoch ≥ 0, got \(safStart)") }
        guard emaDecay >= 0, emaDecay < 1 else { throw ConfigurationError(field: "ema-decay", message: "expected a value in [0, 1), got \(emaDecay)") }
    }
}

/// Muon's options besides the run's `--lr` (the hidden matrices' η) and `--weight-decay`
/// (decoupled, both groups): the reference's momentum 0.95 with Nesterov, 5 Newton–Schulz
/// steps, and AdamW's η 3e-4 for the other parameters.
public struct MuonOptions: MethodOptions {
    public var muonMomentum: Float = 0.95
    public var muonNesterov: Bool = true
    public var muonNsSteps: Int = 5
    public var muonAdamLr: Float = 3e-4
    public init() {}
    public static let options = [
        OptionSpec("muon-momentum", \MuonOptions.muonMomentum, help: "β, Muon's momentum."),
        OptionSpec("muon-nesterov", \MuonOptions.muonNesterov, help: "Nesterov momentum (the reference's default)."),
        OptionSpec("muon-ns-steps", \MuonOptions.muonNsSteps, help: "Newton–Schulz iterations."),
        OptionSpec("muon-adam-lr", \MuonOptions.muonAdamLr, help: "AdamW's learning rate for biases, norms, embeddings, the first and last layer (follows the lr schedule)."),
    ]
    public func validate() throws(ConfigurationError) {
        guard muonMomentum >= 0, muonMomentum < 1 else { throw ConfigurationError(field: "muon-momentum", message: "expected a value in [0, 1), got \(muonMomentum)") }
        guard muonNsSteps >= 1, muonNsSteps <= 100 else { throw ConfigurationError(field: "muon-ns-steps", message: "expected 1 to 100 steps, got \(muonNsSteps)") }
        guard muonAdamLr >= 0, muonAdamLr.isFinite else { throw ConfigurationError(field: "muon-adam-lr", message: "expected a finite learning rate ≥ 0, got \(muonAdamLr)") }
    }

    func make(_ c: RunConfiguration, noiseAdaptation: Muon.NoiseAdaptation?) -> Muon {
        Muon(learningRate: c.learningRate, momentum: muonMomentum, nesterov: muonNesterov, weightDecay: c.weightDecay,
             newtonSchulzSteps: muonNsSteps, adamLearningRate: muonAdamLr, noiseAdaptation: noiseAdaptation)
    }
}

/// LANTON's options: Muon's, and β₂ of the per-layer noise average (0.99).
public struct LANTONOptions: MethodOptions {
    public var muon = MuonOptions()
    public var lantonBeta2: Float = 0.99
    public init() {}
    public static let options = MuonOptions.options.map { spec in lifted(spec) } + [
        OptionSpec("lanton-beta2", \LANTONOptions.lantonBeta2, help: "β₂ of each layer's noise average H."),
    ]
    private static func lifted(_ spec: OptionSpec<MuonOptions>) -> OptionSpec<LANTONOptions> { spec.lifted(\.muon) }
    public func validate() throws(ConfigurationError) {
        try muon.validate()
        guard lantonBeta2 >= 0, lantonBeta2 < 1 else { throw ConfigurationError(field: "lanton-beta2", message: "expected a value in [0, 1), got \(lantonBeta2)") }
    }
}

/// GAQAT's options: SAM's ρ, the window T (50 steps), the threshold τ (0.5) and the
/// warm-up before the first freezing decision (100 steps); τ ≥ 1 never freezes (QAT + SAM
/// with GAQAT's statistics logged).
public struct GAQATOptions: MethodOptions {
    public var rho: Float = 0.05
    public var gaqatWindow = 50
    public var gaqatThreshold: Float = 0.5
    public var gaqatWarmup = 100
    public init() {}
    public static let options = [
        OptionSpec("rho", \GAQATOptions.rho, help: "SAM's perturbation radius ρ."),
        OptionSpec("gaqat-window", \GAQATOptions.gaqatWindow, help: "T, the steps over which each step size's conflict rate is measured and its freezing re-decided."),
        OptionSpec("gaqat-threshold", \GAQATOptions.gaqatThreshold, help: "τ: a step size whose conflict rate exceeds it is frozen for the next window (1: never)."),
        OptionSpec("gaqat-warmup", \GAQATOptions.gaqatWarmup, help: "Steps before the first freezing decision."),
    ]
    public func validate() throws(ConfigurationError) {
        try nonNegativeRadius(rho)
        guard gaqatWindow >= 1 else { throw ConfigurationError(field: "gaqat-window", message: "expected at least 1 step, got \(gaqatWindow)") }
        guard gaqatThreshold >= 0, gaqatThreshold.isFinite else { throw ConfigurationError(field: "gaqat-threshold", message: "expected a rate ≥ 0, got \(gaqatThreshold)") }
        guard gaqatWarmup >= 0 else { throw ConfigurationError(field: "gaqat-warmup", message: "expected a number of steps ≥ 0, got \(gaqatWarmup)") }
    }
}
