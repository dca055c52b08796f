/// The engine's fused operations, each declared once.
///
/// A fused operation computes what a short composite of primitive operations would (its
/// *definition*, e.g. `x·Wᵀ + b` for ``Tensor/linear(weight:bias:)``) with one fast kernel
/// each way instead of a graph node per primitive. Its gradient rule therefore exists twice:
///
/// - the **fast backward kernel**, used by ordinary backward passes;
/// - a **differentiable backward**, the same gradient written with differentiable operations,
///   used when the backward pass is itself recorded (`createGraph: true`: Hessian-vector
///   products), since a kernel's output cannot be differentiated again.
///
/// ``Tensor/fused(_:shape:scalars:inputs:fast:differentiable:)`` is the only way to record a
/// fused node, and it chooses between the two: that choice is made here and nowhere else. Every
/// case below lists, beside the public operation, its composite definition and tiny example
/// arguments; one table-driven test (`FusedOperationTests`) checks, for every instance, that
/// the fused forward matches the definition, the fast backward matches the definition's
/// gradient, the differentiable backward matches the fast one, and its second derivatives
/// match both the definition's Hessian-vector product and finite differences of the fast
/// gradient. Adding a case without its declaration does not compile.
enum FusedOperation: String, CaseIterable, Sendable {
    /// ``Tensor/linear(weight:bias:)``: x·Wᵀ + b, the bias written first and accumulated onto.
    case linear
    /// ``Tensor/batchNormalized(scale:offset:epsilon:rectified:adding:)``: batch statistics, an
    /// optional residual and ReLU.
    case batchNorm
    /// ``Tensor/channelAffine(scale:shift:)``: x·scale[c] + shift[c] (batch norm in evaluation mode).
    case channelAffine
    /// ``Tensor/addingRectified(_:)``: max(a + b, 0), a residual block's sum and ReLU.
    case residualReLU
    /// ``Tensor/temperedKLDivergence(from:temperature:)``: τ²·KL between tempered softmaxes.
    case temperedKL
    /// `movingBatchOutward(addingPerChannel:)`: `[C, N, H, W]` → `[N, C, H, W]` plus a bias
    /// (after a grouped convolution's batched product).
    case batchOutward
    /// ``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:)`` with one group: im2col of
    /// one sample at a time and a product.
    case convolution
    /// The same for 'same' convolutions through the row-shift lowering (`SameConvolution`).
    case sameConvolution
    /// ``Tensor/gelu()``: x/2·(1 + erf(x/√2)).
    case gelu
    /// ``Tensor/layerNormalized(scale:offset:epsilon:)``: each row's statistics, then γ and β.
    case layerNorm
    /// ``Tensor/softmax(alongAxis:)`` along the last axis: each row's maximum, exponentials, sum.
    case softmax
    /// ``Tensor/multiHeadAttention(heads:)``: split the packed projections into heads,
    /// softmax(Q·Kᵀ/√d_h)·V per head, merge the heads.
    case attention
    /// ``Tensor/selectiveScan(_:delta:a:b:c:)``: Mamba's scan, h_t = exp(Δ_t A) h_{t−1} +
    /// Δ_t x_t B_t, y_t = h_t · C_t.
    case selectiveScan
    /// ``Tensor/reassembled(kernels:side:upsampling:)``: CARAFE, a per-pixel k×k kernel over
    /// the (replicate-padded, optionally 2× nearest-upsampled) input.
    case reassembly
    /// ``Tensor/upsampledNearest(to:)``: each output pixel copies its nearest source pixel.
    case nearestUpsampling

    /// The name of the operation's nodes in graphs.
    var nodeName: String {
        switch self {
        case .linear: "linear"
        case .batchNorm: "batchnorm"
        case .channelAffine: "channel-affine"
        case .residualReLU: "add-relu"
        case .temperedKL: "tempered-kl"
        case .batchOutward: "batch-outward"
        case .convolution: "conv2d"
        case .sameConvolution: "conv2d-same"
        case .gelu: "gelu"
        case .layerNorm: "layernorm"
        case .softmax: "softmax"
        case .attention: "attention"
        case .selectiveScan: "selective-scan"
        case .reassembly: "reassembly"
        case .nearestUpsampling: "upsample-nearest"
        }
    }

