import Foundation
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

/// A one-layer classifier with a normalization layer: logits = LayerNorm(W x + b), so
/// that Tent's step can be derived by hand.
private struct TinyNormModel: Layer {
    var fc: Linear
    var norm1: LayerNorm

    init(seed: UInt64, inputs: Int = 4, classes: Int = 3) {
        var g = SeededGenerator(seed: seed)
        fc = Linear(inputCount: inputs, outputCount: classes, using: &g)
        norm1 = LayerNorm(classes)
        norm1.weight = Tensor.randomNormal([classes], standardDeviation: 0.3, using: &g) + 1
        norm1.bias = Tensor.randomNormal([classes], standardDeviation: 0.3, using: &g)
    }

    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("fc", &fc)
        visitor.child("norm1", &norm1)
    }

    mutating func callAsFunction(_ input: Tensor) -> Tensor { norm1(fc(input)) }
}

private func batch(_ n: Int, seed: UInt64, inputs: Int = 4) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randomNormal([n, inputs], using: &g)
}

/// Tent and SAR (issue 12) on cases with hand-derived expectations.
@Suite("Test-time adaptation")
struct AdaptationTests {
    @Test func entropyOfKnownLogits() {
        let logits = Tensor(shape: [4, 2], scalars: [0, 0, 0, Float(log(3.0)), 1000, 0, -5, -5])
        let h = predictionEntropies(logits).scalars
        let quarter = -(0.25 * log(0.25) + 0.75 * log(0.75))  // p = (1/4, 3/4)
        #expect(abs(Double(h[0]) - log(2)) < 1e-6)
        #expect(abs(Double(h[1]) - quarter) < 1e-6)
        #expect(h[2].isFinite && abs(h[2]) < 1e-6, "a saturated softmax has entropy 0, not NaN: \(h[2])")
        #expect(abs(Double(h[3]) - log(2)) < 1e-6)
    }

    @Test func theFilterKeepsExactlyTheSamplesBelowE0() {
        let e0 = EntropyFilter.defaultMargin(classCount: 10)
        #expect(abs(Double(e0) - 0.4 * log(10)) < 1e-6)  // 0.92103…
        let kept = EntropyFilter.kept([0.5, 0.95, 0.92, 0.1, e0], below: e0)
        #expect(kept == [0, 2, 3], "strictly below E₀, in order")
        let third = Float(5) / 3  // n/k = 5/3: the mean over 5 of the weighted values is the mean over the 3 kept
        #expect(EntropyFilter.meanWeights(kept: kept, count: 5).scalars == [third, 0, third, third, 0])
        #expect(EntropyFilter.meanWeights(kept: [], count: 3).scalars == [0, 0, 0])
    }

