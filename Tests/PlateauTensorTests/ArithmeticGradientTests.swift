import Testing
@testable import PlateauTensor

/// A named differentiable function of a list of tensors, for `@Test(arguments:)` tables.
struct GradCase: CustomTestStringConvertible, Sendable {
    let name: String
    let inputs: [Tensor]
    var checker = GradientChecker()
    let function: @Sendable ([Tensor]) -> Tensor
    var testDescription: String { name }

    init(name: String, inputs: [Tensor], checker: GradientChecker = GradientChecker(),
         _ function: @escaping @Sendable ([Tensor]) -> Tensor) {
        self.name = name
        self.inputs = inputs
        self.checker = checker
        self.function = function
    }
}

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }
private func pos(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, in: 0.5..<2, seed: seed) }

@Suite struct ArithmeticGradientTests {
    static let binaryCases: [GradCase] = [
        GradCase(name: "add same shape", inputs: [u([2, 3], 1), u([2, 3], 2)]) { $0[0] + $0[1] },
        GradCase(name: "add [2,3,4]+[3,1]", inputs: [u([2, 3, 4], 3), u([3, 1], 4)]) { $0[0] + $0[1] },
        GradCase(name: "add [3,1]+[2,3,4] (left broadcast)", inputs: [u([3, 1], 5), u([2, 3, 4], 6)]) { $0[0] + $0[1] },
        GradCase(name: "add [2,1,4]+[3,1] (both broadcast)", inputs: [u([2, 1, 4], 7), u([3, 1], 8)]) { $0[0] + $0[1] },
        GradCase(name: "sub [2,3,4]-[4]", inputs: [u([2, 3, 4], 9), u([4], 10)]) { $0[0] - $0[1] },
        GradCase(name: "sub scalar tensor", inputs: [u([], 11), u([2, 3], 12)]) { $0[0] - $0[1] },
        GradCase(name: "mul [2,1,4]*[3,1]", inputs: [u([2, 1, 4], 13), u([3, 1], 14)]) { $0[0] * $0[1] },
        GradCase(name: "mul [2,3]*[2,3]", inputs: [u([2, 3], 15), u([2, 3], 16)]) { $0[0] * $0[1] },
        GradCase(name: "mul [1,3,1]*[2,1,4]", inputs: [u([1, 3, 1], 17), u([2, 1, 4], 18)]) { $0[0] * $0[1] },
        GradCase(name: "div [2,3,4]/[3,1]", inputs: [u([2, 3, 4], 19), pos([3, 1], 20)]) { $0[0] / $0[1] },
        GradCase(name: "div [4]/[2,3,4]", inputs: [u([4], 21), pos([2, 3, 4], 22)]) { $0[0] / $0[1] },
        // a takes odd multiples of 0.05, b multiples of 0.1: every pair is >= 0.05 apart.
        GradCase(name: "maximum [2,3]vs[3]", inputs: [TestData.distinct([2, 3], seed: 23), TestData.distinct([3], seed: 24)]) { $0[0].maximum($0[1]) },
        GradCase(name: "minimum [2,1,4]vs[3,1]", inputs: [TestData.distinct([2, 1, 4], seed: 25), TestData.distinct([3, 1], seed: 26)]) { $0[0].minimum($0[1]) },
        GradCase(name: "replacing(where:with:)", inputs: [u([2, 3], 27), u([2, 3], 28)]) {
            $0[0].replacing(where: Tensor([[1, 0, 1], [0, 0, 1]]), with: $0[1])
        },
        GradCase(name: "replacing broadcast mask", inputs: [u([2, 3], 29), u([3], 30)]) {
            $0[0].replacing(where: Tensor([0, 1, 0]), with: $0[1])
        },
    ]

    @Test(arguments: binaryCases) func binaryGradients(_ c: GradCase) {
        checkGradients(at: c.inputs, checker: c.checker, c.function)
    }

    @Test(arguments: binaryCases) func binarySecondOrder(_ c: GradCase) {
        checkSecondOrderGradients(at: c.inputs, checker: c.checker, c.function)
    }