    /// Tiny instances of the operation, each with its composite definition: what the
    /// table-driven test runs.
    var instances: [FusedInstance] {
        switch self {
        case .linear:
            [FusedInstance("x[3,4] W[2,4] b[2]", [[3, 4], [2, 4], [2]],
                           fused: { $0[0].linear(weight: $0[1], bias: $0[2]) },
                           composite: { $0[0].matmul($0[1], transposingOther: true) + $0[2] })]
        case .batchNorm:
            [false, true].flatMap { rectified in
                // Planes of 1, 4 and 15 values: the vector loops and their remainders.
                [[8, 3], [2, 3, 2, 2], [2, 3, 3, 5]].map { shape in
                    FusedInstance(
                        "x\(shape)\(rectified ? " relu" : "")", arguments: batchNormExample(shape, rectified: rectified),
                        fused: { $0[0].batchNormalized(scale: $0[1], offset: $0[2], epsilon: 1e-5, rectified: rectified).output },
                        composite: { FusedOperation.batchNormDefinition($0[0], scale: $0[1], offset: $0[2], epsilon: 1e-5, rectified: rectified) })
                }
                // With a residual added before the ReLU: rows, and planes with a remainder.
                + [[8, 3], [2, 3, 3, 5]].map { shape in
                    FusedInstance(
                        "x\(shape) + r\(rectified ? " relu" : "")", arguments: batchNormResidualExample(shape, rectified: rectified),
                        fused: { $0[0].batchNormalized(scale: $0[1], offset: $0[2], epsilon: 1e-5, rectified: rectified, adding: $0[3]).output },
                        composite: {
                            FusedOperation.batchNormDefinition($0[0], scale: $0[1], offset: $0[2], epsilon: 1e-5, rectified: rectified, adding: $0[3])
                        })
                }
            }
        case .channelAffine:
            [[4, 3], [2, 3, 2, 2]].map { shape in
                FusedInstance("x\(shape)", [shape, [3], [3]],
                              fused: { $0[0].channelAffine(scale: $0[1], shift: $0[2]) },
                              composite: { FusedOperation.channelAffineDefinition($0[0], scale: $0[1], shift: $0[2]) })
            }
        case .residualReLU:
            [FusedInstance("a, b [2,3,2]", arguments: residualExample([2, 3, 2]),
                           fused: { $0[0].addingRectified($0[1]) },
                           composite: { ($0[0] + $0[1]).relu() })]
        case .temperedKL:
            [Float(1), 4].map { temperature in
                FusedInstance("student, teacher [3,4] τ \(temperature)", [[3, 4], [3, 4]], differentiable: [true, false], scale: 3,
                              fused: { $0[0].temperedKLDivergence(from: $0[1], temperature: temperature) },
                              composite: { FusedOperation.temperedKLDefinition($0[0], teacher: $0[1], temperature: temperature) })
            }
        case .batchOutward:
            [FusedInstance("x[3,2,2,2] b[3]", [[3, 2, 2, 2], [3]],
                           fused: { $0[0].movingBatchOutward(addingPerChannel: $0[1]) },
                           composite: { $0[0].permuted([1, 0, 2, 3]) + $0[1].reshaped(to: [1, 3, 1, 1]) }),
             FusedInstance("x[3,2,2,2]", [[3, 2, 2, 2]],
                           fused: { $0[0].movingBatchOutward(addingPerChannel: nil) },
                           composite: { $0[0].permuted([1, 0, 2, 3]) })]
        case .convolution:
            [
                // Strided: the input gradient through a product and col2im.
                convolutionInstance(input: [2, 2, 5, 5], weight: [3, 2, 3, 3], bias: true, WindowGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1))),
                // Stride 1, 'same' but too shallow for the row-shift lowering: the input
                // gradient as a convolution with the flipped filters; more samples than a chunk.
                convolutionInstance(input: [9, 1, 4, 4], weight: [2, 1, 3, 3], bias: false, WindowGeometry(kernel: (3, 3), padding: (1, 1))),
                convolutionInstance(input: [2, 2, 5, 4], weight: [2, 2, 2, 3], bias: true, WindowGeometry(kernel: (2, 3), dilation: (2, 1))),
            ]
        case .gelu:
            [FusedInstance("x[3,5]", [[3, 5]], scale: 3, fused: { $0[0].gelu() },
                           composite: { $0[0] * (($0[0] * Float(1 / 2.0.squareRoot())).erf() + 1) * 0.5 })]
        case .layerNorm:
            [[[4, 5], [5]], [[2, 3, 2, 3], [2, 3]]].map { shapes in
                FusedInstance("x\(shapes[0]) γ, β \(shapes[1])", [shapes[0], shapes[1], shapes[1]],
                              fused: { $0[0].layerNormalized(scale: $0[1], offset: $0[2], epsilon: 1e-5) },
                              composite: { FusedOperation.layerNormDefinition($0[0], scale: $0[1], offset: $0[2], epsilon: 1e-5) })
            }
        case .softmax:
            // Rows of 5 and of 20 (a full vector of lanes and a partial one); large logits
            // check the shift by the maximum.
            [[3, 5], [2, 2, 20]].map { shape in
                FusedInstance("x\(shape)", [shape], scale: 4, fused: { $0[0].softmax(alongAxis: -1) },
                              composite: { FusedOperation.softmaxDefinition($0[0], axis: shape.count - 1) })
            }
        case .attention:
            // Two heads of 2 over 3 tokens, and one head of 3 over 5 tokens (rows of the
            // probabilities shorter and longer than a vector of lanes).
            [([2, 3, 12], 2), ([1, 5, 9], 1)].map { shape, heads in
                FusedInstance("qkv\(shape) heads \(heads)", [shape], scale: 2, fused: { $0[0].multiHeadAttention(heads: heads) },
                              composite: { FusedOperation.attentionDefinition($0[0], heads: heads) })
            }
        case .selectiveScan:
            // x, Δ [2, 4, 3], A [3, 2], B, C [2, 4, 2]; and one step of one channel.
            [([2, 4, 3], 2), ([1, 1, 1], 3)].map { shape, state in
                let (n, l, d) = (shape[0], shape[1], shape[2])
                return FusedInstance("x, Δ \(shape) S \(state)", [shape, shape, [d, state], [n, l, state], [n, l, state]],
                                     fused: { Tensor.selectiveScan($0[0], delta: $0[1], a: $0[2], b: $0[3], c: $0[4]) },
                                     composite: { FusedOperation.selectiveScanDefinition($0[0], delta: $0[1], a: $0[2], b: $0[3], c: $0[4]) })
            }
        case .reassembly:
            // 3×3 kernels in place and upsampling; 5×5 upsampling a 2×3 input (most taps
            // clamped at the border).
            [([2, 2, 3, 3], 3, false), ([2, 2, 3, 3], 3, true), ([1, 1, 2, 3], 5, true)].map { shape, k, upsampling in
                let (oh, ow) = upsampling ? (2 * shape[2], 2 * shape[3]) : (shape[2], shape[3])
                return FusedInstance("x\(shape) k \(k)\(upsampling ? " ↑2" : "")", [shape, [shape[0], k * k, oh, ow]],
                                     fused: { $0[0].reassembled(kernels: $0[1], side: k, upsampling: upsampling) },
                                     composite: { FusedOperation.reassemblyDefinition($0[0], kernels: $0[1], side: k, upsampling: upsampling) })
            }
        case .nearestUpsampling:
            // Doubling, an uneven 3→7 × 2→5, and a shrink (5→3: some pixels have no copy).
            [([2, 2, 3, 2], (6, 4)), ([1, 2, 3, 2], (7, 5)), ([1, 1, 5, 4], (3, 4))].map { shape, size in
                FusedInstance("x\(shape) → \(size.0)x\(size.1)", [shape], fused: { $0[0].upsampledNearest(to: size) },
                              composite: { x in
                                  let (rows, columns) = Tensor.nearestSources(from: (shape[2], shape[3]), to: size)
                                  return x[0].gathering(rows, alongAxis: 2).gathering(columns, alongAxis: 3)
                              })
            }
        case .sameConvolution:
            [
                convolutionInstance(input: [2, 6, 4, 3], weight: [2, 6, 3, 3], bias: true, WindowGeometry(kernel: (3, 3), padding: (1, 1))),
                convolutionInstance(input: [9, 4, 3, 5], weight: [3, 4, 1, 5], bias: false, WindowGeometry(kernel: (1, 5), padding: (0, 2))),
            ]
        }
    }

    private func convolutionInstance(input: [Int], weight: [Int], bias: Bool, _ g: WindowGeometry) -> FusedInstance {
        func pair(_ p: (Int, Int)) -> String { "\(p.0)x\(p.1)" }
        let geometry = "k\(pair(g.kernel)) s\(pair(g.stride)) p\(pair(g.padding)) d\(pair(g.dilation))"
        return FusedInstance(
            "x\(input) w\(weight)\(bias ? " +b" : "") \(geometry)", bias ? [input, weight, [weight[0]]] : [input, weight],
            fused: { $0[0].conv2d(weight: $0[1], bias: bias ? $0[2] : nil, stride: g.stride, padding: g.padding, dilation: g.dilation) },
            composite: { FusedOperation.convolutionDefinition($0[0], weight: $0[1], bias: bias ? $0[2] : nil, g) })
    }
}

