import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The methods `plateau drift` compares on one ``DriftStream``, each adding one part to the
/// one before it (CSFA's ablation, Yu, Lu & Zhang 2025):
///
/// - `ncm`: frozen backbone, nearest class mean — a new class's prototype is the mean of
///   its shots' unit features; cosine classifier over the seen classes.
/// - `calibrated`: `ncm` with TEEN's training-free calibration of each new prototype
///   (``PrototypeCalibration``).
/// - `tent`, `sar`, `rsgs`: `calibrated`, and the backbone's normalization affines adapted
///   online on the unlabeled stream by ``Tent``, ``SAR`` or ``RSGS`` (CSFA is `rsgs`).
public enum DriftMethod: String, CaseIterable, Sendable {
    case ncm, calibrated, tent, sar, rsgs

    /// Whether new prototypes are calibrated.
    public var calibrates: Bool { self != .ncm }
}

/// The constants of a drift run (defaults: TEEN's for the calibration, SAR's for the
/// filter, radius and recovery; the learning rate was chosen for LeNet-5 on this stream).
public struct DriftSettings: Sendable, Equatable {
    /// Unlabeled samples per adaptation step.
    public var batchSize = 64
    /// η of the SGD step (momentum 0.9) of Tent, SAR and RSGS.
    public var learningRate: Float = 0.005
    public var momentum: Float = 0.9
    /// ρ of SAR and RSGS.
    public var rho: Float = 0.05
    /// GSAM's α in RSGS.
    public var gsamAlpha: Float = 0.1
    /// E₀ (`nil`: 0.4·ln C with C the classes seen in the phase).
    public var margin: Float?
    /// SAR's e_m (0: never reset).
    public var resetThreshold: Float = 0.2
    /// TEEN's α and τ.
    public var calibrationAlpha: Float = 0.1
    public var calibrationTemperature: Float = 16
    /// s of the cosine logits.
    public var logitScale: Float = 16

    public init() {}
}

/// What one method scored in one phase, every sample predicted before any update it enters.
public struct DriftPhaseScore: Sendable, Equatable, Codable {
    public var phase: Int
    public var seenClasses: Int
    public var newClasses: [Int]
    public var rotationDegrees: Double
    /// The corruption's severity (0 for none).
    public var severity: Int
    /// Stream samples, and those predicted correctly, over all seen classes.
    public var samples = 0, correct = 0
    /// The same for the phase's new classes, and for the base classes.
    public var newSamples = 0, newCorrect = 0
    public var baseSamples = 0, baseCorrect = 0
    /// Samples that entered an update (after the entropy filter for SAR and RSGS).
    public var kept = 0
    /// SAR's returns to the source weights.
    public var resets = 0

    /// Online accuracy over all seen classes.
    public var accuracy: Double { samples == 0 ? 0 : Double(correct) / Double(samples) }
    /// Online accuracy on the phase's new classes (`nil` in phase 0).
    public var newClassAccuracy: Double? { newSamples == 0 ? nil : Double(newCorrect) / Double(newSamples) }
    /// Online accuracy on the base classes.
    public var baseAccuracy: Double { baseSamples == 0 ? 0 : Double(baseCorrect) / Double(baseSamples) }
}

/// Phase 0's pre-training: cross-entropy on the base classes with the model's own head,
/// SGD with momentum 0.9, batches in a seeded order per epoch.
public func pretrainDriftBackbone<Model: Layer>(
    _ model: Model, on data: Dataset, epochs: Int, batchSize: Int, learningRate: Float, seed: UInt64,
    progress: (Int, Int) -> Void = { _, _ in }
) -> Model {
    var model = model.training(true)
    var optimizer = SGD(learningRate: learningRate, momentum: 0.9)
    let steps = data.count / batchSize + (data.count % batchSize == 0 ? 0 : 1)  // no overflow for any batch size
    for epoch in 0..<epochs {
        let order = Batches.permutation(count: data.count, seed: seed, epoch: epoch)
        for step in 0..<steps {
            let indices = Array(order[(step * batchSize)..<min((step + 1) * batchSize, data.count)])
            let images = data.images.gathering(indices, alongAxis: 0), labels = indices.map { data.labels[$0] }
            let result = valueWithGradient(at: model) { (m: inout Model) in crossEntropy(logits: m(images), labels: labels) }
            var parameters = result.model.parameters
            optimizer.update(&parameters, along: result.gradient)
            model = result.model
            model.update(parameters)
            progress(epoch * steps + step + 1, epochs * steps)
        }
    }
    return model.training(false)
}