    static let x = u([2, 3], 40)
    static let unaryCases: [GradCase] = [
        GradCase(name: "neg", inputs: [x]) { -$0[0] },
        GradCase(name: "+ Float", inputs: [x]) { $0[0] + 0.5 },
        GradCase(name: "Float +", inputs: [x]) { 0.5 + $0[0] },
        GradCase(name: "- Float", inputs: [x]) { $0[0] - 0.5 },
        GradCase(name: "Float -", inputs: [x]) { 0.5 - $0[0] },
        GradCase(name: "* Float", inputs: [x]) { $0[0] * 1.7 },
        GradCase(name: "Float *", inputs: [x]) { 1.7 * $0[0] },
        GradCase(name: "/ Float", inputs: [x]) { $0[0] / 1.7 },
        GradCase(name: "Float /", inputs: [pos([2, 3], 41)]) { 1.7 / $0[0] },
        GradCase(name: "exp", inputs: [x]) { $0[0].exp() },
        GradCase(name: "log", inputs: [pos([2, 3], 42)]) { $0[0].log() },
        GradCase(name: "sqrt", inputs: [pos([2, 3], 43)]) { $0[0].sqrt() },
        GradCase(name: "square", inputs: [x]) { $0[0].square() },
        GradCase(name: "pow 3", inputs: [x]) { $0[0].pow(3) },
        GradCase(name: "pow 2", inputs: [x]) { $0[0].pow(2) },
        GradCase(name: "pow -1.5", inputs: [pos([2, 3], 44)]) { $0[0].pow(-1.5) },
        GradCase(name: "pow 0.5", inputs: [pos([2, 3], 45)]) { $0[0].pow(0.5) },
        GradCase(name: "abs", inputs: [TestData.awayFromZero([2, 3], seed: 46)]) { $0[0].abs() },
        GradCase(name: "erf", inputs: [x]) { $0[0].erf() },
        GradCase(name: "maximum(Float)", inputs: [TestData.awayFromZero([2, 3], seed: 47)]) { $0[0].maximum(0) },
        GradCase(name: "minimum(Float)", inputs: [TestData.awayFromZero([2, 3], seed: 48)]) { $0[0].minimum(0) },
        GradCase(name: "clamped", inputs: [TestData.distinct([2, 4], spacing: 0.25, seed: 49) + 0.1]) { $0[0].clamped(to: -0.5...0.5) },
        GradCase(name: "norm", inputs: [x]) { $0[0].norm() },
        GradCase(name: "x used twice: x*x + x", inputs: [x]) { $0[0] * $0[0] + $0[0] },
    ]

    @Test(arguments: unaryCases) func unaryGradients(_ c: GradCase) {
        checkGradients(at: c.inputs, checker: c.checker, c.function)
    }

    @Test(arguments: unaryCases) func unarySecondOrder(_ c: GradCase) {
        checkSecondOrderGradients(at: c.inputs, checker: c.checker, c.function)
    }