    /// One Tent step on logits z = γ⊙x̂ + β (x̂ the normalized W x + b): with
    /// dH/dz_j = −p_j (log p_j + H), ∂L/∂β_j = mean_i dH_i/dz_ij and ∂L/∂γ_j = mean_i
    /// dH_i/dz_ij·x̂_ij; PyTorch's SGD takes the first momentum buffer as the gradient, so
    /// θ ← θ − η g.
    @Test func oneTentStepIsTheHandComputedSGDStep() throws {
        let model = TinyNormModel(seed: 1)
        let x = batch(5, seed: 2), lr: Float = 0.1
        var tent = try Tent(model: model, learningRate: lr)
        let step = tent.adapt(x)

        let w = model.fc.weight.scalars.map(Double.init), b = model.fc.bias!.scalars.map(Double.init)
        let gamma = model.norm1.weight!.scalars.map(Double.init), beta = model.norm1.bias!.scalars.map(Double.init)
        let xs = x.scalars.map(Double.init)
        var gGamma = [Double](repeating: 0, count: 3), gBeta = [Double](repeating: 0, count: 3)
        var expectedLogits: [Double] = []
        for i in 0..<5 {
            let h = (0..<3).map { j in b[j] + (0..<4).reduce(0.0) { $0 + w[j * 4 + $1] * xs[i * 4 + $1] } }
            let mean = h.reduce(0, +) / 3
            let variance = h.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / 3
            let xhat = h.map { ($0 - mean) / (variance + 1e-5).squareRoot() }
            let z = (0..<3).map { gamma[$0] * xhat[$0] + beta[$0] }
            expectedLogits += z
            let top = z.max()!, total = z.reduce(0.0) { $0 + exp($1 - top) }
            let logp = z.map { $0 - top - log(total) }
            let entropy = -logp.reduce(0.0) { $0 + exp($1) * $1 }
            for j in 0..<3 {
                let dz = -exp(logp[j]) * (logp[j] + entropy)
                gBeta[j] += dz / 5
                gGamma[j] += dz * xhat[j] / 5
            }
        }
        for (a, e) in zip(step.logits.scalars, expectedLogits) { #expect(abs(Double(a) - e) < 1e-5, "logits are the pre-update predictions") }
        let adapted = tent.model
        for j in 0..<3 {
            #expect(abs(Double(adapted.norm1.weight!.scalars[j]) - (gamma[j] - Double(lr) * gGamma[j])) < 1e-6)
            #expect(abs(Double(adapted.norm1.bias!.scalars[j]) - (beta[j] - Double(lr) * gBeta[j])) < 1e-6)
        }
        #expect(gGamma.contains { abs($0) > 1e-3 } && gBeta.contains { abs($0) > 1e-3 }, "the step must actually move")
        #expect(adapted.fc.weight.scalars == model.fc.weight.scalars && adapted.fc.bias!.scalars == model.fc.bias!.scalars)
    }

    /// With ρ = 0 the perturbed pass is at θ itself, and with E₀ = ∞ both filters keep
    /// every sample: SAR's update is then Tent's, momentum included.
    @Test func sarWithoutPerturbationOrFilterIsTent() throws {
        let model = TinyNormModel(seed: 3)
        var tent = try Tent(model: model, learningRate: 0.2)
        var sar = try SAR(model: model, learningRate: 0.2, margin: .infinity, rho: 0, resetThreshold: 0)
        for seed: UInt64 in [4, 5, 6] {
            let x = batch(6, seed: seed)
            let a = tent.adapt(x), s = sar.adapt(x)
            #expect(s.kept == 6 && s.keptTwice == 6)
            for (u, v) in zip(a.logits.scalars, s.logits.scalars) { #expect(abs(u - v) < 1e-6) }
        }
        for (key, value) in tent.model.parameters.entries {
            let other = sar.model.parameters[key]!.scalars
            for (u, v) in zip(value.scalars, other) { #expect(abs(u - v) < 1e-6, "\(key)") }
        }
        #expect(tent.model.norm1.weight!.scalars != model.norm1.weight!.scalars)
    }

    @Test func recoveryAverageAndResetByHand() {
        var recovery = ModelRecovery()
        var reset = recovery.record(.nan)
        #expect(!reset && recovery.average == nil, "an empty set starts nothing")
        reset = recovery.record(0.5)
        #expect(!reset && recovery.average == 0.5, "the first loss starts the average")
        reset = recovery.record(0.1)
        #expect(!reset && abs(recovery.average! - 0.46) < 1e-6)  // 0.9·0.5 + 0.1·0.1
        reset = recovery.record(.nan)
        #expect(!reset && abs(recovery.average! - 0.46) < 1e-6, "NaN leaves it alone")
        // 0.46·0.9^k < 0.2 first at k = 8 (0.198…); k = 7 gives 0.220.
        for k in 1...7 {
            reset = recovery.record(0)
            #expect(!reset, "k = \(k): \(recovery.average!)")
        }
        reset = recovery.record(0)
        #expect(reset && recovery.average == nil, "0.46·0.9⁸ = 0.198 < 0.2")
        reset = recovery.record(0.3)
        #expect(!reset && recovery.average == 0.3, "the average restarts")
    }

    /// e_m keeps the paper's ratio to E₀: 0.2 at 1000 classes, 0.2·ln 10 / ln 1000 at 10.
    @Test func theDefaultResetThresholdScalesWithTheClassCount() {
        #expect(abs(ModelRecovery.defaultThreshold(classCount: 1000) - 0.2) < 1e-7)
        #expect(abs(ModelRecovery.defaultThreshold(classCount: 10) - 0.066_666_67) < 1e-7)
        for c in [2, 10, 100, 1000] {
            let ratio = ModelRecovery.defaultThreshold(classCount: c) / EntropyFilter.defaultMargin(classCount: c)
            #expect(abs(ratio - 0.2 / (0.4 * Float(log(1000.0)))) < 1e-6, "C = \(c)")
        }
    }

    /// A confident model: L₂ < 0.2 on the first batch, so SAR resets at once, back to the
    /// source weights exactly (the same run without recovery does move them).
    @Test func sarResetRestoresTheSourceWeightsExactly() throws {
        var model = TinyNormModel(seed: 7)
        model.norm1.bias = Tensor(shape: [3], scalars: [6, 0, 0])
        let x = batch(8, seed: 8)
        var sar = try SAR(model: model, learningRate: 0.5, margin: 10, resetThreshold: 0.2)
        let step = sar.adapt(x)
        #expect(step.reset && sar.resets == 1 && sar.recovery.average == nil)
        #expect(sar.model.stateDictionary.entries.map(\.value.scalars) == model.stateDictionary.entries.map(\.value.scalars))
        var unrecovered = try SAR(model: model, learningRate: 0.5, margin: 10, resetThreshold: 0)
        let moved = unrecovered.adapt(x)
        #expect(!moved.reset && unrecovered.model.norm1.bias!.scalars != model.norm1.bias!.scalars)
    }

    /// The first filter's count is the number of first-pass entropies below E₀.
    @Test func sarKeepsTheSamplesBelowTheMargin() throws {
        let model = TinyNormModel(seed: 9)
        let x = batch(16, seed: 10)
        var probe = model
        let entropies = withoutGradients { predictionEntropies(probe(x)) }.scalars
        let margin = entropies.sorted()[9]  // ten samples are strictly below it
        var sar = try SAR(model: model, learningRate: 0.1, margin: margin, resetThreshold: 0)
        let step = sar.adapt(x)
        #expect(step.kept == 9)
        #expect(step.keptTwice! <= 9)
        #expect(abs(step.loss - EntropyFilter.kept(entropies, below: margin).map { entropies[$0] }.reduce(0, +) / 9) < 1e-5)
    }

    @Test func onlyNormalizationParametersChange() throws {
        var g = SeededGenerator(seed: 11)
        let lenet = LeNet5(norm: .batch, using: &g)
        let images = Tensor.randomNormal([4, 1, 28, 28], using: &g)
        var tent = try Tent(model: lenet, learningRate: 0.05)
        var sar = try SAR(model: lenet, learningRate: 0.05, margin: 10, resetThreshold: 0)
        for _ in 0..<2 { _ = tent.adapt(images); _ = sar.adapt(images) }
        for adapted in [tent.model, sar.model] {
            var changed: [String] = []
            for (key, value) in lenet.parameters.entries where adapted.parameters[key]!.scalars != value.scalars { changed.append(key) }
            #expect(!changed.isEmpty && changed.allSatisfy(NormAffineView<LeNet5>.isNormAffine), "changed: \(changed)")
        }
    }

    @Test func adaptedParametersAreFoundByPath() throws {
        var g = SeededGenerator(seed: 12)
        #expect(NormAffineView(model: LeNet5(norm: .group, using: &g)).adaptedPaths
                == ["norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias", "norm4.weight", "norm4.bias"])
        #expect(NormAffineView(model: MLP(sizes: [4, 6, 2], norm: .layer, using: &g)).adaptedPaths == ["norms.0.weight", "norms.0.bias"])
        let resnet = NormAffineView(model: ResNet(depth: 8, using: &g)).adaptedPaths
        #expect(resnet.contains("bn1.weight") && resnet.contains("layer1.0.bn2.bias") && !resnet.contains("linear.weight"))
        #expect(!NormAffineView<LeNet5>.isNormAffine("norm1.running_mean"))
    }

    @Test func modelsWithoutNormalizationAreRefused() {
        var g = SeededGenerator(seed: 13)
        let plain = MLP(sizes: [4, 6, 2], using: &g)
        do {
            _ = try Tent(model: plain, learningRate: 0.1)
            Issue.record("tent accepted a model without normalization layers")
        } catch let error as AdaptationError {
            #expect(error.message.contains("tent") && error.message.contains("--norm"), "\(error)")
        } catch { Issue.record("unexpected \(error)") }
        #expect(throws: AdaptationError.self) { _ = try SAR(model: plain, learningRate: 0.1, margin: 1) }
    }

    @Test func onlineAccuracyAndTheCollapseIndicator() {
        var tracker = OnlineAccuracy(window: 4)
        tracker.record(predictions: [1, 1, 2], labels: [1, 0, 2], kept: 3)
        tracker.record(predictions: [1, 3], labels: [1, 3], kept: 1, keptTwice: 1, reset: true)
        #expect(tracker.samples == 5 && tracker.correct == 4 && tracker.batches == 2)
        #expect(tracker.accuracy == 0.8 && tracker.resets == 1 && tracker.kept == 4 && tracker.keptTwice == 1)
        #expect(tracker.collapse == 0.5, "window [1, 2, 1, 3]: class 1 twice")
        #expect(tracker.labelConcentration == 0.25, "labels [0, 2, 1, 3]")
        let logits = Tensor(shape: [3, 3], scalars: [0, 2, 1, 5, 5, 0, -1, -2, -0.5])
        #expect(OnlineAccuracy.predictions(logits) == [1, 0, 2], "ties go to the first class")
    }

    @Test func defaultLearningRatesFollowTheAuthorsRule() {
        let base: Float = 0.00025
        #expect(AdaptationMethod.tent.defaultLearningRate(batchSize: 64) == base)
        #expect(AdaptationMethod.tent.defaultLearningRate(batchSize: 16) == base / 64 * 16 * 2)
        #expect(AdaptationMethod.sar.defaultLearningRate(batchSize: 1) == 2 * (base / 64 * 2))
        #expect(AdaptationMethod.tent.defaultLearningRate(batchSize: 1) == base / 64 * 2)
    }
}

@Suite("Adaptation streams")
struct AdaptationStreamTests {
    @Test func settingsOrderTheStreams() {
        let labels = [[2, 0, 1, 0, 2, 1, 0], [1, 1, 0]]
        let mild = AdaptationSetting.mild.segments(streamSizes: [7, 3], labels: labels, batchSize: 3, seed: 1)
        #expect(mild.count == 2 && mild[0].map(\.count) == [3, 4] && mild[1].map(\.count) == [3], "a lone 7th sample joins the batch before")
        #expect(Set(mild[0].flatMap { $0 }.map(\.sample)) == Set(0..<7) && mild[1].flatMap { $0 }.allSatisfy { $0.stream == 1 })
        let sorted = AdaptationSetting.labelShift.segments(streamSizes: [7, 3], labels: labels, batchSize: 2, seed: 1)
        #expect(sorted[0].flatMap { $0 }.map { labels[0][$0.sample] } == [0, 0, 0, 1, 1, 2, 2])
        let mixed = AdaptationSetting.mixed.segments(streamSizes: [7, 3], labels: labels, batchSize: 4, seed: 1)
        #expect(mixed.count == 1 && mixed[0].map(\.count) == [4, 4, 2] && Set(mixed[0].flatMap { $0 }.map(\.stream)) == [0, 1])
        #expect(AdaptationSetting.mixed.segments(streamSizes: [7, 3], labels: labels, batchSize: 4, seed: 1).map { $0.map { $0.map(\.sample) } }
                == mixed.map { $0.map { $0.map(\.sample) } }, "seeded: the same order every time")
    }

    /// Stream directories reached through symbolic links are streams too: a subset of
    /// corruptions is naturally assembled with `ln -s`, and such links were skipped (the
    /// directory then held "no test split", or silently fewer streams).
    @Test func streamsAreFoundThroughSymbolicLinks() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-streams-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data"), view = root.appendingPathComponent("view")
        for (path, count) in [("data/fog/5", 3), ("data/contrast/5", 2), ("view/real/5", 4)] {
            try writeTinyTestSplit(to: root.appendingPathComponent(path), count: count)
        }
        let files = FileManager.default
        try files.createSymbolicLink(at: view.appendingPathComponent("fog"), withDestinationURL: data.appendingPathComponent("fog"))
        try files.createSymbolicLink(at: view.appendingPathComponent("contrast5"), withDestinationURL: data.appendingPathComponent("contrast/5"))
        let streams = try AdaptationStream.discover(in: view)
        #expect(streams.map(\.name) == ["contrast5", "fog/5", "real/5"] && streams.map(\.dataset.count) == [2, 3, 4])
        try files.createSymbolicLink(at: root.appendingPathComponent("link"), withDestinationURL: view)
        #expect(try AdaptationStream.discover(in: root.appendingPathComponent("link")).count == 3, "--data-dir itself a link")
    }
}

/// Writes `count` 2×2 test images (`t10k-…` IDX files, labels 0, 1, 2, …) into `directory`.
private func writeTinyTestSplit(to directory: URL, count: Int) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    func bigEndian(_ values: [UInt32]) -> [UInt8] { values.flatMap { v in (0..<4).map { UInt8((v >> (24 - 8 * $0)) & 0xFF) } } }
    let images = bigEndian([2051, UInt32(count), 2, 2]) + (0..<(4 * count)).map { UInt8($0 * 7 % 256) }
    let labels = bigEndian([2049, UInt32(count)]) + (0..<count).map { UInt8($0 % 10) }
    try Data(images).write(to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
    try Data(labels).write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
}
