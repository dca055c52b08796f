import Testing
@testable import PlateauTensor

@Suite("Linear recurrence and grid sampling")
struct ScanAndGridSampleTests {
    /// h_t = a_t h_{t−1} + b_t written out step by step, forwards or backwards.
    static func naiveRecurrence(_ a: Tensor, _ b: Tensor, reverse: Bool) -> Tensor {
        let (n, length) = (a.shape[0], a.shape[1]), inner = a.count / (n * length)
        var out = [Float](repeating: 0, count: a.count)
        for s in 0..<n {
            for i in 0..<inner {
                var h: Float = 0
                for step in 0..<length {
                    let t = reverse ? length - 1 - step : step
                    let k = (s * length + t) * inner + i
                    h = a.scalars[k] * h + b.scalars[k]
                    out[k] = h
                }
            }
        }
        return Tensor(shape: a.shape, scalars: out)
    }

    @Test(arguments: [false, true])
    func recurrenceMatchesStepByStepLoop(reverse: Bool) {
        let a = TestData.uniform([2, 5, 3, 2], in: -1..<1, seed: 1), b = TestData.uniform([2, 5, 3, 2], seed: 2)
        expectClose(Tensor.linearRecurrence(decay: a, input: b, reverse: reverse), Self.naiveRecurrence(a, b, reverse: reverse))
    }

    @Test(arguments: [false, true])
    func recurrenceGradientsMatchFiniteDifferences(reverse: Bool) {
        let a = TestData.uniform([2, 4, 3], in: -0.9..<0.9, seed: 3), b = TestData.uniform([2, 4, 3], seed: 4)
        checkGradients(at: [a, b]) { Tensor.linearRecurrence(decay: $0[0], input: $0[1], reverse: reverse) }
        checkSecondOrderGradients(at: [a, b]) { Tensor.linearRecurrence(decay: $0[0], input: $0[1], reverse: reverse) }
    }

    /// Many sequences with lanes spanning several column blocks, split over 1, 2 and 3
    /// threads: every run equals the step-by-step loop, bit for bit.
    @Test(arguments: [false, true])
    func recurrenceIsTheSameWhateverTheThreadCount(reverse: Bool) {
        let a = TestData.uniform([6, 40, 600], in: -1..<1, seed: 7), b = TestData.uniform([6, 40, 600], seed: 8)
        let expected = Self.naiveRecurrence(a, b, reverse: reverse)
        for threads in [1, 2, 3] {
            let h = Parallelism.withThreads(threads) { Tensor.linearRecurrence(decay: a, input: b, reverse: reverse) }
            #expect(h.scalars == expected.scalars, "\(threads) threads")
        }
    }

    @Test func singleStepRecurrenceIsTheInput() {
        let a = TestData.uniform([3, 1, 2], seed: 5), b = TestData.uniform([3, 1, 2], seed: 6)
        #expect(Tensor.linearRecurrence(decay: a, input: b) == b)
        checkGradients(at: [a, b]) { Tensor.linearRecurrence(decay: $0[0], input: $0[1]) }
    }

    @Test func zeroOffsetsReturnTheInput() {
        let x = TestData.uniform([2, 3, 4, 5], seed: 7)
        expectClose(x.gridSampled(offsets: .zeros([2, 2, 4, 5])), x)
    }

    /// An integer offset of (+1, −1) reads the pixel one row down and one column left; at the
    /// border the position is clamped (border padding).
    @Test func integerOffsetsShiftWithBorderPadding() {
        let x = TestData.uniform([1, 2, 3, 4], seed: 8)
        let offsets = [Float](repeating: 1, count: 12) + [Float](repeating: -1, count: 12)
        let y = x.gridSampled(offsets: Tensor(shape: [1, 2, 3, 4], scalars: offsets))
        for c in 0..<2 {
            for row in 0..<3 {
                for column in 0..<4 {
                    let expected = element(x, [0, c, Swift.min(row + 1, 2), Swift.max(column - 1, 0)])
                    #expect(abs(element(y, [0, c, row, column]) - expected) < 1e-6)
                }
            }
        }
    }

    @Test func halfPixelOffsetAveragesNeighbours() {
        let x = Tensor(shape: [1, 1, 1, 3], scalars: [0, 2, 10])
        let offsets = Tensor(shape: [1, 2, 1, 3], scalars: [0, 0, 0, 0.5, 0.5, 0.5])
        expectClose(x.gridSampled(offsets: offsets), Tensor(shape: [1, 1, 1, 3], scalars: [1, 6, 10]))
    }

    /// Fractional offsets kept 0.2 away from integers, so finite differences of step 1e-2
    /// never cross a kink of the bilinear interpolation.
    @Test func gridSampleGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 9)
        let offsets = Tensor(shape: [1, 2, 3, 3], scalars: (0..<18).map { _ in
            Float(Int.random(in: -1...1, using: &g)) + Float.random(in: 0.2..<0.8, using: &g)
        })
        let x = TestData.uniform([1, 2, 3, 3], seed: 10)
        checkGradients(at: [x, offsets]) { $0[0].gridSampled(offsets: $0[1]) }
        checkSecondOrderGradients(at: [x, offsets]) { ($0[0].gridSampled(offsets: $0[1])).square() }
    }
}
