internal import CDNNL

/// Matrix multiply through oneDNN's `dnnl_sgemm` (Debian: `libdnnl-dev`), the default
/// backend on Linux.
///
/// Why not OpenBLAS alone: OpenBLAS picks its kernels from the CPU's model name, and on CPUs
/// it does not recognize — virtual machines reporting a bare "Intel Xeon Processor" — it
/// falls back to a generic core (Prescott's SSE3 kernels), 4x slower at the MLP's shapes
/// than what the CPU can do. oneDNN dispatches on the instruction set it finds (AVX2,
/// AVX-512) and, measured on this project's machine, beats even OpenBLAS's SkylakeX kernels
/// forced through `OPENBLAS_CORETYPE` at every product shape of the benchmark models
/// (docs/results.md, "Issue 11"). Its results do not depend on the alignment of the
/// matrices (tested), so runs stay bit-identical wherever the allocator puts a tensor.
///
/// Threads: as with ``OpenBLASBackend``, by default each product is split into fixed
/// ``ProductBlocks`` run on Plateau's threads, each block one single-threaded call (the
/// calling thread's OpenMP count is set to 1 around it, so oneDNN's OpenMP workers never
/// spin against Plateau's loops), and results are bit-identical across thread counts.
/// ``Threading-swift.enum/oneDNN(threads:)`` lets oneDNN split each product over its own
/// OpenMP threads instead (the sgemm ceiling `plateau bench` compares against).
public struct OneDNNBackend: Backend {
    /// Who splits a product across threads.
    public enum Threading: Sendable, Equatable {
        /// Plateau splits products into blocks; oneDNN runs each block on one thread.
        case plateau
        /// oneDNN splits each product over `threads` OpenMP threads of its own.
        case oneDNN(threads: Int)
    }

    /// Who splits this backend's products across threads.
    public let threading: Threading

    /// A oneDNN backend; `threading` (default `.plateau`) says who splits products over threads.
    ///
    /// - Precondition: `.oneDNN(threads:)` needs at least one thread.
    public init(threading: Threading = .plateau) {
        if case .oneDNN(let threads) = threading {
            precondition(threads >= 1, "OneDNNBackend: oneDNN needs at least one thread, got \(threads)")
        }
        self.threading = threading
    }

    public var name: String { "onednn" }

    /// The widest instruction set oneDNN dispatches its kernels to on this CPU (`"avx512_core"`,
    /// `"avx2"`), as `plateau bench` reports it.
    public static var instructionSet: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: "sse41"
        case dnnl_cpu_isa_avx: "avx"
        case dnnl_cpu_isa_avx2: "avx2"
        case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
        case dnnl_cpu_isa_avx512_mic, dnnl_cpu_isa_avx512_mic_4ops: "avx512_mic"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        default: "unknown"
        }
    }

    /// `C ← α·op(A)·op(B) + β·C` through `dnnl_sgemm` (row-major, as Plateau's tensors), split
    /// into ``ProductBlocks`` (with `.plateau` threading); the split is part of the arithmetic.
    public func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            // dnnl_sgemm returns without touching C when the inner dimension is empty; BLAS
            // leaves β·C (and β = 0 must overwrite whatever C held).
            for i in 0..<m {
                for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
            }
            return
        }
        func call(rows: Range<Int>, columns: Range<Int>) {
            let pa = transposeA ? a + rows.lowerBound : a + rows.lowerBound * lda
            let pb = transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound
            let status = dnnl_sgemm(
                CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")),
                dnnl_dim_t(rows.count), dnnl_dim_t(columns.count), dnnl_dim_t(k), alpha,
                pa, dnnl_dim_t(lda), pb, dnnl_dim_t(ldb), beta,
                c + rows.lowerBound * ldc + columns.lowerBound, dnnl_dim_t(ldc))
            // dnnl_sgemm only rejects arguments that are not a product (a leading dimension
            // shorter than a row), which every caller's tensors rule out.
            precondition(status == dnnl_success, "dnnl_sgemm rejected a \(rows.count)×\(columns.count)×\(k) product (status \(status.rawValue))")
        }
        if case .oneDNN(let threads) = threading {
            OpenMP.withThreads(threads) { call(rows: 0..<m, columns: 0..<n) }
            return
        }
        ProductBlocks.forEach(m: m, n: n, k: k) { rows, columns in
            OpenMP.withThreads(1) { call(rows: rows, columns: columns) }
        }
    }
}
