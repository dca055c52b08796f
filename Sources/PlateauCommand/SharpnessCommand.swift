import ArgumentParser
import Foundation
import Plateau

/// Options shared by `sharpness` and `landscape`: which samples a checkpoint is measured on.
struct MeasurementOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Split to measure on: train (labels as trained, with the run's label noise) or test.")
    var split: String = "train"
    @Option(parsing: .unconditional, help: "Use only the first N samples of the split (default: all).") var samples: Int?
    @Option(parsing: .unconditional, help: "Samples per forward pass; Hessian-vector products are averaged over batches by size.") var batchSize: Int = 1000
    @Option(parsing: .unconditional, help: "BatchNorm/Dropout mode during measurement: eval (running statistics, as PyHessian) or train.") var bnMode: String = "eval"
    @Option(parsing: .unconditional, help: "Random seed (power iteration, Hutchinson, directions).") var seed: UInt64 = 17
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2

    var mode: BatchNormMode {
        get throws {
            switch bnMode {
            case "eval", "evaluation": return .evaluation
            case "train", "training": return .training
            default: throw ValidationError("--bn-mode: expected eval or train, got '\(bnMode)'")
            }
        }
    }

    /// How the `bn_mode` field of `--json` spells `mode`: as the `--bn-mode` flag does.
    static func flagValue(_ mode: BatchNormMode) -> String {
        switch mode {
        case .evaluation: return "eval"
        case .training: return "train"
        }
    }

    mutating func validate() throws {
        guard ["train", "test"].contains(split) else { throw ValidationError("--split: expected train or test, got '\(split)'") }
        try OptionCheck.count(samples, "samples", in: 1...Int.max)
        try OptionCheck.count(batchSize, "batch-size", in: 1...1 << 20)
        _ = try mode
        try OptionCheck.threads(threads)
    }

    func data(of loaded: LoadedCheckpoint) throws -> Dataset {
        return LoadedCheckpoint.prefix(split == "train" ? loaded.train : loaded.test, samples)
    }
}

