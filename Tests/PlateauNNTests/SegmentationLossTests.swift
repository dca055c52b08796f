import Foundation
import Testing
@testable import PlateauNN
import PlateauTensor

/// Soft Dice, focal and the uncertainty weighting: values and gradients against central
/// finite differences.
@Suite struct SegmentationLossTests {
    static let labels: [Int32] = [0, 1, 2, 1, 0, 0, 2, 2, 1, 0, 0, 1, 1, 2, 0, 0, 2, 1]  // [2, 3, 3]

    /// Every component of ∂f/∂x against (f(x + h) − f(x − h)) / 2h, f summed to a scalar.
    static func expectGradientMatches(_ x: Tensor, step: Float = 1e-2, tolerance: Double = 2e-3, _ f: (Tensor) -> Tensor) {
        let leaf = x.trackingGradients()
        let value = withGradients { f(leaf).sum() }
        let analytic = gradients(of: value, withRespectTo: [leaf])[0].scalars
        var worst = 0.0
        for i in 0..<x.count {
            var plus = x.scalars, minus = x.scalars
            plus[i] += step
            minus[i] -= step
            let fp = Double(withoutGradients { f(Tensor(shape: x.shape, scalars: plus)).sum() }.item)
            let fm = Double(withoutGradients { f(Tensor(shape: x.shape, scalars: minus)).sum() }.item)
            let numeric = (fp - fm) / Double(plus[i] - minus[i])
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(1, abs(numeric)))
        }
        #expect(worst < tolerance, "largest gradient mismatch \(worst)")
    }

    @Test func diceIsOneMinusTheCoefficientAndZeroForAPerfectPrediction() {
        // Logits that put (almost) all mass on the true class.
        var scalars = [Float](repeating: -30, count: 2 * 3 * 9)
        for (i, label) in Self.labels.enumerated() { scalars[((i / 9) * 3 + Int(label)) * 9 + i % 9] = 30 }
        let perfect = Tensor(shape: [2, 3, 3, 3], scalars: scalars)
        #expect(abs(softDiceLoss(logits: perfect, labels: Self.labels).item) < 1e-5)
        #expect(abs(softDiceLoss(logits: perfect, labels: Self.labels, form: .negative).item + 1) < 1e-5)
        // Uniform logits: p = 1/3 everywhere; class c's dc = 2·n_c/3 / (18/3 + n_c).
        let uniform = Tensor.zeros([2, 3, 3, 3])
        let counts = [1, 2].map { c in Double(Self.labels.filter { $0 == c }.count) }
        let expected = 1 - counts.map { n in (2 * n / 3) / (6 + n) }.reduce(0, +) / 2
        #expect(abs(Double(softDiceLoss(logits: uniform, labels: Self.labels).item) - expected) < 1e-5)
    }

    @Test func focalWithGammaZeroIsCrossEntropyAndDownweightsEasyPixels() {
        let logits = random([2, 3, 3, 3], seed: 4)
        let ce = pixelwiseCrossEntropy(logits: logits, labels: Self.labels.map(Int.init), reduction: .none).scalars
        let focal0 = pixelwiseFocalLoss(logits: logits, labels: Self.labels, gamma: 0, reduction: .none).scalars
        for (a, b) in zip(ce, focal0) { #expect(abs(a - b) < 1e-5) }
        let focal2 = pixelwiseFocalLoss(logits: logits, labels: Self.labels, reduction: .none).scalars
        for (a, b) in zip(ce, focal2) { #expect(b < a && b > 0) }
    }

    @Test func diceAndFocalGradientsMatchFiniteDifferences() {
        let logits = random([2, 3, 3, 3], seed: 7)
        Self.expectGradientMatches(logits) { softDiceLoss(logits: $0, labels: Self.labels) }
        Self.expectGradientMatches(logits) { pixelwiseFocalLoss(logits: $0, labels: Self.labels, reduction: .none) }
        Self.expectGradientMatches(logits) { pixelwiseFocalLoss(logits: $0, labels: Self.labels, gamma: 1.5) }
    }

    @Test func uncertaintyWeightingValueAndGradientsInLossesAndSigma() {
        let l = [Tensor(shape: [2], scalars: [0.5, 0.25]), Tensor(shape: [2], scalars: [1.0, 2.0])]
        let value = uncertaintyWeighted(l, sigma: Tensor(shape: [2], scalars: [1, 2])).scalars
        #expect(abs(value[0] - Float(0.5 / 2 + log(2.0) + 1.0 / 8 + log(5.0))) < 1e-5)
        // σ and the losses (through the logits) both get the right gradients.
        let sigma = Tensor(shape: [3], scalars: [0.8, 1.3, 1.1])
        let logits = random([2, 3, 3, 3], seed: 9)
        Self.expectGradientMatches(sigma) { s in
            uncertaintyWeighted([Tensor(shape: [1], scalars: [0.3]), Tensor(shape: [1], scalars: [1.2]), Tensor(shape: [1], scalars: [0.05])], sigma: s)
        }
        Self.expectGradientMatches(logits) { z in
            let dice = Tensor.ones([2]) * softDiceLoss(logits: z, labels: Self.labels)
            let ce = pixelwiseCrossEntropy(logits: z, labels: Self.labels.map(Int.init), reduction: .none)
            return uncertaintyWeighted([dice, ce, pixelwiseFocalLoss(logits: z, labels: Self.labels, reduction: .none)], sigma: sigma)
        }
    }

    /// The reference code's bug: with Dice as −dc the weighted objective is unbounded below in
    /// σ_Dice and its gradient is positive for every σ > 0, so descent drives σ to 0; with
    /// 1 − dc the objective is ≥ 0 with one minimum, where L(1 + σ²) = 2σ⁴.
    @Test func sigmaCollapsesWithTheReferenceDiceAndStaysBoundedWithOneMinusDice() {
        func valueAndGradient(_ loss: Float, _ sigma: Float) -> (Float, Float) {
            let leaf = Tensor(shape: [1], scalars: [sigma]).trackingGradients()
            let value = withGradients { uncertaintyWeighted([Tensor(shape: [1], scalars: [loss])], sigma: leaf) }
            return (value.item, gradients(of: value, withRespectTo: [leaf])[0].item)
        }
        let dc: Float = 0.8
        let grid = stride(from: Float(0.05), through: 3, by: 0.05).map { $0 }
        let reference = grid.map { valueAndGradient(-dc, $0) }, fixed = grid.map { valueAndGradient(1 - dc, $0) }
        #expect(reference.allSatisfy { $0.1 > 0 }, "−dc: descent shrinks σ everywhere")
        #expect(valueAndGradient(-dc, 0.01).0 < -1000, "−dc: unbounded below as σ → 0")
        #expect(fixed.allSatisfy { $0.0 >= 0 })
        let signChanges = zip(fixed, fixed.dropFirst()).filter { ($0.1 < 0) != ($1.1 < 0) }.count
        #expect(signChanges == 1)
        // Small gradient steps from σ = 1: the trajectory reaches σ ≈ 0 under −dc, and settles at
        // the fixed point under 1 − dc.
        func descend(_ loss: Float) -> (smallest: Float, last: Float) {
            var sigma: Float = 1, smallest: Float = 1
            for _ in 0..<1000 {
                sigma -= 0.001 * valueAndGradient(loss, sigma).1
                smallest = min(smallest, abs(sigma))
            }
            return (smallest, sigma)
        }
        #expect(descend(-dc).smallest < 0.1)
        let settled = descend(1 - dc)
        #expect(settled.smallest > 0.5 && abs(settled.last - 0.61) < 0.05, "σ under 1 − dc: \(settled)")
    }
}
