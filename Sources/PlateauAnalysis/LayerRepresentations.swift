import PlateauNN
import PlateauTensor

/// The representations a model computes for a batch, layer by layer, as `[N, features]`
/// matrices: what Zhou et al. (ICML 2023) compare with linear CKA between two retrained
/// pruned models ("mean CKA over layers").
///
/// - ``MLP``: every hidden layer's activations (after its normalization and ReLU), then
///   the logits.
/// - ``LeNet5``: the two pooled convolution blocks (flattened), the two hidden fully
///   connected layers, then the logits.
/// - any other ``LinearHeaded`` model: its features and its logits; any other model: its
///   logits only.
///
/// Always in evaluation mode and without gradients, so that BatchNorm uses its running
/// statistics and the two models are compared as they would predict.
public enum LayerRepresentations {
    /// The representations of `input`, first layer first; the last one is the logits.
    public static func of(_ model: any Layer, on input: Tensor) -> [Tensor] {
        withoutGradients {
            switch model {
            case let mlp as MLP: return ofMLP(mlp.training(false), input)
            case let lenet as LeNet5: return ofLeNet(lenet.training(false), input)
            case let headed as any LinearHeaded: return ofHeaded(headed, input)
            default:
                var evaluated = model.training(false)
                return [flat(evaluated(input))]
            }
        }
    }

    private static func ofHeaded<M: LinearHeaded>(_ model: M, _ input: Tensor) -> [Tensor] {
        var evaluated = model.training(false)
        let (features, outputs) = evaluated.featuresAndOutputs(input)
        return [flat(features), flat(outputs)]
    }

    private static func ofMLP(_ model: MLP, _ input: Tensor) -> [Tensor] {
        var m = model
        var x = input.rank == 2 ? input : input.flattened()
        var result: [Tensor] = []
        for i in 0..<(m.layers.count - 1) {
            x = m.layers[i](x)
            x = m.norms.isEmpty ? x.relu() : m.norms[i].rectified(x)
            result.append(x)
        }
        result.append(m.layers[m.layers.count - 1](x))
        return result
    }

    private static func ofLeNet(_ model: LeNet5, _ input: Tensor) -> [Tensor] {
        var m = model
        // LeNet5's own optional-norm helper is internal to PlateauNN.
        func rectified(_ norm: inout NormLayer?, _ x: Tensor) -> Tensor {
            guard var layer = norm else { return x.relu() }
            defer { norm = layer }
            return layer.rectified(x)
        }
        let c1 = rectified(&m.norm1, m.conv1(input)).maxPool2d(kernel: (2, 2))
        let c2 = rectified(&m.norm2, m.conv2(c1)).maxPool2d(kernel: (2, 2)).flattened()
        let f1 = rectified(&m.norm3, m.fc1(c2))
        let f2 = rectified(&m.norm4, m.fc2(f1))
        return [c1.flattened(), c2, f1, f2, m.fc3(f2)]
    }

    private static func flat(_ t: Tensor) -> Tensor { t.rank == 2 ? t : t.flattened() }
}

extension LinearCKA {
    /// Linear CKA between the matching layers of two models of the same architecture on the
    /// same `input`, one value per layer (``LayerRepresentations``), first layer first.
    public static func layerwise(_ a: any Layer, _ b: any Layer, on input: Tensor) -> [Double] {
        let ra = LayerRepresentations.of(a, on: input), rb = LayerRepresentations.of(b, on: input)
        precondition(ra.count == rb.count, "LinearCKA.layerwise: the models have \(ra.count) and \(rb.count) layers")
        return zip(ra, rb).map { similarity($0, $1) }
    }
}
