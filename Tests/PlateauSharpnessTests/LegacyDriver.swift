import PlateauNN
import PlateauTensor
@testable import PlateauOptim

// A frozen, self-contained copy of the sharpness-aware driver and rules as they were before
// the issue-9 redesign (one `step` with index lists and model snapshots, rules with a
// mutating per-group `perturbation`). `LegacyEquivalenceTests` runs it beside the current
// `SharpnessAwareMinimizer` and expects bit-identical weights, buffers, reports and state.
// It is written out here, not shared with the library, so that a change to the library's
// arithmetic cannot silently move the reference with it. Do not "clean it up": its value
// is that it keeps the old operation order.

/// The rules of the old driver, with their old update arithmetic and state.
struct LegacyRule {
    enum Kind {
        case none
        case sam(rho: Float)
        case asam(rho: Float, eta: Float)
        case gsam(rhoMax: Float, rhoMin: Float, maximumLearningRate: Float, minimumLearningRate: Float, alpha: Float)
        case looksam(rho: Float, interval: Int, alpha: Float)
        case esam(rho: Float, beta: Float, gamma: Float)
        case wsam(rho: Float, gamma: Float, decoupled: Bool)
        /// `oncePerStep: false` is the old behaviour (the moving average advances at every
        /// m-sharpness group); `true` is the redesign's (once per step, from the batch gradient).
        case fsam(rho: Float, sigma: Float, lambda: Float, oncePerStep: Bool)
    }

    var kind: Kind
    var generator = SeededGenerator(seed: 0)
    var average: ParameterSet?
    var orthogonal: ParameterSet?
    var orthogonalNorm: Float?

    init(_ kind: Kind, seed: UInt64 = 0) {
        self.kind = kind
        generator = SeededGenerator(seed: seed)
    }

    private static func normalized(_ g: ParameterSet, _ radius: Float) -> ParameterSet {
        g.scaled(by: radius / (g.norm() + 1e-12))
    }

    private func radius(learningRate: Float) -> Float {
        switch kind {
        case .none: return 0
        case .sam(let rho), .asam(let rho, _), .looksam(let rho, _, _), .esam(let rho, _, _), .wsam(let rho, _, _), .fsam(let rho, _, _, _):
            return rho
        case let .gsam(maximum, minimum, maximumLR, minimumLR, _):
            guard maximumLR > minimumLR else { return maximum }
            let t = (learningRate - minimumLR) / (maximumLR - minimumLR)
            return minimum + (maximum - minimum) * Swift.min(Swift.max(t, 0), 1)
        }
    }

    /// Called by the legacy driver once per step before the groups (only the redesigned
    /// FriendlySAM uses it).
    mutating func beginStep(gradient: ParameterSet) {
        if case let .fsam(_, _, lambda, true) = kind {
            average = average.map { $0.scaled(by: lambda) + gradient.scaled(by: 1 - lambda) } ?? gradient.scaled(by: 1 - lambda)
        }
    }

    mutating func perturbation(parameters: ParameterSet, gradient: ParameterSet, step: Int, learningRate: Float) -> ParameterSet? {
        let rho = radius(learningRate: learningRate)
        switch kind {
        case .none:
            return nil
        case .sam, .gsam, .wsam:
            return Self.normalized(gradient, rho)
        case .asam(_, let eta):
            let scale = parameters.mapWithKeys { key, w in
                key.contains("weight") ? Tensor(shape: w.shape, scalars: w.scalars.map { abs($0) + eta }) : Tensor.ones(w.shape)
            }
            let scaledGradient = scale * gradient
            let factor = rho / (scaledGradient.norm() + 1e-12)
            return (scale * scaledGradient).scaled(by: factor)
        case .looksam(_, let interval, _):
            guard step % interval == 0 || orthogonal == nil else { return nil }
            return Self.normalized(gradient, rho)
        case .esam(_, let beta, _):
            let epsilon = Self.normalized(gradient, rho / beta)
            guard beta < 1 else { return epsilon }
            var masked = epsilon
            for key in epsilon.keys where Float.random(in: 0..<1, using: &generator) >= beta {
                masked[key] = Tensor.zeros(epsilon[key]!.shape)
            }
            return masked
        case let .fsam(_, sigma, lambda, oncePerStep):
            if !oncePerStep {
                average = average.map { $0.scaled(by: lambda) + gradient.scaled(by: 1 - lambda) } ?? gradient.scaled(by: 1 - lambda)
            }
            let direction = gradient - average!.scaled(by: sigma)
            return Self.normalized(direction, rho)
        }
    }