/// `plateau sharpness`: Hessian spectrum and ρ-sharpness of a checkpoint.
struct SharpnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharpness",
        abstract: "Measure a checkpoint's sharpness: Hessian eigenvalues and trace, ρ-sharpness.",
        discussion: """
            Metrics (--metrics, comma-separated):
              eigen     top-k Hessian eigenvalues by power iteration with deflation (PyHessian: tol 1e-3, 100 iterations)
              lanczos   top-k eigenvalues by Lanczos (a cross-check, fewer HVPs for k > 1)
              trace     Hessian trace by Hutchinson's estimator with Rademacher vectors
              rho       one-step ρ-sharpness L(w + ρ g/‖g‖) − L(w)
              worst     worst case in the ρ-ball by --steps steps of projected gradient ascent
              adaptive  ASAM's adaptive sharpness (ρ = --adaptive-rho, T = |w| + 0.01)
              msharp    m-sharpness: one-step sharpness averaged over chunks of --m samples
              density   eigenvalue density by stochastic Lanczos quadrature (nodes and weights)
              layers    λ_max of each layer's own Hessian block
              timing    cost of one Hessian-vector product relative to one gradient (median of 5 each)
              blocks    λ_max of each sub-block's Hessian block: ViT attention and MLP, Mixer token- and
                        channel-mixing MLPs (each with its pre-norm), embedding, head; other models per layer
              sparsity  fraction of active hidden units (output > 0 after ReLU/GELU) per MLP/hidden layer
              weightnorm ‖θ‖ per sub-block (as blocks) and in total
              noise     loss under per-layer Gaussian weight noise of relative size σ (--noise-sigmas), mean of
                        --noise-draws draws per σ
              ntk       condition number λ_max/λ_min of the empirical NTK Gram matrix of the summed logits on
                        the first --ntk-samples samples (per-sample gradients)
            By default over the training split (labels as the run saw them), BatchNorm in eval mode.

            Example: plateau sharpness runs/mlp/checkpoint-last.safetensors --samples 2000 --metrics eigen,trace,rho --json
                     plateau sharpness runs/vit/checkpoint-last.safetensors --samples 500 --metrics blocks,sparsity,weightnorm,noise,ntk
            """
    )

    @Argument(help: "A checkpoint written by `plateau train`.") var checkpoint: String
    @OptionGroup var data: DatasetOptions
    @OptionGroup var measurement: MeasurementOptions
    @Option(parsing: .unconditional, help: "Comma-separated: \(SharpnessCommand.knownMetrics.joined(separator: ", ")).") var metrics: String = "eigen,trace,rho"
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Number of top eigenvalues.") var topK: Int = 1
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "MiB of recorded passes kept while taking Hessian-vector products (default: a quarter of physical memory).",
        discussion: "Power iteration, Lanczos and Hutchinson record each batch's forward and first backward pass once, so that every further product costs one reverse sweep; batches past this budget are recomputed per product (same numbers, more time). 0 records nothing."))
    var hessianMemory: Int?
    @Option(parsing: .unconditional, help: "Radius ρ of the ρ-sharpness measures.") var rho: Float = 0.05
    @Option(parsing: .unconditional, help: "Projected-ascent steps for the worst case.") var steps: Int = 5
    @Option(parsing: .unconditional, help: "ρ of the adaptive (ASAM) measure.") var adaptiveRho: Float = 0.5
    @Option(parsing: .unconditional, help: "Chunk size m of m-sharpness.") var m: Int = 128
    @Option(parsing: .unconditional, help: "Relative tolerance of power iteration, Lanczos and Hutchinson.") var tolerance: Float = 1e-3
    @Option(parsing: .unconditional, help: "Iteration cap of power iteration, Lanczos and Hutchinson.") var maxIterations: Int = 100
    @Option(parsing: .unconditional, help: "Comma-separated relative noise levels σ of the noise metric.") var noiseSigmas: String = "0,0.01,0.02,0.05,0.1"
    @Option(parsing: .unconditional, help: "Noise draws averaged per σ.") var noiseDraws: Int = 3
    @Option(parsing: .unconditional, help: "Samples of the NTK Gram matrix (the first of the measured ones).") var ntkSamples: Int = 32
    @Flag(help: "Print one JSON object.") var json = false

    static let knownMetrics = ["eigen", "lanczos", "trace", "rho", "worst", "adaptive", "msharp", "density", "layers", "timing",
                                "blocks", "sparsity", "weightnorm", "noise", "ntk"]

    mutating func validate() throws {
        let wanted = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for metric in wanted where !Self.knownMetrics.contains(metric) {
            throw ValidationError("--metrics: unknown metric '\(metric)'; expected some of \(Self.knownMetrics.joined(separator: ", "))")
        }
        // Every option is checked whatever the metrics, so a typo fails now, not in a later run.
        try OptionCheck.count(topK, "top-k", in: 1...1000)
        try OptionCheck.count(hessianMemory, "hessian-memory", in: 0...1 << 30)
        try OptionCheck.number(rho, "rho", atLeast: 0)
        try OptionCheck.count(steps, "steps", in: 1...100_000)
        try OptionCheck.number(adaptiveRho, "adaptive-rho", atLeast: 0)
        try OptionCheck.count(m, "m", in: 1...Int.max)
        try OptionCheck.number(tolerance, "tolerance", atLeast: 0, strictly: true)
        try OptionCheck.count(maxIterations, "max-iterations", in: 1...100_000)
        _ = try sigmas
        try OptionCheck.count(noiseDraws, "noise-draws", in: 1...10_000)
        try OptionCheck.count(ntkSamples, "ntk-samples", in: 2...4096)
    }

    /// `--noise-sigmas` as numbers.
    var sigmas: [Float] {
        get throws {
            let parts = noiseSigmas.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return try parts.map { part in
                guard let value = Float(part), value.isFinite, value >= 0 else {
                    throw ValidationError("--noise-sigmas: expected comma-separated numbers ≥ 0, got '\(part)' in '\(noiseSigmas)'")
                }
                return value
            }
        }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        try Parallelism.withThreads(measurement.threads) {
        let wanted = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let loaded = try LoadedCheckpoint(contentsOf: URL(fileURLWithPath: checkpoint), dataset: data.dataset, dataDirectory: data.dataDir)
        let samples = try measurement.data(of: loaded)
        let mode = try measurement.mode
        var progress = ConsoleProgress(quiet: json)
        progress.message("\(loaded.configuration.model) from \(checkpoint): \(samples.count) \(measurement.split) samples of \(loaded.configuration.dataset), BatchNorm \(MeasurementOptions.flagValue(mode)) mode")
        let object = try measure(loaded.model, on: samples, mode: mode, wanted: Set(wanted), progress: &progress)
        if json {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        }
    }

    private func measure(_ model: any Layer, on samples: Dataset, mode: BatchNormMode, wanted: Set<String>, progress: inout ConsoleProgress) throws -> [String: Any] {
        func opened<M: Layer>(_ model: M) -> [String: Any] {
            var loss = LossFunction.crossEntropy(model, on: samples, batchSize: measurement.batchSize, mode: mode)
            if let hessianMemory { loss.hessianMemoryBudget = hessianMemory << 20 }
            var generator = SeededGenerator(seed: measurement.seed)
            var object: [String: Any] = ["samples": samples.count, "split": measurement.split, "bn_mode": MeasurementOptions.flagValue(mode)]
            func timed<R>(_ label: String, _ body: () -> R) -> R {
                let start = ContinuousClock.now
                let r = body()
                let d = ContinuousClock.now - start
                progress.message(String(format: "%@ (%.1fs)", label, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18))
                return r
            }
            let value = loss.value()
            object["loss"] = value
            progress.message(String(format: "loss %.5f", value))
            if wanted.contains("eigen") {
                let found = timed("power iteration") {
                    HessianEigenvalues.top(topK, of: loss, tolerance: tolerance, maximumIterations: maxIterations, using: &generator)
                }
                let values = found.map(\.value).sorted(by: >)
                object["eigenvalues"] = values
                object["eigen_iterations"] = found.map(\.iterations)
                progress.message("top eigenvalues: \(values.map { String(format: "%.5g", $0) }.joined(separator: ", "))\(found.allSatisfy(\.converged) ? "" : " (not all converged)")")
            }
            if wanted.contains("lanczos") {
                let values = timed("Lanczos") { HessianLanczos.top(topK, of: loss, tolerance: tolerance, maximumIterations: maxIterations, using: &generator) }
                object["lanczos_eigenvalues"] = values
                progress.message("Lanczos top eigenvalues: \(values.map { String(format: "%.5g", $0) }.joined(separator: ", "))")
            }
            if wanted.contains("trace") {
                let trace = timed("Hutchinson") { HessianTrace(of: loss, tolerance: tolerance, maximumIterations: maxIterations, using: &generator) }
                object["trace"] = trace.value
                object["trace_samples"] = trace.samples.count
                progress.message(String(format: "trace %.5g ± %.2g (%d Rademacher samples)", trace.value, trace.standardError, trace.samples.count))
            }
            if wanted.contains("rho") {
                let s = timed("one-step ρ-sharpness") { RhoSharpness.oneStep(of: loss, rho: rho) }
                object["rho_sharpness"] = s.value
                object["rho"] = rho
                progress.message(String(format: "ρ-sharpness (ρ = %g): %.5g", rho, s.value))
            }
            if wanted.contains("worst") {
                let s = timed("projected ascent") { RhoSharpness.worstCase(of: loss, rho: rho, steps: steps) }
                object["worst_case_sharpness"] = s.value
                object["rho"] = rho
                progress.message(String(format: "worst case in the ρ-ball (%d steps): %.5g", steps, s.value))
            }
            if wanted.contains("adaptive") {
                let s = timed("adaptive sharpness") { RhoSharpness.adaptive(of: loss, rho: adaptiveRho) }
                object["adaptive_sharpness"] = s.value
                progress.message(String(format: "adaptive sharpness (ρ = %g): %.5g", adaptiveRho, s.value))
            }
            if wanted.contains("msharp") {
                let chunked = LossFunction.crossEntropy(model, on: samples, batchSize: m, mode: mode)
                let s = timed("m-sharpness") { RhoSharpness.mSharpness(of: chunked, rho: rho) }
                object["m_sharpness"] = s
                object["m"] = m
                progress.message(String(format: "m-sharpness (m = %d, ρ = %g): %.5g", m, rho, s))
            }
            if wanted.contains("density") {
                let density = timed("stochastic Lanczos quadrature") { HessianSpectralDensity(of: loss, iterations: min(maxIterations, 100), runs: 1, using: &generator) }
                object["density_nodes"] = density.nodes
                object["density_weights"] = density.weights
                progress.message("spectral density: \(density.nodes.count) nodes in [\(String(format: "%.4g", density.nodes.min() ?? 0)), \(String(format: "%.4g", density.nodes.max() ?? 0))]")
            }
            if wanted.contains("layers") {
                let groups = ParameterGroups.layers(of: loss.parameters)
                let result = timed("per-layer eigenvalues") {
                    HessianEigenvalues.perGroup(of: loss, groups: groups, tolerance: tolerance, maximumIterations: maxIterations, using: &generator)
                }
                object["layer_eigenvalues"] = Dictionary(uniqueKeysWithValues: result.map { ($0.name, $0.eigenvalue) })
                for (name, value) in result { progress.message(String(format: "  %@: λ_max %.5g", name, value)) }
            }
            if wanted.contains("blocks") {
                let groups = ParameterGroups.subBlocks(of: loss.parameters)
                let result = timed("per-block eigenvalues") {
                    HessianEigenvalues.perGroup(of: loss, groups: groups, tolerance: tolerance, maximumIterations: maxIterations, using: &generator)
                }
                object["block_eigenvalues"] = Dictionary(uniqueKeysWithValues: result.map { ($0.name, $0.eigenvalue) })
                object["block_names"] = result.map(\.name)
                for (name, value) in result { progress.message(String(format: "  %@: λ_max %.5g", name, value)) }
            }
            if wanted.contains("sparsity") {
                let batches = Batches(dataset: samples, batchSize: measurement.batchSize, shuffle: false)
                if let result = ArchitectureDiagnostics.activeFraction(of: model, batches: batches, mode: mode) {
                    object["active_fraction"] = Dictionary(uniqueKeysWithValues: result.map { ($0.name, $0.fraction) })
                    object["active_fraction_names"] = result.map(\.name)
                    progress.message("active hidden units (output > 0):")
                    for (name, value) in result { progress.message(String(format: "  %@: %.4f", name, value)) }
                } else {
                    object["active_fraction"] = NSNull()
                    progress.message("sparsity: this model does not report its hidden units (vit, vit-tiny, mixer, lenet, mlp do)")
                }
            }
            if wanted.contains("weightnorm") {
                let norms = ArchitectureDiagnostics.weightNorms(of: loss.parameters, groups: ParameterGroups.subBlocks(of: loss.parameters))
                object["weight_norms"] = Dictionary(uniqueKeysWithValues: norms.groups.map { ($0.name, $0.norm) })
                object["weight_norm"] = norms.total
                progress.message(String(format: "weight norm ‖θ‖ %.5g", norms.total))
                for (name, value) in norms.groups { progress.message(String(format: "  %@: %.5g", name, value)) }
            }
            if wanted.contains("noise") {
                // Its own generator, so the curve does not depend on which other metrics ran.
                var noiseGenerator = SeededGenerator(seed: measurement.seed &+ 1)
                let curve = timed("weight-noise curve") {
                    ArchitectureDiagnostics.noiseCurve(of: loss, sigmas: (try? sigmas) ?? [], draws: noiseDraws, using: &noiseGenerator)
                }
                object["noise_sigmas"] = curve.map(\.sigma)
                object["noise_loss"] = curve.map(\.meanLoss)
                object["noise_loss_std"] = curve.map(\.standardDeviation)
                object["noise_draws"] = noiseDraws
                progress.message("loss under per-layer Gaussian weight noise σ·‖θ_l‖ (\(noiseDraws) draws):")
                for p in curve { progress.message(String(format: "  σ = %g: %.5f ± %.2g", p.sigma, p.meanLoss, p.standardDeviation)) }
            }
            if wanted.contains("ntk") {
                let n = min(ntkSamples, samples.count)
                let spectrum = timed("empirical NTK") {
                    ArchitectureDiagnostics.ntk(of: model, samples: Batches(dataset: samples, batchSize: 1, shuffle: false).prefix(n), mode: mode)
                }
                object["ntk_samples"] = n
                object["ntk_eigenvalue_max"] = spectrum.eigenvalues.last ?? 0
                object["ntk_eigenvalue_min"] = spectrum.eigenvalues.first ?? 0
                object["ntk_condition_number"] = spectrum.conditionNumber.map { $0 as Any } ?? NSNull()
                progress.message(String(format: "NTK (%d samples, summed logits): λ_max %.5g, λ_min %.5g, condition number %@", n,
                                        spectrum.eigenvalues.last ?? 0, spectrum.eigenvalues.first ?? 0,
                                        spectrum.conditionNumber.map { String(format: "%.5g", $0) } ?? "∞ (singular)"))
            }
            if wanted.contains("timing") {
                // Wall-clock and process CPU time, median of 5 after a warm-up. On a shared
                // machine the CPU-time ratio (with --threads 1) is the steadier figure.
                func median(_ body: () -> Void) -> (wall: Double, cpu: Double) {
                    body()  // warm-up
                    let times = (0..<5).map { _ -> (Double, Double) in
                        let cpuStart = clock()
                        let start = ContinuousClock.now
                        body()
                        let d = ContinuousClock.now - start
                        let cpu = Double(clock() - cpuStart) / Double(CLOCKS_PER_SEC)
                        return (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18, cpu)
                    }
                    let wall = times.map(\.0).sorted()[2], cpu = times.map(\.1).sorted()[2]
                    return (wall, cpu)
                }
                let v = loss.parameters.map { Tensor.randomNormal($0.shape, using: &generator) }
                let gradient = median { _ = loss.valueWithGradient() }
                let hvp = median { _ = loss.hessianVectorProduct(along: v) }
                // What power iteration and Lanczos pay per product after linearizing once.
                let hessian = HessianOperator(loss)
                let linearized = median { _ = hessian.product(along: v) }
                object["gradient_ms"] = gradient.wall * 1000
                object["hvp_ms"] = hvp.wall * 1000
                object["hvp_to_gradient"] = hvp.wall / gradient.wall
                object["hvp_to_gradient_cpu"] = hvp.cpu / gradient.cpu
                object["hvp_linearized_ms"] = linearized.wall * 1000
                object["hvp_linearized_to_gradient"] = linearized.wall / gradient.wall
                object["hvp_linearized_pieces"] = hessian.linearizedPieceCount
                progress.message(String(format: "one gradient %.1f ms, one Hessian-vector product %.1f ms: ratio %.2fx wall-clock, %.2fx CPU time (median of 5, %d samples)",
                                        gradient.wall * 1000, hvp.wall * 1000, hvp.wall / gradient.wall, hvp.cpu / gradient.cpu, samples.count))
                progress.message(String(format: "a product at the linearized point (%d of %d batches kept): %.1f ms, %.2fx the gradient",
                                        hessian.linearizedPieceCount, loss.pieces.count, linearized.wall * 1000, linearized.wall / gradient.wall))
            }
            return object
        }
        return opened(model)
    }
}
