import Foundation
import Testing
@testable import PlateauTensor

/// τ²·KL(softmax(t/τ) ‖ softmax(s/τ)): the value against the definition in double precision,
/// first and second derivatives in the student against finite differences.
@Suite struct TemperedKLDivergenceTests {
    static let student = TestData.uniform([3, 4], seed: 401) * 3
    static let teacher = TestData.uniform([3, 4], seed: 402) * 3

    @Test(arguments: [Float(1), 5])
    func valueMatchesTheDefinition(temperature: Float) {
        let kl = Self.student.temperedKLDivergence(from: Self.teacher, temperature: temperature)
        for row in 0..<3 {
            let s = (0..<4).map { Double(Self.student.scalars[row * 4 + $0]) / Double(temperature) }
            let t = (0..<4).map { Double(Self.teacher.scalars[row * 4 + $0]) / Double(temperature) }
            let zs = log(s.map(exp).reduce(0, +)), zt = log(t.map(exp).reduce(0, +))
            let expected = (0..<4).reduce(0.0) { $0 + exp(t[$1] - zt) * ((t[$1] - zt) - (s[$1] - zs)) } * Double(temperature * temperature)
            #expect(abs(Double(kl.scalars[row]) - expected) <= 1e-5 * max(1, abs(expected)))
        }
        // KL(p ‖ p) = 0.
        #expect(Self.teacher.temperedKLDivergence(from: Self.teacher, temperature: temperature).scalars.allSatisfy { abs($0) < 1e-6 })
    }

    @Test(arguments: [Float(1), 5])
    func gradients(temperature: Float) {
        checkGradients(at: [Self.student]) { t in t[0].temperedKLDivergence(from: Self.teacher, temperature: temperature) }
        checkSecondOrderGradients(at: [Self.student]) { t in t[0].temperedKLDivergence(from: Self.teacher, temperature: temperature) }
    }
}
