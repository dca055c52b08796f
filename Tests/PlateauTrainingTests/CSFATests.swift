import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

/// Logits = x + β, β the bias of a layer named `norm` (so ``NormAffineView`` adapts it):
/// with x = 0 the logits are β itself, and the entropy's gradient is known in closed form.
private struct ShiftedLogits: Layer {
    struct Shift: Layer {
        var bias: Tensor
        mutating func visit(_ visitor: ModuleVisitor) { visitor.parameter("bias", &bias) }
        mutating func callAsFunction(_ input: Tensor) -> Tensor { input + bias }
    }

    var norm: Shift

    init(_ bias: [Float]) { norm = Shift(bias: Tensor(shape: [bias.count], scalars: bias)) }

    mutating func visit(_ visitor: ModuleVisitor) { visitor.child("norm", &norm) }
    mutating func callAsFunction(_ input: Tensor) -> Tensor { norm(input) }
}

/// ∂H/∂z_k = −p_k (ln p_k + H) for H(z) = −Σ p ln p, p = softmax(z), in Doubles.
private func entropyGradient(_ z: [Double]) -> [Double] {
    let top = z.max()!, total = z.reduce(0.0) { $0 + exp($1 - top) }
    let p = z.map { exp($0 - top) / total }
    let h = -p.reduce(0.0) { $0 + $1 * log($1) }
    return p.map { -$0 * (log($0) + h) }
}

private func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

/// Datasets of 8×8 constant images whose value (k/1024) identifies the image: rotation keeps
/// the centre pixel, so a drifted image still names its source.
private func identified(perClass: Int, offset: Int, name: String) -> Dataset {
    let count = perClass * 10
    let labels = (0..<count).map { ($0 * 7) % 10 }  // classes interleaved, not sorted
    let scalars = (0..<count).flatMap { i in [Float](repeating: Float(offset + i + 1) / 1024, count: 64) }
    return Dataset(name: name, images: Tensor(shape: [count, 1, 8, 8], scalars: scalars), labels: labels, classCount: 10)
}

private func sourceID(_ dataset: Dataset, _ i: Int) -> Int {
    Int((dataset.images.scalars[i * 64 + 3 * 8 + 3] * 1024).rounded())
}

/// CSFA with RSGS (issue 12): the drifting stream, TEEN's calibration and RSGS's step.
@Suite("CSFA and RSGS")
struct CSFATests {
    // MARK: Prototype calibration

    /// ĉ = (0.6, 0.8) from c = (3, 4); base prototypes e₁, e₂.
    /// τ = 1: w = softmax(0.6, 0.8) = (1, e^0.2)/(1 + e^0.2); Δ = w/‖w‖; c' = (1−α)ĉ + αΔ.
    /// τ = 1000: w is one-hot on e₂ (the closer), Δ = e₂, so with α = 0.25
    /// c' = 0.75·(0.6, 0.8) + 0.25·(0, 1) = (0.45, 0.85).
    @Test func calibrationFusesWithTheSoftmaxMixOfBasePrototypes() {
        let base: [[Float]] = [[1, 0], [0, 2]]  // not unit: normalized inside
        let e = exp(0.2), w = [1 / (1 + e), e / (1 + e)], norm = (w[0] * w[0] + w[1] * w[1]).squareRoot()
        let weights = PrototypeCalibration.weights(novel: [3, 4], base: base, temperature: 1)
        #expect(abs(Double(weights[0]) - w[0]) < 1e-6 && abs(Double(weights[1]) - w[1]) < 1e-6)
        let fused = PrototypeCalibration.calibrated(novel: [3, 4], base: base, temperature: 1, alpha: 0.5)
        #expect(abs(Double(fused[0]) - (0.5 * 0.6 + 0.5 * w[0] / norm)) < 1e-6)
        #expect(abs(Double(fused[1]) - (0.5 * 0.8 + 0.5 * w[1] / norm)) < 1e-6)
        let sharp = PrototypeCalibration.calibrated(novel: [3, 4], base: base, temperature: 1000, alpha: 0.25)
        #expect(abs(sharp[0] - 0.45) < 1e-6 && abs(sharp[1] - 0.85) < 1e-6, "\(sharp)")
        #expect(PrototypeCalibration.calibrated(novel: [3, 4], base: base, alpha: 0) == [0.6, 0.8], "α = 0 is the plain unit prototype")
    }

