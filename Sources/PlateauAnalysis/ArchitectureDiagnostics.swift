import PlateauData
import PlateauNN
import PlateauTensor

// The diagnostics of Chen, Hsieh & Gong (ICLR 2022, *When Vision Transformers Outperform
// ResNets without Pre-training or Strong Data Augmentations*): per-sub-block λ_max,
// MLP activation sparsity, weight norms, loss under Gaussian weight noise and the NTK
// condition number, for any model, with finer groupings for ViTs and MLP-Mixers.

extension ParameterGroups {
    /// The natural sub-blocks of a model, for per-block λ_max and weight norms:
    ///
    /// - a ViT (`encoder.layers.encoder_layer_i.*`): `embedding` (class token, patch
    ///   projection, positional embedding), then per block `block<i>.attention` (ln_1 and the
    ///   self-attention) and `block<i>.mlp` (ln_2 and the MLP), then `head` (final norm, head);
    /// - an MLP-Mixer (`blocks.i.mlp_tokens`): `embedding` (the patch stem), per block
    ///   `block<i>.token_mixing` (norm1, mlp_tokens) and `block<i>.channel_mixing` (norm2,
    ///   mlp_channels), then `head`;
    /// - anything else (CNNs, MLPs): one group per layer, as ``layers(of:)``.
    ///
    /// Each pre-norm LayerNorm belongs to the sub-block it feeds, so the groups partition
    /// the parameters.
    public static func subBlocks(of parameters: ParameterSet) -> [(name: String, contains: (String) -> Bool)] {
        let keys = parameters.keys
        let isViT = keys.contains { $0.hasPrefix("encoder.layers.encoder_layer_") }
        let isMixer = keys.contains { $0.hasPrefix("blocks.") && $0.contains(".mlp_tokens.") }
        guard isViT || isMixer else { return layers(of: parameters) }
        var order: [String] = []
        var members: [String: Set<String>] = [:]
        for key in keys {
            let group = isViT ? vitSubBlock(key) : mixerSubBlock(key)
            if members[group] == nil { order.append(group) }
            members[group, default: []].insert(key)
        }
        return order.map { group in
            let set = members[group]!
            return (group, { set.contains($0) })
        }
    }

    private static func vitSubBlock(_ key: String) -> String {
        let parts = key.split(separator: ".").map(String.init)
        if parts.count >= 4, parts[0] == "encoder", parts[1] == "layers", parts[2].hasPrefix("encoder_layer_") {
            let index = parts[2].dropFirst("encoder_layer_".count)
            switch parts[3] {
            case "ln_1", "self_attention": return "block\(index).attention"
            case "ln_2", "mlp": return "block\(index).mlp"
            default: return "block\(index)"
            }
        }
        if parts[0] == "class_token" || parts[0] == "conv_proj" || key == "encoder.pos_embedding" { return "embedding" }
        return "head"
    }

    private static func mixerSubBlock(_ key: String) -> String {
        let parts = key.split(separator: ".").map(String.init)
        if parts.count >= 3, parts[0] == "blocks" {
            switch parts[2] {
            case "norm1", "mlp_tokens": return "block\(parts[1]).token_mixing"
            case "norm2", "mlp_channels": return "block\(parts[1]).channel_mixing"
            default: return "block\(parts[1])"
            }
        }
        if parts[0] == "stem" { return "embedding" }
        return "head"
    }
}

/// A model whose hidden units can be read out, for activation sparsity: the inputs of the
/// nonlinearity of each hidden (MLP) layer.
///
/// Pre-activations z rather than activations are returned because "active" is decided on
/// them: for ReLU and for GELU alike the output is positive exactly when z > 0
/// (GELU(z) = z·Φ(z)), and z avoids GELU's tiny negative outputs rounding to zero.
public protocol HiddenUnitReporting: Layer {
    /// The pre-activations of each hidden layer on `input`, named as in
    /// ``ParameterGroups/subBlocks(of:)`` where a sub-block owns them.
    mutating func hiddenPreActivations(_ input: Tensor) -> [(name: String, preActivation: Tensor)]
}

extension VisionTransformer: HiddenUnitReporting {
    /// The GELU inputs of each block's MLP, `[N, tokens, mlp]` (the class token included).
    public mutating func hiddenPreActivations(_ input: Tensor) -> [(name: String, preActivation: Tensor)] {
        let (n, d) = (input.shape[0], dimension)
        let patches = patchEmbedding(input).flattened(fromAxis: 2).permuted([0, 2, 1])
        var x = Tensor.concatenating([classToken.broadcast(to: [n, 1, d]), patches], alongAxis: 1) + positionEmbedding
        var result: [(name: String, preActivation: Tensor)] = []
        for i in blocks.indices {
            // The block's own first half (dropout is the identity when measuring).
            let u = x + blocks[i].attention(blocks[i].norm1(x))
            result.append(("block\(i).mlp", blocks[i].mlp.fc1(blocks[i].norm2(u))))
            x = blocks[i](x)
        }
        return result
    }
}

