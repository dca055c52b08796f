import Foundation

// Mamba's selective scan as one fused operation. As a composite it materializes
// exp(Δ ⊙ A), (Δ ⊙ x) ⊗ B, the states h and h ⊙ C — four `[N, L, D, S]` tensors — and their
// gradients, each a separate pass over memory; here one pass each way keeps only h.

extension Tensor {
    /// The selective state-space scan of Mamba (Gu & Dao 2023) without its skip term: for
    /// x, Δ `[N, L, D]`, A `[D, S]`, B, C `[N, L, S]`,
    ///
    ///     h_t = exp(Δ_t ⊙ A) ⊙ h_{t−1} + (Δ_t ⊙ x_t) ⊗ B_t,   y_t = h_t · C_t,
    ///
    /// h `[N, D, S]` starting at zero; returns y `[N, L, D]`. One fused operation
    /// (`FusedOperation.selectiveScan`); sequences run in parallel.
    public static func selectiveScan(_ x: Tensor, delta: Tensor, a: Tensor, b: Tensor, c: Tensor) -> Tensor {
        precondition(x.rank == 3 && delta.shape == x.shape, "selectiveScan: x and Δ must be [N, L, D] alike, got \(x.shape) and \(delta.shape)")
        let (n, length, inner) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(a.rank == 2 && a.shape[0] == inner, "selectiveScan: A must be [\(inner), S], got \(a.shape)")
        let state = a.shape[1]
        precondition(b.shape == [n, length, state] && c.shape == [n, length, state],
                     "selectiveScan: B and C must be [\(n), \(length), \(state)], got \(b.shape) and \(c.shape)")
        guard n * length * inner * state > 0 else { return FusedOperation.selectiveScanDefinition(x, delta: delta, a: a, b: b, c: c) }
        // h for every step, kept for the backward pass: [N, L, D, S].
        var states = [Float](repeating: 0, count: n * length * inner * state)
        let values = x.scalars.withUnsafeBufferPointer { xs in
            delta.scalars.withUnsafeBufferPointer { ds in
                a.scalars.withUnsafeBufferPointer { as_ in
                    b.scalars.withUnsafeBufferPointer { bs in
                        c.scalars.withUnsafeBufferPointer { cs in
                            states.withUnsafeMutableBufferPointer { hs in
                                makeScalars(count: n * length * inner) { ys in
                                    parallelFor(n, grain: 1) { samples in
                                        for sample in samples {
                                            for d in 0..<inner {
                                                let aRow = as_.baseAddress! + d * state
                                                for t in 0..<length {
                                                    let step = (sample * length + t) * inner + d
                                                    let delta = ds[step], drive = delta * xs[step]
                                                    let bRow = bs.baseAddress! + (sample * length + t) * state
                                                    let cRow = cs.baseAddress! + (sample * length + t) * state
                                                    let h = hs.baseAddress! + step * state
                                                    if t == 0 {
                                                        for s in 0..<state { h[s] = drive * bRow[s] }
                                                    } else {
                                                        let previous = h - inner * state
                                                        for s in 0..<state {
                                                            h[s] = VectorMath.exp(delta * aRow[s]) * previous[s] + drive * bRow[s]
                                                        }
                                                    }
                                                    var y: Float = 0
                                                    for s in 0..<state { y += h[s] * cRow[s] }
                                                    ys[step] = y
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let kept = states
        return Tensor.fused(.selectiveScan, shape: [n, length, inner], scalars: values, inputs: [x, delta, a, b, c], fast: { g, _ in
            Tensor.selectiveScanPullback(g, x: x, delta: delta, a: a, b: b, c: c, states: kept)
        }, differentiable: { g, _ in
            // The composite's own gradient, recorded: exact to any order.
            gradients(of: FusedOperation.selectiveScanDefinition(x, delta: delta, a: a, b: b, c: c),
                      withRespectTo: [x, delta, a, b, c], seed: g, createGraph: true).map { Optional($0) }
        })
    }

    /// Backward through time with λ the adjoint of h (λ_t = g_t·C_t + a_{t+1} ⊙ λ_{t+1},
    /// a_t = exp(Δ_t A)): dC_t = Σ_d g_t,d·h_t,d; da_t = λ_t ⊙ h_{t−1}; dA = Σ da·a·Δ;
    /// dΔ = Σ_s (da·a·A + λ·x·B); dx = Σ_s λ·Δ·B; dB_t = Σ_d λ_t,d·Δ_t,d·x_t,d. Sequences in
    /// parallel; dA summed over them in sample order, dB and dC over D in order.
    private static func selectiveScanPullback(
        _ g: Tensor, x: Tensor, delta: Tensor, a: Tensor, b: Tensor, c: Tensor, states: [Float]
    ) -> [Tensor?] {
        let (n, length, inner, state) = (x.shape[0], x.shape[1], x.shape[2], a.shape[1])
        var dx = [Float](repeating: 0, count: x.count), dDelta = [Float](repeating: 0, count: x.count)
        var dB = [Float](repeating: 0, count: b.count), dC = [Float](repeating: 0, count: c.count)
        var dAPartials = [Float](repeating: 0, count: n * inner * state)
        g.scalars.withUnsafeBufferPointer { gs in
        x.scalars.withUnsafeBufferPointer { xs in
        delta.scalars.withUnsafeBufferPointer { ds in
        a.scalars.withUnsafeBufferPointer { as_ in
        b.scalars.withUnsafeBufferPointer { bs in
        c.scalars.withUnsafeBufferPointer { cs in
        states.withUnsafeBufferPointer { hs in
        dx.withUnsafeMutableBufferPointer { dxs in
        dDelta.withUnsafeMutableBufferPointer { dds in
        dB.withUnsafeMutableBufferPointer { dbs in
        dC.withUnsafeMutableBufferPointer { dcs in
        dAPartials.withUnsafeMutableBufferPointer { das in
            parallelFor(n, grain: 1) { samples in
                // λ, zeros (h before the first step), and per-s terms of the two sums over s.
                // The per-s loop has no reduction, so it vectorizes; the sums then run in s
                // order over the same expressions as a fused loop would (same bits).
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 4 * state)
                defer { scratch.deallocate() }
                let lambda = scratch, zeros = scratch + state, deltaTerms = scratch + 2 * state, inputTerms = scratch + 3 * state
                zeros.initialize(repeating: 0, count: state)
                for sample in samples {
                    for d in 0..<inner {
                        let aRow = as_.baseAddress! + d * state, daRow = das.baseAddress! + (sample * inner + d) * state
                        lambda.initialize(repeating: 0, count: state)
                        for t in stride(from: length - 1, through: 0, by: -1) {
                            let step = (sample * length + t) * inner + d
                            let upstream = gs[step], deltaValue = ds[step], input = xs[step]
                            let bRow = bs.baseAddress! + (sample * length + t) * state
                            let cRow = cs.baseAddress! + (sample * length + t) * state
                            let dbRow = dbs.baseAddress! + (sample * length + t) * state
                            let dcRow = dcs.baseAddress! + (sample * length + t) * state
                            let h = hs.baseAddress! + step * state
                            let previous = t == 0 ? UnsafePointer(zeros) : h - inner * state
                            for s in 0..<state {
                                let decay = VectorMath.exp(deltaValue * aRow[s])
                                let adjoint = lambda[s] + upstream * cRow[s]
                                dcRow[s] += upstream * h[s]
                                let gradDecay = adjoint * previous[s] * decay  // ∂/∂(Δ·A)
                                deltaTerms[s] = gradDecay * aRow[s] + adjoint * input * bRow[s]
                                daRow[s] += gradDecay * deltaValue
                                inputTerms[s] = adjoint * deltaValue * bRow[s]
                                dbRow[s] += adjoint * deltaValue * input
                                lambda[s] = decay * adjoint
                            }
                            var gradDelta: Float = 0, gradInput: Float = 0
                            for s in 0..<state {
                                gradDelta += deltaTerms[s]
                                gradInput += inputTerms[s]
                            }
                            dds[step] = gradDelta
                            dxs[step] = gradInput
                        }
                    }
                }
            }
        } } } } } } } } } } } }
        var dA = [Float](repeating: 0, count: a.count)
        for sample in 0..<n {
            for i in 0..<(inner * state) { dA[i] += dAPartials[sample * inner * state + i] }
        }
        return [Tensor(shape: x.shape, scalars: dx), Tensor(shape: delta.shape, scalars: dDelta), Tensor(shape: a.shape, scalars: dA),
                Tensor(shape: b.shape, scalars: dB), Tensor(shape: c.shape, scalars: dC)]
    }
}

extension FusedOperation {
    /// The selective scan as its composite: the decays and drives as `[N, L, D, S]` tensors,
    /// the linear recurrence, the readout.
    static func selectiveScanDefinition(_ x: Tensor, delta: Tensor, a: Tensor, b: Tensor, c: Tensor) -> Tensor {
        let (n, length, inner, state) = (x.shape[0], x.shape[1], x.shape[2], a.shape[1])
        let decay = (delta.reshaped(to: [n, length, inner, 1]) * a.reshaped(to: [1, 1, inner, state])).exp()
        let drive = (delta * x).reshaped(to: [n, length, inner, 1]) * b.reshaped(to: [n, length, 1, state])
        let h = Tensor.linearRecurrence(decay: decay, input: drive)
        return (h * c.reshaped(to: [n, length, 1, state])).sum(alongAxis: 3)
    }
}
