import Foundation
import PlateauAnalysis
import PlateauTensor
import Testing

/// Measures that follow a reference implementation, checked on cases where the reference's
/// convention and the alternatives give different numbers.
@Suite struct FidelityTests {
    @Test("adaptive sharpness scales weight tensors only (T = 1 elsewhere) and reports ‖T⁻¹ε‖ = ρ")
    func adaptiveSharpnessScalesWeightsOnly() {
        // A quadratic in a "bias": T = 1, so the adaptive measure is SAM's one-step measure.
        func quadraticLoss(_ name: String) -> LossFunction {
            LossFunction(at: ParameterSet([(name, Tensor([0.2, -0.4, 0.1]))])) { p in
                let w = p[name]!
                return (w * w * Tensor([1, 2, 10])).sum() * 0.5
            }
        }
        let bias = quadraticLoss("layer.bias")
        let adaptive = RhoSharpness.adaptive(of: bias, rho: 0.05)
        let oneStep = RhoSharpness.oneStep(of: bias, rho: 0.05)
        #expect(adaptive.value == oneStep.value)
        // On a "weight", T = |w| + η changes the direction, and ‖T⁻¹ε‖ is still ρ.
        let weight = quadraticLoss("layer.weight")
        let scaled = RhoSharpness.adaptive(of: weight, rho: 0.05)
        #expect(scaled.value != oneStep.value)
        #expect(abs(scaled.perturbationNorm - 0.05) < 1e-6)
    }

    @Test("the spectral density is smoothed as PyHessian's density_generate")
    func spectralDensityFollowsPyHessian() {
        // Grid bounds: the runs' mean extreme Ritz values ± 0.01 (runs [0, 2] and [1, 3]:
        // 0.49 … 2.51), not the extremes of all nodes.
        let twoRuns = HessianSpectralDensity(nodes: [0, 2, 1, 3], weights: [0.25, 0.25, 0.25, 0.25], runLengths: [2, 2])
        let curve = twoRuns.density(gridCount: 101)
        #expect(abs(curve.first!.eigenvalue - 0.49) < 1e-12)
        #expect(abs(curve.last!.eigenvalue - 2.51) < 1e-12)
        // Unit area on the grid.
        let step = curve[1].eigenvalue - curve[0].eigenvalue
        #expect(abs(curve.reduce(0) { $0 + $1.density } * step - 1) < 1e-9)

        // Kernel variance σ²·max(1, width): one node at 0 (a weightless one at 10 widens the
        // grid to [-0.01, 10.01]); with σ² = 0.1 the variance is 1.002, so between t = 0 and
        // t = 1 the density falls by exp(−1/2.004).
        let single = HessianSpectralDensity(nodes: [0, 10], weights: [1, 0])
        let points = single.density(gridCount: 1003, sigmaSquared: 0.1)
        #expect(abs(points[1].eigenvalue) < 1e-12 && abs(points[101].eigenvalue - 1) < 1e-12)
        #expect(abs(points[101].density / points[1].density - exp(-1 / 2.004)) < 1e-9)
    }
}
