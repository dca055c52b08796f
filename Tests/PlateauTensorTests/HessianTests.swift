import Foundation
import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }

@Suite struct HessianTests {
    /// f(w) = ½ wᵀAw with symmetric A has Hessian A everywhere, so H·v = A·v exactly.
    @Test func quadraticFormHessianIsExact() {
        let a = Tensor([[4, 1, -2, 0], [1, 3, 0.5, 1], [-2, 0.5, 5, -1], [0, 1, -1, 2]])
        #expect(a == a.transposed)
        let w = u([4, 1], 140), v = u([4, 1], 141)
        let hv = hessianVectorProduct(at: [w], along: [v]) { p in p[0].matmul(a.matmul(p[0]), transposingSelf: true).sum() * 0.5 }
        expectClose(hv[0], a.matmul(v), relative: 1e-5, absolute: 1e-6)
        // The same quadratic written elementwise, and with the vector split across two arguments:
        // f(x, y) = ½ [x; y]ᵀ A [x; y], so H·(vx, vy) is A·v split the same way.
        let (x, y) = (w.sliced(alongAxis: 0, 0..<2), w.sliced(alongAxis: 0, 2..<4))
        let parts = hessianVectorProduct(at: [x, y], along: [v.sliced(alongAxis: 0, 0..<2), v.sliced(alongAxis: 0, 2..<4)]) { p in
            let z = Tensor.concatenating(p, alongAxis: 0)
            return (z * a.matmul(z)).sum() * 0.5
        }
        expectClose(Tensor.concatenating(parts, alongAxis: 0), a.matmul(v), relative: 1e-5, absolute: 1e-6)
    }

    @Test func linearFunctionHasZeroHessian() {
        let hv = hessianVectorProduct(at: [u([3], 142)], along: [u([3], 143)]) { ($0[0] * Tensor([1, 2, 3])).sum() }
        #expect(hv[0] == Tensor.zeros([3]))
    }

    /// HVP by central differences of gradients, (∇f(w + hv) − ∇f(w − hv)) / 2h, in Double.
    static func finiteDifferenceHVP(at w: [Tensor], along v: [Tensor], step: Float = 1e-2, _ f: ([Tensor]) -> Tensor) -> [Tensor] {
        func grad(_ sign: Float) -> [Tensor] {
            let shifted = zip(w, v).map { pair in withoutGradients { pair.0 + pair.1 * (sign * step) } }
            return valueWithGradient(at: shifted, of: f).gradients
        }
        let (plus, minus) = (grad(1), grad(-1))
        return zip(plus, minus).map { p, m in
            Tensor(shape: p.shape, scalars: zip(p.scalars, m.scalars).map { Float((Double($0) - Double($1)) / (2 * Double(step))) })
        }
    }

    /// A small conv → tanh → linear → softmax cross-entropy network: the HVP with respect
    /// to all weights matches finite differences of gradients.
    @Test func smallNetworkHVPMatchesFiniteDifferences() {
        let images = u([2, 1, 5, 5], 144)
        let labels = Tensor.oneHot([2, 0], classCount: 3)
        func loss(_ p: [Tensor]) -> Tensor {
            let h = images.conv2d(weight: p[0], bias: p[1], stride: (2, 2), padding: (1, 1)).tanh()  // [2, 2, 3, 3]
            let logits = h.flattened().matmul(p[2]) + p[3]  // [2, 3]
            return -(logits.logSoftmax() * labels).sum(alongAxis: 1).mean() + p[2].square().sum() * 0.01
        }
        let w = [u([2, 1, 3, 3], 145), u([2], 146), u([18, 3], 147) * 0.5, u([3], 148)]
        let v = [u([2, 1, 3, 3], 149), u([2], 150), u([18, 3], 151), u([3], 152)]
        let exact = hessianVectorProduct(at: w, along: v, of: loss)
        let numeric = Self.finiteDifferenceHVP(at: w, along: v, loss)
        for (e, n) in zip(exact, numeric) { expectClose(e, n, relative: 2e-2, absolute: 2e-3) }
        // And HVP is linear in v: H(2v) = 2 Hv.
        let doubled = hessianVectorProduct(at: w, along: v.map { $0 * 2 }, of: loss)
        for (d, e) in zip(doubled, exact) { expectClose(d, e * 2, relative: 1e-4, absolute: 1e-6) }
    }

