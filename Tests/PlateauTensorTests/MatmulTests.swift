import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }

struct MatmulCase: CustomTestStringConvertible, Sendable {
    let a: [Int], b: [Int], ta: Bool, tb: Bool
    var testDescription: String { "\(a)\(ta ? "ᵀ" : "")·\(b)\(tb ? "ᵀ" : "")" }
}

@Suite struct MatmulTests {
    static let cases: [MatmulCase] = [
        MatmulCase(a: [3, 4], b: [4, 5], ta: false, tb: false),
        MatmulCase(a: [4, 3], b: [4, 5], ta: true, tb: false),
        MatmulCase(a: [3, 4], b: [5, 4], ta: false, tb: true),
        MatmulCase(a: [4, 3], b: [5, 4], ta: true, tb: true),
        MatmulCase(a: [2, 3, 4], b: [4, 5], ta: false, tb: false),
        MatmulCase(a: [3, 4], b: [2, 4, 5], ta: false, tb: false),
        MatmulCase(a: [2, 1, 3, 4], b: [3, 4, 2], ta: false, tb: false),
        MatmulCase(a: [2, 4, 3], b: [2, 5, 4], ta: true, tb: true),
        MatmulCase(a: [1, 4, 3], b: [2, 4, 2], ta: true, tb: false),
        MatmulCase(a: [2, 3, 4], b: [1, 2, 4], ta: false, tb: true),
    ]

    @Test(arguments: cases) func gradient(_ c: MatmulCase) {
        checkGradients(at: [u(c.a, 90), u(c.b, 91)]) { $0[0].matmul($0[1], transposingSelf: c.ta, transposingOther: c.tb) }
    }

    @Test(arguments: cases) func secondOrder(_ c: MatmulCase) {
        checkSecondOrderGradients(at: [u(c.a, 92), u(c.b, 93)]) {
            $0[0].matmul($0[1], transposingSelf: c.ta, transposingOther: c.tb)
        }
    }

    /// The same op under OpenBLAS and under the plain-Swift reference backend, and both
    /// against a naive loop written here (which also checks the batch-offset logic that
    /// the two backends share).
    @Test(arguments: cases) func backendsAgree(_ c: MatmulCase) {
        let a = u(c.a, 94), b = u(c.b, 95)
        let blas = Backends.$current.withValue(OpenBLASBackend()) { a.matmul(b, transposingSelf: c.ta, transposingOther: c.tb) }
        let oneDNN = Backends.$current.withValue(OneDNNBackend()) { a.matmul(b, transposingSelf: c.ta, transposingOther: c.tb) }
        let reference = Backends.$current.withValue(ReferenceBackend()) {
            #expect(Backends.current.name == "reference")
            return a.matmul(b, transposingSelf: c.ta, transposingOther: c.tb)
        }
        let naive = naiveMatmul(a, b, transposeA: c.ta, transposeB: c.tb)
        expectClose(blas, naive, relative: 1e-5, absolute: 1e-5)
        expectClose(oneDNN, naive, relative: 1e-5, absolute: 1e-5)
        expectClose(reference, naive, relative: 1e-6, absolute: 1e-6)
    }

    @Test func backendGradientsAgree() {
        let a = u([2, 3, 4], 96), b = u([4, 5], 97)
        func grads() -> [Tensor] { valueWithGradient(at: [a, b]) { p in p[0].matmul(p[1]).tanh().sum() }.gradients }
        let blas = Backends.$current.withValue(OpenBLASBackend()) { grads() }
        let reference = Backends.$current.withValue(ReferenceBackend()) { grads() }
        for (x, y) in zip(blas, reference) { expectClose(x, y, relative: 1e-5, absolute: 1e-6) }
    }

    @Test func handComputed() {
        let a = Tensor([[1, 2], [3, 4]]), b = Tensor([[5, 6], [7, 8]])
        #expect(a.matmul(b).scalars == [19, 22, 43, 50])
        #expect(a.matmul(b, transposingSelf: true).scalars == [26, 30, 38, 44])
        #expect(a.matmul(b, transposingOther: true).scalars == [17, 23, 39, 53])
        #expect(a.matmul(b, transposingSelf: true, transposingOther: true).scalars == [23, 31, 34, 46])
        // Empty inner dimension gives zeros.
        #expect(Tensor.zeros([2, 0]).matmul(Tensor.zeros([0, 3])) == Tensor.zeros([2, 3]))
    }

    /// A batch of products (attention's shape: 17×16 by its transpose, per head and sample)
    /// runs its matrices in parallel: each equals its own product, bit for bit, at 1, 2 and 3
    /// threads; broadcasting a single right-hand matrix too.
    @Test func batchedProductsAreTheSameWhateverTheThreadCount() {
        let a = TestData.uniform([6, 4, 17, 16], seed: 61), b = TestData.uniform([6, 4, 17, 16], seed: 62)
        let shared = TestData.uniform([16, 9], seed: 63)
        let runs = [1, 2, 3].map { threads in
            Parallelism.withThreads(threads) { (a.matmul(b, transposingOther: true), a.matmul(shared)) }
        }
        for run in runs.dropFirst() {
            #expect(run.0.scalars == runs[0].0.scalars)
            #expect(run.1.scalars == runs[0].1.scalars)
        }
        let (s, h) = (4, 2)  // one matrix of the batch, alone
        let single = a.reshaped(to: [24, 17, 16]).sliced(alongAxis: 0, (s * 4 + h)..<(s * 4 + h + 1)).reshaped(to: [17, 16])
        let other = b.reshaped(to: [24, 17, 16]).sliced(alongAxis: 0, (s * 4 + h)..<(s * 4 + h + 1)).reshaped(to: [17, 16])
        let alone = single.matmul(other, transposingOther: true).scalars
        #expect(Array(runs[1].0.scalars[((s * 4 + h) * 289)..<((s * 4 + h + 1) * 289)]) == alone)
    }

