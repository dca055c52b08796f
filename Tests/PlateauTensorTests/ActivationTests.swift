import Foundation
import Testing
@testable import PlateauTensor

@Suite struct ActivationTests {
    static let x = TestData.uniform([3, 4], in: -2..<2, seed: 80)
    static let kinked = TestData.awayFromZero([3, 4], seed: 81)
    static let cases: [GradCase] = [
        GradCase(name: "relu", inputs: [kinked]) { $0[0].relu() },
        GradCase(name: "leakyRelu", inputs: [kinked]) { $0[0].leakyRelu(slope: 0.1) },
        GradCase(name: "sigmoid", inputs: [x]) { $0[0].sigmoid() },
        GradCase(name: "tanh", inputs: [x]) { $0[0].tanh() },
        GradCase(name: "softplus", inputs: [kinked * 2]) { $0[0].softplus() },
        GradCase(name: "silu", inputs: [x]) { $0[0].silu() },
        GradCase(name: "gelu", inputs: [x]) { $0[0].gelu() },
        GradCase(name: "softmax axis -1", inputs: [x]) { $0[0].softmax() },
        GradCase(name: "softmax axis 0", inputs: [x]) { $0[0].softmax(alongAxis: 0) },
        GradCase(name: "logSoftmax axis -1", inputs: [x]) { $0[0].logSoftmax() },
        GradCase(name: "logSoftmax axis 0 of [2,3,2]", inputs: [TestData.uniform([2, 3, 2], seed: 82)]) { $0[0].logSoftmax(alongAxis: 1) },
        GradCase(name: "cross-entropy composite", inputs: [x]) { t in
            -(t[0].logSoftmax() * Tensor.oneHot([1, 3, 0], classCount: 4)).sum(alongAxis: 1).mean()
        },
        GradCase(name: "dropout (fixed generator)", inputs: [x]) { t in
            var g = SeededGenerator(seed: 83)
            return t[0].dropout(probability: 0.4, using: &g)
        },
    ]

    @Test(arguments: cases) func gradient(_ c: GradCase) { checkGradients(at: c.inputs, checker: c.checker, c.function) }
    @Test(arguments: cases) func secondOrder(_ c: GradCase) {
        checkSecondOrderGradients(at: c.inputs, checker: c.checker, c.function)
    }

    @Test func forwardValues() {
        let v: [Float] = [-3, -0.5, 0.25, 2]
        let t = Tensor(v)
        func ref(_ f: (Double) -> Double) -> Tensor { Tensor(v.map { Float(f(Double($0))) }) }
        func sig(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
        expectClose(t.relu(), Tensor([0, 0, 0.25, 2]))
        expectClose(t.leakyRelu(slope: 0.1), Tensor([-0.3, -0.05, 0.25, 2]))
        expectClose(t.sigmoid(), ref(sig))
        expectClose(t.tanh(), ref(Foundation.tanh))
        expectClose(t.softplus(), ref { Foundation.log(1 + Foundation.exp($0)) })
        expectClose(t.silu(), ref { $0 * sig($0) })
        expectClose(t.gelu(), ref { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) })
        let e = v.map { Foundation.exp(Double($0)) }, s = e.reduce(0, +)
        expectClose(t.softmax(), Tensor(e.map { Float($0 / s) }))
        expectClose(t.logSoftmax(), Tensor(e.map { Float(Foundation.log($0 / s)) }))
        // Extremes stay finite.
        let big = Tensor([-100, 100, 1000])
        #expect(!big.sigmoid().hasNonFinite && !big.softplus().hasNonFinite && !big.softmax().hasNonFinite)
        expectClose(big.softplus(), Tensor([0, 100, 1000]), absolute: 1e-4)
        expectClose(big.sigmoid(), Tensor([0, 1, 1]))
    }

    @Test func dropoutMasksAndScales() {
        let x = Tensor.ones([1000])
        var g1 = SeededGenerator(seed: 9), g2 = SeededGenerator(seed: 9)
        let a = x.dropout(probability: 0.25, using: &g1), b = x.dropout(probability: 0.25, using: &g2)
        #expect(a == b)
        #expect(a.scalars.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.75) < 1e-6 })
        let dropped = a.scalars.filter { $0 == 0 }.count
        #expect(dropped > 180 && dropped < 320)
        // Gradient flows exactly through the kept elements with the same scale.
        let t = x.trackingGradients()
        var g3 = SeededGenerator(seed: 9)
        #expect(gradients(of: t.dropout(probability: 0.25, using: &g3).sum(), withRespectTo: [t])[0] == a)
        var g4 = SeededGenerator(seed: 9)
        #expect(x.dropout(probability: 0, using: &g4) == x)
    }
}

/// softplus differentiates to σ(x) everywhere, ½ at exactly 0 (the composite relu(x) +
/// log(1 + e^−|x|) gave 0 there, and NPO's unlearning loss starts at 0), and stays finite and
/// linear far out.
@Test func softplusHasDerivativeSigmoidAtZeroAndFarOut() {
    let x = Tensor([0, 2, -40, 100]).trackingGradients()
    let y = withGradients { x.softplus() }
    let g = gradients(of: y.sum(), withRespectTo: [x])[0].scalars
    #expect(g[0] == 0.5)
    #expect(abs(g[1] - Float(1 / (1 + Foundation.exp(-2.0)))) < 1e-6)
    #expect(g[2] >= 0 && g[2] < 1e-12 && g[3] == 1)
    #expect(abs(y.scalars[0] - Float(Foundation.log(2.0))) < 1e-6 && abs(y.scalars[3] - 100) < 1e-4 && y.scalars[2] >= 0 && y.scalars[2] < 1e-12)
}