// MARK: - Composite definitions

extension FusedOperation {
    /// Batch normalization as its textbook expression: y = (x − μ)/√(σ² + ε)·γ + β over axis 1,
    /// μ and σ² the biased batch statistics; then max(y, 0) if rectified.
    static func batchNormDefinition(_ x: Tensor, scale: Tensor, offset: Tensor, epsilon: Float, rectified: Bool, adding residual: Tensor? = nil) -> Tensor {
        let c = x.shape[1]
        let axes = x.rank == 4 ? [0, 2, 3] : [0], statShape = x.rank == 4 ? [1, c, 1, 1] : [1, c]
        let centered = x - x.mean(alongAxes: axes, keepingDimensions: true)
        let variance = centered.square().mean(alongAxes: axes, keepingDimensions: true)
        var y = centered / (variance + epsilon).sqrt() * scale.reshaped(to: statShape) + offset.reshaped(to: statShape)
        if let residual { y = y + residual }
        return rectified ? y.relu() : y
    }

    /// Layer normalization as its textbook expression over the trailing dimensions `scale` has.
    /// softmax as exp(log softmax), log softmax = x − log Σ exp(x) with the maximum shifted out.
    static func softmaxDefinition(_ x: Tensor, axis: Int) -> Tensor {
        x.logSoftmax(alongAxis: axis).exp()
    }

