import Testing
@testable import PlateauTensor

/// The checker must itself be able to fail, or every gradient test below proves nothing.
@Suite struct GradientCheckerTests {
    /// An op whose forward is x² but whose pullback claims 3x (a deliberately wrong rule).
    static func wrongSquare(_ x: Tensor) -> Tensor {
        Tensor.recorded("wrongSquare", shape: x.shape, scalars: x.scalars.map { $0 * $0 }, inputs: [x]) { g, _ in
            [g * x * 3]
        }
    }

    /// An op whose pullback reverses the incoming gradient: invisible to a plain-sum test
    /// (all-ones seed), visible to the checker's random projection.
    static func wrongIdentity(_ x: Tensor) -> Tensor {
        Tensor.recorded("wrongIdentity", shape: x.shape, scalars: x.scalars, inputs: [x]) { g, _ in
            [Tensor(shape: g.shape, scalars: g.scalars.reversed())]
        }
    }

    @Test func detectsWrongDerivativeRule() {
        let x = TestData.uniform([6], seed: 1)
        #expect(GradientChecker().mismatches(at: [x]) { Self.wrongSquare($0[0]) }.count == 6)
        #expect(GradientChecker().mismatches(at: [x]) { $0[0].square() }.isEmpty)
    }

    @Test func detectsPermutedGradient() {
        let x = TestData.uniform([5], seed: 2)
        #expect(!GradientChecker().mismatches(at: [x]) { Self.wrongIdentity($0[0]) }.isEmpty)
    }

    @Test func detectsMissingGradient() {
        // The pullback of `detached` is nothing, so the checker must report the second input.
        let x = TestData.uniform([3], seed: 3), y = TestData.uniform([3], seed: 4)
        let problems = GradientChecker().mismatches(at: [x, y]) { $0[0] * $0[1].detached }
        #expect(problems.count == 3 && problems.allSatisfy { $0.hasPrefix("input 1") })
    }

    @Test func detectsBrokenSecondOrder() {
        // First order is right (d/dx of x² is 2x) but the rule is written with a detached x,
        // so its own derivative is lost.
        func square(_ x: Tensor) -> Tensor {
            Tensor.recorded("sq", shape: x.shape, scalars: x.scalars.map { $0 * $0 }, inputs: [x]) { g, _ in
                [g * x.detached * 2]
            }
        }
        let x = TestData.uniform([4], seed: 5)
        #expect(GradientChecker().mismatches(at: [x]) { square($0[0]) }.isEmpty)
        let c = Tensor.ones([4])
        let problems = GradientChecker().mismatches(at: [x]) { xs in
            let a = xs.map { $0.isTracked ? $0 : $0.trackingGradients() }
            return gradients(of: square(a[0]), withRespectTo: a, seed: c, createGraph: true)[0]
        }
        #expect(problems.count == 4)
    }
}
