import Foundation

// The two elementwise-heavy operations of a transformer or mixer block as fused operations
// (ViT and MLP-Mixer spent most of a step in the graph nodes of their composites: GELU is six
// primitives, layer normalization eight, each with its broadcast-reducing backward).

extension Tensor {
    /// The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)) (PyTorch's default), as one fused
    /// operation; d/dx = Φ(x) + x·φ(x).
    ///
    /// Reference: Hendrycks & Gimpel 2016, *Gaussian Error Linear Units (GELUs)*, arXiv:1606.08415.
    ///
    /// With an ``ElementwiseBackend`` bound (oneDNN by default) both directions run on its
    /// vector kernels; otherwise on Plateau's own loops, which keep Φ(x) from the forward pass.
    public func gelu() -> Tensor {
        let input = self
        if case let (values, backend)? = Tensor.elementwise(.gelu, scalars) {
            return Tensor.fused(.gelu, shape: shape, scalars: values, inputs: [self], fast: { g, _ in
                let dx = input.scalars.withUnsafeBufferPointer { x in
                    g.scalars.withUnsafeBufferPointer { gb in
                        makeScalars(count: x.count) {
                            backend.backward(.gelu, input: x.baseAddress!, outputGradient: gb.baseAddress!, inputGradient: $0, count: x.count)
                        }
                    }
                }
                return [Tensor(shape: input.shape, scalars: dx)]
            }, differentiable: { g, _ in [g * Tensor.geluDerivative(input)] })
        }
        // Φ(x) is kept for the backward pass: erf is the expensive part of both directions.
        let cdf = mapScalars(scalars, NormalCDF())
        let values = zipScalars(scalars, cdf, Multiplying())
        return Tensor.fused(.gelu, shape: shape, scalars: values, inputs: [self], fast: { g, _ in
            [Tensor(shape: input.shape, scalars: zipScalars(g.scalars, zipScalars(input.scalars, cdf, GELUDerivative()), Multiplying()))]
        }, differentiable: { g, _ in [g * Tensor.geluDerivative(input)] })
    }

    /// Φ(x) + x·φ(x) from differentiable operations, for a recorded backward pass.
    private static func geluDerivative(_ x: Tensor) -> Tensor {
        let cdf = ((x * Float(1 / 2.0.squareRoot())).erf() + 1) * 0.5
        let density = (x.square() * -0.5).exp() * Float(1 / (2 * Double.pi).squareRoot())
        return cdf + x * density
    }

    /// Layer normalization over each row of `scale.count` trailing elements:
    /// y = (x − μ)/√(σ² + ε)·γ + β, μ and σ² the row's mean and biased variance (Ba, Kiros &
    /// Hinton 2016, arXiv:1607.06450), as one fused operation.
    ///
    /// - Precondition: `scale` and `offset` have the same number of elements, which divides
    ///   the tensor's trailing dimensions exactly (they are the normalized shape).
    public func layerNormalized(scale: Tensor, offset: Tensor, epsilon: Float) -> Tensor {
        let d = scale.count
        precondition(d > 0 && offset.count == d && count % d == 0,
                     "layerNormalized: scale \(scale.shape) and offset \(offset.shape) must be the trailing dimensions of \(shape)")
        let rows = count / d
        var means = [Float](repeating: 0, count: rows), inverseStd = [Float](repeating: 0, count: rows)
        let values = scalars.withUnsafeBufferPointer { x in
          scale.scalars.withUnsafeBufferPointer { gamma in
          offset.scalars.withUnsafeBufferPointer { beta in
            means.withUnsafeMutableBufferPointer { meanOut in
                inverseStd.withUnsafeMutableBufferPointer { stdOut in
                    makeScalars(count: count) { out in
                        parallelFor(rows, elementsEach: d) { range in
                            for r in range {
                                let row = x.baseAddress! + r * d
                                let mu = sumVector(row, count: d) / Float(d)
                                // Batch norm's vector sums (a serial float sum does not vectorize).
                                let squares = Tensor.planeDeviations(row, count: d, from: mu).1
                                let k = 1 / (squares / Float(d) + epsilon).squareRoot()
                                meanOut[r] = mu
                                stdOut[r] = k
                                // Pointers from the row's start: indices as `r * d + i` carry
                                // overflow checks (and the arrays bounds checks) that kept the
                                // compiler from vectorizing this loop.
                                let target = out + r * d
                                for i in 0..<d { target[i] = (row[i] - mu) * k * gamma[i] + beta[i] }
                            }
                        }
                    }
                }
            }
          }
          }
        }
        let input = self, rowMeans = means, rowInverseStd = inverseStd
        return Tensor.fused(.layerNorm, shape: shape, scalars: values, inputs: [self, scale, offset], fast: { g, _ in
            Tensor.layerNormPullback(g, input: input, scale: scale, offset: offset, means: rowMeans, inverseStd: rowInverseStd)
        }, differentiable: { g, _ in
            Tensor.layerNormPullbackComposite(g, input: input, scale: scale, offset: offset, epsilon: epsilon)
        })
    }

