import Foundation
import Testing
@testable import PlateauTensor

/// GELU and its gradient of ⟨c, GELU(x)⟩ under the bound elementwise backend.
private func geluAndGradient(_ x: Tensor, cotangent: Tensor) -> (value: [Float], gradient: [Float]) {
    let leaf = x.trackingGradients()
    let y = withGradients { leaf.gelu() }
    return (y.scalars, gradients(of: y, withRespectTo: [leaf], seed: cotangent)[0].scalars)
}

@Suite struct OneDNNElementwiseTests {
    /// Two full chunks and a remainder: x·Φ(x) and c·(Φ(x) + x·φ(x)) agree with double-precision
    /// references, as Plateau's own loops do, over [−8, 8] (both tails of Φ included).
    @Test func geluMatchesItsDefinitionInDoublePrecision() throws {
        let count = 2 * OneDNNElementwise.chunkSize + 123
        let x = TestData.uniform([count], in: -8..<8, seed: 51), c = TestData.uniform([count], seed: 52)
        let (value, gradient) = Backends.$elementwise.withValue(try OneDNNElementwise()) { geluAndGradient(x, cotangent: c) }
        var worstValue = 0.0, worstGradient = 0.0
        for i in 0..<count {
            let v = Double(x.scalars[i]), cdf = 0.5 * Foundation.erfc(-v / 2.0.squareRoot())
            let density = Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot()
            worstValue = max(worstValue, abs(Double(value[i]) - v * cdf))
            worstGradient = max(worstGradient, abs(Double(gradient[i]) - Double(c.scalars[i]) * (cdf + v * density)))
        }
        #expect(worstValue < 2e-6, "GELU: largest error \(worstValue)")
        #expect(worstGradient < 2e-6, "GELU′: largest error \(worstGradient)")
    }

    /// The oneDNN kernels agree with Plateau's loops (the reference) to float rounding.
    @Test func agreesWithPlateausOwnLoops() throws {
        let x = TestData.uniform([3, 1000], in: -5..<5, seed: 53), c = TestData.uniform([3, 1000], seed: 54)
        let native = Backends.$elementwise.withValue(try OneDNNElementwise()) { geluAndGradient(x, cotangent: c) }
        let reference = Backends.$elementwise.withValue(nil) { geluAndGradient(x, cotangent: c) }
        for i in 0..<x.count {
            #expect(abs(native.value[i] - reference.value[i]) <= 1e-6 * max(1, abs(reference.value[i])), "value \(i)")
            #expect(abs(native.gradient[i] - reference.gradient[i]) <= 2e-6 * max(1, abs(reference.gradient[i])), "gradient \(i)")
        }
    }

    /// An element's result depends on its value alone: not on the thread count, nor on where
    /// in a chunk (vector body or masked tail) it falls.
    @Test func resultsDependOnlyOnTheValue() throws {
        let backend = try OneDNNElementwise()
        let count = OneDNNElementwise.chunkSize + 77
        let x = TestData.uniform([count], in: -6..<6, seed: 55), c = TestData.uniform([count], seed: 56)
        let runs = [1, 2, 3].map { threads in
            Parallelism.withThreads(threads) { Backends.$elementwise.withValue(backend) { geluAndGradient(x, cotangent: c) } }
        }
        for run in runs.dropFirst() {
            #expect(run.value == runs[0].value)
            #expect(run.gradient == runs[0].gradient)
        }
        // The same values shifted by 0…16 places (lengths 31…47): every element bit-identical.
        let head = Array(x.scalars.prefix(31)), upstream = Array(c.scalars.prefix(31))
        let expected = Backends.$elementwise.withValue(backend) {
            geluAndGradient(Tensor(shape: [31], scalars: head), cotangent: Tensor(shape: [31], scalars: upstream))
        }
        for shift in 1...16 {
            let padding = [Float](repeating: 0.25, count: shift)
            let shifted = Backends.$elementwise.withValue(backend) {
                geluAndGradient(Tensor(shape: [31 + shift], scalars: padding + head),
                                cotangent: Tensor(shape: [31 + shift], scalars: padding + upstream))
            }
            #expect(Array(shifted.value.dropFirst(shift)) == expected.value, "shift \(shift): values")
            #expect(Array(shifted.gradient.dropFirst(shift)) == expected.gradient, "shift \(shift): gradients")
        }
    }

    /// exp and sigmoid through the tensor operations (tensors large enough to reach the
    /// backend) agree with double precision to a few ulp; their gradients keep the composite
    /// pullbacks (g·y, g·y·(1 − y)).
    @Test func expAndSigmoidMatchTheirDefinitions() throws {
        let x = TestData.uniform([40_000], in: -20..<20, seed: 57)
        let (e, s) = Backends.$elementwise.withValue(try OneDNNElementwise()) { (x.exp(), x.sigmoid()) }
        for i in 0..<x.count {
            let v = Double(x.scalars[i])
            #expect(abs(Double(e.scalars[i]) - Foundation.exp(v)) <= 1e-6 * Foundation.exp(v), "exp(\(v))")
            let sigma = 1 / (1 + Foundation.exp(-v))
            #expect(abs(Double(s.scalars[i]) - sigma) <= 1e-6 * sigma + 1e-12, "σ(\(v))")
        }
        // Below the minimum count Plateau's own loops run: the same bits as without a backend.
        let small = TestData.uniform([100], in: -5..<5, seed: 58)
        let bound = Backends.$elementwise.withValue(try OneDNNElementwise()) { (small.exp(), small.sigmoid()) }
        let plain = Backends.$elementwise.withValue(nil) { (small.exp(), small.sigmoid()) }
        #expect(bound.0.scalars == plain.0.scalars && bound.1.scalars == plain.1.scalars)
    }

    /// Every function's forward kernel gives an element the same bits wherever it falls in a
    /// chunk (shifts 0…16 over lengths 31…47).
    @Test(arguments: ElementwiseFunction.allCases)
    func forwardDependsOnlyOnTheValue(_ function: ElementwiseFunction) throws {
        let backend = try OneDNNElementwise()
        let head = TestData.uniform([31], in: -6..<6, seed: 59).scalars
        func forward(_ values: [Float]) -> [Float] {
            values.withUnsafeBufferPointer { x in
                [Float](unsafeUninitializedCapacity: x.count) { out, n in
                    backend.forward(function, input: x.baseAddress!, output: out.baseAddress!, count: x.count)
                    n = x.count
                }
            }
        }
        let expected = forward(head)
        for shift in 1...16 {
            #expect(Array(forward([Float](repeating: 0.5, count: shift) + head).dropFirst(shift)) == expected, "shift \(shift)")
        }
    }

    /// `PLATEAU_ELEMENTWISE` values: the two names, and a clear error for anything else.
    @Test func environmentValues() throws {
        #expect(try Backends.elementwise(named: nil)?.name == "onednn")
        #expect(try Backends.elementwise(named: "")?.name == "onednn")
        #expect(try Backends.elementwise(named: "onednn")?.name == "onednn")
        #expect(try Backends.elementwise(named: "swift") == nil)
        do {
            _ = try Backends.elementwise(named: "sleef")
            Issue.record("'sleef' was accepted")
        } catch {
            #expect("\(error)" == "PLATEAU_ELEMENTWISE: expected onednn or swift, found 'sleef'")
        }
    }
}