    mutating func descentDirection(gradient: ParameterSet, perturbedGradient: ParameterSet?) -> ParameterSet {
        switch kind {
        case .gsam(_, _, _, _, let alpha):
            guard let perturbed = perturbedGradient else { return gradient }
            let unit = perturbed.scaled(by: 1 / (perturbed.norm() + 1e-12))
            let orthogonal = gradient - unit.scaled(by: gradient.dot(unit))
            return perturbed - orthogonal.scaled(by: alpha)
        case .looksam(_, _, let alpha):
            if let perturbed = perturbedGradient {
                let norm = gradient.norm() + 1e-12
                let orthogonal = perturbed.adding(gradient, scaledBy: -perturbed.dot(gradient) / (norm * norm))
                self.orthogonal = orthogonal
                orthogonalNorm = orthogonal.norm()
                return perturbed
            }
            guard let cached = orthogonal else { return gradient }
            let cachedNorm = orthogonalNorm ?? cached.norm()
            orthogonalNorm = cachedNorm
            return gradient.adding(cached, scaledBy: alpha * gradient.norm() / (cachedNorm + 1e-12))
        case let .wsam(_, gamma, decoupled):
            guard let perturbed = perturbedGradient, !decoupled else { return gradient }
            let alpha = gamma / (1 - gamma)
            return gradient.scaled(by: 1 - alpha) + perturbed.scaled(by: alpha)
        default:
            return perturbedGradient ?? gradient
        }
    }

    var secondPassFraction: Float? {
        if case let .esam(_, _, gamma) = kind { return gamma < 1 ? gamma : nil }
        return nil
    }

    func decoupledCorrection(gradient: ParameterSet, perturbedGradient: ParameterSet) -> ParameterSet? {
        guard case let .wsam(_, gamma, decoupled) = kind, decoupled else { return nil }
        return (perturbedGradient - gradient).scaled(by: gamma / (1 - gamma))
    }
}

/// The old `SharpnessAwareMinimizer.step`, statement for statement.
struct LegacyMinimizer<Base: Optimizer> {
    var rule: LegacyRule
    var base: Base
    var microBatchSize: Int?
    var sharpnessChunkSize: Int?
    var perturbs: ((String) -> Bool)?
    var maxGradientNorm: Float?
    var step = 0

