import Foundation

// Multi-head self-attention as one fused operation. As a composite, splitting the packed
// projections into heads and merging them back costs a 5-D permute, three slices (whose
// backward passes pad each head group back to full size and add them) and a 4-D permute
// each way: about ten passes over [N, T, 3d] per block, more than the products themselves
// at a ViT's sizes. The fused kernels read Q, K and V in place from the packed rows (a
// product's leading dimension is 3d) and write each head's output, and each gradient, where
// it belongs; only the attention probabilities are kept for the backward pass.

extension Tensor {
    /// Multi-head scaled dot-product self-attention (Vaswani et al. 2017) from packed
    /// projections: for `self` = [Q K V] of shape `[N, T, 3d]` and h heads of size d_h = d/h,
    ///
    ///     head_i = softmax(Q_i·K_iᵀ/√d_h)·V_i        Q_i = columns i·d_h ..< (i+1)·d_h of Q
    ///
    /// and the heads side by side, `[N, T, d]` (PyTorch's `scaled_dot_product_attention` on
    /// `nn.MultiheadAttention`'s packed in-projection). One fused operation
    /// (`FusedOperation.attention`).
    ///
    /// - Precondition: rank 3, and `3·heads` divides the last dimension.
    public func multiHeadAttention(heads: Int) -> Tensor {
        precondition(rank == 3 && heads > 0 && shape[2] % (3 * heads) == 0,
                     "multiHeadAttention: expected packed projections [N, T, 3d] with \(heads) heads dividing d, got \(shape)")
        let (n, t, d) = (shape[0], shape[1], shape[2] / 3)
        let dh = d / heads, scale = 1 / Float(dh).squareRoot()
        guard n * t * d > 0 else { return FusedOperation.attentionDefinition(self, heads: heads) }
        let backend = Backends.current
        // Independent (sample, head) pairs, spread over the threads; each one's products and
        // softmax are computed alike whatever the split.
        let pairs = n * heads, pairSize = t * t + 2 * t * dh
        var probabilities = [Float](repeating: 0, count: pairs * t * t)
        let values = scalars.withUnsafeBufferPointer { x in
            probabilities.withUnsafeMutableBufferPointer { probabilities in
                makeScalars(count: n * t * d) { out in
                    parallelFor(pairs, elementsEach: pairSize) { range in
                        for pair in range {
                            let (sample, head) = pair.quotientAndRemainder(dividingBy: heads)
                            let q = x.baseAddress! + sample * t * 3 * d + head * dh
                            let p = probabilities.baseAddress! + pair * t * t
                            backend.gemm(transposeA: false, transposeB: true, m: t, n: t, k: dh, alpha: scale,
                                         a: q, lda: 3 * d, b: q + d, ldb: 3 * d, beta: 0, c: p, ldc: t)
                            for row in 0..<t { softmaxRow(p + row * t, into: p + row * t, length: t) }
                            backend.gemm(transposeA: false, transposeB: false, m: t, n: dh, k: t, alpha: 1,
                                         a: p, lda: t, b: q + 2 * d, ldb: 3 * d, beta: 0, c: out + sample * t * d + head * dh, ldc: d)
                        }
                    }
                }
            }
        }
        let input = self, kept = probabilities
        return Tensor.fused(.attention, shape: [n, t, d], scalars: values, inputs: [self], fast: { g, _ in
            [Tensor.attentionPullback(g, input: input, probabilities: kept, heads: heads)]
        }, differentiable: { g, _ in
            [Tensor.attentionPullbackComposite(g, input: input, heads: heads)]
        })
    }

    /// The attention probabilities softmax(Q_i·K_iᵀ/√d_h) of every head of
    /// ``multiHeadAttention(heads:)``, `[N, h, T, T]`, from differentiable operations (for
    /// diagnostics: the fused operation keeps them internally).
    public func multiHeadAttentionProbabilities(heads: Int) -> Tensor {
        precondition(rank == 3 && heads > 0 && shape[2] % (3 * heads) == 0,
                     "multiHeadAttentionProbabilities: expected packed projections [N, T, 3d] with \(heads) heads dividing d, got \(shape)")
        return FusedOperation.attentionProbabilities(self, heads: heads)
    }

