import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }

struct PoolCase: CustomTestStringConvertible, Sendable {
    var input: [Int]
    var kernel: (Int, Int)
    var stride: (Int, Int)? = nil
    var padding = (0, 0), dilation = (1, 1)
    var testDescription: String { "x\(input) k\(kernel) s\(stride.map { "\($0)" } ?? "=k") p\(padding) d\(dilation)" }
}

@Suite struct MaxPoolTests {
    static let cases: [PoolCase] = [
        PoolCase(input: [1, 2, 4, 4], kernel: (2, 2)),
        PoolCase(input: [2, 1, 5, 5], kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        PoolCase(input: [1, 2, 5, 6], kernel: (2, 3), stride: (1, 2)),
        PoolCase(input: [1, 1, 6, 6], kernel: (2, 2), stride: (1, 1), dilation: (2, 2)),
        PoolCase(input: [1, 1, 5, 4], kernel: (3, 2), stride: (2, 2), padding: (1, 1)),
    ]

    @Test(arguments: cases) func forwardMatchesDirectLoop(_ c: PoolCase) {
        let x = TestData.distinct(c.input, seed: 130)
        let y = x.maxPool2d(kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
        let expected = naivePool2d(x, kernel: c.kernel, stride: c.stride ?? c.kernel, padding: c.padding, dilation: c.dilation) { v, _ in v.max()! }
        #expect(y == expected)
    }

    @Test(arguments: cases) func gradient(_ c: PoolCase) {
        // Distinct values 0.1 apart: the arg-max of a window never changes within h = 1e-2.
        checkGradients(at: [TestData.distinct(c.input, seed: 131)]) {
            $0[0].maxPool2d(kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation)
        }
    }

    @Test func negativeInputsIgnorePadding() {
        // Padding counts as −∞, not 0: an all-negative image must not pool to 0.
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [-4, -3, -2, -1])
        #expect(x.maxPool2d(kernel: (2, 2), stride: (1, 1), padding: (1, 1)).scalars == [-4, -3, -3, -2, -1, -1, -2, -1, -1])
    }

    /// The 2×2 stride-2 path takes eight windows of a row at a time (the last eight from the
    /// row's end) and narrower rows one by one; every width and odd sizes must pool, and
    /// route the gradient, as the window walk defines: each output's gradient to its window's
    /// first maximum. Integer values in a small range make ties common.
    @Test(arguments: [[2, 3, 28, 28], [1, 2, 10, 10], [1, 1, 7, 33], [1, 2, 16, 16], [1, 1, 5, 19]])
    func pairWindowsMatchTheWindowWalk(_ shape: [Int]) {
        var generator = SeededGenerator(seed: 134)
        let count = shape.reduce(1, *)
        let x = Tensor(shape: shape, scalars: (0..<count).map { _ in Float(Int.random(in: -3...3, using: &generator)) })
        #expect(x.maxPool2d(kernel: (2, 2)) == naivePool2d(x, kernel: (2, 2), stride: (2, 2)) { v, _ in v.max()! })
        let tracked = x.trackingGradients(), y = tracked.maxPool2d(kernel: (2, 2))
        let weights = (0..<y.count).map { Float($0 % 7 + 1) }
        let gradient = gradients(of: (y * Tensor(shape: y.shape, scalars: weights)).sum(), withRespectTo: [tracked])[0]
        let (h, w) = (shape[2], shape[3]), (oh, ow) = (h / 2, w / 2)
        var expected = [Float](repeating: 0, count: count)
        for plane in 0..<(shape[0] * shape[1]) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { plane * h * w + (2 * oy + $0.0) * w + 2 * ox + $0.1 }
                    let first = window.first { x.scalars[$0] == window.map { x.scalars[$0] }.max()! }!
                    expected[first] += weights[(plane * oh + oy) * ow + ox]
                }
            }
        }
        #expect(gradient.scalars == expected)
    }

    @Test func pairWindowsPropagateNaN() {
        var values = (0..<(2 * 20)).map { Float($0) }
        values[20 + 7] = .nan  // bottom row, window 3's right value
        let y = Tensor(shape: [1, 1, 2, 20], scalars: values).maxPool2d(kernel: (2, 2))
        #expect(y.scalars.enumerated().allSatisfy { $0.offset == 3 ? $0.element.isNaN : $0.element == Float(21 + 2 * $0.offset) })
    }

    @Test func gradientGoesToFirstMaximumOnTies() {
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 5, 5, 0]).trackingGradients()
        #expect(gradients(of: x.maxPool2d(kernel: (2, 2)).sum(), withRespectTo: [x])[0].scalars == [0, 1, 0, 0])
    }
}