    mutating func step<Model: Module>(
        _ model: inout Model, batchSize: Int, loss: (inout Model, LossRequest) -> Tensor
    ) -> StepReport {
        let (stepIndex, learningRate) = (step, base.learningRate)
        let parameters = model.parameters
        let groupSize = Swift.min(sharpnessChunkSize ?? batchSize, batchSize)
        let groups = stride(from: 0, to: batchSize, by: groupSize).map { Array($0..<Swift.min($0 + groupSize, batchSize)) }
        let microSize = microBatchSize ?? batchSize
        func microBatches(_ positions: [Int]) -> [[Int]] {
            stride(from: 0, to: positions.count, by: microSize).map { Array(positions[$0..<Swift.min($0 + microSize, positions.count)]) }
        }
        func request(_ point: LossRequest.Point, _ positions: [Int]) -> LossRequest {
            LossRequest(point: point, samples: positions.count == batchSize ? nil : positions)
        }

        var groupGradients: [ParameterSet] = []
        var snapshots: [[Model]] = []
        var micro: [[[Int]]] = []
        var sampleLosses: [Float] = []
        for group in groups {
            var parts: [ParameterSet] = [], before: [Model] = []
            let chunks = microBatches(group)
            for samples in chunks {
                before.append(model)
                var perSample: Tensor = Tensor(0)
                let result = valueWithGradient(at: model) { (m: inout Model) -> Tensor in
                    perSample = loss(&m, request(.parameters, samples))
                    return perSample.mean()
                }
                model = result.model
                parts.append(result.gradient)
                sampleLosses += perSample.scalars
            }
            groupGradients.append(weightedSum(parts, chunks.map { Float($0.count) / Float(group.count) }))
            snapshots.append(before)
            micro.append(chunks)
        }
        let groupWeights = groups.map { Float($0.count) / Float(batchSize) }
        let gradient = weightedSum(groupGradients, groupWeights)
        var passes: Float = 1

        rule.beginStep(gradient: restricted(gradient))
        var perturbedGradient: ParameterSet? = nil
        var perturbationNorm: Float = 0
        if let firstEpsilon = rule.perturbation(parameters: parameters, gradient: restricted(groupGradients[0]), step: stepIndex, learningRate: learningRate) {
            var parts: [ParameterSet] = []
            for (g, group) in groups.enumerated() {
                let epsilon = g == 0 ? firstEpsilon
                    : (rule.perturbation(parameters: parameters, gradient: restricted(groupGradients[g]), step: stepIndex, learningRate: learningRate) ?? firstEpsilon.zeros())
                perturbationNorm = Swift.max(perturbationNorm, epsilon.norm())
                let perturbedParameters = parameters + epsilon
                func perturbed(_ snapshot: Model) -> Model {
                    var copy = snapshot
                    copy.update(perturbedParameters)
                    return copy
                }
                var chunks = micro[g], models = snapshots[g].map(perturbed)
                if let fraction = rule.secondPassFraction {
                    let keep = Swift.max(1, Int((Float(group.count) * fraction).rounded()))
                    if keep < group.count {
                        let positions = chunks.flatMap { $0 }
                        var after: [Float] = []
                        for (samples, start) in zip(chunks, models) {
                            var scratch = start
                            after += withoutGradients { loss(&scratch, request(.perturbed, samples)) }.scalars
                        }
                        let ranked = positions.indices.sorted { i, j in
                            let si = after[i] - sampleLosses[positions[i]], sj = after[j] - sampleLosses[positions[j]]
                            return si != sj ? si > sj : i < j
                        }
                        let selected = ranked.prefix(keep).map { positions[$0] }.sorted()
                        passes += Float(group.count) / Float(batchSize) / 3
                        chunks = microBatches(selected)
                        models = Array(repeating: models[0], count: chunks.count)
                    }
                }
                let selectedCount = chunks.reduce(0) { $0 + $1.count }
                var chunkGradients: [ParameterSet] = []
                for (samples, start) in zip(chunks, models) {
                    let result = valueWithGradient(at: start) { (m: inout Model) -> Tensor in
                        loss(&m, request(.perturbed, samples)).mean()
                    }
                    chunkGradients.append(result.gradient)
                    passes += Float(samples.count) / Float(batchSize)
                }
                parts.append(weightedSum(chunkGradients, chunks.map { Float($0.count) / Float(selectedCount) }))
            }
            perturbedGradient = weightedSum(parts, groupWeights)
        }

        var direction = rule.descentDirection(gradient: gradient, perturbedGradient: perturbedGradient)
        if let maxGradientNorm { clipGradientNorm(&direction, maxNorm: maxGradientNorm) }
        var updated = parameters
        base.update(&updated, along: direction)
        if let perturbedGradient, let correction = rule.decoupledCorrection(gradient: gradient, perturbedGradient: perturbedGradient) {
            updated = updated - correction.scaled(by: learningRate)
        }
        model.update(updated)
        step += 1
        let meanLoss = sampleLosses.reduce(0, +) / Float(batchSize)
        return StepReport(loss: meanLoss, sampleLosses: sampleLosses, passes: passes, perturbationNorm: perturbationNorm, gradient: gradient)
    }

    private func restricted(_ gradient: ParameterSet) -> ParameterSet {
        guard let perturbs else { return gradient }
        return gradient.mapWithKeys { key, g in perturbs(key) ? g : Tensor.zeros(g.shape) }
    }

    private func weightedSum(_ sets: [ParameterSet], _ weights: [Float]) -> ParameterSet {
        if sets.count == 1 { return sets[0] }
        var total = sets[0].scaled(by: weights[0])
        for (set, w) in zip(sets.dropFirst(), weights.dropFirst()) { total = total + set.scaled(by: w) }
        return total
    }
}
