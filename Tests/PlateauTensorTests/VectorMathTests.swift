import Foundation
import Testing
@testable import PlateauTensor

// The vectorized elementary functions against the Double-precision definitions, and the
// promise the kernels rely on: an element's result does not depend on its lane.

/// The distance in units in the last place of `expected` (as a Float) between two values.
private func ulps(_ value: Float, _ expected: Double) -> Double {
    let reference = Float(expected)
    if value == reference { return 0 }
    return abs(Double(value) - expected) / Double(reference.ulp)
}

/// `f` over `inputs` through the elementwise kernel, whose loop is vectorized.
private func lanes(_ inputs: [Float], _ f: @escaping (Float) -> Float) -> [Float] {
    mapScalars(inputs, UnaryClosure(body: f))
}

/// The relative tolerance at x of a function of e^(−x²/2) computed in float: x² is itself
/// rounded (relative 2⁻²⁴), which moves the exponent by up to ≈ x²·2⁻²⁴ — an error no float
/// evaluation avoids (libm's expf of the same float argument has it too) — on top of 1e−6
/// for the approximation.
private func tolerance(_ x: Float) -> Double { 1e-6 + Double(x) * Double(x) * 1.2e-7 }

@Suite struct VectorMathTests {
    @Test func exponentialIsWithinTwoUlpOverItsRange() {
        let inputs = (0...20_000).map { Float(-86.6 + Double($0) * (88.7 + 86.6) / 20_000) } + [0, -0.0, 1e-7, -1e-7, 0.5, -0.5]
        let values = lanes(inputs, VectorMath.exp)
        let worst = zip(inputs, values).map { ulps($1, Foundation.exp(Double($0))) }.max()!
        #expect(worst <= 2, "worst error \(worst) ulp")
        #expect(values[inputs.count - 6] == 1 && values[inputs.count - 5] == 1)
    }

    @Test func exponentialSaturatesAndPropagatesNaN() {
        let y = lanes([.infinity, -.infinity, 89, 1000, -87, -1000, .nan, 88.72, -86.64], VectorMath.exp)
        #expect(y[0] == .infinity && y[1] == 0 && y[2] == .infinity && y[3] == .infinity)
        #expect(y[4] == 0 && y[5] == 0, "below 2⁻¹²⁵ flushes to zero")
        #expect(y[6].isNaN)
        #expect(y[7].isFinite && ulps(y[7], Foundation.exp(Double(Float(88.72)))) <= 2)
        #expect(y[8] > 0 && ulps(y[8], Foundation.exp(Double(Float(-86.64)))) <= 2)
    }

    /// Φ against ½·erfc(−x/√2) in Double: relative error within ``tolerance(_:)`` everywhere,
    /// including the left tail where ½(1 + erf) in float is 0.
    @Test func normalDistributionFunctionIsAccurateInBothTails() {
        let inputs = (0...4_000).map { Float(-13 + Double($0) * 26 / 4_000) }
        let values = lanes(inputs, VectorMath.normalCDF)
        for (x, value) in zip(inputs, values) {
            let expected = 0.5 * erfc(-Double(x) / 2.0.squareRoot())
            guard expected > 1e-37 else { continue }  // below float's normal range
            #expect(abs(Double(value) - expected) <= tolerance(x) * expected, "Φ(\(x)) = \(value), expected \(expected)")
        }
        #expect(lanes([-40, 40, 0], VectorMath.normalCDF) == [0, 1, 0.5])
    }

    @Test func normalDensityMatchesItsDefinition() {
        let inputs = (0...400).map { Float(-10 + Double($0) / 20) }
        for (x, value) in zip(inputs, lanes(inputs, VectorMath.normalDensity)) {
            let expected = Foundation.exp(-Double(x) * Double(x) / 2) / (2 * Double.pi).squareRoot()
            #expect(abs(Double(value) - expected) <= tolerance(x) * expected + 1e-40)
        }
    }

    /// The same value at every offset and in arrays of every length gives the same bits:
    /// the vectorized loop body and its scalar remainder agree, so chunk boundaries (thread
    /// counts) cannot change a result.
    @Test func resultsDoNotDependOnThePosition() {
        for value: Float in [-3.25, 0.1, 7.5, -0.7] {
            let reference = VectorMath.normalCDF(value)
            for count in [1, 3, 4, 5, 8, 15, 16, 17, 33, 70_001] {
                let mapped = mapScalars([Float](repeating: value, count: count), NormalCDF())
                #expect(mapped.allSatisfy { $0.bitPattern == reference.bitPattern }, "\(value) × \(count)")
                let derivative = zipScalars([Float](repeating: value, count: count), mapped, GELUDerivative())
                #expect(Set(derivative.map(\.bitPattern)).count == 1)
            }
        }
    }

    /// Plateau's own GELU loop (oneDNN's kernels, when bound, have OneDNNElementwiseTests:
    /// they are accurate in absolute, not relative, terms in the far left tail).
    @Test func geluMatchesItsDefinitionAndIsTheSameWhateverTheThreadCount() {
        Backends.$elementwise.withValue(nil) { checkGELU() }
    }

    private func checkGELU() {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.randomUniform([70_001], in: -8..<8, using: &g)
        let y = x.gelu()
        for (input, value) in zip(x.scalars, y.scalars) {
            let expected = Double(input) * 0.5 * erfc(-Double(input) / 2.0.squareRoot())
            #expect(abs(Double(value) - expected) <= tolerance(input) * abs(expected) + 1e-30)
        }
        let single = Parallelism.withThreads(1) { x.gelu() }
        #expect(single.scalars.map(\.bitPattern) == y.scalars.map(\.bitPattern))
    }

    @Test func softmaxRowsSumToOneAndSurviveLargeLogits() {
        let x = Tensor(shape: [2, 3], scalars: [1000, 1001, 1002, -.infinity, 0, 0])
        let y = x.softmax(alongAxis: -1).scalars
        let e = [exp(-2.0), exp(-1.0), 1.0], total = e.reduce(0, +)
        for i in 0..<3 { #expect(abs(Double(y[i]) - e[i] / total) < 1e-7) }
        #expect(y[3] == 0 && y[4] == 0.5 && y[5] == 0.5)
    }
}
