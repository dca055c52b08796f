import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import Testing
@testable import PlateauTraining

// LSQ (Esser et al. 2020): v̂ = s·round(clip(v/s, −Q_N, Q_P)); ∂v̂/∂v = 1 inside, 0 outside;
// ∂v̂/∂s = round(v/s) − v/s inside, −Q_N below, Q_P above; s's gradient times g.

@Test func lsqRangesAreSignedAndUnsigned() {
    #expect(QuantizationRange(bits: 4, signed: true) == QuantizationRange(bits: 4, signed: true))
    let signed = QuantizationRange(bits: 4, signed: true), unsigned = QuantizationRange(bits: 4, signed: false)
    #expect((signed.negativeLevels, signed.positiveLevels) == (8, 7))
    #expect((unsigned.negativeLevels, unsigned.positiveLevels) == (0, 15))
    let eight = QuantizationRange(bits: 8, signed: true), two = QuantizationRange(bits: 2, signed: false)
    #expect((eight.negativeLevels, eight.positiveLevels, two.negativeLevels, two.positiveLevels) == (128, 127, 0, 3))
}

@Test func lsqForwardRoundsAndClips() {
    let v = Tensor([-5, -3.1, -0.26, 0.24, 0.5, 1.7, 9])
    let q = v.lsqQuantized(scale: Tensor([0.5]), range: QuantizationRange(bits: 4, signed: true), gradientScale: 1)
    // v/s = −10 (clipped to −8), −6.2, −0.52, 0.48, 1, 3.4, 18 (clipped to 7).
    #expect(q.scalars == [-4, -3, -0.5, 0, 0.5, 1.5, 3.5])
    let unsigned = Tensor([-1, 0.2, 0.74, 100]).lsqQuantized(scale: Tensor([0.25]), range: QuantizationRange(bits: 2, signed: false), gradientScale: 1)
    #expect(unsigned.scalars == [0, 0.25, 0.75, 0.75])
}

@Test func lsqBackwardMatchesTheFormulasIncludingTheStepSize() {
    let values: [Float] = [-5, -3.1, -0.26, 0.24, 0.5, 1.7, 9]
    let upstream: [Float] = [0.3, -1.2, 0.7, 2.0, -0.4, 1.1, -0.9]
    let s: Float = 0.5, g: Float = 0.37
    let range = QuantizationRange(bits: 4, signed: true)
    let (_, grads) = valueWithGradient(at: [Tensor(values), Tensor([s])]) { p in
        (p[0].lsqQuantized(scale: p[1], range: range, gradientScale: g) * Tensor(upstream)).sum()
    }
    var expectedV: [Float] = [], expectedS: Float = 0
    for (v, u) in zip(values, upstream) {
        let r = v / s
        if r < -8 { expectedV.append(0); expectedS += u * -8 }
        else if r > 7 { expectedV.append(0); expectedS += u * 7 }
        else { expectedV.append(u); expectedS += u * (r.rounded() - r) }
    }
    #expect(grads[0].scalars == expectedV)
    #expect(abs(grads[1].scalars[0] - g * expectedS) < 1e-5)
    #expect(grads[1].shape == [1])
}

/// Where the quantizer is differentiable in s — every element clipped, v̂ = −Q_N·s or Q_P·s —
/// the LSQ gradient is the exact derivative (times g): a central difference agrees.
@Test func lsqStepSizeGradientMatchesFiniteDifferencesWhereClipped() {
    let values: [Float] = [-40, -25, 30, 55], upstream: [Float] = [0.5, -1, 2, 0.25]
    let range = QuantizationRange(bits: 3, signed: true), g: Float = 0.2
    func loss(_ s: Float) -> Float {
        zip(Tensor(values).lsqQuantized(scale: Tensor([s]), range: range, gradientScale: g).scalars, upstream).map(*).reduce(0, +)
    }
    let s: Float = 1.5, h: Float = 1e-2
    let numeric = (loss(s + h) - loss(s - h)) / (2 * h)
    let (_, grads) = valueWithGradient(at: [Tensor([s])]) { p in
        (Tensor(values).lsqQuantized(scale: p[0], range: range, gradientScale: g) * Tensor(upstream)).sum()
    }
    #expect(abs(grads[0].scalars[0] - g * numeric) < 1e-3)
}