    /// A linearization answers many directions at one point with the numbers a one-off
    /// product gives (to rounding: the one-off product contracts the weight gradients with v
    /// before forming them, `directionalDerivative`), and its gradient is the ordinary gradient.
    @Test func linearizedProductsAreTheOneOffProducts() {
        let images = u([3, 1, 5, 5], 170)
        let labels = Tensor.oneHot([2, 0, 1], classCount: 3)
        func loss(_ p: [Tensor]) -> Tensor {
            let h = images.conv2d(weight: p[0], bias: p[1], stride: (2, 2), padding: (1, 1)).gelu()
            return -(h.flattened().matmul(p[2]).logSoftmax() * labels).sum(alongAxis: 1).mean()
        }
        let w = [u([2, 1, 3, 3], 171), u([2], 172), u([18, 3], 173)]
        let linearization = HessianLinearization(at: w, of: loss)
        // (The recorded backward takes the differentiable composite paths, so equal to rounding.)
        for (g, expected) in zip(linearization.gradient, valueWithGradient(at: w, of: loss).gradients) {
            expectClose(g, expected, relative: 1e-5, absolute: 1e-6)
        }
        for seed in [174, 178, 182] as [UInt64] {
            let v = w.enumerated().map { u($0.element.shape, seed + UInt64($0.offset)) }
            for (linearized, oneOff) in zip(linearization.product(along: v), hessianVectorProduct(at: w, along: v, of: loss)) {
                expectClose(linearized, oneOff, relative: 1e-5, absolute: 1e-6)
            }
        }
        // The recording holds at least the conv output and the logits of each sample.
        #expect(linearization.recordedBytes >= (3 * 2 * 3 * 3 + 3 * 3) * 4)
    }

    @Test func nonlinearCompositesHVPMatchFiniteDifferences() {
        let cases: [([Tensor], ([Tensor]) -> Tensor)] = [
            ([u([3, 4], 153)], { p in p[0].softmax().square().sum() + p[0].sigmoid().log().mean() }),
            ([u([2, 3], 154), u([3, 2], 155)], { p in (p[0].matmul(p[1]).gelu() * p[0].sum()).exp().sum() }),
            ([u([1, 2, 4, 4], 156), u([2, 1, 2, 2], 157)], { p in
                p[0].conv2d(weight: p[1], groups: 2).silu().avgPool2d(kernel: (3, 3), stride: (1, 1)).square().sum()
            }),
            ([u([2, 4], 158)], { p in p[0].variance(alongAxes: [1]).sqrt().sum() + p[0].logSumExp(alongAxes: [0]).sum() }),
        ]
        for (index, (w, f)) in cases.enumerated() {
            let v = w.enumerated().map { u($0.element.shape, 160 + UInt64($0.offset)) }
            let exact = hessianVectorProduct(at: w, along: v, of: f)
            let numeric = Self.finiteDifferenceHVP(at: w, along: v, f)
            for (e, n) in zip(exact, numeric) { expectClose(e, n, relative: 2e-2, absolute: 2e-3, "case \(index)") }
        }
    }

    /// Gradients recorded with `createGraph: true` are differentiable again.
    @Test func secondDerivativesOfScalarFunctions() {
        let xs: [Float] = [-1.3, -0.4, 0.7, 1.9]
        let cases: [(String, (Tensor) -> Tensor, (Double) -> Double)] = [
            ("x³", { $0.pow(3) }, { 6 * $0 }),
            ("x·x·x", { $0 * $0 * $0 }, { 6 * $0 }),
            ("exp", { $0.exp() }, { Foundation.exp($0) }),
            ("sigmoid", { $0.sigmoid() }, { let s = 1 / (1 + Foundation.exp(-$0)); return s * (1 - s) * (1 - 2 * s) }),
            ("tanh", { $0.tanh() }, { let t = Foundation.tanh($0); return -2 * t * (1 - t * t) }),
            ("log(x+2)", { ($0 + 2).log() }, { -1 / (($0 + 2) * ($0 + 2)) }),
            ("sqrt(x+2)", { ($0 + 2).sqrt() }, { -0.25 * Foundation.pow($0 + 2, -1.5) }),
            ("1/(x+2)", { 1 / ($0 + 2) }, { 2 / Foundation.pow($0 + 2, 3) }),
            ("erf", { $0.erf() }, { -4 * $0 / Double.pi.squareRoot() * Foundation.exp(-$0 * $0) }),
            ("softplus", { $0.softplus() }, { let s = 1 / (1 + Foundation.exp(-$0)); return s * (1 - s) }),
            ("relu·x", { $0.relu() * $0 }, { $0 > 0 ? 2 : 0 }),
        ]
        for (name, f, second) in cases {
            let x = Tensor(xs).trackingGradients()
            let first = gradients(of: f(x).sum(), withRespectTo: [x], createGraph: true)[0]
            #expect(first.isTracked, "\(name): first derivative is not recorded")
            let d2 = gradients(of: first.sum(), withRespectTo: [x])[0]
            expectClose(d2, Tensor(xs.map { Float(second(Double($0))) }), relative: 1e-4, absolute: 1e-5, "\(name)")
        }
        // Third derivative of x⁴ is 24x: differentiate twice with createGraph.
        let x = Tensor(xs).trackingGradients()
        let g1 = gradients(of: x.pow(4).sum(), withRespectTo: [x], createGraph: true)[0]
        let g2 = gradients(of: g1.sum(), withRespectTo: [x], createGraph: true)[0]
        let g3 = gradients(of: g2.sum(), withRespectTo: [x])[0]
        expectClose(g3, Tensor(xs.map { 24 * $0 }), relative: 1e-4)
    }

    @Test func withoutCreateGraphGradientsAreConstants() {
        let x = Tensor([1, 2]).trackingGradients()
        #expect(!gradients(of: x.exp().sum(), withRespectTo: [x])[0].isTracked)
    }
}
