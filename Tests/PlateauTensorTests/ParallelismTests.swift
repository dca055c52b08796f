import Testing
@testable import PlateauTensor

/// Plateau's own loops split work across threads only over independent outputs, so every
/// result must be bit-identical whatever the thread count. These tensors are large enough
/// (≥ 64 K elements) for the parallel paths to run.
@Suite struct ParallelismTests {
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
        let serial = Parallelism.withThreads(1) { Self.compute() }
        let parallel = Parallelism.withThreads(2) { Self.compute() }
        let three = Parallelism.withThreads(3) { Self.compute() }
        let names = ["loss", "x", "conv weight", "scale", "offset", "linear weight", "linear bias"]
        for (i, name) in names.enumerated() {
            #expect(serial[i] == parallel[i], "\(name): 1 vs 2 threads")
            #expect(serial[i] == three[i], "\(name): 1 vs 3 threads")
        }
    }
}

/// Plateau splits a large product into column (or row) blocks, one single-threaded BLAS
/// call each, spread over its threads; the blocks depend only on the shape, so every element
/// comes out the same whatever the thread count (shapes of the MLP, LeNet and conv layers),
/// on oneDNN and on OpenBLAS.
@Suite struct GemmBlockTests {
    @Test(arguments: [(128, 200, 300, false, true), (512, 784, 128, true, false), (8, 8192, 72, false, false),
                      (150, 12800, 16, true, false), (16, 12800, 150, false, false)], ["onednn", "openblas"])
    func blockedProductsDoNotDependOnTheThreadCount(_ shape: (m: Int, n: Int, k: Int, ta: Bool, tb: Bool), backend: String) throws {
        var g = SeededGenerator(seed: 5)
        let a = Tensor.randomNormal(shape.ta ? [shape.k, shape.m] : [shape.m, shape.k], using: &g)
        let b = Tensor.randomNormal(shape.tb ? [shape.n, shape.k] : [shape.k, shape.n], using: &g)
        let results = Backends.$current.withValue(try Backends.gemm(named: backend)) {
            [1, 2, 3].map { threads in
                Parallelism.withThreads(threads) { a.matmul(b, transposingSelf: shape.ta, transposingOther: shape.tb) }
            }
        }
        for (i, r) in results.enumerated().dropFirst() {
            let differing = zip(r.scalars, results[0].scalars).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            #expect(differing.isEmpty, "\(shape) with \(i + 1) threads: \(differing.count) elements differ, first at \(differing.prefix(5).map { ($0 / shape.n, $0 % shape.n) })")
        }
    }
}

/// The thread count is a task-local: a scope sets it for its own task only, concurrent tasks
/// keep theirs, and nothing leaks out of the scope.
@Suite struct ThreadScopeTests {
    /// The worker pool under contention: three tasks each run 300 loops of 2 or 3 parts at
    /// once (one holds the pool, the others fall back to Dispatch), and every loop covers its
    /// range exactly once, on threads that see themselves as workers (a nested loop is serial).
    @Test func loopsFromConcurrentTasksEachCoverTheirRangeOnce() async {
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<3 {
                group.addTask {
                    Parallelism.withThreads(2 + task % 2) {
                        var ok = true
                        for round in 0..<300 {
                            let count = 1000 + round
                            var hits = [Int32](repeating: 0, count: count)
                            hits.withUnsafeMutableBufferPointer { hits in
                                parallelFor(count, grain: 1) { range in
                                    var nested = 0
                                    parallelFor(4, grain: 1) { nested += $0.count }  // serial inside a part
                                    for i in range { hits[i] += Int32(nested == 4 ? 1 : 100) }
                                }
                            }
                            ok = ok && hits.allSatisfy { $0 == 1 }
                        }
                        return ok
                    }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    @Test func scopesNestAndEnd() {
        #expect(Parallelism.threadCount == Parallelism.defaultThreadCount)
        Parallelism.withThreads(3) {
            #expect(Parallelism.threadCount == 3)
            Parallelism.withThreads(0) { #expect(Parallelism.threadCount == 1) }
            #expect(Parallelism.threadCount == 3)
        }
        #expect(Parallelism.threadCount == Parallelism.defaultThreadCount)
    }

    @Test func concurrentTasksKeepTheirOwnCount() async {
        let counts = await withTaskGroup(of: [Int].self) { group in
            for threads in 1...4 {
                group.addTask {
                    Parallelism.withThreads(threads) {
                        (0..<50).map { _ in
                            // Work between the reads, so the tasks interleave.
                            _ = Tensor.ones([64, 64]).matmul(Tensor.ones([64, 64]))
                            return Parallelism.threadCount - threads
                        }
                    }
                }
            }
            var all: [Int] = []
            for await part in group { all += part }
            return all
        }
        #expect(counts.count == 200 && counts.allSatisfy { $0 == 0 })
    }

    /// OpenBLAS splitting a product itself is a property of the backend value: only its
    /// scope sees it, and products elsewhere stay bit-identical to Plateau's blocking.
    @Test func openBLASThreadingIsScopedToItsBackend() async {
        var g = SeededGenerator(seed: 6)
        let a = Tensor.randomNormal([256, 300], using: &g), b = Tensor.randomNormal([300, 200], using: &g)
        let expected = Backends.$current.withValue(OpenBLASBackend()) { a.matmul(b) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                Backends.$current.withValue(OpenBLASBackend(threading: .openBLAS(threads: 2))) {
                    for _ in 0..<10 { expectClose(a.matmul(b), expected, relative: 1e-5, absolute: 1e-4) }
                }
            }
            group.addTask {
                Backends.$current.withValue(OpenBLASBackend()) {
                    for _ in 0..<10 { #expect(a.matmul(b) == expected) }
                }
            }
        }
        #expect(Backends.current is OneDNNBackend)
    }
}
