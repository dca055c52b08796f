import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import PlateauTraining
import Testing

/// UDIM (issue 13): gradients through the inputs (first order, and of the parameter-gradient
/// norm: second order) match finite differences; the input step ascends L + ρ‖∇_θL‖; the
/// closed-form last-layer per-sample gradients are autodiff's; the penalty is the reference
/// code's; runs warm up as SAM, then differ from it, and resume bit-identically; several
/// domain directories load as one interleaved dataset.
@Suite("UDIM") struct UDIMTests {
    private func smallBatch(seed: UInt64 = 5) -> (model: MLP, x: Tensor, labels: [Int]) {
        var generator = SeededGenerator(seed: seed)
        let model = MLP(sizes: [4, 6, 3], using: &generator)
        return (model, Tensor.randomNormal([5, 4], using: &generator), [0, 1, 2, 0, 1])
    }

    /// Central differences of `f` along the input coordinates `coordinates`, against `gradient`.
    private func expectFiniteDifferences(
        of f: (Tensor) -> Float, at x: Tensor, gradient: Tensor, coordinates: [Int], step: Float = 1e-2,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for i in coordinates {
            var plus = x.scalars, minus = x.scalars
            plus[i] += step
            minus[i] -= step
            let numeric = (f(Tensor(shape: x.shape, scalars: plus)) - f(Tensor(shape: x.shape, scalars: minus))) / (2 * step)
            let automatic = gradient.scalars[i]
            #expect(abs(numeric - automatic) <= 2e-3 + 3e-2 * max(abs(numeric), abs(automatic)),
                    "coordinate \(i): autodiff \(automatic), finite difference \(numeric)", sourceLocation: sourceLocation)
        }
    }

    /// ρ = 0: ∇ₓ L (first order); ρ > 0: ∇ₓ(L + ρ‖∇_θL‖), the derivative of a recorded backward
    /// pass (second order), on an MLP and on LeNet-5 (convolutions, max-pooling). LeNet's
    /// step is small: ‖∇_θL‖ jumps where a ReLU or a pooling window switches, and a step of
    /// 1e-2 crosses such switches.
    @Test(arguments: [Float(0), 0.5])
    func inputGradientsMatchFiniteDifferences(rho: Float) {
        let (model, x, labels) = smallBatch()
        let result = UDIM.inputObjective(x, labels: labels, model: model, rho: rho)
        #expect(result.gradient.scalars.contains { $0 != 0 })
        expectFiniteDifferences(of: { UDIM.inputObjective($0, labels: labels, model: model, rho: rho).value },
                                at: x, gradient: result.gradient, coordinates: Array(0..<x.count))

        var generator = SeededGenerator(seed: 11)
        let lenet = LeNet5(using: &generator)
        let images = Tensor.randomUniform([2, 1, 28, 28], in: 0..<1, using: &generator)
        let lenetResult = UDIM.inputObjective(images, labels: [3, 7], model: lenet, rho: rho)
        let coordinates = [100, 350, 406, 600, 784 + 200, 784 + 433, 784 + 517]
        expectFiniteDifferences(of: { UDIM.inputObjective($0, labels: [3, 7], model: lenet, rho: rho).value },
                                at: images, gradient: lenetResult.gradient, coordinates: coordinates, step: 1e-3)
    }

    /// A small step along the normalized input gradient increases L + ρ‖∇_θL‖, and has the
    /// asked size: ρ_x per sample, or per input coordinate across the batch.
    @Test(arguments: UDIM.Normalization.allCases)
    func theInputStepAscendsTheObjective(normalization: UDIM.Normalization) {
        let (model, x, labels) = smallBatch()
        let rho: Float = 0.5, radius: Float = 0.05
        let shifted = UDIM.perturbedInputs(x, labels: labels, model: model, rho: rho, radius: radius, normalization: normalization)
        let before = UDIM.inputObjective(x, labels: labels, model: model, rho: rho).value
        let after = UDIM.inputObjective(shifted, labels: labels, model: model, rho: rho).value
        #expect(after > before, "L + ρ‖∇L‖ went from \(before) to \(after)")
        let step = (shifted - x).reshaped(to: [5, 4])
        let norms = step.square().sum(alongAxis: normalization == .sample ? 1 : 0).sqrt()
        #expect(norms.scalars.allSatisfy { abs($0 - radius) < 1e-5 }, "step norms \(norms.scalars)")
    }

    /// (pᵢ − yᵢ) ⊗ hᵢ and pᵢ − yᵢ equal autodiff's gradients of sample i's own loss, for an
    /// MLP's last Linear and LeNet-5's fc3.
    @Test func closedFormLastLayerGradientsAreAutodiffsPerSampleGradients() {
        let (mlp, x, labels) = smallBatch()
        expectClosedForm(mlp, inputs: x, labels: labels, weight: "layers.1.weight", bias: "layers.1.bias")
        var generator = SeededGenerator(seed: 12)
        let lenet = LeNet5(using: &generator)
        expectClosedForm(lenet, inputs: Tensor.randomUniform([3, 1, 28, 28], in: 0..<1, using: &generator), labels: [9, 0, 4],
                         weight: "fc3.weight", bias: "fc3.bias")
    }

    private func expectClosedForm<Model: LinearHeaded>(_ model: Model, inputs: Tensor, labels: [Int], weight: String, bias: String) {
        var copy = model
        let (features, outputs) = withoutGradients { copy.featuresAndOutputs(inputs) }
        #expect(outputs == withoutGradients { copy(inputs) })
        let closed = UDIM.lastLayerGradients(features: features, outputs: outputs, labels: labels)
        let perSampleSize = closed.weight.shape[1]
        for i in labels.indices {
            let sample = inputs.gathering([i], alongAxis: 0)
            let g = valueWithGradient(at: model) { (m: inout Model) in crossEntropy(logits: m(sample), labels: [labels[i]], reduction: .sum) }.gradient
            #expect(closed.weight.gathering([i], alongAxis: 0).isClose(to: g[weight]!.reshaped(to: [1, perSampleSize]), relativeTolerance: 1e-4, absoluteTolerance: 1e-6))
            #expect(closed.bias.gathering([i], alongAxis: 0).isClose(to: g[bias]!.reshaped(to: [1, g[bias]!.count]), relativeTolerance: 1e-4, absoluteTolerance: 1e-6))
        }
    }

    /// The penalty against the reference code's formula written out with loops in Double:
    /// variances of the per-sample gradients (the shifted half centred at the source mean),
    /// ½Σ_k mean_d (v_k − v̄)², plus the shifted half's mean squared norm per parameter size.
    @Test func theInconsistencyIsTheReferenceCodesPenalty() {
        var generator = SeededGenerator(seed: 21)
        let (n, c, f) = (3, 3, 2)
        let features = Tensor.randomNormal([2 * n, f], using: &generator)
        let outputs = Tensor.randomNormal([2 * n, c], using: &generator)
        let labels = [0, 2, 1, 0, 2, 1]
        let value = Double(UDIM.inconsistency(features: features, outputs: outputs, labels: labels).item)

        // Per-sample gradients by hand: rows of [(p − y) ⊗ h, p − y].
        var rows: [[Double]] = []
        for i in 0..<(2 * n) {
            let z = (0..<c).map { Double(outputs.scalars[i * c + $0]) }
            let e = z.map { exp($0) }, total = e.reduce(0, +)
            let error = (0..<c).map { e[$0] / total - ($0 == labels[i] ? 1 : 0) }
            let h = (0..<f).map { Double(features.scalars[i * f + $0]) }
            rows.append(error.flatMap { ek in h.map { ek * $0 } } + error)
        }
        let d = c * f + c
        let mean = (0..<d).map { j in (0..<n).map { rows[$0][j] }.reduce(0, +) / Double(n) }
        let vo = (0..<d).map { j in (0..<n).map { pow(rows[$0][j] - mean[j], 2) }.reduce(0, +) / Double(n) }
        let vs = (0..<d).map { j in (n..<(2 * n)).map { pow(rows[$0][j] - mean[j], 2) }.reduce(0, +) / Double(n) }
        let average = zip(vo, vs).map { ($0 + $1) / 2 }
        let matching = (zip(vo, average).map { pow($0 - $1, 2) }.reduce(0, +) / Double(d)
            + zip(vs, average).map { pow($0 - $1, 2) }.reduce(0, +) / Double(d)) / 2
        let weightNorm = (n..<(2 * n)).map { i in rows[i][0..<(c * f)].map { $0 * $0 }.reduce(0, +) }.reduce(0, +) / Double(n) / Double(c * f)
        let biasNorm = (n..<(2 * n)).map { i in rows[i][(c * f)...].map { $0 * $0 }.reduce(0, +) }.reduce(0, +) / Double(n) / Double(c)
        let expected = matching + weightNorm + biasNorm
        #expect(abs(value - expected) <= 1e-5 * max(1, abs(expected)), "UDIM \(value), by hand \(expected)")
    }

    /// During the warm-up UDIM is SAM bit for bit; once the penalty is on, it trains
    /// differently; a resumed run is bit-identical to an uninterrupted one.
    @Test func warmsUpAsSAMThenDiffersAndResumesBitIdentically() throws {
        var udim = configuration("udim", epochs: 1)
        udim.methodOptions = ["udim-warmup": 1, "udim-rho-x": 0.5]
        var sam = udim
        sam.optimizer = "sam"
        sam.methodOptions = [:]
        let samState = try train(sam).state
        #expect(try train(udim).state == samState)
        var penalized = udim
        penalized.methodOptions["udim-warmup"] = 0
        #expect(try train(penalized).state != samState, "UDIM's penalty never changed the training")
        try checkResume(udim)  // the penalty switches on in the second epoch, before the interruption
    }

    /// UDIM needs per-sample gradients of a linear last layer: a model without one is
    /// refused with the field and the model named.
    @Test func aModelWithoutALinearHeadIsRefused() throws {
        struct Opaque: Layer {
            mutating func visit(_ visitor: ModuleVisitor) {}
            mutating func callAsFunction(_ input: Tensor) -> Tensor { input }
        }
        var c = configuration("udim", epochs: 1)
        c.model = "opaque"
        let context = MethodContext(configuration: c, sampleCount: 4, classCount: 3)
        #expect {
            _ = try MethodRegistry.standard.makeObjective(c, context: context, model: Opaque())
        } throws: { error in
            let text = "\(error)"
            return text.contains("model") && text.contains("opaque") && text.contains("linear")
        }
    }

    /// `--data-dir a,b` reads both domains as one dataset, their samples in turn, train and
    /// test alike; domains of different shapes are refused naming the directory.
    @Test func severalDomainDirectoriesLoadAsOneInterleavedDataset() throws {
        let root = try temporaryDirectory("domains")
        defer { try? FileManager.default.removeItem(at: root) }
        func domain(_ name: String, train: [Int], test: [Int], side: Int = 2) throws -> String {
            let dir = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            func images(_ labels: [Int]) -> Tensor {  // every pixel of a sample holds its label / 10
                Tensor(shape: [labels.count, 1, side, side], scalars: labels.flatMap { [Float](repeating: Float($0) / 10, count: side * side) })
            }
            for (split, labels) in [("train", train), ("t10k", test)] {
                try Data(MNIST.encodeImages(images(labels))).write(to: dir.appendingPathComponent("\(split)-images-idx3-ubyte"))
                try Data(MNIST.encodeLabels(labels)).write(to: dir.appendingPathComponent("\(split)-labels-idx1-ubyte"))
            }
            return dir.path
        }
        let a = try domain("a", train: [1, 2, 3], test: [7])
        let b = try domain("b", train: [4, 5], test: [8, 9])
        let (train, test) = try DatasetCatalog.load("mnist", dataDirectory: "\(a),\(b)", seed: 0)
        #expect(train.labels == [1, 4, 2, 5, 3])
        #expect(test.labels == [7, 8, 9])
        #expect(train.images.reshaped(to: [5, 4]).gathering([1], alongAxis: 0).scalars.allSatisfy { abs($0 - 0.4) < 0.01 })
        let odd = try domain("odd", train: [1], test: [1], side: 3)
        #expect {
            _ = try DatasetCatalog.load("mnist", dataDirectory: "\(a),\(odd)", seed: 0)
        } throws: { error in "\(error)".contains("data-dir") && "\(error)".contains(odd) }
        #expect {
            _ = try DatasetCatalog.load("mnist", dataDirectory: "\(a),", seed: 0)
        } throws: { error in "\(error)".contains("data-dir") && "\(error)".contains("empty") }
    }
}
