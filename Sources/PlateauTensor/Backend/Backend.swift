import Foundation

/// The compute seam: the dense linear-algebra kernels Plateau delegates to a vendor library.
///
/// Everything heavy in a network — fully connected layers, convolutions (through
/// im2col), attention — reduces to `gemm`, so a backend is one method. ``OneDNNBackend``
/// (Linux) is the default, ``OpenBLASBackend`` the alternative; ``ReferenceBackend`` is plain Swift loops, the oracle the tests
/// compare against. An Accelerate backend on macOS is one more conforming type calling
/// `cblas_sgemm` from Accelerate. Convolutions may instead run on a library's own kernels
/// (``ConvolutionBackend``, chosen by ``Backends/convolutions``); this lowering stays their
/// reference.
///
/// Matrices are row-major. The call computes
/// `C = alpha * op(A) * op(B) + beta * C` where `op(X)` is `X` or `Xᵀ`,
/// `op(A)` is `m × k`, `op(B)` is `k × n`, and `C` is `m × n`.
public protocol Backend: Sendable {
    /// A short name for reports (`"openblas"`, `"reference"`).
    var name: String { get }

    /// `C ← alpha·op(A)·op(B) + beta·C`, row-major (BLAS `sgemm`).
    ///
    /// - Parameters:
    ///   - transposeA: whether op(A) = Aᵀ (A is then stored `k × m`).
    ///   - transposeB: whether op(B) = Bᵀ (B is then stored `n × k`).
    ///   - m: the rows of op(A) and C.
    ///   - n: the columns of op(B) and C.
    ///   - k: the inner dimension.
    ///   - alpha: the scale α of the product.
    ///   - a: A, row-major.
    ///   - lda: the row stride of A as stored.
    ///   - b: B, row-major.
    ///   - ldb: the row stride of B as stored.
    ///   - beta: the scale β of C's previous contents; 0 overwrites C (it is not read).
    ///   - c: C, `m × n`, row-major; overwritten with the result.
    ///   - ldc: the row stride of C.
    func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// Which backend the current task computes with.
public enum Backends {
    /// The backend used by tensor operations in this task: the one ``gemmVariable`` names,
    /// oneDNN by default. Bind another for a scope with
    /// `Backends.$current.withValue(ReferenceBackend()) { … }`.
    @TaskLocal public static var current: any Backend = Backends.gemmFromEnvironment()

    /// The environment variable that chooses the default matrix-multiply backend of a process:
    /// `onednn` (the default, ``OneDNNBackend``), `openblas` (``OpenBLASBackend``) or
    /// `reference` (``ReferenceBackend``, plain loops: for checking, very slow). The two BLAS
    /// backends agree to rounding, not bit for bit.
    public static let gemmVariable = "PLATEAU_GEMM"

    /// The backend ``gemmVariable`` names (unset or empty is `onednn`).
    ///
    /// - Throws: ``BackendError`` for an unknown value.
    public static func gemm(named value: String?) throws -> any Backend {
        switch value ?? "" {
        case "", "onednn": return OneDNNBackend()
        case "openblas": return OpenBLASBackend()
        case "reference": return ReferenceBackend()
        case let other:
            throw BackendError("\(gemmVariable): expected onednn, openblas or reference, found '\(other)'")
        }
    }

    /// The default of ``current``: a bad value is reported once on standard error and oneDNN
    /// used (a default value cannot throw, and a typo must not stop a run).
    private static func gemmFromEnvironment() -> any Backend {
        do {
            return try gemm(named: ProcessInfo.processInfo.environment[gemmVariable])
        } catch {
            FileHandle.standardError.write(Data("warning: \(error); using onednn\n".utf8))
            return OneDNNBackend()
        }
    }
}

/// Plain-Swift matrix multiply: slow, obviously correct, the test oracle.
public struct ReferenceBackend: Backend {
    /// The reference backend (stateless).
    public init() {}
    public var name: String { "reference" }

    /// `C ← α·op(A)·op(B) + β·C` by a triple loop accumulating in `Double`, one rounding per element.
    public func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let x = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(x) * Double(y)
                }
                let previous = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(sum) + previous
            }
        }
    }
}