    /// With dO the upstream gradient of a head and P its probabilities:
    /// dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − rowsum(dP ∘ P)), dQ = dS·K/√d_h, dK = dSᵀ·Q/√d_h,
    /// each written into its columns of the packed gradient `[N, T, 3d]`.
    private static func attentionPullback(_ g: Tensor, input: Tensor, probabilities: [Float], heads: Int) -> Tensor {
        let (n, t, d) = (input.shape[0], input.shape[1], input.shape[2] / 3)
        let dh = d / heads, scale = 1 / Float(dh).squareRoot()
        let backend = Backends.current
        let pairs = n * heads, pairSize = t * t + 2 * t * dh
        let dx = input.scalars.withUnsafeBufferPointer { x in
            g.scalars.withUnsafeBufferPointer { upstream in
                probabilities.withUnsafeBufferPointer { probabilities in
                    makeScalars(count: input.count) { out in
                        parallelFor(pairs, elementsEach: pairSize) { range in
                            var scores = [Float](repeating: 0, count: t * t)  // dP, then dS
                            scores.withUnsafeMutableBufferPointer { scores in
                                let ds = scores.baseAddress!
                                for pair in range {
                                    let (sample, head) = pair.quotientAndRemainder(dividingBy: heads)
                                    let offset = sample * t * 3 * d + head * dh
                                    let q = x.baseAddress! + offset, gq = out + offset
                                    let p = probabilities.baseAddress! + pair * t * t
                                    let dOut = upstream.baseAddress! + sample * t * d + head * dh
                                    backend.gemm(transposeA: true, transposeB: false, m: t, n: dh, k: t, alpha: 1,
                                                 a: p, lda: t, b: dOut, ldb: d, beta: 0, c: gq + 2 * d, ldc: 3 * d)
                                    backend.gemm(transposeA: false, transposeB: true, m: t, n: t, k: dh, alpha: 1,
                                                 a: dOut, lda: d, b: q + 2 * d, ldb: 3 * d, beta: 0, c: ds, ldc: t)
                                    for row in 0..<t {
                                        let pr = p + row * t, sr = ds + row * t
                                        var dot: Float = 0
                                        for j in 0..<t { dot += sr[j] * pr[j] }
                                        for j in 0..<t { sr[j] = pr[j] * (sr[j] - dot) }
                                    }
                                    backend.gemm(transposeA: false, transposeB: false, m: t, n: dh, k: t, alpha: scale,
                                                 a: ds, lda: t, b: q + d, ldb: 3 * d, beta: 0, c: gq, ldc: 3 * d)
                                    backend.gemm(transposeA: true, transposeB: false, m: t, n: dh, k: t, alpha: scale,
                                                 a: ds, lda: t, b: q, ldb: 3 * d, beta: 0, c: gq + d, ldc: 3 * d)
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: input.shape, scalars: dx)
    }

    /// The same gradient from differentiable operations, for a recorded backward pass
    /// (Hessian-vector products): the probabilities are recomputed from the input so that
    /// second derivatives flow through them.
    private static func attentionPullbackComposite(_ g: Tensor, input: Tensor, heads: Int) -> Tensor {
        let (n, t, d) = (input.shape[0], input.shape[1], input.shape[2] / 3)
        let dh = d / heads, scale = 1 / Float(dh).squareRoot()
        let (q, k, v) = FusedOperation.attentionHeads(input, heads: heads)
        let p = (q.matmul(k, transposingOther: true) * scale).softmax(alongAxis: -1)
        let dOut = g.reshaped(to: [n, t, heads, dh]).permuted([0, 2, 1, 3])
        let dv = p.matmul(dOut, transposingSelf: true)
        let dp = dOut.matmul(v, transposingOther: true)
        let ds = p * (dp - (dp * p).sum(alongAxes: [3], keepingDimensions: true))
        let dq = ds.matmul(k) * scale, dk = ds.matmul(q, transposingSelf: true) * scale
        // [3, N, h, T, dh] back to the packed [N, T, 3·h·dh].
        return Tensor.stacking([dq, dk, dv], alongAxis: 0).permuted([1, 3, 0, 2, 4]).reshaped(to: input.shape)
    }
}

extension FusedOperation {
    /// Q, K and V of each head, `[N, h, T, d_h]` each, from the packed `[N, T, 3d]`.
    static func attentionHeads(_ qkv: Tensor, heads: Int) -> (q: Tensor, k: Tensor, v: Tensor) {
        let (n, t, d) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let parts = qkv.reshaped(to: [n, t, 3, heads, d / heads]).permuted([2, 0, 3, 1, 4])
        func part(_ i: Int) -> Tensor { parts.sliced(alongAxis: 0, i..<(i + 1)).reshaped(to: [n, heads, t, d / heads]) }
        return (part(0), part(1), part(2))
    }

    /// The attention probabilities softmax(Q_i·K_iᵀ/√d_h) of every head, `[N, h, T, T]`.
    static func attentionProbabilities(_ qkv: Tensor, heads: Int) -> Tensor {
        let (q, k, _) = attentionHeads(qkv, heads: heads)
        let dh = qkv.shape[2] / 3 / heads
        return (q.matmul(k, transposingOther: true) * (1 / Float(dh).squareRoot())).softmax(alongAxis: -1)
    }

    /// Multi-head attention as its composite: split into heads, products, softmax, merge.
    static func attentionDefinition(_ qkv: Tensor, heads: Int) -> Tensor {
        let (n, t, d) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let v = attentionHeads(qkv, heads: heads).v
        return attentionProbabilities(qkv, heads: heads).matmul(v).permuted([0, 2, 1, 3]).reshaped(to: [n, t, d])
    }
}
