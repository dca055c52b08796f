import Testing
import PlateauTensor
import PlateauNN

/// Exposes only some parameters of a model (those whose path starts with one of
/// `prefixes`), so that the finite-difference checker visits a few hundred components
/// instead of LeNet's 61 706.
private struct SomeParametersOnly<L: Layer>: Layer {
    var model: L
    var prefixes: [String]
    mutating func visit(_ visitor: ModuleVisitor) {
        let prefixes = prefixes
        model.visit(ModuleVisitor { path, role, tensor in
            if role == .parameter && prefixes.contains(where: path.hasPrefix) { visitor.parameter(path, &tensor) }
        })
    }
    mutating func callAsFunction(_ input: Tensor) -> Tensor { model(input) }
}

/// `--norm` for LeNet-5 and the MLP (issue 12): layer names, shapes, group counts and
/// gradients; `none` must be the models exactly as before the option.
@Suite("Normalized LeNet-5 and MLP")
struct NormModelTests {
    /// The state dictionary keys of the models before `--norm` existed: old checkpoints
    /// load only if `none` keeps them, in this order.
    @Test func noneKeepsTheHistoricalParameterNames() {
        var g = SeededGenerator(seed: 1)
        let lenet = LeNet5(using: &g)
        #expect(lenet.stateDictionary.keys == ["conv1", "conv2", "fc1", "fc2", "fc3"].flatMap { ["\($0).weight", "\($0).bias"] })
        let mlp = MLP(sizes: [12, 7, 5, 3], using: &g)
        #expect(mlp.stateDictionary.keys == (0..<3).flatMap { ["layers.\($0).weight", "layers.\($0).bias"] })
        #expect(mlp.norms.isEmpty)
    }

    /// Normalization layers draw no random numbers: the same seed gives the same weights.
    @Test func normalizedModelsShareTheUnnormalizedWeights() {
        var a = SeededGenerator(seed: 2), b = SeededGenerator(seed: 2)
        let plain = LeNet5(using: &a).parameters, normed = LeNet5(norm: .group, using: &b).parameters
        for (key, value) in plain.entries { #expect(normed[key]?.scalars == value.scalars, "\(key)") }
    }

    @Test(arguments: NormalizationKind.allCases)
    func shapesAndNames(kind: NormalizationKind) {
        var g = SeededGenerator(seed: 3)
        var lenet = LeNet5(norm: kind, using: &g)
        #expect(lenet(random([2, 1, 28, 28], seed: 4)).shape == [2, 10])
        var mlp = MLP(sizes: [12, 9, 3], norm: kind, using: &g)
        #expect(mlp(random([4, 12], seed: 5)).shape == [4, 3])
        let lenetParameters = lenet.parameters, mlpParameters = mlp.parameters
        if kind == .none {
            #expect(!lenetParameters.keys.contains { $0.hasPrefix("norm") })
            return
        }
        for (name, width) in [("norm1", 6), ("norm2", 16), ("norm3", 120), ("norm4", 84)] {
            #expect(lenetParameters["\(name).weight"]?.shape == [width], "\(name).weight")
            #expect(lenetParameters["\(name).bias"]?.shape == [width], "\(name).bias")
        }
        #expect(mlpParameters["norms.0.weight"]?.shape == [9] && mlpParameters["norms.0.bias"]?.shape == [9])
        #expect(mlp.norms.count == 1, "one per hidden layer")
        let buffers = lenet.buffers.keys
        if kind == .batch {
            #expect(buffers.contains("norm1.running_mean") && buffers.contains("norm4.running_var") && buffers.contains("norm2.num_batches_tracked"))
        } else {
            #expect(buffers.isEmpty)
        }
    }

    /// The documented choices: group = the most groups (≤ 32) with ≥ 3 channels each,
    /// LayerNorm on LeNet's linear layers; layer = GroupNorm(1, C) after a conv.
    @Test func groupCountsAndLayerTypes() {
        #expect(NormLayer.groupCount(6) == 2 && NormLayer.groupCount(16) == 4 && NormLayer.groupCount(512) == 32)
        #expect(NormLayer.groupCount(9) == 3 && NormLayer.groupCount(4) == 1 && NormLayer.groupCount(7) == 1)
        var g = SeededGenerator(seed: 6)
        let grouped = LeNet5(norm: .group, using: &g)
        guard case .group(let n1) = grouped.norm1, case .group(let n2) = grouped.norm2, case .layer = grouped.norm3 else {
            Issue.record("group LeNet: expected GroupNorm, GroupNorm, LayerNorm, got \(String(describing: grouped.norm1)), …")
            return
        }
        #expect(n1.groupCount == 2 && n2.groupCount == 4)
        let layered = LeNet5(norm: .layer, using: &g)
        guard case .group(let l1) = layered.norm1, case .layer = layered.norm4 else {
            Issue.record("layer LeNet: expected GroupNorm(1, 6) and LayerNorm")
            return
        }
        #expect(l1.groupCount == 1)
        guard case .group(let m) = MLP(sizes: [4, 512, 2], norm: .group, using: &g).norms[0] else {
            Issue.record("group MLP: expected GroupNorm")
            return
        }
        #expect(m.groupCount == 32)
    }

    /// Every parameter and input gradient of a tiny normalized MLP, against finite differences.
    @Test(arguments: [NormalizationKind.batch, .group, .layer])
    func mlpGradients(kind: NormalizationKind) {
        // Seeds chosen so that no pre-activation lies within a step of a ReLU kink (seed 7
        // put one at −0.001, where finite differences average two slopes).
        var g = SeededGenerator(seed: 17)
        var model = MLP(sizes: [5, 6, 6, 3], norm: kind, using: &g)
        // Non-trivial affine parameters, so that their gradients are not a special case.
        model.update(model.parameters.mapWithKeys { key, value in key.hasPrefix("norms") ? value + random(value.shape, seed: 8, scale: 0.3) : value })
        expectGradientsMatch(model, input: random([4, 5], seed: 19), minimumChecked: 5 * 6 + 6 * 6 + 6 * 3 + 15 + 4 * 6 + 20, step: 1e-3)
    }

    /// LeNet's last normalization (after fc2, 84 features). The others are left
    /// to the MLP check and the layers' own tests: each of their parameters moves
    /// thousands of ReLU and max-pool inputs at once, so some always sit within a step of a
    /// kink and finite differences there average two slopes.
    @Test(arguments: [NormalizationKind.batch, .group, .layer])
    func leNetNormGradients(kind: NormalizationKind) {
        var g = SeededGenerator(seed: 20)
        let model = LeNet5(norm: kind, using: &g)
        expectGradientsMatch(SomeParametersOnly(model: model, prefixes: ["norm4."]), input: random([8, 1, 28, 28], seed: 21),
                             includeInput: false, minimumChecked: 2 * 84, step: 1e-3)
    }
}
