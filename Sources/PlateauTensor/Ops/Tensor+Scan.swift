extension Tensor {
    /// The first-order linear recurrence along axis 1 of `[N, L, …]` tensors,
    ///
    ///     h_t = a_t ⊙ h_{t−1} + b_t,   h_{−1} = 0,
    ///
    /// or, with `reverse`, h_t = a_t ⊙ h_{t+1} + b_t from the end (h_L = 0). This is the
    /// sequential core of a selective state-space scan (Mamba): everything else in such a
    /// layer is elementwise and vectorizes over the sequence, so only this loop is a
    /// dedicated kernel.
    ///
    /// Its pullback is another recurrence running the other way: with λ the adjoint of h,
    /// λ_t = g_t + a_{t+1} λ_{t+1}, ∂b_t = λ_t and ∂a_t = λ_t h_{t−1}. It is written with this
    /// operation and ordinary tensor operations, so the backward pass is itself
    /// differentiable (Hessian-vector products).
    ///
    /// - Precondition: `decay` and `input` have the same shape of rank ≥ 2.
    public static func linearRecurrence(decay a: Tensor, input b: Tensor, reverse: Bool = false) -> Tensor {
        precondition(a.shape == b.shape, "linearRecurrence: decay shape \(a.shape) differs from input shape \(b.shape)")
        precondition(a.rank >= 2, "linearRecurrence: expected [N, L, …] tensors, got shape \(a.shape)")
        let shape = a.shape
        let outer = shape[0], length = shape[1], inner = shape[2...].product
        let values = a.scalars.withUnsafeBufferPointer { decay in
            b.scalars.withUnsafeBufferPointer { input in
                makeScalars(count: a.count) { out in
                    // Sequences (and lanes within one) are independent: split them over the
                    // threads in fixed column blocks; each element's recurrence is the same
                    // whatever the split.
                    let block = 256, blocks = (inner + block - 1) / block
                    parallelFor(outer * blocks, elementsEach: length * Swift.min(block, inner)) { range in
                        for item in range {
                            let (n, b) = item.quotientAndRemainder(dividingBy: blocks)
                            let base = n * length * inner, columns = (b * block)..<Swift.min(inner, (b + 1) * block)
                            for step in 0..<length {
                                let t = reverse ? length - 1 - step : step
                                let row = base + t * inner
                                if step == 0 {
                                    for i in columns { out[row + i] = input[row + i] }
                                } else {
                                    let previous = reverse ? row + inner : row - inner
                                    for i in columns { out[row + i] = decay[row + i] * out[previous + i] + input[row + i] }
                                }
                            }
                        }
                    }
                }
            }
        }
        let needsDecay = a.node != nil
        return recorded("linearRecurrence", shape: shape, scalars: values, inputs: [a, b]) { g, h in
            // The adjoint recurrence reads the decay one step ahead in its own direction.
            let shifted: Tensor, neighbour: Tensor
            if length == 1 {
                shifted = Tensor.zeros(shape)
                neighbour = Tensor.zeros(shape)
            } else if reverse {
                shifted = a.sliced(alongAxis: 1, 0..<(length - 1)).padded(alongAxis: 1, before: 1, after: 0)
                neighbour = h.sliced(alongAxis: 1, 1..<length).padded(alongAxis: 1, before: 0, after: 1)
            } else {
                shifted = a.sliced(alongAxis: 1, 1..<length).padded(alongAxis: 1, before: 0, after: 1)
                neighbour = h.sliced(alongAxis: 1, 0..<(length - 1)).padded(alongAxis: 1, before: 1, after: 0)
            }
            let adjoint = linearRecurrence(decay: shifted, input: g, reverse: !reverse)
            return [needsDecay ? adjoint * neighbour : nil, adjoint]
        }
    }
}