    static func layerNormDefinition(_ x: Tensor, scale: Tensor, offset: Tensor, epsilon: Float) -> Tensor {
        let axes = Array((x.rank - scale.rank)..<x.rank)
        let centered = x - x.mean(alongAxes: axes, keepingDimensions: true)
        let variance = centered.square().mean(alongAxes: axes, keepingDimensions: true)
        return centered / (variance + epsilon).sqrt() * scale + offset
    }

    /// x·scale[c] + shift[c] over axis 1, as two broadcast operations.
    static func channelAffineDefinition(_ x: Tensor, scale: Tensor, shift: Tensor) -> Tensor {
        let c = x.shape[1], statShape = x.rank == 4 ? [1, c, 1, 1] : [1, c]
        return x * scale.reshaped(to: statShape) + shift.reshaped(to: statShape)
    }

    /// τ²·Σₖ p_t,k·(log p_t,k − log p_s,k) per row, p = softmax(logits/τ); the teacher is a constant.
    static func temperedKLDefinition(_ student: Tensor, teacher: Tensor, temperature: Float) -> Tensor {
        let t = teacher.detached / temperature
        let divergence = t.softmax(alongAxis: 1) * (t.logSoftmax(alongAxis: 1) - (student / temperature).logSoftmax(alongAxis: 1))
        return divergence.sum(alongAxis: 1) * (temperature * temperature)
    }

