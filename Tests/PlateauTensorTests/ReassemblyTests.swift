import Testing
@testable import PlateauTensor

/// The fused CARAFE reassembly beyond the fused-operation table (which checks it against its
/// composite definition, first and second order): the thread-count rule of the engine.
@Suite struct ReassemblyTests {
    /// Forward, ∂x and ∂K are the same bits at 1, 2 and 3 threads: each output and input
    /// gradient plane is one task, and each kernel-gradient plane sums the channels in order.
    @Test func resultsAreBitIdenticalAcrossThreadCounts() {
        let x = TestData.uniform([3, 5, 6, 7], seed: 900), kernels = TestData.uniform([3, 25, 12, 14], seed: 901)
        func run() -> [[Float]] {
            let (y, grads) = (x.reassembled(kernels: kernels, side: 5, upsampling: true), valueWithGradient(at: [x, kernels]) { p in
                (p[0].reassembled(kernels: p[1], side: 5, upsampling: true) * TestData.uniform([3, 5, 12, 14], seed: 902)).sum()
            }.gradients)
            return [y.scalars] + grads.map(\.scalars)
        }
        let reference = Parallelism.withThreads(1) { run() }
        for threads in [2, 3] {
            #expect(Parallelism.withThreads(threads) { run() } == reference, "\(threads) threads")
        }
    }

    @Test func upsamplingDoublesTheSidesAndKeepsAConstantInput() {
        // Kernels summing to 1 reproduce a constant image wherever they read.
        let x = Tensor(shape: [1, 2, 3, 4], scalars: [Float](repeating: 2.5, count: 24))
        let raw = TestData.uniform([1, 9, 6, 8], seed: 903) + 2
        let kernels = raw / raw.sum(alongAxis: 1, keepingDimensions: true)
        let y = x.reassembled(kernels: kernels, side: 3, upsampling: true)
        #expect(y.shape == [1, 2, 6, 8])
        #expect(y.scalars.allSatisfy { abs($0 - 2.5) < 1e-5 })
    }
}
