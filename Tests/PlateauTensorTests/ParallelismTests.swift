import Testing
@testable import PlateauTensor

/// Plateau's own loops split work across threads only over independent outputs, so every
/// result must be bit-identical whatever the thread count. These tensors are large enough
/// (≥ 64 K elements) for the parallel paths to run.
@Suite(.serialized) struct ParallelismTests {
    static func compute() -> [Tensor] {
        var g = SeededGenerator(seed: 99)
        let x = Tensor.randomNormal([8, 8, 32, 32], using: &g).trackingGradients()
        let w = Tensor.randomNormal([8, 8, 3, 3], using: &g).trackingGradients()
        let bias = Tensor.randomNormal([1, 8, 1, 1], using: &g)
        let scale = Tensor.randomNormal([8], using: &g).trackingGradients()
        let offset = Tensor.randomNormal([8], using: &g).trackingGradients()
        let conv = x.conv2d(weight: w, padding: (1, 1))
        let (normalized, _) = (conv + bias).batchNormalized(scale: scale, offset: offset, epsilon: 1e-5)
        let pooled = normalized.relu().maxPool2d(kernel: (2, 2))
        let reduced = pooled.sum(alongAxes: [0, 2, 3]) + pooled.exp().mean(alongAxes: [1])
            .sum(alongAxes: [1, 2]).sum()
        let loss = reduced.square().sum() + pooled.permuted([0, 2, 3, 1]).sigmoid().sum()
        return [loss.detached] + gradients(of: loss, withRespectTo: [x, w, scale, offset])
    }

    @Test func resultsDoNotDependOnTheThreadCount() {
        let saved = Parallelism.threadCount
        defer { Parallelism.threadCount = saved }
        Parallelism.threadCount = 1
        let serial = Self.compute()
        Parallelism.threadCount = 2
        let parallel = Self.compute()
        Parallelism.threadCount = 3
        let three = Self.compute()
        #expect(serial == parallel)
        #expect(serial == three)
    }
}