    @Test func broadcastForwardValues() {
        let a = Tensor(shape: [2, 1, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor([[10], [20]])
        let sum = a + b
        #expect(sum.shape == [2, 2, 3])
        #expect(sum.scalars == [11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26])
        #expect((a * b).scalars == [10, 20, 30, 20, 40, 60, 40, 50, 60, 80, 100, 120])
        #expect((b - a).scalars == [9, 8, 7, 19, 18, 17, 6, 5, 4, 16, 15, 14])
        // Non-mergeable strides on both sides (general loop) and scalar fast paths.
        let c = Tensor(shape: [3, 1], scalars: [1, 2, 3]), d = Tensor(shape: [1, 2], scalars: [10, 100])
        #expect((c / d).scalars == [0.1, 0.01, 0.2, 0.02, 0.3, 0.03])
        #expect((Tensor(2) - Tensor(shape: [1, 1, 2], scalars: [1, 5])).shape == [1, 1, 2])
        #expect((Tensor([3, 4]) + Tensor(shape: [1, 1], scalars: [1])).scalars == [4, 5])
        #expect((Tensor([3, 4]) + Tensor(shape: [1, 1], scalars: [1])).shape == [1, 2])
    }

    @Test func unaryForwardValues() {
        let x = Tensor([-2, -0.5, 0, 0.5, 2])
        expectClose(x.abs(), Tensor([2, 0.5, 0, 0.5, 2]))
        expectClose(x.sign(), Tensor([-1, -1, 0, 1, 1]))
        #expect(!x.trackingGradients().sign().isTracked)  // a constant: zero derivative almost everywhere
        expectClose(x.clamped(to: -1...1), Tensor([-1, -0.5, 0, 0.5, 1]))
        expectClose(x.erf(), Tensor([-0.995322265, -0.520499878, 0, 0.520499878, 0.995322265]))
        expectClose(Tensor([4, 9]).sqrt(), Tensor([2, 3]))
        expectClose(Tensor([2, 3]).pow(3), Tensor([8, 27]))
        expectClose(Tensor([3, 4]).norm(), Tensor(5))
        #expect(Tensor([1, .infinity]).hasNonFinite && !Tensor([1, 2]).hasNonFinite)
    }

    @Test func maximumTieGoesToSelf() {
        let a = Tensor([1, 2, 3]).trackingGradients(), b = Tensor([1, 5, 0]).trackingGradients()
        let g = gradients(of: a.maximum(b).sum(), withRespectTo: [a, b])
        #expect(g[0].scalars == [1, 0, 1] && g[1].scalars == [0, 1, 0])
        let h = gradients(of: a.minimum(b).sum(), withRespectTo: [a, b])
        #expect(h[0].scalars == [1, 1, 0] && h[1].scalars == [0, 0, 1])
    }
}

/// The fused per-channel affine map behind evaluation-mode batch norm: first and second
/// derivatives in input, scale and shift, on both ranks.
@Test(arguments: [[2, 3, 2, 2], [4, 3]])
func channelAffineGradients(shape: [Int]) {
    let inputs = [TestData.uniform(shape, seed: 301), TestData.uniform([3], seed: 302), TestData.uniform([3], seed: 303)]
    checkGradients(at: inputs) { t in t[0].channelAffine(scale: t[1], shift: t[2]) }
    checkSecondOrderGradients(at: inputs) { t in t[0].channelAffine(scale: t[1], shift: t[2]).square() }
    let x = inputs[0], y = x.channelAffine(scale: inputs[1], shift: inputs[2])
    let c = shape[1], s = shape.count == 4 ? shape[2] * shape[3] : 1
    for i in 0..<x.count {
        let ch = (i / s) % c
        #expect(abs(y.scalars[i] - (x.scalars[i] * inputs[1].scalars[ch] + inputs[2].scalars[ch])) <= 1e-6)
    }
}

/// Batch norm with its ReLU fused: the same values and gradients as batch norm followed by
/// `relu()`, and a backward pass that differentiates correctly again.
@Test(arguments: [[6, 3], [3, 2, 3, 2]])
func batchNormWithFusedReLU(shape: [Int]) {
    let c = shape[1]
    let inputs = [TestData.uniform(shape, seed: 311) * 2, TestData.uniform([c], seed: 312) + 1, TestData.uniform([c], seed: 313)]
    let tracked = inputs.map { $0.trackingGradients() }
    let fused = tracked[0].batchNormalized(scale: tracked[1], offset: tracked[2], epsilon: 1e-5, rectified: true).output
    let composed = tracked[0].batchNormalized(scale: tracked[1], offset: tracked[2], epsilon: 1e-5).output.relu()
    #expect(fused.scalars == composed.scalars)
    let probe = TestData.uniform(shape, seed: 314)
    let fusedGradients = gradients(of: (fused * probe).sum(), withRespectTo: tracked)
    let composedGradients = gradients(of: (composed * probe).sum(), withRespectTo: tracked)
    for (a, b) in zip(fusedGradients, composedGradients) {
        #expect(zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }
    checkSecondOrderGradients(at: inputs) { t in
        t[0].batchNormalized(scale: t[1], offset: t[2], epsilon: 1e-5, rectified: true).output.square()
    }
}

/// relu(a + b) in one op: the values of the composition and correct first and second
/// derivatives in both inputs.
@Test func addingRectifiedMatchesReluOfTheSum() {
    let a = TestData.uniform([2, 3, 4], seed: 321), b = TestData.uniform([2, 3, 4], seed: 322)
    #expect(a.addingRectified(b).scalars == (a + b).relu().scalars)
    checkGradients(at: [a, b]) { t in t[0].addingRectified(t[1]) }
    checkSecondOrderGradients(at: [a, b]) { t in t[0].addingRectified(t[1]).square() }
}

/// Batch statistics from one read of the input (per-plane sums and deviations, combined per
/// channel) agree with a two-pass Double reference, also where the mean dwarfs the spread —
/// the case in which E[x²] − E[x]² would lose every digit — and on planes of 1, 15 and 1024
/// values (rows; vector loops with a remainder; the unrolled loop).
@Test(arguments: [[64, 3], [4, 3, 3, 5], [3, 2, 32, 32]])
func batchStatisticsMatchATwoPassReference(shape: [Int]) {
    let c = shape[1], s = shape.count == 4 ? shape[2] * shape[3] : 1
    for (offset, spread) in [(Float(0), Float(1)), (1000, 0.01), (-3, 20)] {
        let x = TestData.uniform(shape, seed: 331) * spread + offset
        let statistics = x.batchNormalized(scale: .ones([c]), offset: .zeros([c]), epsilon: 1e-5).statistics
        for ch in 0..<c {
            let values = (0..<shape[0]).flatMap { b in (0..<s).map { Double(x.scalars[(b * c + ch) * s + $0]) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            #expect(abs(Double(statistics.mean.scalars[ch]) - mean) <= 1e-6 * max(1, abs(mean)))
            #expect(abs(Double(statistics.variance.scalars[ch]) - variance) <= 1e-4 * variance, "offset \(offset), spread \(spread)")
        }
    }
}
