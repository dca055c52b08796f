import ArgumentParser
import Foundation
import Plateau

/// `plateau drift`: CSFA's benchmark at MNIST scale — a class-incremental stream under growing
/// drift (``DriftStream``), one backbone pre-trained per seed, and the methods of
/// ``DriftMethod`` met on the same stream, reported per phase as mean ± std over the seeds.
struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Incremental learning under concept drift (CSFA with RSGS): ncm, calibrated, tent, sar, rsgs on one drifting stream.",
        discussion: """
            Phase 0 pre-trains the backbone on the base classes (0-4) of the MNIST training split, clean. Each \
            later phase t adds one class (5, 6, ...) with --shots labelled images, while every image of the phase \
            is rotated by t·--rotation-step degrees and corrupted by --corruption at severity min(t, 5); the \
            phase's unlabeled stream holds test images of every class seen so far. Methods: ncm (frozen backbone, \
            nearest class mean over unit features), calibrated (+ TEEN's prototype calibration), tent, sar and \
            rsgs (+ online adaptation of the normalization affines; rsgs is CSFA's reliable GSAM). Every batch is \
            predicted before it is used. Reports per phase the accuracy on all seen classes and on the new class, \
            mean ± sample std over --seeds seeds (seed s: stream, initialization and pre-training order).
            Example: plateau drift --data-dir data/mnist --seeds 3 --threads 1
            """
    )

    @Option(parsing: .unconditional, help: "An MNIST directory (train and t10k IDX files, raw or .gz).") var dataDir: String
    @Option(parsing: .unconditional, help: "Backbone: lenet or mlp (784-512-512).") var model: String = "lenet"
    @Option(parsing: .unconditional, help: "Normalization of the backbone: group or layer.") var norm: String = "group"
    @Option(parsing: .unconditional, help: "Comma-separated methods: ncm, calibrated, tent, sar, rsgs.")
    var methods: String = DriftMethod.allCases.map(\.rawValue).joined(separator: ",")
    @Option(parsing: .unconditional, help: "Runs, with seeds --seed, --seed+1, ...") var seeds: Int = 3
    @Option(parsing: .unconditional, help: "The first seed.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Base classes of phase 0.") var baseClasses: Int = 5
    @Option(parsing: .unconditional, help: "Phases after phase 0, one new class each.") var phases: Int = 5
    @Option(parsing: .unconditional, help: "Labelled images of each new class.") var shots: Int = 5
    @Option(parsing: .unconditional, help: "Unlabeled test images per phase, split evenly over the seen classes.")
    var phaseSamples: Int = 1000
    @Option(parsing: .unconditional, help: "Degrees of rotation added per phase.") var rotationStep: Double = 15
    @Option(parsing: .unconditional, help: "Corruption added from phase 1 (an mnist-c name, or none).")
    var corruption: String = Corruption.gaussianNoise.rawValue
    @Option(parsing: .unconditional, help: "Pre-training epochs on the base classes.") var pretrainEpochs: Int = 2
    @Option(parsing: .unconditional, help: "Use only the first N (shuffled) base-class training images to pre-train.")
    var pretrainLimit: Int?
    @Option(parsing: .unconditional, help: "Pre-training learning rate (SGD, momentum 0.9).") var pretrainLr: Float = 0.01
    @Option(parsing: .unconditional, help: "Pre-training batch size.") var pretrainBatchSize: Int = 64
    @Option(parsing: .unconditional, help: "Unlabeled samples per adaptation step.") var batchSize: Int = 64
    @Option(parsing: .unconditional, help: "Learning rate of tent, sar and rsgs (SGD, momentum 0.9).") var lr: Float = 0.005
    @Option(parsing: .unconditional, help: "SAM/GSAM radius ρ of sar and rsgs.") var rho: Float = 0.05
    @Option(parsing: .unconditional, help: "GSAM's α in rsgs (0: SAM on the filtered entropy).") var gsamAlpha: Float = 0.1
    @Option(parsing: .unconditional, help: "Entropy margin E₀ of sar and rsgs (default: 0.4·ln C, C the classes seen so far).")
    var margin: Float?
    @Option(parsing: .unconditional, help: "SAR's reset threshold e_m (0: never reset).") var resetThreshold: Float = 0.2
    @Option(parsing: .unconditional, help: "TEEN's fusion weight α of the calibration.") var calibrationAlpha: Float = 0.1
    @Option(parsing: .unconditional, help: "TEEN's softmax temperature τ of the calibration.") var calibrationTemperature: Float = 16
    @Option(parsing: .unconditional, help: "Scale s of the cosine logits.") var logitScale: Float = 16
    @Option(parsing: .unconditional, help: "Compute threads.") var threads: Int = 2
    @Flag(help: "Print one JSON object.") var json = false

    var parsedMethods: [DriftMethod] { methods.split(separator: ",").compactMap { DriftMethod(rawValue: String($0)) } }

    func validate() throws {
        let names = methods.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if let bad = names.first(where: { DriftMethod(rawValue: $0) == nil }) {
            throw ValidationError("--methods: expected a comma-separated list of \(DriftMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(bad)'")
        }
        guard Set(names).count == names.count else { throw ValidationError("--methods: each method at most once, got '\(methods)'") }
        guard ["lenet", "mlp"].contains(model) else { throw ValidationError("--model: expected lenet or mlp, got '\(model)'") }
        guard ["group", "layer"].contains(norm) else {
            throw ValidationError(
                "--norm: expected group or layer, got '\(norm)' (adaptation needs normalization layers; BatchNorm is left out because "
                    + "5-shot prototypes and online batches would normalize with different statistics)")
        }
        guard corruption == "none" || Corruption(rawValue: corruption) != nil else {
            throw ValidationError("--corruption: expected none or one of \(Corruption.allCases.map(\.rawValue).joined(separator: ", ")), got '\(corruption)'")
        }
        try OptionCheck.count(seeds, "seeds", in: 1...100)
        try OptionCheck.count(baseClasses, "base-classes", in: 2...9)
        try OptionCheck.count(phases, "phases", in: 0...(10 - baseClasses))
        try OptionCheck.count(shots, "shots", in: 1...1000)
        try OptionCheck.count(phaseSamples, "phase-samples", in: (baseClasses + phases)...10000)
        guard rotationStep.isFinite, abs(rotationStep) <= 360 else {
            throw ValidationError("--rotation-step: expected degrees in -360...360, got \(rotationStep)")
        }
        try OptionCheck.count(pretrainEpochs, "pretrain-epochs", in: 0...1000)
        try OptionCheck.count(pretrainLimit, "pretrain-limit", in: 1...Int.max)
        try OptionCheck.number(pretrainLr, "pretrain-lr", atLeast: 0, strictly: true)
        try OptionCheck.count(pretrainBatchSize, "pretrain-batch-size", in: 1...65536)
        try OptionCheck.count(batchSize, "batch-size", in: 1...65536)
        try OptionCheck.number(lr, "lr", atLeast: 0, strictly: true)
        try OptionCheck.number(rho, "rho", atLeast: 0)
        try OptionCheck.number(gsamAlpha, "gsam-alpha", atLeast: 0)
        if let margin { try OptionCheck.number(margin, "margin", atLeast: 0, strictly: true) }
        try OptionCheck.number(resetThreshold, "reset-threshold", atLeast: 0)
        try OptionCheck.number(calibrationAlpha, "calibration-alpha", atLeast: 0)
        guard calibrationAlpha <= 1 else { throw ValidationError("--calibration-alpha: expected a number in 0...1, got \(calibrationAlpha)") }
        try OptionCheck.number(calibrationTemperature, "calibration-temperature", atLeast: 0)
        try OptionCheck.number(logitScale, "logit-scale", atLeast: 0, strictly: true)
        try OptionCheck.threads(threads)
    }

    var settings: DriftSettings {
        var s = DriftSettings()
        s.batchSize = batchSize
        s.learningRate = lr
        s.rho = rho
        s.gsamAlpha = gsamAlpha
        s.margin = margin
        s.resetThreshold = resetThreshold
        s.calibrationAlpha = calibrationAlpha
        s.calibrationTemperature = calibrationTemperature
        s.logitScale = logitScale
        return s
    }

    func streamOptions(seed: UInt64) -> DriftStream.Options {
        var o = DriftStream.Options()
        o.baseClasses = baseClasses
        o.phases = phases
        o.shots = shots
        o.samplesPerPhase = phaseSamples
        o.rotationStep = rotationStep
        o.corruption = Corruption(rawValue: corruption)
        o.pretrainLimit = pretrainLimit
        o.seed = seed
        return o
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let (train, test): (Dataset, Dataset)
        do { (train, test) = try MNIST.loadDirectory(URL(fileURLWithPath: dataDir)) } catch {
            throw RuntimeError("--data-dir \(dataDir): \(PlateauCommand.describe(error))")
        }
        guard train.sampleShape == [1, 28, 28] else {
            throw RuntimeError("--data-dir \(dataDir): expected 1×28×28 MNIST images, found samples of shape \(train.sampleShape)")
        }
        let methods = parsedMethods
        // results[method][seed] = the method's phases for that seed.
        var results = [[[DriftPhaseScore]]](repeating: [], count: methods.count)
        var layout: [DriftStream.Phase] = []
        try Parallelism.withThreads(threads) {
            for k in 0..<seeds {
                let runSeed = seed &+ UInt64(k)
                let stream: DriftStream
                do { stream = try DriftStream.make(train: train, test: test, options: streamOptions(seed: runSeed)) } catch let error as AdaptationError {
                    throw ValidationError(error.message)
                }
                if layout.isEmpty { layout = stream.phases }
                let perMethod: [[DriftPhaseScore]]
                switch model {
                case "mlp":
                    perMethod = try runSeedMethods(stream, methods, seedIndex: k) { generator in
                        MLP(sizes: [784, 512, 512, baseClasses], norm: NormalizationKind(rawValue: norm)!, using: &generator)
                    }
                default:
                    perMethod = try runSeedMethods(stream, methods, seedIndex: k) { generator in
                        LeNet5(classCount: baseClasses, norm: NormalizationKind(rawValue: norm)!, using: &generator)
                    }
                }
                for (i, scores) in perMethod.enumerated() { results[i].append(scores) }
            }
        }
        report(methods: methods, results: results, layout: layout)
    }

    /// Pre-trains one backbone for the stream's seed, then runs every method from it.
    private func runSeedMethods<B: FeatureExtracting>(
        _ stream: DriftStream, _ methods: [DriftMethod], seedIndex k: Int, make: (inout SeededGenerator) -> B
    ) throws -> [[DriftPhaseScore]] {
        var generator = SeededGenerator(seed: stream.options.seed)
        let label = "drift seed \(k + 1)/\(seeds)"
        var lastEpoch = 0
        let steps = stream.pretraining.count / pretrainBatchSize + (stream.pretraining.count % pretrainBatchSize == 0 ? 0 : 1)  // no overflow for any batch size
        let backbone = pretrainDriftBackbone(
            make(&generator), on: stream.pretraining, epochs: pretrainEpochs, batchSize: pretrainBatchSize,
            learningRate: pretrainLr, seed: stream.options.seed
        ) { done, _ in
            let epoch = (done + steps - 1) / steps
            if done % steps == 0, epoch != lastEpoch {
                lastEpoch = epoch
                printWarning("\(label): pre-trained epoch \(epoch)/\(pretrainEpochs) on \(stream.pretraining.count) images of classes 0-\(baseClasses - 1)")
            }
        }
        return try methods.map { method in
            var lastDecile = -1
            return try runDrift(stream: stream, backbone: backbone, method: method, settings: settings) { done, total in
                let decile = done * 10 / total
                guard decile != lastDecile else { return }
                lastDecile = decile
                printWarning("\(label) \(method.rawValue): batch \(done)/\(total) (\(done * 100 / total)%)")
            }
        }
    }

    /// Mean and sample standard deviation (n − 1; 0 for one value).
    static func meanAndStd(_ values: [Double]) -> (mean: Double, std: Double) {
        guard !values.isEmpty else { return (.nan, .nan) }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return (mean, variance.squareRoot())
    }

    private func report(methods: [DriftMethod], results: [[[DriftPhaseScore]]], layout: [DriftStream.Phase]) {
        func statistics(_ m: Int, _ p: Int, _ value: (DriftPhaseScore) -> Double?) -> (mean: Double, std: Double)? {
            let values = results[m].compactMap { value($0[p]) }
            return values.isEmpty ? nil : Self.meanAndStd(values)
        }
        let metrics: [(key: String, title: String, value: (DriftPhaseScore) -> Double?)] = [
            ("accuracy", "accuracy on all seen classes", { $0.accuracy }),
            ("new_class_accuracy", "accuracy on the phase's new class", { $0.newClassAccuracy }),
            ("base_accuracy", "accuracy on the base classes", { $0.baseAccuracy }),
        ]
        if json {
            func number(_ x: Double) -> Double { JSONNumbers.fraction(Float(x)) }
            var object: [String: Any] = [
                "seeds": (0..<seeds).map { seed &+ UInt64($0) }, "model": model, "norm": norm, "base_classes": baseClasses,
                "shots": shots, "phase_samples": phaseSamples, "rotation_step": rotationStep, "corruption": corruption,
                "pretrain_epochs": pretrainEpochs, "batch_size": batchSize, "lr": Double("\(lr)") ?? Double(lr),
                "rho": Double("\(rho)") ?? Double(rho), "gsam_alpha": Double("\(gsamAlpha)") ?? Double(gsamAlpha),
                "reset_threshold": Double("\(resetThreshold)") ?? Double(resetThreshold),
                "calibration_alpha": Double("\(calibrationAlpha)") ?? Double(calibrationAlpha),
                "calibration_temperature": Double("\(calibrationTemperature)") ?? Double(calibrationTemperature),
                "logit_scale": Double("\(logitScale)") ?? Double(logitScale),
            ]
            if let margin { object["margin"] = Double("\(margin)") ?? Double(margin) }
            object["phases"] = layout.map { phase -> [String: Any] in
                var entry: [String: Any] = [
                    "phase": phase.index, "seen_classes": phase.seenClassCount, "new_classes": phase.newClasses,
                    "rotation_degrees": phase.rotationDegrees, "samples": phase.stream.count, "shots": phase.shots.count,
                ]
                if let c = phase.corruption { entry["corruption"] = c.kind.rawValue; entry["severity"] = c.severity }
                return entry
            }
            var byMethod: [String: Any] = [:]
            for (m, method) in methods.enumerated() {
                byMethod[method.rawValue] = layout.indices.map { p -> [String: Any] in
                    var entry: [String: Any] = ["phase": p]
                    for metric in metrics {
                        guard let s = statistics(m, p, metric.value) else { continue }
                        entry[metric.key] = ["mean": number(s.mean), "std": number(s.std),
                                             "runs": results[m].compactMap { metric.value($0[p]) }.map(number)]
                    }
                    entry["kept"] = results[m].map { $0[p].kept }
                    entry["resets"] = results[m].map { $0[p].resets }
                    return entry
                }
            }
            object["methods"] = byMethod
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        print("\(model) (norm \(norm)), \(seeds) seed\(seeds == 1 ? "" : "s") from \(seed), \(shots) shots, \(phaseSamples) stream images per phase, "
            + "rotation +\(rotationStep)°/phase, \(corruption == "none" ? "no corruption" : "\(corruption) at severity min(t, 5)"); batch \(batchSize), lr \(lr); mean ± std over seeds, %")
        for metric in metrics.prefix(2) {
            print("\n\(metric.title)")
            print("| phase | drift | " + methods.map(\.rawValue).joined(separator: " | ") + " |")
            print("|---|---|" + methods.map { _ in "---|" }.joined())
            for phase in layout {
                let drift = phase.index == 0 ? "clean" : "\(Int(phase.rotationDegrees))°" + (phase.corruption.map { ", \($0.kind.rawValue) \($0.severity)" } ?? "")
                let cells = methods.indices.map { m in
                    statistics(m, phase.index, metric.value).map { String(format: "%.1f ± %.1f", $0.mean * 100, $0.std * 100) } ?? "–"
                }
                print("| \(phase.index) (\(phase.seenClassCount) classes) | \(drift) | " + cells.joined(separator: " | ") + " |")
            }
        }
        if let sar = methods.firstIndex(of: .sar) {
            let resets = results[sar].map { $0.reduce(0) { $0 + $1.resets } }
            print("\nsar resets per run: \(resets.map(String.init).joined(separator: ", "))")
        }
    }
}