/// Runs `method` over every phase of `stream` from the pre-trained `backbone`.
///
/// Phase t: the new classes' prototypes come from their shots' features under the backbone
/// as adapted so far (calibrated toward the base prototypes unless `ncm`); the base
/// prototypes are the class means of phase 0's training features under the pre-trained
/// backbone, and no prototype moves once made. Then the phase's stream is met in batches:
/// each batch predicted over the seen classes, then (Tent, SAR, RSGS) used for one update.
/// The adapted backbone carries over to the next phase; the optimizer's momentum restarts
/// with each phase, whose classifier has one more class. SAR's recovery returns to the
/// pre-trained backbone with the current prototypes.
public func runDrift<Backbone: FeatureExtracting>(
    stream: DriftStream, backbone source: Backbone, method: DriftMethod, settings: DriftSettings,
    progress: (Int, Int) -> Void = { _, _ in }
) throws -> [DriftPhaseScore] {
    let base = driftFeatures(source, stream.pretraining)
    var prototypes = (0..<stream.options.baseClasses).map { c in
        PrototypeCalibration.prototype(of: zip(base, stream.pretraining.labels).filter { $0.1 == c }.map(\.0))
    }
    let basePrototypes = prototypes
    let batchesPerPhase = stream.phases.map { driftBatches(count: $0.stream.count, size: settings.batchSize) }
    let total = batchesPerPhase.reduce(0) { $0 + $1.count }
    var done = 0
    var backbone = source
    var scores: [DriftPhaseScore] = []
    for (phase, batches) in zip(stream.phases, batchesPerPhase) {
        let shotFeatures = driftFeatures(backbone, phase.shots)
        for c in phase.newClasses {
            let prototype = PrototypeCalibration.prototype(of: zip(shotFeatures, phase.shots.labels).filter { $0.1 == c }.map(\.0))
            prototypes.append(method.calibrates
                ? PrototypeCalibration.calibrated(novel: prototype, base: basePrototypes,
                                                  temperature: settings.calibrationTemperature, alpha: settings.calibrationAlpha)
                : prototype)
        }
        precondition(prototypes.count == phase.seenClassCount, "runDrift: \(prototypes.count) prototypes for \(phase.seenClassCount) classes")
        let classifier = { (b: Backbone) in PrototypeClassifier(backbone: b, prototypes: prototypes, scale: settings.logitScale) }
        let margin = settings.margin ?? EntropyFilter.defaultMargin(classCount: phase.seenClassCount)
        var score = DriftPhaseScore(
            phase: phase.index, seenClasses: phase.seenClassCount, newClasses: phase.newClasses,
            rotationDegrees: phase.rotationDegrees, severity: phase.corruption?.severity ?? 0)
        func record(_ step: AdaptationStep, _ indices: [Int]) {
            let predictions = OnlineAccuracy.predictions(step.logits)
            for (prediction, i) in zip(predictions, indices) {
                let label = phase.stream.labels[i], hit = prediction == label ? 1 : 0
                score.samples += 1
                score.correct += hit
                if phase.newClasses.contains(label) { score.newSamples += 1; score.newCorrect += hit }
                if label < stream.options.baseClasses { score.baseSamples += 1; score.baseCorrect += hit }
            }
            score.kept += step.kept
            if step.reset { score.resets += 1 }
            done += 1
            progress(done, total)
        }
        func images(_ indices: [Int]) -> Tensor { phase.stream.images.gathering(indices, alongAxis: 0) }
        switch method {
        case .ncm, .calibrated:
            var adapter = NoAdaptation(model: classifier(backbone))
            for batch in batches { record(adapter.adapt(images(batch)), batch) }
        case .tent:
            var adapter = try Tent(model: classifier(backbone), learningRate: settings.learningRate, momentum: settings.momentum)
            for batch in batches { record(adapter.adapt(images(batch)), batch) }
            backbone = adapter.model.backbone
        case .sar:
            func make(_ b: Backbone) throws -> SAR<PrototypeClassifier<Backbone>> {
                try SAR(model: classifier(b), learningRate: settings.learningRate, margin: margin, rho: settings.rho,
                        momentum: settings.momentum, resetThreshold: settings.resetThreshold)
            }
            var adapter = try make(backbone)
            for batch in batches {
                let step = adapter.adapt(images(batch))
                record(step, batch)
                // SAR resets to the model it was made with (this phase's start); recovery
                // means the source model, so it is remade from the pre-trained backbone.
                if step.reset { adapter = try make(source) }
            }
            backbone = adapter.model.backbone
        case .rsgs:
            var adapter = try RSGS(model: classifier(backbone), learningRate: settings.learningRate, margin: margin,
                                   rho: settings.rho, alpha: settings.gsamAlpha, momentum: settings.momentum)
            for batch in batches { record(adapter.adapt(images(batch)), batch) }
            backbone = adapter.model.backbone
        }
        scores.append(score)
    }
    return scores
}

/// The backbone's features of every sample, in chunks, without gradients.
func driftFeatures<Backbone: FeatureExtracting>(_ backbone: Backbone, _ data: Dataset, chunk: Int = 512) -> [[Float]] {
    var model = backbone.training(false)
    return withoutGradients {
        stride(from: 0, to: data.count, by: chunk).flatMap { start in
            let indices = Array(start..<min(start + chunk, data.count))
            return PrototypeCalibration.rows(model.features(data.images.gathering(indices, alongAxis: 0)))
        }
    }
}

/// Consecutive batches of `size` positions; a lone last sample joins the batch before it.
func driftBatches(count: Int, size: Int) -> [[Int]] {
    var result = stride(from: 0, to: count, by: size).map { Array($0..<min($0 + size, count)) }
    if size > 1, result.count > 1, result.last!.count == 1 { result[result.count - 2] += result.removeLast() }
    return result
}
