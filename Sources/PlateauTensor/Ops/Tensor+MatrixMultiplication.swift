extension Tensor {
    /// The matrix product over the last two axes, `op(self) · op(other)`, with numpy
    /// broadcasting over leading (batch) axes; `op` transposes when asked, without copying.
    ///
    /// Each matrix goes to the current ``Backend``'s `gemm` (OpenBLAS `sgemm` by default).
    public func matmul(_ other: Tensor, transposingSelf transposeA: Bool = false, transposingOther transposeB: Bool = false) -> Tensor {
        let a = self, b = other
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: operands need rank >= 2, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
        let k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
        let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
        let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        precondition(k == kb, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        guard let batch = broadcastShape(batchA, batchB) else {
            preconditionFailure("matmul: batch shapes \(batchA) and \(batchB) do not broadcast")
        }
        let batchCount = batch.product
        let stridesA = broadcastStrides(batchA, to: batch).map { $0 * a.shape.suffix(2).product }
        let stridesB = broadcastStrides(batchB, to: batch).map { $0 * b.shape.suffix(2).product }
        let batchStrides = contiguousStrides(batch)
        let lda = a.shape[a.rank - 1], ldb = b.shape[b.rank - 1]
        let backend = Backends.current
        let values = a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                makeScalars(count: batchCount * m * n) { out in
                    if k == 0 { out.initialize(repeating: 0, count: batchCount * m * n); return }
                    for index in 0..<batchCount {
                        var offsetA = 0, offsetB = 0, rest = index
                        for d in 0..<batch.count {
                            let i = rest / batchStrides[d]
                            rest %= batchStrides[d]
                            offsetA += i * stridesA[d]
                            offsetB += i * stridesB[d]
                        }
                        backend.gemm(
                            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                            a: pa.baseAddress! + offsetA, lda: lda, b: pb.baseAddress! + offsetB, ldb: ldb,
                            beta: 0, c: out + index * m * n, ldc: n)
                    }
                }
            }
        }
        return Tensor.recorded("matmul", shape: batch + [m, n], scalars: values, inputs: [a, b]) { g, _ in
            // An operand outside the graph (a network's input batch) never receives a
            // gradient: skip its product, the largest one for a first layer.
            if a.node == nil || b.node == nil {
                let ga = a.node == nil ? nil : Self.matmulGradient(g, a, b, transposeA, transposeB, forFirst: true).reduced(toShape: a.shape)
                let gb = b.node == nil ? nil : Self.matmulGradient(g, a, b, transposeA, transposeB, forFirst: false).reduced(toShape: b.shape)
                return [ga, gb]
            }
            let ga: Tensor, gb: Tensor
            switch (transposeA, transposeB) {
            case (false, false):
                ga = g.matmul(b, transposingOther: true)
                gb = a.matmul(g, transposingSelf: true)
            case (true, false):
                ga = b.matmul(g, transposingOther: true)
                gb = a.matmul(g)
            case (false, true):
                ga = g.matmul(b)
                gb = g.matmul(a, transposingSelf: true)
            case (true, true):
                ga = b.matmul(g, transposingSelf: true, transposingOther: true)
                gb = g.matmul(a, transposingSelf: true, transposingOther: true)
            }
            return [ga.reduced(toShape: a.shape), gb.reduced(toShape: b.shape)]
        }
    }

    /// One operand's gradient of `a·b` (each possibly transposed) given the upstream `g`.
    private static func matmulGradient(_ g: Tensor, _ a: Tensor, _ b: Tensor, _ transposeA: Bool, _ transposeB: Bool, forFirst: Bool) -> Tensor {
        switch (transposeA, transposeB, forFirst) {
        case (false, false, true): return g.matmul(b, transposingOther: true)
        case (false, false, false): return a.matmul(g, transposingSelf: true)
        case (true, false, true): return b.matmul(g, transposingOther: true)
        case (true, false, false): return a.matmul(g)
        case (false, true, true): return g.matmul(b)
        case (false, true, false): return g.matmul(a, transposingSelf: true)
        case (true, true, true): return b.matmul(g, transposingSelf: true, transposingOther: true)
        case (true, true, false): return g.matmul(a, transposingSelf: true, transposingOther: true)
        }
    }
}
