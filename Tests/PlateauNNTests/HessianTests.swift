import Testing
import PlateauTensor
import PlateauNN

/// Linear → BatchNorm (training) → tanh → Linear, on `[N, features]`.
struct DenseBatchNormNet: Layer {
    var fc1: Linear
    var bn: BatchNorm
    var fc2: Linear

    init(using g: inout SeededGenerator) {
        fc1 = Linear(inputCount: 3, outputCount: 4, using: &g)
        bn = BatchNorm(featureCount: 4)
        fc2 = Linear(inputCount: 4, outputCount: 3, using: &g)
    }

    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("fc1", &fc1)
        visitor.child("bn", &bn)
        visitor.child("fc2", &fc2)
    }

    mutating func callAsFunction(_ input: Tensor) -> Tensor { fc2(bn(fc1(input)).tanh()) }
}

/// Conv → BatchNorm (training, 4-D) → tanh → global average → Linear.
struct ConvBatchNormNet: Layer {
    var conv: Conv2d
    var bn: BatchNorm
    var fc: Linear

    init(using g: inout SeededGenerator) {
        conv = Conv2d(2, 3, kernelSize: 3, padding: 1, using: &g)
        bn = BatchNorm(featureCount: 3)
        fc = Linear(inputCount: 3, outputCount: 3, using: &g)
    }

    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv", &conv)
        visitor.child("bn", &bn)
        visitor.child("fc", &fc)
    }

    mutating func callAsFunction(_ input: Tensor) -> Tensor { fc(bn(conv(input)).tanh().mean(alongAxes: [2, 3])) }
}

/// H·v from the recorded backward pass against (∇L(w + εv) − ∇L(w − εv)) / 2ε.
///
/// ε = 1e-3: BatchNorm on a tiny batch is strongly curved along a random direction, and the
/// truncation error ε²·∂⁴L/6 dominates — on the convolutional case the relative error is 58%,
/// 4.4%, 0.4%, 0.04%, 0.004% for ε = 3e-2, 1e-2, 3e-3, 1e-3, 3e-4: clean ε² convergence,
/// i.e. the product is exact and only the reference is approximate. Float32 gradients carry
/// a relative rounding error of ~1e-6, i.e. ~1e-3 of ‖∇L‖ after dividing by 2ε. Both are
/// far below the 2e-2 tolerance, while a wrong second-order term of BatchNorm (e.g. batch
/// statistics treated as constants) changes H·v by O(1).
func expectHessianVectorProductMatches<M: Module>(
    _ model: M, seed: UInt64, epsilon: Float = 1e-3, sourceLocation: SourceLocation = #_sourceLocation,
    loss: @escaping (inout M) -> Tensor
) {
    var g = SeededGenerator(seed: seed)
    let direction = model.parameters.map { Tensor.randomNormal($0.shape, using: &g) }
    let product = hessianVectorProduct(at: model, along: direction, of: loss)

    func gradient(_ sign: Float) -> ParameterSet {
        var shifted = model
        shifted.update(model.parameters + direction.scaled(by: sign * epsilon))
        return valueWithGradient(at: shifted, of: loss).gradient
    }
    let numeric = (gradient(1) - gradient(-1)).scaled(by: 1 / (2 * epsilon))

    let error = (product - numeric).norm(), scale = numeric.norm()
    #expect(scale > 1e-2, "the Hessian-vector product is too small (\(scale)) to test anything", sourceLocation: sourceLocation)
    #expect(error <= 2e-2 * scale, "‖Hv − FD‖ = \(error), ‖FD‖ = \(scale)", sourceLocation: sourceLocation)
    for key in numeric.keys {
        let a = product[key]!, n = numeric[key]!
        #expect(a.isClose(to: n, relativeTolerance: 5e-2, absoluteTolerance: 5e-3 * scale),
                "\(key): Hv \(a) vs FD \(n)", sourceLocation: sourceLocation)
    }
}

@Suite("Hessian-vector products (BatchNorm, LayerNorm, attention, GroupNorm)")
struct HessianTests {
    let labels = [0, 2, 1, 1, 0, 2]

    @Test func denseNetworkParameters() {
        var g = SeededGenerator(seed: 50)
        let model = DenseBatchNormNet(using: &g)
        let x = random([6, 3], seed: 51)
        let labels = labels
        expectHessianVectorProductMatches(model, seed: 52) { (m: inout DenseBatchNormNet) in
            crossEntropy(logits: m.callAsFunction(x), labels: labels)
        }
    }