@Suite struct AvgPoolTests {
    static let cases: [PoolCase] = [
        PoolCase(input: [1, 2, 4, 6], kernel: (2, 3)),  // tiling fast path
        PoolCase(input: [2, 1, 4, 4], kernel: (2, 2), stride: (2, 2)),  // tiling fast path, explicit stride
        PoolCase(input: [1, 1, 5, 4], kernel: (2, 2)),  // stride = kernel but not divisible: general path
        PoolCase(input: [1, 2, 5, 5], kernel: (3, 3), stride: (2, 2), padding: (1, 1)),
        PoolCase(input: [1, 1, 4, 5], kernel: (2, 3), stride: (1, 1), padding: (1, 0)),
    ]

    @Test(arguments: cases) func forwardMatchesDirectLoop(_ c: PoolCase) {
        let x = u(c.input, 132)
        let y = x.avgPool2d(kernel: c.kernel, stride: c.stride, padding: c.padding)
        // count_include_pad = True: divide by the full window size.
        let expected = naivePool2d(x, kernel: c.kernel, stride: c.stride ?? c.kernel, padding: c.padding) { v, size in
            Float(v.reduce(0.0) { $0 + Double($1) } / Double(size))
        }
        expectClose(y, expected)
    }

    @Test(arguments: cases) func gradient(_ c: PoolCase) {
        checkGradients(at: [u(c.input, 133)]) { $0[0].avgPool2d(kernel: c.kernel, stride: c.stride, padding: c.padding) }
    }

    @Test func handComputedWithPadding() {
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        // 2x2 windows, stride 1, padding 1 over a 2x2 image: 3x3 outputs, each sum / 4.
        #expect(x.avgPool2d(kernel: (2, 2), stride: (1, 1), padding: (1, 1)).scalars == [0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1])
    }
}

@Suite struct AdaptivePoolTests {
    /// PyTorch `adaptive_avg_pool2d`: cell i averages rows ⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉.
    @Test func handComputedNonDivisible() {
        // 3x5 input x[i][j] = (5i + j)², output 2x3:
        // rows {0,1}, {1,2}; columns {0,1}, {1,2,3}, {3,4}.
        let x = Tensor(shape: [1, 1, 3, 5], scalars: (0..<15).map { Float($0 * $0) })
        let y = x.adaptiveAvgPool2d(outputSize: (2, 3))
        let expected: [Float] = [
            (0 + 1 + 25 + 36) / 4, (1 + 4 + 9 + 36 + 49 + 64) / 6, (9 + 16 + 64 + 81) / 4,
            (25 + 36 + 100 + 121) / 4, (36 + 49 + 64 + 121 + 144 + 169) / 6, (64 + 81 + 169 + 196) / 4,
        ]
        expectClose(y, Tensor(shape: [1, 1, 2, 3], scalars: expected))
    }

    @Test(arguments: [(5, 3), (7, 4), (2, 3), (4, 4), (1, 1), (6, 1)])
    func matchesDirectLoop(_ size: (Int, Int)) {
        let x = u([2, 2, 4, 6], 134)
        let (oh, ow) = size
        let y = x.adaptiveAvgPool2d(outputSize: size)
        var expected: [Float] = []
        for b in 0..<2 { for ch in 0..<2 { for i in 0..<oh { for j in 0..<ow {
            let r0 = i * 4 / oh, r1 = ((i + 1) * 4 + oh - 1) / oh
            let c0 = j * 6 / ow, c1 = ((j + 1) * 6 + ow - 1) / ow
            var s = 0.0
            for r in r0..<r1 { for col in c0..<c1 { s += Double(element(x, [b, ch, r, col])) } }
            expected.append(Float(s / Double((r1 - r0) * (c1 - c0))))
        } } } }
        expectClose(y, Tensor(shape: [2, 2, oh, ow], scalars: expected))
    }

