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
        // A fully connected layer large enough for the gemm to be split into blocks.
        let input = Tensor.randomNormal([128, 300], using: &g)
        let weight = Tensor.randomNormal([200, 300], using: &g).trackingGradients()
        let linearBias = Tensor.randomNormal([200], using: &g).trackingGradients()
        let dense = input.linear(weight: weight, bias: linearBias).tanh().sum()
        let loss = reduced.square().sum() + pooled.permuted([0, 2, 3, 1]).sigmoid().sum() + dense
        return [loss.detached] + gradients(of: loss, withRespectTo: [x, w, scale, offset, weight, linearBias])
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
        let names = ["loss", "x", "conv weight", "scale", "offset", "linear weight", "linear bias"]
        for (i, name) in names.enumerated() {
            #expect(serial[i] == parallel[i], "\(name): 1 vs 2 threads")
            #expect(serial[i] == three[i], "\(name): 1 vs 3 threads")
        }
    }
}

/// Plateau splits a large product into column (or row) blocks, one single-threaded OpenBLAS
/// call each, spread over its threads; the blocks depend only on the shape, so every element
/// comes out the same whatever the thread count (shapes of the MLP, LeNet and conv layers).
@Suite(.serialized) struct GemmBlockTests {
    @Test(arguments: [(128, 200, 300, false, true), (512, 784, 128, true, false), (8, 8192, 72, false, false),
                      (150, 12800, 16, true, false), (16, 12800, 150, false, false)])
    func blockedProductsDoNotDependOnTheThreadCount(_ shape: (m: Int, n: Int, k: Int, ta: Bool, tb: Bool)) {
        var g = SeededGenerator(seed: 5)
        let a = Tensor.randomNormal(shape.ta ? [shape.k, shape.m] : [shape.m, shape.k], using: &g)
        let b = Tensor.randomNormal(shape.tb ? [shape.n, shape.k] : [shape.k, shape.n], using: &g)
        let saved = Parallelism.threadCount
        defer { Parallelism.threadCount = saved }
        var results: [Tensor] = []
        for threads in [1, 2, 3] {
            Parallelism.threadCount = threads
            results.append(a.matmul(b, transposingSelf: shape.ta, transposingOther: shape.tb))
        }
        for (i, r) in results.enumerated().dropFirst() {
            let differing = zip(r.scalars, results[0].scalars).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            #expect(differing.isEmpty, "\(shape) with \(i + 1) threads: \(differing.count) elements differ, first at \(differing.prefix(5).map { ($0 / shape.n, $0 % shape.n) })")
        }
    }
}
