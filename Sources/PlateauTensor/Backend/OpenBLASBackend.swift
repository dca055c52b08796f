internal import COpenBLAS

/// Matrix multiply through OpenBLAS's `cblas_sgemm` (Debian: `libopenblas-dev`).
///
/// Threads: by default OpenBLAS itself runs single-threaded and each large product is
/// split into column blocks (row blocks when the output is narrow) that Plateau runs on
/// ``Parallelism/threadCount`` threads. One pool serves both the products and Plateau's own
/// loops, so OpenBLAS's idle workers no longer spin for the cores while those loops run,
/// and every output element is computed by one single-threaded call over a block that
/// depends only on the product's shape — runs are bit-identical across thread counts.
/// Set ``threading`` to `.openBLAS` to let OpenBLAS split the work instead.
public struct OpenBLASBackend: Backend {
    public init() {}
    public var name: String { "openblas" }

    /// Who splits a product across threads.
    public enum Threading: Sendable {
        /// Plateau splits products into blocks; OpenBLAS runs each block on one thread.
        case plateau
        /// OpenBLAS splits each product over ``OpenBLASBackend/threadCount`` threads.
        case openBLAS
    }

    nonisolated(unsafe) public static var threading = Threading.plateau

    /// OpenBLAS starts with one thread per core; under `.plateau` threading it must run one.
    private static let singleThreaded: Void = {
        if threading == .plateau { openblas_set_num_threads(1) }
    }()

    /// Multiply–adds per block below which splitting costs more than it gains.
    static let blockGrain = 1 << 20
    /// The most blocks a product is split into (enough for 4 threads). Part of the
    /// arithmetic: changing it changes results in the last bits.
    static let maximumBlocks = 4

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
        // The blocks depend on the shape alone, never on the thread count: OpenBLAS's result
        // for an element depends on the width of the block it is computed in, so a fixed
        // blocking is what makes runs bit-identical whatever the number of threads.
        let blockCount = OpenBLASBackend.threading == .plateau
            ? Swift.min(OpenBLASBackend.maximumBlocks, m * n * Swift.max(k, 1) / OpenBLASBackend.blockGrain) : 1
        guard blockCount >= 2 else {
            call(rows: 0..<m, columns: 0..<n)
            return
        }
        // Blocks are multiples of 16 columns (rows) so the micro-kernel's tiles stay whole.
        let splitColumns = n >= m || m < 32 * blockCount
        let extent = splitColumns ? n : m
        let blocks = (0..<blockCount).map { p -> Range<Int> in
            let lower = Swift.min(extent, (p * extent / blockCount + 8) / 16 * 16)
            let upper = p == blockCount - 1 ? extent : Swift.min(extent, ((p + 1) * extent / blockCount + 8) / 16 * 16)
            return lower..<Swift.max(lower, upper)
        }
        parallelFor(blockCount, grain: 1) { range in
            for block in blocks[range] where !block.isEmpty {
                if splitColumns { call(rows: 0..<m, columns: block) } else { call(rows: block, columns: 0..<n) }
            }
        }
    }

    /// The number of threads OpenBLAS uses for one call (under `.plateau` threading, keep 1).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Sets the threads of every compute loop: Plateau's pool (``Parallelism/threadCount``)
    /// and, under ``threading`` `.openBLAS`, OpenBLAS's own; under `.plateau` OpenBLAS runs
    /// single-threaded.
    public static func useThreads(_ count: Int) {
        Parallelism.threadCount = max(1, count)
        threadCount = threading == .plateau ? 1 : count
    }
}