    /// CARAFE reassembly as k² shifted copies of the replicate-padded input (repeated 2×2
    /// when upsampling) times the kernels, summed over the taps.
    static func reassemblyDefinition(_ x: Tensor, kernels: Tensor, side k: Int, upsampling: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = upsampling ? (2 * h, 2 * w) : (h, w)
        let r = k / 2
        let padded = x.gathering((-r..<(h + r)).map { Swift.min(Swift.max($0, 0), h - 1) }, alongAxis: 2)
            .gathering((-r..<(w + r)).map { Swift.min(Swift.max($0, 0), w - 1) }, alongAxis: 3)
        var taps = padded.unfoldingWindows(WindowGeometry(kernel: (k, k))).reshaped(to: [n, c * k * k, h, w])
        if upsampling { taps = taps.upsampledNearest(to: (oh, ow)) }
        return (taps.reshaped(to: [n, c, k * k, oh, ow]) * kernels.reshaped(to: [n, 1, k * k, oh, ow])).sum(alongAxis: 2)
    }

    /// Cross-correlation as im2col of the whole batch and one broadcast product:
    /// y[n] = W·unfold(x)[n] + b.
    static func convolutionDefinition(_ x: Tensor, weight: Tensor, bias: Tensor?, _ g: WindowGeometry) -> Tensor {
        let (n, oc) = (x.shape[0], weight.shape[0])
        let (oh, ow) = g.outputSize(height: x.shape[2], width: x.shape[3])
        let columns = x.unfoldingWindows(g)  // [N, C·kh·kw, oh·ow]
        let y = weight.reshaped(to: [oc, weight.count / oc]).matmul(columns).reshaped(to: [n, oc, oh, ow])
        return bias.map { y + $0.reshaped(to: [1, oc, 1, 1]) } ?? y
    }
}

/// One instance of a fused operation: arguments, the fused call and its composite definition.
struct FusedInstance: Sendable, CustomStringConvertible {
    let label: String
    /// The example arguments (deterministic, a few dozen elements at most).
    let arguments: [Tensor]
    /// Which arguments the operation is differentiable in (a distillation teacher is not).
    let differentiable: [Bool]
    /// The public operation, which records the fused node.
    let fused: @Sendable ([Tensor]) -> Tensor
    /// The same function from primitive, differentiable operations.
    let composite: @Sendable ([Tensor]) -> Tensor

    var description: String { label }

    init(
        _ label: String, arguments: [Tensor], differentiable: [Bool]? = nil,
        fused: @escaping @Sendable ([Tensor]) -> Tensor, composite: @escaping @Sendable ([Tensor]) -> Tensor
    ) {
        self.label = label
        self.arguments = arguments
        self.differentiable = differentiable ?? arguments.map { _ in true }
        self.fused = fused
        self.composite = composite
    }

    /// Arguments of the given shapes, uniform in `−scale..<scale` (seeded by the label).
    init(
        _ label: String, _ shapes: [[Int]], differentiable: [Bool]? = nil, scale: Float = 1,
        fused: @escaping @Sendable ([Tensor]) -> Tensor, composite: @escaping @Sendable ([Tensor]) -> Tensor
    ) {
        var generator = SeededGenerator(seed: label.utf8.reduce(UInt64(0xF05E)) { $0 &* 31 &+ UInt64($1) })
        let arguments = shapes.map { Tensor.randomUniform($0, in: -scale..<scale, using: &generator) }
        self.init(label, arguments: arguments, differentiable: differentiable, fused: fused, composite: composite)
    }
}