    /// dx = k·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) per row with ĝ = g·γ, x̂ = (x − μ)·k; dγ = Σ_rows g·x̂,
    /// dβ = Σ_rows g. One parallel pass over fixed blocks of ``layerNormBlockRows`` rows, each
    /// block summing its own dγ and dβ; the blocks' sums are then added in block order, so the
    /// result does not depend on the thread count.
    private static func layerNormPullback(
        _ g: Tensor, input: Tensor, scale: Tensor, offset: Tensor, means: [Float], inverseStd: [Float]
    ) -> [Tensor?] {
        let d = scale.count, rows = input.count / d
        let blockRows = layerNormBlockRows, blocks = (rows + blockRows - 1) / blockRows
        var partials = [Float](repeating: 0, count: 2 * blocks * d)  // per block: dγ, then dβ
        let dx = g.scalars.withUnsafeBufferPointer { gb in
          scale.scalars.withUnsafeBufferPointer { gamma in
            input.scalars.withUnsafeBufferPointer { x in
                partials.withUnsafeMutableBufferPointer { partials in
                    makeScalars(count: input.count) { out in
                        parallelFor(blocks, elementsEach: d * blockRows) { range in
                            for block in range {
                                let gammaSum = partials.baseAddress! + 2 * block * d, betaSum = gammaSum + d
                                for r in (block * blockRows)..<Swift.min(rows, (block + 1) * blockRows) {
                                    let mu = means[r], k = inverseStd[r]
                                    // Pointers from the row's start (see `layerNormalized`).
                                    let gRow = gb.baseAddress! + r * d, xRow = x.baseAddress! + r * d, outRow = out + r * d
                                    // Both row sums in eight lanes (serial float sums do not vectorize).
                                    var laneG = SIMD8<Float>.zero, laneGX = SIMD8<Float>.zero
                                    let (muLanes, kLanes) = (SIMD8<Float>(repeating: mu), SIMD8<Float>(repeating: k))
                                    var i = 0
                                    while i + 8 <= d {
                                        let gh = UnsafeRawPointer(gRow + i).loadUnaligned(as: SIMD8<Float>.self)
                                            * UnsafeRawPointer(gamma.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self)
                                        let xh = (UnsafeRawPointer(xRow + i).loadUnaligned(as: SIMD8<Float>.self) - muLanes) * kLanes
                                        laneG += gh
                                        laneGX += gh * xh
                                        i += 8
                                    }
                                    var sumG = laneG.sum(), sumGX = laneGX.sum()
                                    while i < d {
                                        let gh = gRow[i] * gamma[i], xh = (xRow[i] - mu) * k
                                        sumG += gh
                                        sumGX += gh * xh
                                        i += 1
                                    }
                                    let meanG = sumG / Float(d), meanGX = sumGX / Float(d)
                                    // Free of reductions across i, so this loop vectorizes.
                                    for i in 0..<d {
                                        let gi = gRow[i], xh = (xRow[i] - mu) * k
                                        outRow[i] = k * (gi * gamma[i] - meanG - xh * meanGX)
                                        gammaSum[i] += gi * xh
                                        betaSum[i] += gi
                                    }
                                }
                            }
                        }
                    }
                }
            }
          }
        }
        var gammaGradient = [Double](repeating: 0, count: d), betaGradient = [Double](repeating: 0, count: d)
        for block in 0..<blocks {
            for i in 0..<d {
                gammaGradient[i] += Double(partials[2 * block * d + i])
                betaGradient[i] += Double(partials[(2 * block + 1) * d + i])
            }
        }
        return [Tensor(shape: input.shape, scalars: dx),
                Tensor(shape: scale.shape, scalars: gammaGradient.map(Float.init)),
                Tensor(shape: offset.shape, scalars: betaGradient.map(Float.init))]
    }

    /// Rows per block of the layer-norm pullback's parameter-gradient sums: part of the
    /// arithmetic (never derived from the thread count).
    static let layerNormBlockRows = 128

    /// The same gradient from differentiable operations on `[rows, d]` views, for a recorded
    /// backward pass (Hessian-vector products).
    private static func layerNormPullbackComposite(
        _ g: Tensor, input: Tensor, scale: Tensor, offset: Tensor, epsilon: Float
    ) -> [Tensor?] {
        let d = scale.count, rows = input.count / d
        let x = input.reshaped(to: [rows, d]), upstream = g.reshaped(to: [rows, d]), gamma = scale.reshaped(to: [1, d])
        let centered = x - x.mean(alongAxes: [1], keepingDimensions: true)
        let std = (centered.square().mean(alongAxes: [1], keepingDimensions: true) + epsilon).sqrt()
        let normalized = centered / std
        let scaled = upstream * gamma
        let dx = (scaled - scaled.mean(alongAxes: [1], keepingDimensions: true)
                  - normalized * (scaled * normalized).mean(alongAxes: [1], keepingDimensions: true)) / std
        return [dx.reshaped(to: input.shape),
                (upstream * normalized).sum(alongAxes: [0]).reshaped(to: scale.shape),
                upstream.sum(alongAxes: [0]).reshaped(to: offset.shape)]
    }
}

/// Φ(x) = ½(1 + erf(x/√2)), the standard normal distribution function.
struct NormalCDF: UnaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { VectorMath.normalCDF(x) }
}

/// Φ(x) + x·φ(x), GELU's derivative, from x and Φ(x).
struct GELUDerivative: BinaryScalarFunction {
    @inline(__always) func callAsFunction(_ x: Float, _ cdf: Float) -> Float {
        cdf + x * VectorMath.normalDensity(x)
    }
}
