import Foundation

/// Per-channel batch statistics returned by ``Tensor/batchNormalized(scale:offset:epsilon:rectified:adding:)``.
public struct BatchStatistics: Sendable {
    /// The mean of each channel, shape `[C]`.
    public var mean: Tensor
    /// The biased (divide-by-M) variance of each channel, shape `[C]`.
    public var variance: Tensor
    /// Values per channel, M = N·H·W.
    public var countPerChannel: Int
}

extension Tensor {
    /// Batch normalization with batch statistics (Ioffe & Szegedy 2015), fused:
    /// y = γ·(x − μ)/√(σ² + ε) + β over axis 1 of `[N, C]` or `[N, C, H, W]`, with μ, σ²
    /// the per-channel mean and biased variance.
    ///
    /// One fused kernel each way replaces the dozen broadcast operations of the textbook
    /// expression (`FusedOperation/batchNorm`). The backward pass uses the closed form
    /// dx = γ/σ·(g − mean(g) − x̂·mean(g·x̂)); when the backward pass is itself recorded
    /// (Hessian-vector products), the same formula is built from differentiable operations.
    ///
    /// With `rectified`, the output is max(0, y) — batch norm and the ReLU after it
    /// (ResNet's `relu(bn(conv(x)))`) in one forward pass. With a `residual` r (of the input's
    /// shape) it is y + r, or max(0, y + r): the end of a residual block,
    /// `relu(bn(conv(x)) + shortcut)`, without writing bn's output and reading it back, and
    /// with the ReLU's gate applied to the gradient once for both branches.
    ///
    /// Reference: Ioffe & Szegedy 2015, *Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift*, arXiv:1502.03167.
    public func batchNormalized(
        scale: Tensor, offset: Tensor, epsilon: Float, rectified: Bool = false, adding residual: Tensor? = nil
    ) -> (output: Tensor, statistics: BatchStatistics) {
        precondition(rank == 2 || rank == 4, "batchNormalized: expected [N, C] or [N, C, H, W], got \(shape)")
        let n = shape[0], c = shape[1], s = rank == 4 ? shape[2] * shape[3] : 1
        precondition(scale.shape == [c] && offset.shape == [c],
                     "batchNormalized: scale and offset must be [\(c)], got \(scale.shape) and \(offset.shape)")
        if let residual {
            precondition(residual.shape == shape, "batchNormalized: the residual must have the input's shape \(shape), got \(residual.shape)")
        }
        let m = n * s
        precondition(m > 1, "batchNormalized: needs more than one value per channel, got \(shape)")
        // Both statistics are sums over each channel's planes in sample order. The planes are
        // visited in memory order (one partial per plane, then each channel's partials added in
        // sample order, the same additions as channel by channel): a channel's planes lie
        // C·H·W floats apart — a power of two in these networks — and read channel by channel
        // they map onto a few cache sets and evict each other.
        var means = [Float](repeating: 0, count: c), variances = [Float](repeating: 0, count: c)
        scalars.withUnsafeBufferPointer { x in
            if s == 1 {
                // [N, C]: planes of one value; each sample's row of channels in turn.
                (means, variances) = Tensor.rowStatistics(x.baseAddress!, n: n, c: c)
                return
            }
            // One read of x: each plane's sum, then its deviations from its own mean while the
            // plane is still in the L1 cache; the channel's centred sum of squares follows
            // exactly from the planes' (Chan et al.'s pairwise update, in Double). Both sums of
            // deviations are of centred values, so a mean far from zero costs no precision.
            let moments = Tensor.perPlane(n * c, planeSize: s, values: 3) { (p, out: UnsafeMutablePointer<Double>) in
                let row = x.baseAddress! + p * s
                let center = Tensor.planeSum(row, count: s) / Float(s)
                let (deviation, square) = Tensor.planeDeviations(row, count: s, from: center)
                out[0] = Double(center)
                out[1] = Double(deviation)
                out[2] = Double(square)
            }
            for ch in 0..<c {
                // Σ x over a plane is s·a + Σ (x − a) for its centre a.
                var sum: Double = 0
                for b in 0..<n { sum += Double(s) * moments[3 * (b * c + ch)] + moments[3 * (b * c + ch) + 1] }
                let mean = sum / Double(m)
                // Σ (x − μ)² over a plane = Σ (x − a)² + 2(a − μ)·Σ (x − a) + s·(a − μ)²;
                // summed over the channel's planes in sample order.
                var squares: Double = 0
                for b in 0..<n {
                    let p = 3 * (b * c + ch)
                    let offset = moments[p] - mean
                    squares += moments[p + 2] + 2 * offset * moments[p + 1] + Double(s) * offset * offset
                }
                means[ch] = Float(mean)
                variances[ch] = Float(Swift.max(squares, 0) / Double(m))
            }
        }
        let inverseStd = variances.map { 1 / ($0 + epsilon).squareRoot() }
        let channelMeans = means
        // y = x·k + shift per channel: the affine map the output applies and the backward pass
        // re-evaluates for the ReLU's gate.
        let factors = zip(scale.scalars, inverseStd).map { $0 * $1 }
        let shifts = (0..<c).map { offset.scalars[$0] - channelMeans[$0] * factors[$0] }
        let values = scalars.withUnsafeBufferPointer { x in
          (residual?.scalars ?? []).withUnsafeBufferPointer { r in
            makeScalars(count: count) { out in
                parallelFor(n * c, elementsEach: s) { planes in
                    for p in planes {
                        let k = factors[p % c], shift = shifts[p % c]
                        let base = p * s
                        // Offsets from the plane's start, in vectors: indices as `base + i`
                        // carry overflow checks that kept the compiler from vectorizing.
                        let xRow = UnsafeRawPointer(x.baseAddress! + base), outRow = UnsafeMutableRawPointer(out + base)
                        let rRow = residual == nil ? xRow : UnsafeRawPointer(r.baseAddress! + base)
                        let (kv, shiftv) = (SIMD8<Float>(repeating: k), SIMD8<Float>(repeating: shift))
                        // The sum rounded as `bn(x) + r` would round it: the normalized value first.
                        @inline(__always) func value(_ y: Float, _ i: Int) -> Float {
                            let v = residual == nil ? y : y + rRow.load(fromByteOffset: i * 4, as: Float.self)
                            return rectified ? Swift.max(v, 0) : v
                        }
                        var i = 0
                        while i + 8 <= s {
                            var v = xRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * kv + shiftv
                            if residual != nil { v += rRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) }
                            // max(v, 0) as Swift.max computes it (0 ≥ v ? 0 : v): +0 for −0, NaN kept.
                            if rectified { v.replace(with: 0, where: v .<= 0) }
                            outRow.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
                            i += 8
                        }
                        while i < s {
                            outRow.storeBytes(of: value(xRow.load(fromByteOffset: i * 4, as: Float.self) * k + shift, i), toByteOffset: i * 4, as: Float.self)
                            i += 1
                        }
                    }
                }
            }
          }
        }
        let input = self
        // The ReLU's gate (g where y > 0) is applied inside both backward passes, as they read g.
        // Without a residual y > 0 is x·k + shift > 0, re-evaluated from x, which both passes
        // read anyway (the same operations as the forward pass, so the same decisions); with
        // one the gate reads y.
        let inputs = residual.map { [self, scale, offset, $0] } ?? [self, scale, offset]
        let output = Tensor.fused(.batchNorm, shape: shape, scalars: values, inputs: inputs, fast: { g, y in
            let gate: BatchNormGate = !rectified ? .none : residual == nil ? .affine(factors: factors, shifts: shifts) : .output(y)
            return Tensor.batchNormPullbackFused(
                g, gate: gate, returnsGatedGradient: residual != nil, input: input, factors: factors, means: channelMeans, inverseStd: inverseStd)
        }, differentiable: { g, y in
            let gated = rectified ? g.gated(by: y) : g
            return Tensor.batchNormPullbackComposite(gated, input: input, scale: scale, epsilon: epsilon) + (residual == nil ? [] : [gated])
        })
        let statistics = BatchStatistics(mean: Tensor(channelMeans), variance: Tensor(variances), countPerChannel: m)
        return (output, statistics)
    }

    /// The batch-norm pullback for upstream `g`, gated by the ReLU of a rectified batch norm
    /// (`g.gated(by: y)`, but without a pass of its own): `[dx, dγ, dβ]`, and the gated `g`
    /// itself when `returnsGatedGradient` (a residual's gradient). `factors` are the forward
    /// pass's γ/σ per channel.
    private static func batchNormPullbackFused(
        _ g: Tensor, gate: BatchNormGate, returnsGatedGradient: Bool, input: Tensor, factors: [Float], means: [Float], inverseStd: [Float]
    ) -> [Tensor?] {
        let shape = input.shape
        let n = shape[0], c = shape[1], s = input.rank == 4 ? shape[2] * shape[3] : 1
        let m = Float(n * s)
        // A residual's gradient is g gated: written by the sums pass when there is a gate, then
        // read by the dx pass in place of g and the gate.
        let writesGated: Bool = if case .none = gate { false } else { returnsGatedGradient }
        // Uninitialized: the sums pass writes every element.
        var gated = writesGated ? [Float](unsafeUninitializedCapacity: g.count) { _, initialized in initialized = g.count } : []
        // Σ g and Σ g·x̂ per channel, accumulated in sample order; the planes are visited in
        // memory order (see `batchNormalized`), two partials per plane.
        var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
        input.scalars.withUnsafeBufferPointer { x in
          g.scalars.withUnsafeBufferPointer { dy in
            gate.withReader { gate in
            gated.withUnsafeMutableBufferPointer { gatedOut in
                if s == 1 {
                    // [N, C]: each sample's row of channels in turn, the same sums in sample order.
                    for b in 0..<n {
                        for ch in 0..<c {
                            let i = b * c + ch
                            let gi = gate.isOpen(at: i, channel: ch, x: x[i]) ? dy[i] : 0
                            if writesGated { gatedOut[i] = gi }
                            sumG[ch] += gi
                            sumGX[ch] += gi * (x[i] - means[ch]) * inverseStd[ch]
                        }
                    }
                    return
                }
                let partials = Tensor.perPlane(n * c, planeSize: s, values: 2) { p, out in
                    let ch = p % c, base = p * s
                    let mu = means[ch], k = inverseStd[ch]
                    var i = 0
                    let gRow = UnsafeRawPointer(dy.baseAddress! + base), xRow = UnsafeRawPointer(x.baseAddress! + base)
                    let center = SIMD8<Float>(repeating: mu), scale = SIMD8<Float>(repeating: k)
                    let channelGate = gate.channel(ch)
                    // g (gated, and stored when a residual needs it) and g·x̂ at i.
                    @inline(__always) func terms(_ i: Int) -> (g: SIMD8<Float>, gx: SIMD8<Float>) {
                        var gv = gRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                        let xv = xRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                        channelGate.close(&gv, at: base + i, x: xv)
                        if writesGated { UnsafeMutableRawPointer(gatedOut.baseAddress! + base).storeBytes(of: gv, toByteOffset: i * 4, as: SIMD8<Float>.self) }
                        return (gv, gv * (xv - center) * scale)
                    }
                    // Four accumulators each (see `planeSum`).
                    var (g0, g1, g2, g3) = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
                    var (h0, h1, h2, h3) = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
                    while i + 32 <= s {
                        let (t0, t1, t2, t3) = (terms(i), terms(i + 8), terms(i + 16), terms(i + 24))
                        g0 += t0.g; g1 += t1.g; g2 += t2.g; g3 += t3.g
                        h0 += t0.gx; h1 += t1.gx; h2 += t2.gx; h3 += t3.gx
                        i += 32
                    }
                    while i + 8 <= s { let t = terms(i); g0 += t.g; h0 += t.gx; i += 8 }
                    var a = ((g0 + g1) + (g2 + g3)).sum(), bsum = ((h0 + h1) + (h2 + h3)).sum()
                    while i < s {
                        let gi = gate.isOpen(at: base + i, channel: ch, x: x[base + i]) ? dy[base + i] : 0
                        if writesGated { gatedOut[base + i] = gi }
                        a += gi
                        bsum += gi * (x[base + i] - mu) * k
                        i += 1
                    }
                    out[0] = a
                    out[1] = bsum
                }
                for ch in 0..<c {
                    for b in 0..<n {
                        sumG[ch] += partials[2 * (b * c + ch)]
                        sumGX[ch] += partials[2 * (b * c + ch) + 1]
                    }
                }
            }
            }
          }
        }
        // Once the gated gradient exists, the dx pass reads it instead of g and the gate.
        let dx = input.scalars.withUnsafeBufferPointer { x in
          (writesGated ? gated : g.scalars).withUnsafeBufferPointer { dy in
            (writesGated ? BatchNormGate.none : gate).withReader { gate in
                makeScalars(count: input.count) { out in
                    if s == 1 {
                        let meanG = sumG.map { $0 / m }, meanGX = sumGX.map { $0 / m }
                        factors.withUnsafeBufferPointer { factors in
                          meanG.withUnsafeBufferPointer { meanG in
                            meanGX.withUnsafeBufferPointer { meanGX in
                              means.withUnsafeBufferPointer { means in
                                inverseStd.withUnsafeBufferPointer { inverseStd in
                                    parallelFor(n, elementsEach: c) { rows in
                                        for i in rows.lowerBound * c..<rows.upperBound * c {
                                            let ch = i % c
                                            let gi = gate.isOpen(at: i, channel: ch, x: x[i]) ? dy[i] : 0
                                            let xhat = (x[i] - means[ch]) * inverseStd[ch]
                                            out[i] = factors[ch] * (gi - meanG[ch] - xhat * meanGX[ch])
                                        }
                                    }
                                }
                              }
                            }
                          }
                        }
                        return
                    }
                    parallelFor(n * c, elementsEach: s) { planes in
                        for p in planes {
                            let ch = p % c
                            let base = p * s
                            let mu = means[ch], k = inverseStd[ch]
                            let factor = factors[ch]
                            let meanG = sumG[ch] / m, meanGX = sumGX[ch] / m
                            let gRow = UnsafeRawPointer(dy.baseAddress! + base), xRow = UnsafeRawPointer(x.baseAddress! + base)
                            let outRow = UnsafeMutableRawPointer(out + base)
                            let (center, scale) = (SIMD8<Float>(repeating: mu), SIMD8<Float>(repeating: k))
                            let (f, mg, mgx) = (SIMD8<Float>(repeating: factor), SIMD8<Float>(repeating: meanG), SIMD8<Float>(repeating: meanGX))
                            let channelGate = gate.channel(ch)
                            var i = 0
                            while i + 8 <= s {
                                var gv = gRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                                let xv = xRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                                channelGate.close(&gv, at: base + i, x: xv)
                                let xhat = (xv - center) * scale
                                outRow.storeBytes(of: f * (gv - mg - xhat * mgx), toByteOffset: i * 4, as: SIMD8<Float>.self)
                                i += 8
                            }
                            while i < s {
                                let gi = gate.isOpen(at: base + i, channel: ch, x: x[base + i]) ? dy[base + i] : 0
                                let xhat = (x[base + i] - mu) * k
                                out[base + i] = factor * (gi - meanG - xhat * meanGX)
                                i += 1
                            }
                        }
                    }
                }
            }
          }
        }
        var gradients: [Tensor?] = [Tensor(shape: shape, scalars: dx), Tensor(sumGX), Tensor(sumG)]
        if returnsGatedGradient { gradients.append(writesGated ? Tensor(shape: shape, scalars: gated) : g) }
        return gradients
    }

    /// Per-channel means and (biased) variances of `[n, c]` rows: the sums of the plane path
    /// with planes of one value, in the same order (sample by sample, in Double).
    static func rowStatistics(_ x: UnsafePointer<Float>, n: Int, c: Int) -> (means: [Float], variances: [Float]) {
        var sums = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        sums.withUnsafeMutableBufferPointer { sums in
            for b in 0..<n {
                for ch in 0..<c { sums[ch] += Double(x[b * c + ch]) }
            }
        }
        let means = sums.map { Float($0 / Double(n)) }
        squares.withUnsafeMutableBufferPointer { squares in
            means.withUnsafeBufferPointer { means in
                for b in 0..<n {
                    for ch in 0..<c {
                        let d = x[b * c + ch] - means[ch]
                        squares[ch] += Double(d * d)
                    }
                }
            }
        }
        return (means, squares.map { Float($0 / Double(n)) })
    }

    // A plane's sums run four vector accumulators: with one, each addition waits for the
    // last (the adds' latency, not memory, bounded the pass).

    /// Σ x over `count` values.
    @inline(__always)
    static func planeSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let raw = UnsafeRawPointer(x)
        @inline(__always) func load(_ i: Int) -> SIMD8<Float> { raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) }
        var (a, b, c, d) = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
        var i = 0
        while i + 32 <= count {
            a += load(i); b += load(i + 8); c += load(i + 16); d += load(i + 24)
            i += 32
        }
        while i + 8 <= count { a += load(i); i += 8 }
        var total = ((a + b) + (c + d)).sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Σ (x − a) and Σ (x − a)² over `count` values, for a centre a.
    @inline(__always)
    static func planeDeviations(_ x: UnsafePointer<Float>, count: Int, from center: Float) -> (Float, Float) {
        let raw = UnsafeRawPointer(x), a = SIMD8<Float>(repeating: center)
        @inline(__always) func load(_ i: Int) -> SIMD8<Float> { raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - a }
        var (d0, d1, d2, d3) = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
        var (q0, q1, q2, q3) = (SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero, SIMD8<Float>.zero)
        var i = 0
        while i + 32 <= count {
            let (v0, v1, v2, v3) = (load(i), load(i + 8), load(i + 16), load(i + 24))
            d0 += v0; d1 += v1; d2 += v2; d3 += v3
            q0 += v0 * v0; q1 += v1 * v1; q2 += v2 * v2; q3 += v3 * v3
            i += 32
        }
        while i + 8 <= count { let v = load(i); d0 += v; q0 += v * v; i += 8 }
        var deviation = ((d0 + d1) + (d2 + d3)).sum(), square = ((q0 + q1) + (q2 + q3)).sum()
        while i < count { let v = x[i] - center; deviation += v; square += v * v; i += 1 }
        return (deviation, square)
    }

    /// `body(p, out)` for each of `count` planes of `planeSize` values, in parallel, writing
    /// the plane's `values` results; each plane's are its own, so none depends on the thread
    /// count.
    @inline(__always)
    static func perPlane<Scalar: BinaryFloatingPoint>(
        _ count: Int, planeSize: Int, values: Int, _ body: (Int, UnsafeMutablePointer<Scalar>) -> Void
    ) -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: count * values) { buffer, initialized in
            let base = buffer.baseAddress!
            parallelFor(count, elementsEach: planeSize) { planes in
                for p in planes { body(p, base + p * values) }
            }
            initialized = count * values
        }
    }

    /// The same pullback from differentiable operations, for recorded backward passes.
    private static func batchNormPullbackComposite(_ g: Tensor, input: Tensor, scale: Tensor, epsilon: Float) -> [Tensor?] {
        let c = input.shape[1]
        let axes = input.rank == 4 ? [0, 2, 3] : [0]
        let statShape = input.rank == 4 ? [1, c, 1, 1] : [1, c]
        let mean = input.mean(alongAxes: axes, keepingDimensions: true)
        let centered = input - mean
        let inverseStd = 1 / (centered.square().mean(alongAxes: axes, keepingDimensions: true) + epsilon).sqrt()
        let xhat = centered * inverseStd
        let meanG = g.mean(alongAxes: axes, keepingDimensions: true)
        let meanGX = (g * xhat).mean(alongAxes: axes, keepingDimensions: true)
        let dx = scale.reshaped(to: statShape) * inverseStd * (g - meanG - xhat * meanGX)
        return [dx, (g * xhat).sum(alongAxes: axes), g.sum(alongAxes: axes)]
    }
}

