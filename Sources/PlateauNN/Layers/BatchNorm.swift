import PlateauTensor

/// Batch normalization (Ioffe & Szegedy 2015) over the channel axis 1 of `[N, C]` or
/// `[N, C, H, W]` inputs: y = (x − μ_B)/√(σ²_B + ε)·γ + β in training, with running
/// statistics updated as PyTorch does (momentum 0.1, unbiased variance for the running
/// estimate); evaluation mode normalizes with the running statistics.
///
/// The update happens on this value only: a forward pass on a copy (SAM's perturbed pass)
/// leaves the original statistics untouched.
public struct BatchNorm: Layer {
    public var weight: Tensor
    public var bias: Tensor
    public var runningMean: Tensor
    public var runningVariance: Tensor
    /// Batches seen in training mode (PyTorch's `num_batches_tracked`).
    public var batchesTracked: Tensor
    public var momentum: Float
    public var epsilon: Float
    public var isTraining = true

    public init(featureCount: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        precondition(featureCount > 0, "BatchNorm: feature count must be positive, got \(featureCount)")
        weight = .ones([featureCount])
        bias = .zeros([featureCount])
        runningMean = .zeros([featureCount])
        runningVariance = .ones([featureCount])
        batchesTracked = .zeros([])
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight", &weight)
        visitor.parameter("bias", &bias)
        visitor.buffer("running_mean", &runningMean)
        visitor.buffer("running_var", &runningVariance)
        visitor.buffer("num_batches_tracked", &batchesTracked)
        visitor.trainingMode(&isTraining)
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        normalized(input, rectified: false)
    }

    /// relu(bn(x)) with the ReLU fused into the normalization's kernels in training mode.
    public mutating func rectified(_ input: Tensor) -> Tensor {
        normalized(input, rectified: true)
    }

    /// relu(bn(x) + residual): a residual block's last normalization, its shortcut and the
    /// ReLU after the sum as one operation in training mode (see
    /// ``PlateauTensor/Tensor/batchNormalized(scale:offset:epsilon:rectified:adding:)``).
    public mutating func rectified(_ input: Tensor, adding residual: Tensor) -> Tensor {
        normalized(input, rectified: true, adding: residual)
    }

    private mutating func normalized(_ input: Tensor, rectified: Bool, adding residual: Tensor? = nil) -> Tensor {
        let c = weight.count
        precondition((input.rank == 2 || input.rank == 4) && input.shape[1] == c,
                     "BatchNorm: expected [N, \(c)] or [N, \(c), H, W], got \(input.shape)")
        if let residual {
            precondition(residual.shape == input.shape, "BatchNorm: the residual \(residual.shape) must have the input's shape \(input.shape)")
        }
        if isTraining {
            let (output, statistics) = input.batchNormalized(scale: weight, offset: bias, epsilon: epsilon, rectified: rectified, adding: residual)
            let m = Float(statistics.countPerChannel)
            withoutGradients {
                let unbiased = statistics.variance * (m / (m - 1))
                runningMean = runningMean * (1 - momentum) + statistics.mean * momentum
                runningVariance = runningVariance * (1 - momentum) + unbiased * momentum
                batchesTracked = batchesTracked + 1
            }
            return output
        }
        // y = x·k + (β − μ·k), k = γ/√(σ² + ε): per-channel constants, then one fused pass.
        let scale = weight / (runningVariance + epsilon).sqrt()
        let output = input.channelAffine(scale: scale, shift: bias - runningMean * scale)
        if let residual { return rectified ? output.addingRectified(residual) : output + residual }
        return rectified ? output.relu() : output
    }
}