    @Test(arguments: [ReferenceBackend() as any Backend, OpenBLASBackend(), OneDNNBackend()])
    func backendsHonourAlphaBetaAndLeadingDimensions(_ backend: any Backend) {
        // C (2x2, ldc 3) = 2·A(2x3 inside lda 4)·B + 1·C; A·B = [[4, 5], [10, 11]]. The -7s
        // lie between C's rows and must be left alone.
        let a: [Float] = [1, 2, 3, 99, 4, 5, 6, 99]
        let b: [Float] = [1, 0, 0, 1, 1, 1]
        var c: [Float] = [1, 1, -7, 1, 1, -7]
        c.withUnsafeMutableBufferPointer { c in
            backend.gemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 3, alpha: 2, a: a, lda: 4, b: b, ldb: 2,
                         beta: 1, c: c.baseAddress!, ldc: 3)
        }
        #expect(c == [9, 11, -7, 21, 23, -7], "\(backend.name)")
        // An empty inner dimension leaves β·C.
        var d: [Float] = [1, 2, 3, 4]
        d.withUnsafeMutableBufferPointer { d in
            backend.gemm(transposeA: true, transposeB: true, m: 2, n: 2, k: 0, alpha: 1, a: a, lda: 2, b: b, ldb: 1,
                         beta: 0.5, c: d.baseAddress!, ldc: 2)
        }
        #expect(d == [0.5, 1, 1.5, 2], "\(backend.name)")
    }

    /// oneDNN's product of the same matrices is the same bits wherever they sit in memory: the
    /// allocator's choice of address must not change a run (its kernels could take another
    /// path for aligned rows). Offsets of 0…15 floats cover every 64-byte alignment.
    @Test(arguments: [(128, 512, 784, false, false), (784, 512, 128, true, false), (128, 784, 512, false, true),
                      (64, 64, 576, false, false), (100, 10, 512, false, false)])
    func oneDNNProductsDoNotDependOnAlignment(_ shape: (m: Int, n: Int, k: Int, ta: Bool, tb: Bool)) {
        var g = SeededGenerator(seed: 7)
        let a = Tensor.randomNormal([shape.m * shape.k], using: &g).scalars
        let b = Tensor.randomNormal([shape.k * shape.n], using: &g).scalars
        let backend = OneDNNBackend()
        func product(offset: Int) -> [Float] {
            let shiftB = (offset * 7) % 16, shiftC = (offset * 3) % 16
            let pa = [Float](repeating: 0, count: offset) + a, pb = [Float](repeating: 0, count: shiftB) + b
            var c = [Float](repeating: 0, count: shape.m * shape.n + shiftC)
            pa.withUnsafeBufferPointer { pa in pb.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { c in
                backend.gemm(transposeA: shape.ta, transposeB: shape.tb, m: shape.m, n: shape.n, k: shape.k, alpha: 1,
                             a: pa.baseAddress! + offset, lda: shape.ta ? shape.m : shape.k,
                             b: pb.baseAddress! + shiftB, ldb: shape.tb ? shape.k : shape.n,
                             beta: 0, c: c.baseAddress! + shiftC, ldc: shape.n)
            } } }
            return Array(c.dropFirst(shiftC))
        }
        let aligned = product(offset: 0)
        for offset in 1..<16 { #expect(product(offset: offset) == aligned, "offset \(offset) floats") }
    }

    /// `PLATEAU_GEMM` names a backend; anything else is an error that lists the choices.
    @Test func backendsAreNamed() throws {
        #expect(try Backends.gemm(named: nil) is OneDNNBackend)
        #expect(try Backends.gemm(named: "openblas") is OpenBLASBackend)
        #expect(try Backends.gemm(named: "reference") is ReferenceBackend)
        #expect(throws: BackendError.self) { try Backends.gemm(named: "mkl") }
        do { _ = try Backends.gemm(named: "mkl") } catch {
            #expect("\(error)".contains("PLATEAU_GEMM: expected onednn, openblas or reference, found 'mkl'"))
        }
        #expect(!OneDNNBackend.instructionSet.isEmpty && OneDNNBackend.instructionSet != "unknown")
    }
}

/// `plateau bench` prints the core OpenBLAS chose its kernels for, and warns about a generic
/// fallback: the name must come through (an unrecognized CPU gave "Prescott" kernels 4x slower).
@Test func openBLASReportsTheCoreItChoseKernelsFor() {
    let core = OpenBLASBackend.coreName
    #expect(!core.isEmpty && core != "unknown", "\(core)")
}
