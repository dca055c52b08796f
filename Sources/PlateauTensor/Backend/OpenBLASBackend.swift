internal import COpenBLAS
import Foundation

/// Matrix multiply through OpenBLAS's `cblas_sgemm` (Debian: `libopenblas-dev`).
///
/// Threads: by default (``Threading-swift.enum/plateau``) OpenBLAS itself runs
/// single-threaded and each large product is split into column blocks (row blocks when the
/// output is narrow) that Plateau runs on ``Parallelism/threadCount`` threads. One pool
/// serves both the products and Plateau's own loops, so OpenBLAS's idle workers do not spin
/// for the cores while those loops run, and every output element is computed by one
/// single-threaded call over a block that depends only on the product's shape — runs are
/// bit-identical across thread counts.
///
/// ``Threading-swift.enum/openBLAS(threads:)`` lets OpenBLAS split each product over its
/// own threads instead (`plateau bench --blas-threading`, and the sgemm ceiling the bench
/// compares against). It is a property of the backend value, so it holds only where that
/// value is bound: `Backends.$current.withValue(OpenBLASBackend(threading: .openBLAS(threads: 2))) { … }`.
public struct OpenBLASBackend: Backend {
    /// Who splits a product across threads.
    public enum Threading: Sendable, Equatable {
        /// Plateau splits products into blocks; OpenBLAS runs each block on one thread.
        case plateau
        /// OpenBLAS splits each product over `threads` threads of its own.
        case openBLAS(threads: Int)
    }

    /// Who splits this backend's products across threads.
    public let threading: Threading

    /// An OpenBLAS backend; `threading` (default `.plateau`) says who splits products over threads.
    ///
    /// - Precondition: `.openBLAS(threads:)` needs at least one thread.
    public init(threading: Threading = .plateau) {
        if case .openBLAS(let threads) = threading {
            precondition(threads >= 1, "OpenBLASBackend: OpenBLAS needs at least one thread, got \(threads)")
        }
        self.threading = threading
    }

    public var name: String { "openblas" }

    /// The CPU core OpenBLAS chose its kernels for (`"Haswell"`, `"SkylakeX"`). Worth printing:
    /// on CPUs it does not recognize (some virtual machines report a bare "Intel Xeon
    /// Processor") OpenBLAS falls back to a generic core such as `Prescott`, whose kernels run
    /// several times slower; `OPENBLAS_CORETYPE=SkylakeX` (or `Haswell`) set before the process
    /// starts overrides the choice.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS starts with one thread per core; every call but an `.openBLAS` one runs on one.
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// OpenBLAS's thread count is one process-wide C setting. An `.openBLAS` product raises
    /// it for the length of its call and sets it back to 1, holding this lock exclusively;
    /// every other product holds it shared, so it never runs while the setting is raised
    /// (it would then be split by OpenBLAS, and its last bits would depend on the count).
    private static let threadSetting = WriterPreferringLock()

    /// `C ← α·op(A)·op(B) + β·C` through `cblas_sgemm`, split into ``ProductBlocks`` (with `.plateau`
    /// threading); the split is part of the arithmetic.
    public func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        _ = OpenBLASBackend.singleThreaded
        func call(rows: Range<Int>, columns: Range<Int>) {
            let pa = transposeA ? a + rows.lowerBound : a + rows.lowerBound * lda
            let pb = transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound
            cblas_sgemm(
                CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(rows.count), Int32(columns.count), Int32(k), alpha, pa, Int32(lda), pb, Int32(ldb), beta,
                c + rows.lowerBound * ldc + columns.lowerBound, Int32(ldc))
        }
        if case .openBLAS(let threads) = threading {
            OpenBLASBackend.threadSetting.exclusively {
                openblas_set_num_threads(Int32(threads))
                defer { openblas_set_num_threads(1) }
                call(rows: 0..<m, columns: 0..<n)
            }
            return
        }
        OpenBLASBackend.threadSetting.shared {
            ProductBlocks.forEach(m: m, n: n, k: k) { rows, columns in call(rows: rows, columns: columns) }
        }
    }
}

/// A reader–writer lock that prefers writers: once a writer waits, new readers wait behind
/// it. (glibc's `pthread_rwlock_t` prefers readers, and products run constantly in a busy
/// process — a parallel test run — so an `.openBLAS` product could wait indefinitely,
/// holding a thread of the concurrency pool the whole time.)
final class WriterPreferringLock: @unchecked Sendable {
    private let condition = NSCondition()
    private var readers = 0, writing = false, waitingWriters = 0

    func shared<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        while writing || waitingWriters > 0 { condition.wait() }
        readers += 1
        condition.unlock()
        defer {
            condition.lock()
            readers -= 1
            if readers == 0 { condition.broadcast() }
            condition.unlock()
        }
        return try body()
    }

    func exclusively<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        waitingWriters += 1
        while writing || readers > 0 { condition.wait() }
        waitingWriters -= 1
        writing = true
        condition.unlock()
        defer {
            condition.lock()
            writing = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
