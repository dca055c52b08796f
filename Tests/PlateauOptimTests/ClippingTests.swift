import Testing
import PlateauTensor
@testable import PlateauOptim

/// {"a": [3, 0], "b": [[4]]}: global norm √(9 + 16) = 5.
func gradientOfNormFive() -> ParameterSet {
    ParameterSet([("a", Tensor([Float(3), 0])), ("b", Tensor([[Float(4)]]))])
}

@Test func clippingReturnsTheNormAndRescalesToMaxNorm() {
    var gradient = gradientOfNormFive()
    let norm = clipGradientNorm(&gradient, maxNorm: 1)
    #expect(norm == 5)
    // scale = 1 / (5 + 1e-6), so the new norm is 5/(5 + 1e-6) = 0.9999998 ≈ maxNorm.
    #expect(abs(gradient.norm() - 1) < 1e-6)
    #expect(close(gradient["a"]!.scalars, [0.6, 0]))
    #expect(close(gradient["b"]!.scalars, [0.8]))
    #expect(gradient["b"]!.shape == [1, 1])
    #expect(gradient.keys == ["a", "b"])
}

@Test func clippingBelowTheThresholdIsANoOp() {
    var gradient = gradientOfNormFive()
    #expect(clipGradientNorm(&gradient, maxNorm: 10) == 5)
    #expect(gradient == gradientOfNormFive())  // bit for bit
    #expect(clipGradientNorm(&gradient, maxNorm: 5) == 5)  // at the threshold: untouched
    #expect(gradient == gradientOfNormFive())
}

@Test func clippingANonFiniteGradientZeroesIt() {
    for bad in [Float.nan, .infinity, -.infinity] {
        var gradient = ParameterSet([("a", Tensor([Float(1), bad])), ("b", Tensor([Float(2)]))])
        let norm = clipGradientNorm(&gradient, maxNorm: 1)
        #expect(!norm.isFinite)
        #expect(bad.isNaN ? norm.isNaN : norm == .infinity)
        #expect(gradient == ParameterSet([("a", Tensor([Float(0), 0])), ("b", Tensor([Float(0)]))]))

        // An update along it keeps the weights finite (plain SGD does not move them).
        var parameters = ParameterSet([("a", Tensor([Float(1), 2])), ("b", Tensor([Float(3)]))])
        var sgd = SGD(learningRate: 0.1)
        sgd.update(&parameters, along: gradient)
        #expect(parameters == ParameterSet([("a", Tensor([Float(1), 2])), ("b", Tensor([Float(3)]))]))
    }
}

@Test func clippingHugeFiniteGradientsDoesNotOverflow() {
    // Σg² overflows Float (1e40) but not Double: the gradient is still clipped correctly.
    var gradient = ParameterSet([("a", Tensor([Float(3e20), 4e20]))])
    let norm = clipGradientNorm(&gradient, maxNorm: 1)
    #expect(close(norm, 5e20))
    #expect(close(gradient["a"]!.scalars, [0.6, 0.8]))
}