extension MLPMixer: HiddenUnitReporting {
    /// The GELU inputs of each block's token-mixing MLP (`[N, channels, token hidden]`) and
    /// channel-mixing MLP (`[N, patches, channel hidden]`).
    public mutating func hiddenPreActivations(_ input: Tensor) -> [(name: String, preActivation: Tensor)] {
        var x = stem(input).flattened(fromAxis: 2).permuted([0, 2, 1])
        var result: [(name: String, preActivation: Tensor)] = []
        for (i, block) in blocks.enumerated() {
            let mixedIn = block.norm1(x).transposed
            result.append(("block\(i).token_mixing", block.tokenMixing.fc1(mixedIn)))
            let u = x + block.tokenMixing(mixedIn).transposed
            result.append(("block\(i).channel_mixing", block.channelMixing.fc1(block.norm2(u))))
            x = block(x)
        }
        return result
    }
}

extension LeNet5: HiddenUnitReporting {
    /// The ReLU inputs of conv1, conv2, fc1 and fc2 (after their normalization, if any).
    public mutating func hiddenPreActivations(_ input: Tensor) -> [(name: String, preActivation: Tensor)] {
        func normalized(_ x: Tensor, _ norm: inout NormLayer?) -> Tensor {
            guard var layer = norm else { return x }
            let y = layer(x)
            norm = layer
            return y
        }
        let z1 = normalized(conv1(input), &norm1)
        let z2 = normalized(conv2(z1.relu().maxPool2d(kernel: (2, 2))), &norm2)
        let z3 = normalized(fc1(z2.relu().maxPool2d(kernel: (2, 2)).flattened()), &norm3)
        let z4 = normalized(fc2(z3.relu()), &norm4)
        return [("conv1", z1), ("conv2", z2), ("fc1", z3), ("fc2", z4)]
    }
}

extension MLP: HiddenUnitReporting {
    /// The ReLU inputs of each hidden layer, `layers.<i>`.
    public mutating func hiddenPreActivations(_ input: Tensor) -> [(name: String, preActivation: Tensor)] {
        var x = input.rank == 2 ? input : input.flattened()
        var result: [(name: String, preActivation: Tensor)] = []
        for i in 0..<(layers.count - 1) {
            var z = layers[i](x)
            if !norms.isEmpty { z = norms[i](z) }
            result.append(("layers.\(i)", z))
            x = z.relu()
        }
        return result
    }
}

/// The diagnostics of Chen, Hsieh & Gong (ICLR 2022) beside the Hessian measures.
public enum ArchitectureDiagnostics {
    /// The fraction of active hidden units per hidden layer over `batches`: the share of
    /// (sample, position, unit) entries whose activation is positive (pre-activation > 0,
    /// see ``HiddenUnitReporting``), pooled over all samples.
    ///
    /// - Returns: the layers in forward order, or nil when the model does not report its
    ///   hidden units.
    public static func activeFraction<Model: Layer>(
        of model: Model, batches: some Sequence<Batch>, mode: BatchNormMode = .evaluation
    ) -> [(name: String, fraction: Double)]? {
        guard var reporting = model.training(mode == .training) as? any HiddenUnitReporting else { return nil }
        var names: [String] = []
        var active: [Int] = [], total: [Int] = []
        withoutGradients {
            for batch in batches {
                let layers = reporting.hiddenPreActivations(batch.images)
                if names.isEmpty {
                    names = layers.map(\.name)
                    active = Array(repeating: 0, count: layers.count)
                    total = active
                }
                for (i, layer) in layers.enumerated() {
                    active[i] += layer.preActivation.scalars.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
                    total[i] += layer.preActivation.count
                }
            }
        }
        return names.indices.map { (names[$0], total[$0] == 0 ? 0 : Double(active[$0]) / Double(total[$0])) }
    }

    /// ‖θ_S‖ for each group S and ‖θ‖ over all parameters.
    public static func weightNorms(
        of parameters: ParameterSet, groups: [(name: String, contains: (String) -> Bool)]
    ) -> (groups: [(name: String, norm: Double)], total: Double) {
        let perGroup = groups.compactMap { group -> (name: String, norm: Double)? in
            let subset = parameters.filter(group.contains)
            return subset.isEmpty ? nil : (group.name, subset.sumOfSquares().squareRoot())
        }
        return (perGroup, parameters.sumOfSquares().squareRoot())
    }