    @Test(arguments: [(3, 2), (2, 4), (1, 1), (5, 7)])
    func gradient(_ size: (Int, Int)) {
        checkGradients(at: [u([1, 2, 5, 5], 135)]) { $0[0].adaptiveAvgPool2d(outputSize: size) }
    }
}

@Suite struct UpsamplingTests {
    @Test func nearestHandComputed() {
        let x = Tensor(shape: [1, 1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        // rows ⌊i·2/4⌋ = 0,0,1,1; columns ⌊j·3/5⌋ = 0,0,1,1,2
        #expect(x.upsampledNearest(to: (4, 5)).scalars == [
            1, 1, 2, 2, 3, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6, 4, 4, 5, 5, 6,
        ])
        // Downsampling 2x3 -> 1x2: row 0, columns ⌊0⌋ = 0, ⌊1.5⌋ = 1.
        #expect(x.upsampledNearest(to: (1, 2)).scalars == [1, 2])
    }

    @Test func bilinearHandComputed() {
        // torch.nn.functional.interpolate([[1,2],[3,4]], size=(4,4), mode="bilinear", align_corners=False)
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        expectClose(x.upsampledBilinear(to: (4, 4)), Tensor(shape: [1, 1, 4, 4], scalars: [
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0,
        ]))
        // Width 3 -> 5: sources max((j+0.5)·0.6 − 0.5, 0) = 0, 0.4, 1, 1.6, 2.2 (clamped to the last pixel).
        let row = Tensor(shape: [1, 1, 1, 3], scalars: [1, 4, 2])
        expectClose(row.upsampledBilinear(to: (1, 5)), Tensor(shape: [1, 1, 1, 5], scalars: [1, 2.2, 4, 2.8, 2]))
        // Downsampling 4 -> 2: sources 0.5 and 2.5.
        let wide = Tensor(shape: [1, 1, 1, 4], scalars: [1, 3, 10, 20])
        expectClose(wide.upsampledBilinear(to: (1, 2)), Tensor(shape: [1, 1, 1, 2], scalars: [2, 15]))
    }

    /// Per-pixel PyTorch formula (align_corners=False) on random data, non-square sizes.
    @Test(arguments: [(5, 7), (2, 3), (6, 4), (3, 5)])
    func bilinearMatchesDirectFormula(_ size: (Int, Int)) {
        let x = u([1, 2, 3, 5], 136)
        let y = x.upsampledBilinear(to: size)
        func source(_ i: Int, _ input: Int, _ output: Int) -> (Int, Int, Double) {
            let s = Swift.max((Double(i) + 0.5) * Double(input) / Double(output) - 0.5, 0)
            let i0 = Swift.min(Int(s), input - 1)
            return (i0, Swift.min(i0 + 1, input - 1), s - Double(i0))
        }
        var expected: [Float] = []
        for ch in 0..<2 { for i in 0..<size.0 { for j in 0..<size.1 {
            let (r0, r1, a) = source(i, 3, size.0), (c0, c1, b) = source(j, 5, size.1)
            func v(_ r: Int, _ c: Int) -> Double { Double(element(x, [0, ch, r, c])) }
            expected.append(Float((1 - a) * ((1 - b) * v(r0, c0) + b * v(r0, c1)) + a * ((1 - b) * v(r1, c0) + b * v(r1, c1))))
        } } }
        expectClose(y, Tensor(shape: [1, 2, size.0, size.1], scalars: expected))
    }

    @Test(arguments: [(5, 7), (2, 2), (1, 6)])
    func gradients(_ size: (Int, Int)) {
        checkGradients(at: [u([1, 2, 3, 4], 137)]) { $0[0].upsampledNearest(to: size) }
        checkGradients(at: [u([1, 2, 3, 4], 138)]) { $0[0].upsampledBilinear(to: size) }
    }
}
