import PlateauTensor

/// LeNet-5's body shared by several tasks, with one linear head per task (the multi-task
/// LeNet of Sener & Koltun 2018 and F-MTL on MultiMNIST): conv 6@5×5 (padding 2), ReLU,
/// max-pool 2, conv 16@5×5, ReLU, max-pool 2, 400–120–84 fully connected with ReLU, then
/// head t: 84 → classes.
///
/// The output is the heads' logits side by side, `[N, tasks·classes]`: columns
/// `t·classes ..< (t+1)·classes` are task t's. The body's parameters are named as in
/// ``LeNet5`` (`conv1.weight`, …, `fc2.bias`, and `norm1`…`norm4` with a normalization), the
/// heads' `heads.<t>.weight` and `heads.<t>.bias`; ``isShared(_:)`` tells them apart.
public struct MultiTaskLeNet: Layer {
    public var conv1: Conv2d
    public var norm1: NormLayer?
    public var conv2: Conv2d
    public var norm2: NormLayer?
    public var fc1: Linear
    public var norm3: NormLayer?
    public var fc2: Linear
    public var norm4: NormLayer?
    public var heads: [Linear]

    /// - Precondition: at least one task and one class.
    public init(
        inputChannels: Int = 1, tasks: Int, classCount: Int = 10, norm: NormalizationKind = .none,
        using generator: inout some RandomNumberGenerator
    ) {
        precondition(tasks >= 1 && classCount >= 1, "MultiTaskLeNet: need at least one task and one class, got \(tasks) and \(classCount)")
        // The body draws its weights in LeNet5's order, so its initialization is LeNet5's.
        conv1 = Conv2d(inputChannels, 6, kernelSize: 5, padding: 2, using: &generator)
        conv2 = Conv2d(6, 16, kernelSize: 5, using: &generator)
        fc1 = Linear(inputCount: 16 * 5 * 5, outputCount: 120, using: &generator)
        fc2 = Linear(inputCount: 120, outputCount: 84, using: &generator)
        heads = (0..<tasks).map { _ in Linear(inputCount: 84, outputCount: classCount, using: &generator) }
        norm1 = NormLayer.forChannels(norm, 6)
        norm2 = NormLayer.forChannels(norm, 16)
        norm3 = NormLayer.forFeatures(norm, 120)
        norm4 = NormLayer.forFeatures(norm, 84)
    }

    /// Whether the parameter at `path` belongs to the shared body (not to a head).
    public static func isShared(_ path: String) -> Bool { !path.hasPrefix("heads.") }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.child("conv1", &conv1)
        visitor.child("norm1", &norm1)
        visitor.child("conv2", &conv2)
        visitor.child("norm2", &norm2)
        visitor.child("fc1", &fc1)
        visitor.child("norm3", &norm3)
        visitor.child("fc2", &fc2)
        visitor.child("norm4", &norm4)
        visitor.children("heads", &heads)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[2] == 28 && input.shape[3] == 28,
                     "MultiTaskLeNet: expected [N, C, 28, 28] images, got \(input.shape)")
        var x = norm1.rectifiedAndPooled(conv1(input))
        x = norm2.rectifiedAndPooled(conv2(x)).flattened()
        x = norm3.rectified(fc1(x))
        x = norm4.rectified(fc2(x))
        let features = x
        let logits = heads.indices.map { heads[$0](features) }
        return logits.count == 1 ? logits[0] : Tensor.concatenating(logits, alongAxis: 1)
    }
}
