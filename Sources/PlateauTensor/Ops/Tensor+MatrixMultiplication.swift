extension Tensor {
    /// The matrix product over the last two axes, `op(self) · op(other)`, with numpy
    /// broadcasting over leading (batch) axes; `op` transposes when asked, without copying.
    ///
    /// Each matrix goes to the current ``Backend``'s `gemm` (oneDNN's `dnnl_sgemm` by default); the
    /// matrices of a batch run in parallel.
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
                    // The matrices of a batch are independent: spread them over the threads
                    // (attention's 17×16 heads are each far too small to split). Each product
                    // is computed as it would be serially (a product inside a parallel loop
                    // runs its shape-only blocks in turn), so results do not depend on the
                    // thread count.
                    parallelFor(batchCount, grain: Swift.max(1, ProductBlocks.grain / 4 / Swift.max(1, m * n * k))) { range in
                        for index in range {
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
        }
        // Only tracked operands need a gradient: the first layer's input (or an im2col matrix
        // of the data) has none, and skipping it saves a whole gemm per layer.
        let needsA = a.node != nil, needsB = b.node != nil
        @Sendable func gradients(_ g: Tensor, needsA: Bool, needsB: Bool) -> [Tensor?] {
            var ga: Tensor? = nil, gb: Tensor? = nil
            switch (transposeA, transposeB) {
            case (false, false):
                if needsA { ga = g.matmul(b, transposingOther: true) }
                if needsB { gb = a.matmul(g, transposingSelf: true) }
            case (true, false):
                if needsA { ga = b.matmul(g, transposingOther: true) }
                if needsB { gb = a.matmul(g) }
            case (false, true):
                if needsA { ga = g.matmul(b) }
                if needsB { gb = g.matmul(a, transposingSelf: true) }
            case (true, true):
                if needsA { ga = b.matmul(g, transposingSelf: true, transposingOther: true) }
                if needsB { gb = g.matmul(a, transposingSelf: true, transposingOther: true) }
            }
            return [ga?.reduced(toShape: a.shape), gb?.reduced(toShape: b.shape)]
        }
        return Tensor.recorded("matmul", shape: batch + [m, n], scalars: values, inputs: [a, b], directional: { g, v in
            // Bilinear: the tangent is op(v_a)·op(b) + op(a)·op(v_b).
            let terms = [v[0].map { $0.matmul(b, transposingSelf: transposeA, transposingOther: transposeB) },
                         v[1].map { a.matmul($0, transposingSelf: transposeA, transposingOther: transposeB) }].compactMap { $0 }
            return (gradients(g, needsA: needsA && v[0] == nil, needsB: needsB && v[1] == nil), terms.dropFirst().reduce(terms[0], +))
        }) { g, _ in gradients(g, needsA: needsA, needsB: needsB) }
    }
}

extension Tensor {
    /// `self · weightᵀ + bias` (PyTorch's `F.linear`) for `self` `[N, in]`, `weight`
    /// `[out, in]` and `bias` `[out]`.
    ///
    /// The bias rows are written first and the `gemm` accumulates onto them (β = 1), which
    /// saves both the zeroing pass of β = 0 and a broadcast add; the backward pass sums the
    /// bias gradient with a vector kernel instead of a general reduction. A fused operation
    /// (`FusedOperation/linear`): when the backward pass is itself recorded (Hessian-vector
    /// products) it is built from differentiable operations instead.
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        guard let bias else { return matmul(weight, transposingOther: true) }
        precondition(rank == 2 && weight.rank == 2 && shape[1] == weight.shape[1],
                     "linear: expected input [N, in] and weight [out, in], got \(shape) and \(weight.shape)")
        let (n, inputs, outputs) = (shape[0], shape[1], weight.shape[0])
        precondition(bias.shape == [outputs], "linear: bias must be [\(outputs)], got \(bias.shape)")
        if inputs == 0 || n == 0 { return matmul(weight, transposingOther: true) + bias }
        let backend = Backends.current
        let values = scalars.withUnsafeBufferPointer { x in
            weight.scalars.withUnsafeBufferPointer { w in
                bias.scalars.withUnsafeBufferPointer { b in
                    makeScalars(count: n * outputs) { out in
                        for row in 0..<n { copyVector(b.baseAddress!, to: out + row * outputs, count: outputs) }
                        backend.gemm(
                            transposeA: false, transposeB: true, m: n, n: outputs, k: inputs, alpha: 1,
                            a: x.baseAddress!, lda: inputs, b: w.baseAddress!, ldb: inputs, beta: 1, c: out, ldc: outputs)
                    }
                }
            }
        }
        let input = self
        let needsInput = node != nil, needsWeight = weight.node != nil, needsBias = bias.node != nil
        return Tensor.fused(.linear, shape: [n, outputs], scalars: values, inputs: [self, weight, bias], fast: { g, _ in
            let gx = needsInput ? g.matmul(weight) : nil
            let gw = needsWeight ? g.matmul(input, transposingSelf: true) : nil
            guard needsBias else { return [gx, gw, nil] }
            let sums = g.scalars.withUnsafeBufferPointer { rows in
                makeScalars(count: outputs) { total in
                    total.initialize(repeating: 0, count: outputs)
                    for row in 0..<n { addVector(rows.baseAddress! + row * outputs, into: total, count: outputs) }
                }
            }
            return [gx, gw, Tensor(shape: [outputs], scalars: sums)]
        }, differentiable: { g, _ in
            [needsInput ? g.matmul(weight) : nil, needsWeight ? g.matmul(input, transposingSelf: true) : nil,
             needsBias ? g.sum(alongAxis: 0) : nil]
        }, directional: { g, v in
            // Linear in (x, W, b) separately: the tangent is v_x·Wᵀ + x·v_Wᵀ + v_b, with the
            // weight and bias terms one fused product (x.linear(weight: v_W, bias: v_b)).
            var terms: [Tensor] = []
            if let vx = v[0] { terms.append(vx.matmul(weight, transposingOther: true)) }
            switch (v[1], v[2]) {
            case let (vw?, vb?): terms.append(input.linear(weight: vw, bias: vb))
            case let (vw?, nil): terms.append(input.matmul(vw, transposingOther: true))
            case let (nil, vb?): terms.append(Tensor.zeros([n, outputs]) + vb)
            case (nil, nil): break
            }
            let tangent = terms.dropFirst().reduce(terms[0], +)
            return ([needsInput && v[0] == nil ? g.matmul(weight) : nil,
                     needsWeight && v[1] == nil ? g.matmul(input, transposingSelf: true) : nil,
                     needsBias && v[2] == nil ? g.sum(alongAxis: 0) : nil], tangent)
        })
    }
}
