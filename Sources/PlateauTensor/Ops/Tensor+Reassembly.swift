/// Content-aware reassembly (CARAFE: Wang, Chen, Xu, Liu, Loy & Lin 2019, *CARAFE:
/// Content-Aware ReAssembly of FEatures*, arXiv:1905.02188), the upsampler and the adaptive
/// filters of FreqFusion: every output pixel is its own k×k kernel applied to the input
/// around the pixel it comes from,
///
///     y[n, c, p] = Σ_{t = (dy, dx)} K[n, t, p] · x[n, c, clamp(q(p) + dy − r), clamp(q(p) + dx − r)]
///
/// with r = ⌊k/2⌋, q(p) = p (or ⌊p/2⌋ per axis when upsampling by 2) and replicate padding.
///
/// Written from primitives (`FusedOperation.reassemblyDefinition`) it unfolds the input into
/// k² shifted copies — and, upsampling, repeats those four times — before one broadcast
/// product: for FreqFusion's 5×5 kernels 100 times the input, which set the step time. The
/// fused kernels read each input pixel where it is needed instead. Each output channel plane
/// is one task (forward and input gradient: the scatter of a plane stays in that plane, in a
/// fixed order); each kernel-gradient plane sums the channels in order, so results do not
/// depend on the thread count.
extension Tensor {
    /// CARAFE reassembly of `[N, C, H, W]` with per-pixel kernels `kernels` `[N, k², H', W']`
    /// (taps row-major), H' = 2H and W' = 2W when `upsampling`, else H and W: `[N, C, H', W']`.
    public func reassembled(kernels: Tensor, side k: Int, upsampling: Bool) -> Tensor {
        precondition(rank == 4, "reassembled: input must be [N, C, H, W], got \(shape)")
        precondition(k > 0 && k % 2 == 1, "reassembled: the kernel side must be odd and positive, got \(k)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let geometry = ReassemblyGeometry(height: h, width: w, side: k, upsampling: upsampling)
        let (oh, ow) = (geometry.outputHeight, geometry.outputWidth)
        precondition(kernels.shape == [n, k * k, oh, ow], "reassembled: expected kernels [\(n), \(k * k), \(oh), \(ow)], got \(kernels.shape)")
        let plane = oh * ow, taps = k * k
        let values = scalars.withUnsafeBufferPointer { x in
            kernels.scalars.withUnsafeBufferPointer { kernel in
                makeScalars(count: n * c * plane) { out in
                    parallelFor(n * c, grain: 1) { planes in
                        for p in planes {
                            let sample = p / c
                            let input = x.baseAddress! + p * h * w, y = out + p * plane
                            y.initialize(repeating: 0, count: plane)
                            for t in 0..<taps {
                                let weights = kernel.baseAddress! + (sample * taps + t) * plane
                                geometry.forEachSource(tap: t) { outputRow, inputRow, columns in
                                    let yRow = y + outputRow * ow, kRow = weights + outputRow * ow, xRow = input + inputRow * w
                                    for ox in 0..<ow { yRow[ox] += kRow[ox] * xRow[columns[ox]] }
                                }
                            }
                        }
                    }
                }
            }
        }
        let input = self
        return Tensor.fused(.reassembly, shape: [n, c, oh, ow], scalars: values, inputs: [self, kernels], fast: { g, _ in
            Tensor.reassemblyPullback(g, input: input, kernels: kernels, geometry: geometry)
        }, differentiable: { g, _ in
            // The composite's own gradient, recorded: exact to any order.
            gradients(of: FusedOperation.reassemblyDefinition(input, kernels: kernels, side: k, upsampling: upsampling),
                      withRespectTo: [input, kernels], seed: g, createGraph: true).map { Optional($0) }
        })
    }

    /// ∂x[n, c, s] = Σ_{t, p: source(t, p) = s} g[n, c, p]·K[n, t, p] (per channel plane, taps
    /// and pixels in order); ∂K[n, t, p] = Σ_c g[n, c, p]·x[n, c, source(t, p)] (channels in order).
    private static func reassemblyPullback(_ g: Tensor, input: Tensor, kernels: Tensor, geometry: ReassemblyGeometry) -> [Tensor?] {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (oh, ow) = (geometry.outputHeight, geometry.outputWidth)
        let plane = oh * ow, taps = geometry.side * geometry.side
        return g.scalars.withUnsafeBufferPointer { dy in
            input.scalars.withUnsafeBufferPointer { x in
                kernels.scalars.withUnsafeBufferPointer { kernel in
                    let dx: Tensor? = input.node == nil ? nil : Tensor(shape: input.shape, scalars: makeScalars(count: input.count) { out in
                        parallelFor(n * c, grain: 1) { planes in
                            for p in planes {
                                let sample = p / c
                                let target = out + p * h * w, gPlane = dy.baseAddress! + p * plane
                                target.initialize(repeating: 0, count: h * w)
                                for t in 0..<taps {
                                    let weights = kernel.baseAddress! + (sample * taps + t) * plane
                                    geometry.forEachSource(tap: t) { outputRow, inputRow, columns in
                                        let gRow = gPlane + outputRow * ow, kRow = weights + outputRow * ow, xRow = target + inputRow * w
                                        for ox in 0..<ow { xRow[columns[ox]] += gRow[ox] * kRow[ox] }
                                    }
                                }
                            }
                        }
                    })
                    let dk: Tensor? = kernels.node == nil ? nil : Tensor(shape: kernels.shape, scalars: makeScalars(count: kernels.count) { out in
                        parallelFor(n * taps, grain: 1) { rows in
                            for r in rows {
                                let (sample, t) = r.quotientAndRemainder(dividingBy: taps)
                                let target = out + r * plane
                                target.initialize(repeating: 0, count: plane)
                                for channel in 0..<c {
                                    let p = sample * c + channel
                                    let gPlane = dy.baseAddress! + p * plane, xPlane = x.baseAddress! + p * h * w
                                    geometry.forEachSource(tap: t) { outputRow, inputRow, columns in
                                        let gRow = gPlane + outputRow * ow, kRow = target + outputRow * ow, xRow = xPlane + inputRow * w
                                        for ox in 0..<ow { kRow[ox] += gRow[ox] * xRow[columns[ox]] }
                                    }
                                }
                            }
                        }
                    })
                    return [dx, dk]
                }
            }
        }
    }
}

/// Where each output pixel of a reassembly reads, per tap: the input row of every output row
/// and the input column of every output column (replicate padding by clamping).
struct ReassemblyGeometry: Sendable {
    let height: Int, width: Int, side: Int, upsampling: Bool
    var outputHeight: Int { upsampling ? 2 * height : height }
    var outputWidth: Int { upsampling ? 2 * width : width }
    /// `columns[dx]` is the input column of each output column for tap column dx.
    private let columns: [[Int]]

    init(height: Int, width: Int, side: Int, upsampling: Bool) {
        (self.height, self.width, self.side, self.upsampling) = (height, width, side, upsampling)
        let r = side / 2, ow = upsampling ? 2 * width : width
        columns = (0..<side).map { dx in
            (0..<ow).map { ox in Swift.min(Swift.max((upsampling ? ox / 2 : ox) + dx - r, 0), width - 1) }
        }
    }

    /// Calls `body(outputRow, inputRow, inputColumns)` for every output row of tap `t`.
    func forEachSource(tap t: Int, _ body: (Int, Int, UnsafeBufferPointer<Int>) -> Void) {
        let (dy, dx) = t.quotientAndRemainder(dividingBy: side), r = side / 2
        columns[dx].withUnsafeBufferPointer { columns in
            for oy in 0..<outputHeight {
                body(oy, Swift.min(Swift.max((upsampling ? oy / 2 : oy) + dy - r, 0), height - 1), columns)
            }
        }
    }
}
