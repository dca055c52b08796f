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
        var means = [Float](repeating: 0, count: c), variances = [Float](repeating: 0, count: c)
        scalars.withUnsafeBufferPointer { x in
          means.withUnsafeMutableBufferPointer { meanOut in
           variances.withUnsafeMutableBufferPointer { varianceOut in
            parallelFor(c, grain: Swift.max(1, elementGrain / Swift.max(m, 1))) { channels in
            for ch in channels {
                var sum: Double = 0
                for b in 0..<n {
                    sum += Double(sumVector(x.baseAddress! + (b * c + ch) * s, count: s))
                }
                let mu = Float(sum / Double(m))
                var squares: Double = 0
                for b in 0..<n {
                    let row = x.baseAddress! + (b * c + ch) * s
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
                    squares += Double(partial)
                }
                meanOut[ch] = mu
                varianceOut[ch] = Float(squares / Double(m))
            }
            }
           }
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
            // The ReLU's gate as its own vectorized pass: folding the mask into the sum loops
            // measured slower (mask selects do not vectorize well there).
            Tensor.batchNormPullbackFused(
                rectified ? g.gated(by: y) : g, input: input, scale: scale, means: channelMeans, inverseStd: inverseStd)
        }, differentiable: { g, y in
            Tensor.batchNormPullbackComposite(rectified ? g.gated(by: y) : g, input: input, scale: scale, epsilon: epsilon)
        })
        let statistics = BatchStatistics(mean: Tensor(channelMeans), variance: Tensor(variances), countPerChannel: m)
        return (output, statistics)
    }

    private static func batchNormPullbackFused(
        _ g: Tensor, input: Tensor, scale: Tensor, means: [Float], inverseStd: [Float]
    ) -> [Tensor?] {
        let shape = input.shape
        let n = shape[0], c = shape[1], s = input.rank == 4 ? shape[2] * shape[3] : 1
        let m = Float(n * s)
        var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
        input.scalars.withUnsafeBufferPointer { x in
            g.scalars.withUnsafeBufferPointer { dy in
              sumG.withUnsafeMutableBufferPointer { sumGOut in
                sumGX.withUnsafeMutableBufferPointer { sumGXOut in
                  // Channels are independent sums, each accumulated in sample order.
                  parallelFor(c, grain: Swift.max(1, elementGrain / Swift.max(n * s, 1))) { channels in
                    for ch in channels {
                        let mu = means[ch], k = inverseStd[ch]
                        for b in 0..<n {
                            let base = (b * c + ch) * s
                            var lanesG = SIMD8<Float>.zero, lanesGX = SIMD8<Float>.zero
                            var i = 0
                            let gRow = UnsafeRawPointer(dy.baseAddress! + base), xRow = UnsafeRawPointer(x.baseAddress! + base)
                            let center = SIMD8<Float>(repeating: mu), scale = SIMD8<Float>(repeating: k)
                            while i + 8 <= s {
                                let gv = gRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                                let xv = xRow.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                                lanesG += gv
                                lanesGX += gv * (xv - center) * scale
                                i += 8
                            }
                            var a = lanesG.sum(), bsum = lanesGX.sum()
                            while i < s {
                                a += dy[base + i]
                                bsum += dy[base + i] * (x[base + i] - mu) * k
                                i += 1
                            }
                            sumGOut[ch] += a
                            sumGXOut[ch] += bsum
                        }
                    }
                  }
                }
              }
            }
        }
        let dx = input.scalars.withUnsafeBufferPointer { x in
            g.scalars.withUnsafeBufferPointer { dy in
                makeScalars(count: input.count) { out in
                    parallelFor(n * c, grain: Swift.max(1, elementGrain / Swift.max(s, 1))) { planes in
                        for p in planes {
                            let ch = p % c
                            let base = p * s
                            let mu = means[ch], k = inverseStd[ch]
                            let factor = scale.scalars[ch] * k
                            let meanG = sumG[ch] / m, meanGX = sumGX[ch] / m
                            for i in 0..<s {
                                let xhat = (x[base + i] - mu) * k
                                out[base + i] = factor * (dy[base + i] - meanG - xhat * meanGX)
                            }
                        }
                    }
                }
            }
        }
        return [Tensor(shape: shape, scalars: dx), Tensor(sumGX), Tensor(sumG)]
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