@Test func quantizationSpecsParse() {
    #expect(QuantizationSpec(parsing: "w4a4") == QuantizationSpec(weightBits: 4, activationBits: 4))
    let all = QuantizationSpec(parsing: "w3a2-all")
    #expect(all?.boundaryBits == 3 && all?.boundaryActivationBits == 2)
    for bad in ["w4", "w9a4", "w1a1", "a4w4", "w4a4-some", "none"] { #expect(QuantizationSpec(parsing: bad) == nil, "\(bad)") }
}

/// A LeNet-5 at w4a4 with its input step sizes calibrated on `images`.
private func quantizedLeNet(_ spec: String = "w4a4", images: Tensor) -> LeNet5 {
    var g = SeededGenerator(seed: 3)
    var model = LeNet5(using: &g)
    model.quantize(QuantizationSpec(parsing: spec)!)
    model.calibrateQuantizers { _ = $0(images) }
    return model
}

private func images(_ count: Int, seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randomNormal([count, 1, 28, 28], standardDeviation: 1, using: &g)
}

@Test func quantizeKeepsFirstAndLastLayerAtEightBitsAndCalibratesInputs() throws {
    let model = quantizedLeNet(images: images(4, seed: 1))
    #expect(model.quantizableLayerPaths == ["conv1", "conv2", "fc1", "fc2", "fc3"])
    #expect(model.conv1.quantizer?.weightBits == 8 && model.fc3.quantizer?.activationBits == 8)
    #expect(model.conv2.quantizer?.weightBits == 4 && model.fc2.quantizer?.activationBits == 4)
    #expect(model.parameters.keys.contains("fc1.quantizer.weight_scale") && model.parameters.keys.contains("conv1.quantizer.input_scale"))
    #expect(model.buffers.keys.contains("fc1.quantizer.input_signed"))
    // LSQ's initialization: s_w = 2·mean|w|/√Q_P.
    let w = model.conv2.weight.scalars
    let expected = 2 * (w.map(abs).reduce(0, +) / Float(w.count)) / Float(7).squareRoot()
    #expect(abs(model.conv2.quantizer!.weightScale.scalars[0] - expected) < 1e-6)
    // Raw normal images are signed; fc1 sees ReLU + max-pool outputs: unsigned.
    #expect(model.conv1.quantizer!.inputSigned.scalars == [1])
    #expect(model.fc1.quantizer!.inputSigned.scalars == [0] && model.fc1.quantizer!.inputRange.positiveLevels == 15)
    #expect(model.conv1.quantizer!.inputScale.scalars[0] != 1)
}

/// Integer weights (codes(x)·codes(w) rescaled by s_w·s_a) give the fake quantization's outputs.
@Test func integerEvaluationMatchesFakeQuantization() {
    let x = images(3, seed: 2)
    for spec in ["w3a3", "w8a8-all"] {
        var model = quantizedLeNet(spec, images: x)
        var integer = model.usingIntegerWeights()
        let (fake, exact) = withoutGradients { (model(x), integer(x)) }
        #expect(fake.isClose(to: exact, relativeTolerance: 1e-4, absoluteTolerance: 1e-4), "\(spec)")
        #expect(fake.argmax(alongAxis: 1) == exact.argmax(alongAxis: 1), "\(spec)")
    }
}

@Test func int4PackingRoundTrips() {
    let codes: [Int8] = [-8, -7, -1, 0, 1, 6, 7]
    let packed = IntegerExport.packInt4(codes)
    #expect(packed.count == 4)
    #expect(packed[0] == 0x98)  // −8 = 0x8 in the low nibble, −7 = 0x9 in the high one
    #expect(IntegerExport.unpackInt4(packed, count: codes.count) == codes)
}

@Test func integerExportRoundTrips() throws {
    let x = images(3, seed: 4)
    var model = quantizedLeNet(images: x)
    let directory = try temporaryDirectory("int-export")
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("int.safetensors")
    try IntegerExport.write(model, configuration: nil, to: url)
    let file = try Safetensors.read(from: url)
    #expect(file.dtypes["conv1.weight"] == .I8 && file.dtypes["conv2.weight"] == .U8 && file.dtypes["conv2.bias"] == .F32)
    #expect(file["conv2.weight"]!.shape == [16 * 6 * 25 / 2])
    let contents = try IntegerExport.read(from: url)
    #expect(contents.layers["conv2"]!.codes == model.conv2.quantizer!.weightCodes(model.conv2.weight).scalars.map { Int8($0) })
    #expect(contents.layers["fc3"]!.bits == 8 && contents.layers["fc2"]!.bits == 4)
    var rebuilt = quantizedLeNet(images: images(3, seed: 9))  // other weights and step sizes, replaced by the file's
    try rebuilt.load(stateDictionary: contents.stateDictionary, source: url.path)
    var integer = rebuilt.usingIntegerWeights()
    let (original, fromFile) = withoutGradients { (model(x), integer(x)) }
    #expect(original.isClose(to: fromFile, relativeTolerance: 1e-4, absoluteTolerance: 1e-4))
    // The weights the file gives back quantize to the same codes.
    #expect(rebuilt.fc2.quantizer!.weightCodes(rebuilt.fc2.weight) == model.fc2.quantizer!.weightCodes(model.fc2.weight))
}

@Test func exportOfAnUnquantizedModelIsAnError() throws {
    var g = SeededGenerator(seed: 0)
    let model = LeNet5(using: &g)
    #expect(throws: ConfigurationError.self) { try IntegerExport.entries(of: model, source: "plain.safetensors") }
}

// GAQAT: the conflict rate of sign(g_s) against sign(g_SAM,s − g_s), per window.

private func gradients(_ task: Float, _ sam: Float) -> (ParameterSet, ParameterSet) {
    let key = "fc.quantizer.weight_scale"
    return (ParameterSet([(key, Tensor([task])), ("fc.weight", Tensor([1, 2]))]), ParameterSet([(key, Tensor([sam])), ("fc.weight", Tensor([1.5, 2]))]))
}

@Test func gaqatConflictRateAndFreezingOnAHandBuiltCase() {
    var rule = GAQAT(rho: 0.05, window: 4, threshold: 0.5, warmupSteps: 0)
    let key = "fc.quantizer.weight_scale"
    // (task, sam); the smoothness gradient is sam − task.
    let window1: [(Float, Float)] = [(1, 0.5), (-1, -0.5), (2, 1), (1, 3)]  // conflicts: yes, yes, yes, no
    for (step, (task, sam)) in window1.enumerated() {
        let (g, gp) = gradients(task, sam)
        let d = rule.descentDirection(gradient: g, perturbedGradient: gp, context: StepContext(step: step, learningRate: 0.1))
        #expect(d["fc.weight"] == Tensor([1.5, 2]))
        if step < 3 { #expect(d[key] == Tensor([sam])) } else { #expect(d[key] == Tensor([0]), "frozen at the window's end") }
    }
    #expect(rule.lastWindowRates[key] == 0.75)
    #expect(rule.frozenParameters == [key])
    #expect(rule.conflictTotals[key] == 3)
    let window2: [(Float, Float)] = [(1, 2), (1, 0.9), (-1, -2), (0, 1)]  // conflicts: no, yes, no, no (zero: none)
    for (step, (task, sam)) in window2.enumerated() {
        let (g, gp) = gradients(task, sam)
        _ = rule.descentDirection(gradient: g, perturbedGradient: gp, context: StepContext(step: 4 + step, learningRate: 0.1))
    }
    #expect(rule.lastWindowRates[key] == 0.25)
    #expect(rule.frozenParameters.isEmpty, "released when the rate falls to τ or below")
    // State round trip.
    var restored = GAQAT(rho: 0.05, window: 4, threshold: 0.5, warmupSteps: 0)
    try? restored.restore(rule.state)
    #expect(restored.state == rule.state)
}

@Test func gaqatWaitsForTheWarmUp() {
    var rule = GAQAT(rho: 0.05, window: 2, threshold: 0.1, warmupSteps: 10)
    for step in 0..<4 {
        let (g, gp) = gradients(1, 0.5)
        _ = rule.descentDirection(gradient: g, perturbedGradient: gp, context: StepContext(step: step, learningRate: 0.1))
    }
    #expect(rule.lastWindowRates["fc.quantizer.weight_scale"] == 1)
    #expect(rule.frozenParameters.isEmpty)
}

/// A frozen step size does not move, even with momentum and weight decay; the weights do.
@Test func frozenScalesStayUnchangedByTheSteps() {
    var g = SeededGenerator(seed: 5)
    var model = Linear(inputCount: 6, outputCount: 3, using: &g)
    let x = Tensor.randomNormal([8, 6], standardDeviation: 1, using: &g)
    let labels = [0, 1, 2, 0, 1, 2, 0, 1]
    model.quantize(QuantizationSpec(weightBits: 4, activationBits: 4, boundaryBits: 4))
    model.calibrateQuantizers { _ = $0(x) }
    // τ < 0: every scale is frozen at the end of the first window, the first step.
    var minimizer = SharpnessAwareMinimizer(
        rule: GAQAT(rho: 0.05, window: 1, threshold: -1, warmupSteps: 0), base: SGD(learningRate: 0.5, momentum: 0.9, weightDecay: 0.1))
    let before = model.parameters
    for _ in 0..<5 {
        minimizer.step(&model, batchSize: 8) { m, request in
            crossEntropy(logits: m(x), labels: labels, reduction: .none)
        }
    }
    let after = model.parameters
    #expect(after["quantizer.weight_scale"] == before["quantizer.weight_scale"])
    #expect(after["quantizer.input_scale"] == before["quantizer.input_scale"])
    #expect(after["weight"] != before["weight"])
    #expect(minimizer.rule.stepTotal == 5)
}

@Test func quantizedTrainingLogsScaleStatisticsAndSavesScales() throws {
    var c = configuration("gaqat", epochs: 1)
    c.quantize = "w4a4"
    c.methodOptions = ["gaqat-window": 2, "gaqat-warmup": 0]
    let (metrics, state) = try train(c)
    #expect(state.keys.contains("layers.0.quantizer.weight_scale") && state.keys.contains("layers.1.quantizer.input_signed"))
    let statistics = try #require(metrics.last?.scaleStatistics)
    #expect(statistics["steps"] == 4)
    #expect(statistics.keys.contains("conflicts/layers.1.quantizer.weight_scale"))
    #expect(statistics.keys.contains("flips/layers.0.quantizer.input_scale"))
}

@Test func quantizeOptionIsValidated() throws {
    var c = configuration("sgd", epochs: 1)
    c.quantize = "w4"
    #expect { try c.validate() } throws: { ($0 as? ConfigurationError)?.field == "quantize" }
    c.quantize = "none"
    c.optimizer = "gaqat"
    #expect { try train(c) } throws: { ($0 as? ConfigurationError)?.field == "quantize" }
    // The option round-trips through config.json; a file without it (older runs) reads as none.
    #expect(try RunConfiguration.decode(Data("{}".utf8), source: "config.json").quantize == "none")
    c.quantize = "w3a3-all"
    #expect(try RunConfiguration.decode(c.json, source: "config.json").quantize == "w3a3-all")
}