extension Tensor {
    /// y = x·scale[c] + shift[c] over axis 1 of `[N, C]` or `[N, C, H, W]`: batch norm in
    /// evaluation mode (scale = γ/√(σ²_running + ε), shift = β − μ_running·scale) in one pass
    /// instead of three broadcast operations. Differentiable in all three arguments; the
    /// backward pass is a fused kernel unless it is itself recorded
    /// (`FusedOperation/channelAffine`).
    public func channelAffine(scale: Tensor, shift: Tensor) -> Tensor {
        precondition(rank == 2 || rank == 4, "channelAffine: expected [N, C] or [N, C, H, W], got \(shape)")
        let n = shape[0], c = shape[1], s = rank == 4 ? shape[2] * shape[3] : 1
        precondition(scale.shape == [c] && shift.shape == [c],
                     "channelAffine: scale and shift must be [\(c)], got \(scale.shape) and \(shift.shape)")
        let values = scalars.withUnsafeBufferPointer { x in
            makeScalars(count: count) { out in
                parallelFor(n * c, elementsEach: s) { planes in
                    for p in planes {
                        let k = scale.scalars[p % c], b = shift.scalars[p % c]
                        let base = p * s
                        // Offsets from the plane's start: no overflow checks, a vectorized loop.
                        let from = x.baseAddress! + base, to = out + base
                        for i in 0..<s { to[i] = from[i] * k + b }
                    }
                }
            }
        }
        let input = self
        let needsInput = node != nil, needsScale = scale.node != nil, needsShift = shift.node != nil
        return Tensor.fused(.channelAffine, shape: shape, scalars: values, inputs: [self, scale, shift], fast: { g, _ in
            var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
            if needsScale || needsShift {
                input.scalars.withUnsafeBufferPointer { x in
                    g.scalars.withUnsafeBufferPointer { dy in
                        sumG.withUnsafeMutableBufferPointer { sumG in
                            sumGX.withUnsafeMutableBufferPointer { sumGX in
                                // Channels are independent sums, each in sample order.
                                parallelFor(c, elementsEach: n * s) { channels in
                                    for ch in channels {
                                        var a: Double = 0, b: Double = 0
                                        for sample in 0..<n {
                                            let base = (sample * c + ch) * s
                                            var partialG: Float = 0, partialGX: Float = 0
                                            for i in 0..<s { partialG += dy[base + i]; partialGX += dy[base + i] * x[base + i] }
                                            a += Double(partialG); b += Double(partialGX)
                                        }
                                        sumG[ch] = Float(a); sumGX[ch] = Float(b)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let dx: Tensor? = needsInput ? Tensor(shape: input.shape, scalars: g.scalars.withUnsafeBufferPointer { dy in
                makeScalars(count: input.count) { out in
                    parallelFor(n * c, elementsEach: s) { planes in
                        for p in planes {
                            let k = scale.scalars[p % c], base = p * s
                            let from = dy.baseAddress! + base, to = out + base
                            for i in 0..<s { to[i] = from[i] * k }
                        }
                    }
                }
            }) : nil
            return [dx, needsScale ? Tensor(sumGX) : nil, needsShift ? Tensor(sumG) : nil]
        }, differentiable: { g, _ in
            let axes = input.rank == 4 ? [0, 2, 3] : [0]
            let statShape = input.rank == 4 ? [1, c, 1, 1] : [1, c]
            return [needsInput ? g * scale.reshaped(to: statShape) : nil,
                    needsScale ? (g * input).sum(alongAxes: axes) : nil,
                    needsShift ? g.sum(alongAxes: axes) : nil]
        })
    }
}

/// Where a rectified batch norm's backward passes find the ReLU's gate.
enum BatchNormGate {
    /// No ReLU.
    case none
    /// y > 0 ⟺ x·k + shift > 0 per channel: re-evaluated from x, which the passes read anyway.
    case affine(factors: [Float], shifts: [Float])
    /// y > 0 read from the output (when a residual was added before the ReLU).
    case output(Tensor)

    /// `body` with a reader of the gate's data.
    func withReader<R>(_ body: (Reader) -> R) -> R {
        switch self {
        case .none:
            return body(Reader(mode: .none, factors: nil, shifts: nil, outputs: nil))
        case let .affine(factors, shifts):
            return factors.withUnsafeBufferPointer { factors in
                shifts.withUnsafeBufferPointer { shifts in
                    body(Reader(mode: .affine, factors: factors.baseAddress, shifts: shifts.baseAddress, outputs: nil))
                }
            }
        case let .output(y):
            return y.scalars.withUnsafeBufferPointer { body(Reader(mode: .output, factors: nil, shifts: nil, outputs: $0.baseAddress)) }
        }
    }

    /// The gate as the passes' loops read it: one branch on the mode, no closure.
    struct Reader {
        enum Mode { case none, affine, output }
        let mode: Mode
        let factors: UnsafePointer<Float>?, shifts: UnsafePointer<Float>?, outputs: UnsafePointer<Float>?

        /// Whether element `i` (of channel `channel`, input value `x`) passes the gradient.
        @inline(__always)
        func isOpen(at i: Int, channel: Int, x: Float) -> Bool {
            switch mode {
            case .none: true
            case .affine: x * factors.unsafelyUnwrapped[channel] + shifts.unsafelyUnwrapped[channel] > 0
            case .output: outputs.unsafelyUnwrapped[i] > 0
            }
        }

        /// The gate of one channel, with its constants splatted for the vector loops.
        @inline(__always)
        func channel(_ channel: Int) -> ChannelReader {
            let affine = mode == .affine
            return ChannelReader(
                mode: mode, factor: SIMD8(repeating: affine ? factors.unsafelyUnwrapped[channel] : 0),
                shift: SIMD8(repeating: affine ? shifts.unsafelyUnwrapped[channel] : 0), outputs: outputs)
        }
    }

    struct ChannelReader {
        let mode: Reader.Mode
        let factor: SIMD8<Float>, shift: SIMD8<Float>
        let outputs: UnsafePointer<Float>?

        /// Zeroes the lanes of `g` (elements i..<i + 8, input values `x`) the gate closes.
        @inline(__always)
        func close(_ g: inout SIMD8<Float>, at i: Int, x: SIMD8<Float>) {
            switch mode {
            case .none: break
            case .affine: g.replace(with: 0, where: .!(x * factor + shift .> 0))
            case .output:
                let y = UnsafeRawPointer(outputs.unsafelyUnwrapped + i).loadUnaligned(as: SIMD8<Float>.self)
                g.replace(with: 0, where: .!(y .> 0))
            }
        }
    }
}