/// Batch-norm arguments whose pre-activations γ·x̂ + β stay at least 0.19 away from zero,
/// so that finite differences never cross the ReLU's kink: each channel's values are a
/// shuffled arithmetic sequence (x̂ takes known values), and β = 0.44·γ sits between them.
private func batchNormExample(_ shape: [Int], rectified: Bool) -> [Tensor] {
    var generator = SeededGenerator(seed: 0xB4 &+ UInt64(shape.count) &+ (rectified ? 100 : 0))
    let c = shape[1], m = shape.product / c, s = shape.count == 4 ? shape[2] * shape[3] : 1
    var values = [Float](repeating: 0, count: shape.product)
    for ch in 0..<c {
        let spacing = Float(0.3 + 0.1 * Double(ch)), shift = Float(ch) - 1
        let sequence = (0..<m).map { Float($0) * spacing + shift }.shuffled(using: &generator)
        for (k, v) in sequence.enumerated() {
            let (sample, position) = k.quotientAndRemainder(dividingBy: s)
            values[(sample * c + ch) * s + position] = v
        }
    }
    let scale = (0..<c).map { Float(0.9 + 0.1 * Double($0)) }
    return [Tensor(shape: shape, scalars: values), Tensor(scale), Tensor(scale.map { 0.44 * $0 })]
}

/// Batch-norm arguments and a residual r that puts every bn(x) + r at least 0.3 away from
/// zero (the ReLU's kink), with random signs: the gate closes on some values of every channel.
private func batchNormResidualExample(_ shape: [Int], rectified: Bool) -> [Tensor] {
    let arguments = batchNormExample(shape, rectified: rectified)
    let normalized = FusedOperation.batchNormDefinition(arguments[0], scale: arguments[1], offset: arguments[2], epsilon: 1e-5, rectified: false)
    var generator = SeededGenerator(seed: 0x5E5 &+ UInt64(shape.count))
    let residual = normalized.scalars.map { value -> Float in
        let magnitude = Float.random(in: 0.3..<1.2, using: &generator)
        return (Bool.random(using: &generator) ? magnitude : -magnitude) - value
    }
    return arguments + [Tensor(shape: shape, scalars: residual)]
}

/// Two tensors whose sum is at least 0.3 away from zero (the ReLU's kink).
private func residualExample(_ shape: [Int]) -> [Tensor] {
    var generator = SeededGenerator(seed: 0xADD)
    let a = Tensor.randomUniform(shape, in: -1..<1, using: &generator)
    let sums = (0..<shape.product).map { _ -> Float in
        let magnitude = Float.random(in: 0.3..<1.2, using: &generator)
        return Bool.random(using: &generator) ? magnitude : -magnitude
    }
    return [a, Tensor(shape: shape, scalars: zip(sums, a.scalars).map { $0 - $1 })]
}

extension Tensor {
    /// Records the result of the fused operation `op`.
    ///
    /// The pullback is `fast`, the backward kernel, unless the backward pass is itself being
    /// recorded (`createGraph: true`): then it is `differentiable`, the same gradient from
    /// differentiable operations, so that it can be differentiated again. Pass `nil` when
    /// `fast` is already written with differentiable operations.
    @inline(__always)
    static func fused(
        _ op: FusedOperation, shape: [Int], scalars: [Float], inputs: [Tensor],
        fast: @escaping Node.Pullback, differentiable: Node.Pullback?, directional: Node.DirectionalPullback? = nil
    ) -> Tensor {
        guard let differentiable else {
            return recorded(op.nodeName, shape: shape, scalars: scalars, inputs: inputs, directional: directional, pullback: fast)
        }
        return recorded(op.nodeName, shape: shape, scalars: scalars, inputs: inputs, directional: directional) { upstream, output in
            GradientRecording.isRecording ? differentiable(upstream, output) : fast(upstream, output)
        }
    }
}