    /// One point of ``noiseCurve(of:sigmas:draws:using:)``.
    public struct NoisePoint: Sendable, Equatable {
        /// The relative noise level σ.
        public var sigma: Float
        /// The mean loss over the draws.
        public var meanLoss: Float
        /// The sample standard deviation of the loss over the draws (0 for one draw).
        public var standardDeviation: Float
    }

    /// The loss under Gaussian weight noise scaled per layer, averaged over `draws` draws
    /// for each σ:
    ///
    ///     θ_l + ε_l,   ε_l ~ N(0, (σ‖θ_l‖)²/n_l · I)
    ///
    /// for each layer l (a module's weight and bias together, ``ParameterGroups/layers(of:)``)
    /// with n_l entries, so that E‖ε_l‖² = σ²‖θ_l‖²: σ is the noise's size relative to each
    /// layer's weights. (Read entrywise, N(0, (σ‖θ_l‖)²) per weight would be √n_l times
    /// larger and swamp any layer of more than a few hundred weights at σ = 0.01.)
    /// σ = 0 is the loss itself. The draws follow `generator`, in the order of `sigmas`.
    public static func noiseCurve(
        of loss: LossFunction, sigmas: [Float], draws: Int, using generator: inout some RandomNumberGenerator
    ) -> [NoisePoint] {
        precondition(draws >= 1, "ArchitectureDiagnostics.noiseCurve: draws must be positive")
        let point = loss.parameters
        let layers = ParameterGroups.layers(of: point)
        // The noise scale of each tensor: σ‖θ_l‖/√n_l of its layer, for σ = 1.
        var scale: [String: Float] = [:]
        for layer in layers {
            let subset = point.filter(layer.contains)
            let perEntry = (subset.sumOfSquares() / Double(max(subset.scalarCount, 1))).squareRoot()
            for key in subset.keys { scale[key] = Float(perEntry) }
        }
        let clean = loss.value()
        return sigmas.map { sigma in
            guard sigma != 0 else { return NoisePoint(sigma: 0, meanLoss: clean, standardDeviation: 0) }
            let values: [Double] = (0..<draws).map { _ in
                let noisy = point.mapWithKeys { key, w in
                    w + Tensor.randomNormal(w.shape, standardDeviation: sigma * scale[key]!, using: &generator)
                }
                return Double(loss.value(at: noisy))
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.count > 1 ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1) : 0
            return NoisePoint(sigma: sigma, meanLoss: Float(mean), standardDeviation: Float(variance.squareRoot()))
        }
    }

    /// The empirical neural tangent kernel on a few samples and its spectrum.
    public struct NTKSpectrum: Sendable, Equatable {
        /// The Gram matrix K_ij = ⟨∇_θ Σ_c f_c(x_i), ∇_θ Σ_c f_c(x_j)⟩, n×n.
        public var gram: [[Double]]
        /// Its eigenvalues, ascending.
        public var eigenvalues: [Double]
        /// λ_max/λ_min, or nil when λ_min ≤ 0 (a singular kernel: fewer independent
        /// gradients than samples, or rounding).
        public var conditionNumber: Double? {
            guard let low = eigenvalues.first, let high = eigenvalues.last, low > 0 else { return nil }
            return high / low
        }
    }

    /// The empirical NTK of `model` on the samples of `samples` (each sample gets its own
    /// gradient, whatever the batching), from per-sample gradients of the logits summed over
    /// classes, f̄(x) = Σ_c f_c(x). Its Gram matrix is the sum of the C×C class blocks of the
    /// per-class kernel: one backward pass per sample and an n×n matrix instead of C passes
    /// and an nC×nC one. Dropout is off in evaluation mode.
    public static func ntk<Model: Layer>(
        of model: Model, samples: some Sequence<Batch>, mode: BatchNormMode = .evaluation
    ) -> NTKSpectrum {
        let configured = model.training(mode == .training)
        var gradients: [[Float]] = []
        for batch in samples {
            for i in 0..<batch.count {
                let image = batch.images.sliced(alongAxis: 0, i..<(i + 1))
                let function = LossFunction(model: configured) { (m: inout Model) in m(image).sum() }
                let gradient = function.valueWithGradient().gradient
                gradients.append(gradient.values.flatMap { $0.scalars })
            }
        }
        let n = gradients.count
        var gram = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in i..<n {
                var s = 0.0
                for (a, b) in zip(gradients[i], gradients[j]) { s += Double(a) * Double(b) }
                gram[i][j] = s
                gram[j][i] = s
            }
        }
        return NTKSpectrum(gram: gram, eigenvalues: SymmetricEigendecomposition.of(gram).values)
    }

    /// The eigenvalues (ascending) of a small dense symmetric matrix, by Jacobi rotations.
    public static func symmetricEigenvalues(_ matrix: [[Double]]) -> [Double] {
        SymmetricEigendecomposition.of(matrix).values
    }
}
