import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import Testing

@Suite("Architecture diagnostics")
struct ArchitectureDiagnosticsTests {
    @Test("sparsity of a hand-built ReLU layer: 4 of 9 hidden units positive, a zero counts as inactive")
    func reluSparsity() {
        var g = SeededGenerator(seed: 1)
        var model = MLP(sizes: [2, 3, 1], using: &g)
        model.layers[0] = Linear(weight: Tensor([[1, 0], [0, 1], [-1, -1]]), bias: .zeros([3]))
        // z = (1, 2, −3), (−1, 1, 0), (−1, −2, 3): 2 + 1 + 1 active.
        let images = Tensor([[1, 2], [-1, 1], [-1, -2]])
        let batches = [Batch(images: images.sliced(alongAxis: 0, 0..<2), labels: [0, 0], indices: [0, 1]),
                       Batch(images: images.sliced(alongAxis: 0, 2..<3), labels: [0], indices: [2])]
        let result = ArchitectureDiagnostics.activeFraction(of: model, batches: batches)
        #expect(result?.map(\.name) == ["layers.0"])
        #expect(Swift.abs((result?[0].fraction ?? 0) - 4.0 / 9.0) < 1e-12)
    }

    @Test("a ViT's and a Mixer's MLP hidden units are read per sub-block, named as its Hessian groups")
    func transformerHiddenUnits() throws {
        var g = SeededGenerator(seed: 2)
        let vit = VisionTransformer(imageSize: 4, patchSize: 2, inputChannels: 1, classCount: 2, dimension: 4, depth: 2, headCount: 2, mlpDimension: 6, using: &g)
        let mixer = MLPMixer(imageSize: 4, patchSize: 2, inputChannels: 1, classCount: 2, dimension: 4, depth: 2,
                             tokenHiddenDimension: 3, channelHiddenDimension: 5, using: &g)
        let batch = Batch(images: Tensor.randomNormal([3, 1, 4, 4], using: &g), labels: [0, 1, 0], indices: [0, 1, 2])
        var reporting = vit
        let vitLayers = reporting.hiddenPreActivations(batch.images)
        #expect(vitLayers.map(\.name) == ["block0.mlp", "block1.mlp"])
        #expect(vitLayers[0].preActivation.shape == [3, 5, 6])  // 4 patches + the class token
        var mixing = mixer
        let mixerLayers = mixing.hiddenPreActivations(batch.images)
        #expect(mixerLayers.map(\.name) == ["block0.token_mixing", "block0.channel_mixing", "block1.token_mixing", "block1.channel_mixing"])
        #expect(mixerLayers[0].preActivation.shape == [3, 4, 3])  // [N, channels, token hidden]
        #expect(mixerLayers[1].preActivation.shape == [3, 4, 5])  // [N, patches, channel hidden]
        let groups = ParameterGroups.subBlocks(of: mixer.parameters).map(\.name)
        for layer in mixerLayers { #expect(groups.contains(layer.name)) }
        let fractions = try #require(ArchitectureDiagnostics.activeFraction(of: vit, batches: [batch]))
        for f in fractions { #expect(f.fraction > 0 && f.fraction < 1) }
    }

    @Test("sub-blocks partition a ViT's and a Mixer's parameters into embedding, attention/MLP or token/channel mixing, head")
    func subBlocks() {
        var g = SeededGenerator(seed: 3)
        let vit = VisionTransformer(imageSize: 4, patchSize: 2, inputChannels: 1, classCount: 2, dimension: 4, depth: 2, headCount: 2, mlpDimension: 6, using: &g)
        let mixer = MLPMixer(imageSize: 4, patchSize: 2, inputChannels: 1, classCount: 2, dimension: 4, depth: 1, using: &g)
        let lenet = LeNet5(using: &g)
        let cases: [(ParameterSet, [String])] = [
            (vit.parameters, ["embedding", "block0.attention", "block0.mlp", "block1.attention", "block1.mlp", "head"]),
            (mixer.parameters, ["embedding", "block0.token_mixing", "block0.channel_mixing", "head"]),
            (lenet.parameters, ["conv1", "conv2", "fc1", "fc2", "fc3"]),
        ]
        for (parameters, expected) in cases {
            let groups = ParameterGroups.subBlocks(of: parameters)
            #expect(groups.map(\.name) == expected)
            for key in parameters.keys { #expect(groups.filter { $0.contains(key) }.count == 1, "\(key)") }
        }
        let attention = ParameterGroups.subBlocks(of: vit.parameters)[1]
        #expect(attention.contains("encoder.layers.encoder_layer_0.ln_1.weight"))
        #expect(attention.contains("encoder.layers.encoder_layer_0.self_attention.in_proj_weight"))
        #expect(!attention.contains("encoder.layers.encoder_layer_0.mlp.0.weight"))
    }

    @Test("weight norms per group and in total, by hand: ‖(3, 4, 0)‖ = 5, ‖12‖ = 12, total 13")
    func weightNorms() {
        let point = ParameterSet([("a.weight", Tensor([3, 4])), ("a.bias", Tensor([0])), ("b.weight", Tensor([12]))])
        let norms = ArchitectureDiagnostics.weightNorms(of: point, groups: ParameterGroups.layers(of: point))
        #expect(norms.groups.map(\.name) == ["a", "b"])
        #expect(Swift.abs(norms.groups[0].norm - 5) < 1e-9)
        #expect(Swift.abs(norms.groups[1].norm - 12) < 1e-9)
        #expect(Swift.abs(norms.total - 13) < 1e-9)
    }

    @Test("weight noise: σ = 0 is the loss, a seed repeats the curve, and on ½‖w‖² the mean rise is ½σ²‖w_l‖² per layer")
    func noiseCurve() {
        let loss = TinyProblem().loss
        var g1 = SeededGenerator(seed: 4), g2 = SeededGenerator(seed: 4)
        let a = ArchitectureDiagnostics.noiseCurve(of: loss, sigmas: [0, 0.1], draws: 2, using: &g1)
        let b = ArchitectureDiagnostics.noiseCurve(of: loss, sigmas: [0, 0.1], draws: 2, using: &g2)
        #expect(a[0].meanLoss == loss.value())
        #expect(a[0].standardDeviation == 0)
        #expect(a == b)
        #expect(a[1].meanLoss != a[0].meanLoss)

        // E ½‖w + ε‖² = ½‖w‖² + ½E‖ε‖², with E‖ε_l‖² = σ²‖w_l‖² for each layer l.
        var g = SeededGenerator(seed: 5)
        let u = Tensor.randomNormal([2000], using: &g), v = Tensor.randomNormal([500], using: &g) * 3
        let point = ParameterSet([("u.weight", u), ("v.weight", v)])
        let quadratic = LossFunction(at: point) { p in (p["u.weight"]!.square().sum() + p["v.weight"]!.square().sum()) * 0.5 }
        let sigma: Float = 0.2
        let curve = ArchitectureDiagnostics.noiseCurve(of: quadratic, sigmas: [sigma], draws: 20, using: &g)
        let expectedRise = 0.5 * sigma * sigma * Float(point.sumOfSquares())
        expectClose(curve[0].meanLoss - quadratic.value(), expectedRise, relative: 0.05)
    }

    @Test("the NTK of a linear model is C·(XXᵀ + 1) and its condition number (2+√3)² for X = (e₁, e₂, 0)")
    func linearNTK() {
        var g = SeededGenerator(seed: 6)
        var model = MLP(sizes: [3, 2], using: &g)
        model.layers[0] = Linear(weight: Tensor.randomNormal([2, 3], using: &g), bias: Tensor.randomNormal([2], using: &g))
        // f(x) = Wx + b; ∇_W Σ_c f_c = 1xᵀ, ∇_b = 1, so K_ij = C(x_i·x_j + 1), C = 2.
        let rows: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
        let batches = rows.enumerated().map { i, row in Batch(images: Tensor([row]), labels: [0], indices: [i]) }
        let spectrum = ArchitectureDiagnostics.ntk(of: model, samples: batches)
        for i in 0..<3 {
            for j in 0..<3 {
                let dot = zip(rows[i], rows[j]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(Swift.abs(spectrum.gram[i][j] - 2 * Double(dot + 1)) < 1e-5)
            }
        }
        // 2·[[2,1,1],[1,2,1],[1,1,1]] has eigenvalues 2(2−√3), 2, 2(2+√3).
        let root3 = 3.0.squareRoot()
        #expect(Swift.abs(spectrum.eigenvalues[0] - 2 * (2 - root3)) < 1e-5)
        #expect(Swift.abs(spectrum.eigenvalues[1] - 2) < 1e-5)
        #expect(Swift.abs((spectrum.conditionNumber ?? 0) - (2 + root3) * (2 + root3)) < 1e-4)
    }

    @Test("a singular NTK (two identical samples) has no condition number")
    func singularNTK() {
        var g = SeededGenerator(seed: 7)
        let model = MLP(sizes: [3, 2], using: &g)
        let batch = Batch(images: Tensor([[1, 2, 3], [1, 2, 3]]), labels: [0, 0], indices: [0, 1])
        #expect(ArchitectureDiagnostics.ntk(of: model, samples: [batch]).conditionNumber == nil)
    }

    @Test("per-sub-block λ_max of an MLP 4-8-3 matches the top eigenvalue of the dense Hessian block")
    func blocksMatchDenseHessian() {
        let loss = TinyProblem().loss
        let groups = ParameterGroups.subBlocks(of: loss.parameters)
        var g = SeededGenerator(seed: 8)
        let measured = HessianEigenvalues.perGroup(of: loss, groups: groups, tolerance: 1e-7, maximumIterations: 2000, using: &g)
        #expect(measured.map(\.name) == ["layers.0", "layers.1"])
        for (group, result) in zip(groups, measured) {
            // The dense block H_SS, one Hessian-vector product per unit vector.
            let block = loss.restricted(to: group.contains)
            let keys = block.parameters.keys
            let sizes = keys.map { block.parameters[$0]!.count }
            let n = sizes.reduce(0, +)
            var dense = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for column in 0..<n {
                var offset = 0
                let unit = ParameterSet(zip(keys, sizes).map { key, size in
                    defer { offset += size }
                    let shape = block.parameters[key]!.shape
                    return (key, Tensor(shape: shape, scalars: (0..<size).map { offset + $0 == column ? 1 : 0 }))
                })
                let hv = block.hessianVectorProduct(along: unit).values.flatMap(\.scalars)
                for row in 0..<n { dense[row][column] = Double(hv[row]) }
            }
            let symmetric = (0..<n).map { i in (0..<n).map { j in (dense[i][j] + dense[j][i]) / 2 } }
            let eigenvalues = ArchitectureDiagnostics.symmetricEigenvalues(symmetric)
            let dominant = eigenvalues.max { Swift.abs($0) < Swift.abs($1) }!
            expectClose(result.eigenvalue, Float(dominant), relative: 1e-3, absolute: 1e-5, "\(group.name)")
        }
    }
}
