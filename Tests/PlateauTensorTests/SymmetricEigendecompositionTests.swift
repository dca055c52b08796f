import Testing
@testable import PlateauTensor

@Suite struct SymmetricEigendecompositionTests {
    /// The path graph's Laplacian-like [[2,1,0],[1,2,1],[0,1,2]]: eigenvalues 2 − √2, 2, 2 + √2
    /// ascending, and A·v = λ·v with unit v for each pair.
    @Test func knownMatrix() {
        let a: [[Double]] = [[2, 1, 0], [1, 2, 1], [0, 1, 2]]
        let (values, vectors) = SymmetricEigendecomposition.of(a)
        let expected = [2 - 2.0.squareRoot(), 2, 2 + 2.0.squareRoot()]
        for (value, wanted) in zip(values, expected) { #expect(abs(value - wanted) < 1e-12) }
        for (value, v) in zip(values, vectors) {
            #expect(abs(v.reduce(0) { $0 + $1 * $1 } - 1) < 1e-12)
            for i in 0..<3 {
                let av = (0..<3).reduce(0.0) { $0 + a[i][$1] * v[$1] }
                #expect(abs(av - value * v[i]) < 1e-12)
            }
        }
    }

    /// Already diagonal, and empty.
    @Test func edgeCases() {
        let (values, vectors) = SymmetricEigendecomposition.of([[3, 0], [0, -1]])
        #expect(values == [-1, 3])
        #expect(vectors == [[0, 1], [1, 0]])
        #expect(SymmetricEigendecomposition.of([]).values.isEmpty)
    }
}
