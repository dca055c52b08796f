import Foundation

/// Per-channel batch statistics returned by ``Tensor/batchNormalized(scale:offset:epsilon:rectified:)``.
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
    /// (ResNet's `relu(bn(conv(x)))`) in one forward pass.
    ///
    /// Reference: Ioffe & Szegedy 2015, *Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift*, arXiv:1502.03167.
    public func batchNormalized(
        scale: Tensor, offset: Tensor, epsilon: Float, rectified: Bool = false
    ) -> (output: Tensor, statistics: BatchStatistics) {
        precondition(rank == 2 || rank == 4, "batchNormalized: expected [N, C] or [N, C, H, W], got \(shape)")
        let n = shape[0], c = shape[1], s = rank == 4 ? shape[2] * shape[3] : 1
        precondition(scale.shape == [c] && offset.shape == [c],
                     "batchNormalized: scale and offset must be [\(c)], got \(scale.shape) and \(offset.shape)")
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
            let planeSums = Tensor.perPlane(n * c, planeSize: s) { p in Double(sumVector(x.baseAddress! + p * s, count: s)) }
            for ch in 0..<c {
                var sum: Double = 0
                for b in 0..<n { sum += planeSums[b * c + ch] }
                means[ch] = Float(sum / Double(m))
            }
            let planeSquares = Tensor.perPlane(n * c, planeSize: s) { [means] p in
                let row = x.baseAddress! + p * s, mu = means[p % c]
                var lanes = SIMD8<Float>.zero
                var i = 0
                let raw = UnsafeRawPointer(row), center = SIMD8<Float>(repeating: mu)
                while i + 8 <= s {
                    let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - center
                    lanes += d * d
                    i += 8
                }
                var partial = lanes.sum()
                while i < s { let d = row[i] - mu; partial += d * d; i += 1 }
                return Double(partial)
            }
            for ch in 0..<c {
                var squares: Double = 0
                for b in 0..<n { squares += planeSquares[b * c + ch] }
                variances[ch] = Float(squares / Double(m))
            }
        }
        let inverseStd = variances.map { 1 / ($0 + epsilon).squareRoot() }
        let channelMeans = means
        let values = scalars.withUnsafeBufferPointer { x in
            makeScalars(count: count) { out in
                parallelFor(n * c, grain: Swift.max(1, elementGrain / Swift.max(s, 1))) { planes in
                    for p in planes {
                        let ch = p % c
                        let k = scale.scalars[ch] * inverseStd[ch]
                        let shift = offset.scalars[ch] - channelMeans[ch] * k
                        let base = p * s
                        if rectified {
                            for i in 0..<s { out[base + i] = Swift.max(x[base + i] * k + shift, 0) }
                        } else {
                            for i in 0..<s { out[base + i] = x[base + i] * k + shift }
                        }
                    }
                }
            }
        }
        let input = self
        let output = Tensor.fused(.batchNorm, shape: shape, scalars: values, inputs: [self, scale, offset], fast: { g, y in
            // The ReLU's gate (g where y > 0) is applied inside both passes, as they read g.
            Tensor.batchNormPullbackFused(
                g, gate: rectified ? y : nil, input: input, scale: scale, means: channelMeans, inverseStd: inverseStd)
        }, differentiable: { g, y in
            Tensor.batchNormPullbackComposite(rectified ? g.gated(by: y) : g, input: input, scale: scale, epsilon: epsilon)
        })
        let statistics = BatchStatistics(mean: Tensor(channelMeans), variance: Tensor(variances), countPerChannel: m)
        return (output, statistics)
    }

    /// The batch-norm pullback for upstream `g`, gated by `gate > 0` when given (the ReLU of a
    /// rectified batch norm: `g.gated(by: y)`, but without a pass of its own).
    private static func batchNormPullbackFused(
        _ g: Tensor, gate: Tensor?, input: Tensor, scale: Tensor, means: [Float], inverseStd: [Float]
    ) -> [Tensor?] {
        let shape = input.shape
        let n = shape[0], c = shape[1], s = input.rank == 4 ? shape[2] * shape[3] : 1
        let m = Float(n * s)
        // Σ g and Σ g·x̂ per channel, accumulated in sample order; the planes are visited in
        // memory order (see `batchNormalized`), two partials per plane.
        var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
        let gateScalars = gate?.scalars ?? []
        input.scalars.withUnsafeBufferPointer { x in
          g.scalars.withUnsafeBufferPointer { dy in
            gateScalars.withUnsafeBufferPointer { gates in
                let gated = gate != nil
                if s == 1 {
                    // [N, C]: each sample's row of channels in turn, the same sums in sample order.
                    sumG.withUnsafeMutableBufferPointer { sumG in
                        sumGX.withUnsafeMutableBufferPointer { sumGX in
                            means.withUnsafeBufferPointer { means in
                                inverseStd.withUnsafeBufferPointer { inverseStd in
                                    for b in 0..<n {
                                        for ch in 0..<c {
                                            let i = b * c + ch
                                            let gi = gated && !(gates[i] > 0) ? 0 : dy[i]
                                            sumG[ch] += gi
                                            sumGX[ch] += gi * (x[i] - means[ch]) * inverseStd[ch]
                                        }
                                    }
                                }
                            }
                        }
                    }
                    return
                }
                let partials = Tensor.perPlane(n * c, planeSize: s, values: 2) { p, out in
                    let ch = p % c, base = p * s
                    let mu = means[ch], k = inverseStd[ch]
                    var lanesG = SIMD8<Float>.zero, lanesGX = SIMD8<Float>.zero
                    var i = 0
                    let gRow = UnsafeRawPointer(dy.baseAddress! + base), xRow = UnsafeRawPointer(x.baseAddress! + base)
                    let yRow = gated ? UnsafeRawPointer(gates.baseAddress! + base) : gRow
                    let center = SIMD8<Float>(repeating: mu), scale = SIMD8<Float>(repeating: k)
                    while i + 8 <= s {
                        var gv = gRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                        if gated { gv.replace(with: 0, where: .!(yRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) .> 0)) }
                        let xv = xRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                        lanesG += gv
                        lanesGX += gv * (xv - center) * scale
                        i += 8
                    }
                    var a = lanesG.sum(), bsum = lanesGX.sum()
                    while i < s {
                        let gi = gated && !(gates[base + i] > 0) ? 0 : dy[base + i]
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
        let dx = input.scalars.withUnsafeBufferPointer { x in
          g.scalars.withUnsafeBufferPointer { dy in
            gateScalars.withUnsafeBufferPointer { gates in
                let gated = gate != nil
                return makeScalars(count: input.count) { out in
                    if s == 1 {
                        let factors = zip(scale.scalars, inverseStd).map { $0 * $1 }
                        let meanG = sumG.map { $0 / m }, meanGX = sumGX.map { $0 / m }
                        factors.withUnsafeBufferPointer { factors in
                          meanG.withUnsafeBufferPointer { meanG in
                            meanGX.withUnsafeBufferPointer { meanGX in
                              means.withUnsafeBufferPointer { means in
                                inverseStd.withUnsafeBufferPointer { inverseStd in
                                    parallelFor(n, grain: Swift.max(1, elementGrain / Swift.max(c, 1))) { rows in
                                        for i in rows.lowerBound * c..<rows.upperBound * c {
                                            let ch = i % c
                                            let gi = gated && !(gates[i] > 0) ? 0 : dy[i]
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
                    parallelFor(n * c, grain: Swift.max(1, elementGrain / Swift.max(s, 1))) { planes in
                        for p in planes {
                            let ch = p % c
                            let base = p * s
                            let mu = means[ch], k = inverseStd[ch]
                            let factor = scale.scalars[ch] * k
                            let meanG = sumG[ch] / m, meanGX = sumGX[ch] / m
                            let gRow = UnsafeRawPointer(dy.baseAddress! + base), xRow = UnsafeRawPointer(x.baseAddress! + base)
                            let yRow = gated ? UnsafeRawPointer(gates.baseAddress! + base) : gRow
                            let outRow = UnsafeMutableRawPointer(out + base)
                            let (center, scale) = (SIMD8<Float>(repeating: mu), SIMD8<Float>(repeating: k))
                            let (f, mg, mgx) = (SIMD8<Float>(repeating: factor), SIMD8<Float>(repeating: meanG), SIMD8<Float>(repeating: meanGX))
                            var i = 0
                            while i + 8 <= s {
                                var gv = gRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                                if gated { gv.replace(with: 0, where: .!(yRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) .> 0)) }
                                let xhat = (xRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - center) * scale
                                outRow.storeBytes(of: f * (gv - mg - xhat * mgx), toByteOffset: i * 4, as: SIMD8<Float>.self)
                                i += 8
                            }
                            while i < s {
                                let gi = gated && !(gates[base + i] > 0) ? 0 : dy[base + i]
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
        return [Tensor(shape: shape, scalars: dx), Tensor(sumGX), Tensor(sumG)]
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

    /// `body(p)` for each of `count` planes of `planeSize` values, in parallel; each plane's
    /// result is its own, so none depends on the thread count.
    @inline(__always)
    static func perPlane(_ count: Int, planeSize: Int, _ body: (Int) -> Double) -> [Double] {
        var results = [Double](repeating: 0, count: count)
        results.withUnsafeMutableBufferPointer { results in
            parallelFor(count, grain: Swift.max(1, elementGrain / Swift.max(planeSize, 1))) { planes in
                for p in planes { results[p] = body(p) }
            }
        }
        return results
    }

    /// `body(p, out)` writing `values` Floats per plane, as ``perPlane(_:planeSize:_:)``.
    @inline(__always)
    static func perPlane(_ count: Int, planeSize: Int, values: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        [Float](unsafeUninitializedCapacity: count * values) { buffer, initialized in
            let base = buffer.baseAddress!
            parallelFor(count, grain: Swift.max(1, elementGrain / Swift.max(planeSize, 1))) { planes in
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
                parallelFor(n * c, grain: Swift.max(1, elementGrain / Swift.max(s, 1))) { planes in
                    for p in planes {
                        let k = scale.scalars[p % c], b = shift.scalars[p % c]
                        let base = p * s
                        for i in 0..<s { out[base + i] = x[base + i] * k + b }
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
                                parallelFor(c, grain: Swift.max(1, elementGrain / Swift.max(n * s, 1))) { channels in
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
                    parallelFor(n * c, grain: Swift.max(1, elementGrain / Swift.max(s, 1))) { planes in
                        for p in planes {
                            let k = scale.scalars[p % c], base = p * s
                            for i in 0..<s { out[base + i] = dy[base + i] * k }
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