    /// Second derivatives with respect to the BatchNorm *input* (through the batch mean and
    /// variance) are the delicate part of the composite pullback.
    @Test func denseNetworkInputAndParameters() {
        var g = SeededGenerator(seed: 53)
        let model = WithInput(layer: DenseBatchNormNet(using: &g), input: random([6, 3], seed: 54))
        let labels = labels
        expectHessianVectorProductMatches(model, seed: 55) { (m: inout WithInput<DenseBatchNormNet>) in
            crossEntropy(logits: m.layer.callAsFunction(m.input), labels: labels)
        }
    }

    @Test func convolutionalNetworkInputAndParameters() {
        var g = SeededGenerator(seed: 56)
        var net = ConvBatchNormNet(using: &g)
        net.bn.weight = random([3], seed: 57) + 1
        let model = WithInput(layer: net, input: random([3, 2, 3, 3], seed: 58))
        expectHessianVectorProductMatches(model, seed: 59) { (m: inout WithInput<ConvBatchNormNet>) in
            crossEntropy(logits: m.layer.callAsFunction(m.input), labels: [2, 0, 1])
        }
    }

    /// The composite pullback (taken when the backward pass is recorded) and the fused closed
    /// form must give the same first-order gradients.
    @Test(arguments: [[5, 3], [2, 3, 2, 2]])
    func compositeAndFusedPullbacksAgree(shape: [Int]) {
        let x = random(shape, seed: 60, scale: 2).trackingGradients()
        let scale = (random([3], seed: 61) + 1).trackingGradients()
        let offset = random([3], seed: 62).trackingGradients()
        let projection = random(shape, seed: 63)
        let loss = withGradients { (x.batchNormalized(scale: scale, offset: offset, epsilon: 1e-5).output * projection).sum() }
        let fused = gradients(of: loss, withRespectTo: [x, scale, offset])
        let composite = gradients(of: loss, withRespectTo: [x, scale, offset], createGraph: true)
        for (f, c) in zip(fused, composite) {
            #expect(f.isClose(to: c, relativeTolerance: 1e-4, absoluteTolerance: 1e-5), "fused \(f) vs composite \(c)")
        }
    }

    /// The buffers of the model passed to `hessianVectorProduct` are not changed.
    @Test func hessianVectorProductLeavesRunningStatisticsAlone() {
        var g = SeededGenerator(seed: 64)
        let model = DenseBatchNormNet(using: &g)
        let x = random([6, 3], seed: 65)
        let labels = labels
        _ = hessianVectorProduct(at: model, along: model.parameters.map { $0 }) { (m: inout DenseBatchNormNet) in
            crossEntropy(logits: m.callAsFunction(x), labels: labels)
        }
        #expect(model.bn.runningMean == .zeros([4]))
        #expect(model.bn.batchesTracked.item == 0)
    }

    /// The transformer block's second derivatives (LayerNorm, softmax, GELU's erf) through
    /// the same double-backward machinery.
    @Test func transformerEncoderBlock() {
        var g = SeededGenerator(seed: 66)
        let block = TransformerEncoderBlock(dimension: 4, headCount: 2, mlpDimension: 6, using: &g)
        let model = WithInput(layer: block, input: random([2, 3, 4], seed: 67))
        let projection = random([2, 3, 4], seed: 68)
        expectHessianVectorProductMatches(model, seed: 69) { (m: inout WithInput<TransformerEncoderBlock>) in
            (m.layer.callAsFunction(m.input) * projection).sum().square()
        }
    }

    @Test func groupNormNetwork() {
        var g = SeededGenerator(seed: 70)
        var net = WithInput(layer: Sequential {
            Conv2d(2, 4, kernelSize: 3, padding: 1, using: &g)
            GroupNorm(groupCount: 2, channelCount: 4)
            Function.tanh
            Function.flatten
            Linear(inputCount: 36, outputCount: 3, using: &g)
        }, input: random([2, 2, 3, 3], seed: 71))
        net.update(ParameterSet([("layer.1.weight", random([4], seed: 72) + 1)]))
        expectHessianVectorProductMatches(net, seed: 73) { (m: inout WithInput<Sequential>) in
            crossEntropy(logits: m.layer.callAsFunction(m.input), labels: [1, 2])
        }
    }
}