    /// The class mean is of unit features, so a long feature vector does not outweigh a
    /// short one: (2, 0) and (0, 3) give (½, ½), normalized to (1/√2, 1/√2).
    @Test func prototypesAreMeansOfUnitFeatures() {
        let p = PrototypeCalibration.prototype(of: [[2, 0], [0, 3]])
        #expect(abs(p[0] - Float(0.5).squareRoot()) < 1e-6 && abs(p[1] - Float(0.5).squareRoot()) < 1e-6)
    }

    /// logits = s·cos(f(x), p_c) over a backbone's features.
    @Test func theCosineClassifierScoresByAngle() {
        var g = SeededGenerator(seed: 1)
        var mlp = MLP(sizes: [3, 4, 2], norm: .layer, using: &g)
        let x = Tensor.randomNormal([2, 3], using: &g)
        let f = mlp.features(x).scalars  // [2, 4]
        var classifier = PrototypeClassifier(backbone: mlp, prototypes: [[1, 0, 0, 0], [0, 2, 2, 0]], scale: 10)
        let logits = classifier(x).scalars
        for i in 0..<2 {
            let row = Array(f[(4 * i)..<(4 * i + 4)]), length = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(logits[2 * i] - 10 * row[0] / length) < 1e-4)
            #expect(abs(logits[2 * i + 1] - 10 * (row[1] + row[2]) / Float(2).squareRoot() / length) < 1e-4)
        }
        #expect(NormAffineView(model: classifier).adaptedPaths == ["backbone.norms.0.weight", "backbone.norms.0.bias"],
                "the prototypes are constants; only the backbone's norm affines adapt")
    }

    // MARK: RSGS

    /// The closed form ∂H/∂z_k = −p_k(ln p_k + H) at z = (ln 2, 0, 0): p = (½, ¼, ¼),
    /// H = 1.5·ln 2, so g = (−¼, ⅛, ⅛)·ln 2. (A symmetric point keeps g_p parallel to g, so
    /// the GSAM case below starts from an asymmetric one.) Then GSAM's split at θ = β =
    /// (2 ln 2, ln 2, 0), x = 0, p = (4, 2, 1)/7: ε = ρ ĝ, g_p = ∇H(θ + ε),
    /// g_⊥ = g − (g·ĝ_p)ĝ_p, and one RSGS step (plain SGD, η) lands at θ − η(g_p − α g_⊥).
    @Test func rsgsStepIsGSAMsDecompositionOfTheEntropyGradient() throws {
        let ln2 = log(2.0)
        let symmetric = entropyGradient([ln2, 0, 0])
        #expect(abs(symmetric[0] + 0.25 * ln2) < 1e-12 && abs(symmetric[1] - 0.125 * ln2) < 1e-12 && abs(symmetric[2] - 0.125 * ln2) < 1e-12)
        let theta = [2 * ln2, ln2, 0], rho = 0.5, alpha = 0.3, lr = 0.7
        let g = entropyGradient(theta)
        let gNorm = dot(g, g).squareRoot()
        let gp = entropyGradient(zip(theta, g).map { $0 + rho * $1 / gNorm })
        let unit = gp.map { $0 / dot(gp, gp).squareRoot() }
        let parallel = dot(g, unit)
        let orthogonal = zip(g, unit).map { $0 - parallel * $1 }
        #expect(abs(dot(orthogonal, gp)) < 1e-12, "g_⊥ is orthogonal to g_p")
        #expect(dot(orthogonal, orthogonal).squareRoot() > 1e-3, "the hand case has a real orthogonal part")
        let expected = zip(theta, zip(gp, orthogonal)).map { $0 - lr * ($1.0 - alpha * $1.1) }

        let model = ShiftedLogits(theta.map(Float.init))
        var rsgs = try RSGS(model: model, learningRate: Float(lr), margin: 10, rho: Float(rho), alpha: Float(alpha), momentum: 0)
        let step = rsgs.adapt(Tensor(shape: [1, 3], scalars: [0, 0, 0]))
        let entropy = -[4.0, 2, 1].reduce(0.0) { $0 + $1 / 7 * log($1 / 7) }
        #expect(step.kept == 1 && abs(Double(step.loss) - entropy) < 1e-6)
        for (a, e) in zip(rsgs.model.norm.bias.scalars, expected) { #expect(abs(Double(a) - e) < 1e-5, "\(a) vs \(e)") }

        // The α-part alone: the difference from the α = 0 (SAM) step is η·α·g_⊥.
        var sam = try RSGS(model: model, learningRate: Float(lr), margin: 10, rho: Float(rho), alpha: 0, momentum: 0)
        _ = sam.adapt(Tensor(shape: [1, 3], scalars: [0, 0, 0]))
        for k in 0..<3 {
            let difference = Double(rsgs.model.norm.bias.scalars[k] - sam.model.norm.bias.scalars[k])
            #expect(abs(difference - lr * alpha * orthogonal[k]) < 1e-5)
        }
    }

    /// Samples at or above E₀ enter neither pass: a batch of a confident sample and a
    /// uniform one (H = ln 3 > E₀ = 0.4·ln 3) steps exactly as the confident sample alone,
    /// and a batch of uniform samples does not move θ.
    @Test func rsgsLeavesOutTheUnreliableSamples() throws {
        let model = ShiftedLogits([0.3, -0.2, 0.1])
        let margin = EntropyFilter.defaultMargin(classCount: 3)
        let confident: [Float] = [4, 0, -1], uniform: [Float] = [-0.3, 0.2, -0.1]  // z = (0, 0, 0)
        var both = try RSGS(model: model, learningRate: 0.5, margin: margin)
        var alone = try RSGS(model: model, learningRate: 0.5, margin: margin)
        let step = both.adapt(Tensor(shape: [2, 3], scalars: confident + uniform))
        _ = alone.adapt(Tensor(shape: [1, 3], scalars: confident))
        #expect(step.kept == 1)
        for (a, b) in zip(both.model.norm.bias.scalars, alone.model.norm.bias.scalars) { #expect(abs(a - b) < 1e-6) }
        #expect(both.model.norm.bias.scalars != model.norm.bias.scalars)
        var none = try RSGS(model: model, learningRate: 0.5, margin: margin)
        let empty = none.adapt(Tensor(shape: [2, 3], scalars: uniform + uniform))
        #expect(empty.kept == 0 && empty.loss.isNaN && none.model.norm.bias.scalars == model.norm.bias.scalars)
    }

    // MARK: The stream

    private func smallStream(seed: UInt64, corruption: Corruption? = nil) throws -> DriftStream {
        var options = DriftStream.Options()
        options.shots = 2
        options.samplesPerPhase = 20
        options.corruption = corruption
        options.seed = seed
        return try DriftStream.make(train: identified(perClass: 10, offset: 500, name: "train"),
                                    test: identified(perClass: 20, offset: 0, name: "test"), options: options)
    }

    /// Phase t sees classes 0…4+t, adds class 4+t with its shots (training images of that
    /// class), rotates by 15t°; its stream holds ⌊20/(5+t)⌋ test images of each seen class,
    /// and no test image appears twice across phases.
    @Test func theStreamHasTheClassAndPhaseLayout() throws {
        let stream = try smallStream(seed: 3)
        let train = identified(perClass: 10, offset: 500, name: "train"), test = identified(perClass: 20, offset: 0, name: "test")
        #expect(stream.phases.count == 6)
        #expect(stream.pretraining.count == 50 && Set(stream.pretraining.labels) == Set(0..<5))
        var seenIDs = Set<Int>()
        for (t, phase) in stream.phases.enumerated() {
            #expect(phase.index == t && phase.seenClassCount == 5 + t && phase.rotationDegrees == 15 * Double(t))
            #expect(phase.newClasses == (t == 0 ? [] : [4 + t]))
            #expect(phase.shots.count == (t == 0 ? 0 : 2) && phase.shots.labels.allSatisfy { $0 == 4 + t })
            for i in 0..<phase.shots.count {
                let id = sourceID(phase.shots, i)
                #expect(id > 500 && train.labels[id - 501] == 4 + t, "a shot is a training image of the new class")
            }
            let perClass = 20 / (5 + t)
            #expect(phase.stream.classHistogram == (0..<10).map { $0 < 5 + t ? perClass : 0 })
            for i in 0..<phase.stream.count {
                let id = sourceID(phase.stream, i)
                #expect(id >= 1 && id <= 200 && test.labels[id - 1] == phase.stream.labels[i], "a test image with its own label")
                #expect(seenIDs.insert(id).inserted, "test image \(id) met twice")
            }
        }
        #expect(stream.phases[0].stream.images.scalars.allSatisfy { $0 > 0 }, "phase 0 is clean: no zero-filled corners")
        let rotated = stream.phases[1].stream
        #expect(rotated.images.scalars[0] < Float(sourceID(rotated, 0)) / 1024 - 1e-4, "phase 1 is rotated: a corner reads zero fill")
    }

    /// One seed, one stream; another seed, another order; the corruption's severity grows
    /// with the phase and its pixels stay in [0, 1].
    @Test func theStreamIsDeterministicAndItsDriftGrows() throws {
        let a = try smallStream(seed: 5, corruption: .gaussianNoise), b = try smallStream(seed: 5, corruption: .gaussianNoise)
        let c = try smallStream(seed: 6, corruption: .gaussianNoise)
        #expect(a.pretraining.labels == b.pretraining.labels && a.pretraining.images.scalars == b.pretraining.images.scalars)
        for (x, y) in zip(a.phases, b.phases) {
            #expect(x.stream.labels == y.stream.labels && x.stream.images.scalars == y.stream.images.scalars)
            #expect(x.shots.images.scalars == y.shots.images.scalars)
        }
        #expect(a.phases.map(\.stream.labels) != c.phases.map(\.stream.labels))
        #expect(a.phases.map { $0.corruption?.severity ?? 0 } == [0, 1, 2, 3, 4, 5])
        #expect(a.phases.allSatisfy { $0.corruption == nil || $0.corruption?.kind == .gaussianNoise })
        let clean = try smallStream(seed: 5)
        #expect(clean.phases[0].stream.images.scalars == a.phases[0].stream.images.scalars, "phase 0 is never corrupted")
        #expect(clean.phases[3].stream.labels == a.phases[3].stream.labels, "the corruption changes pixels, not the order")
        #expect(clean.phases[3].stream.images.scalars != a.phases[3].stream.images.scalars)
        #expect(a.phases.allSatisfy { $0.stream.images.scalars.allSatisfy { (0...1).contains($0) } })
    }

    @Test func aStreamTooLargeForTheTestSplitIsRefused() {
        var options = DriftStream.Options()
        options.samplesPerPhase = 200
        do {
            _ = try DriftStream.make(train: identified(perClass: 10, offset: 500, name: "train"),
                                     test: identified(perClass: 20, offset: 0, name: "test"), options: options)
            Issue.record("a stream needing 120 images of class 0 out of 20 was made")
        } catch let error as AdaptationError {
            #expect(error.message.contains("class 0") && error.message.contains("20"), "\(error)")
        } catch { Issue.record("unexpected \(error)") }
    }
}
