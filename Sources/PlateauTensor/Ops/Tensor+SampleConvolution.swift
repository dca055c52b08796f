/// Convolution one sample at a time, with its im2col matrix kept in cache.
///
/// The textbook lowering unfolds the whole batch into one `[C·kh·kw, N·oh·ow]` matrix and
/// multiplies once. For the 3×3 convolutions of a CIFAR ResNet that matrix is nine times
/// the activations (75 MB for a 16-channel stage at batch 128): writing it, reading it back
/// and zeroing its gradient all go to main memory, and that traffic, not arithmetic, set the
/// step time. Here each sample's window matrix (≤ 1 MB) is built, used and discarded while
/// still in cache, and the backward pass rebuilds it instead of keeping it:
///
///     forward:   y_n = W · cols(x_n) + b                    (per sample n)
///     backward:  ∂W = Σ_n ∂y_n · cols(x_n)ᵀ,   ∂x_n = col2im(Wᵀ · ∂y_n),   ∂b = Σ ∂y
///
/// Samples are spread over the threads in fixed chunks of ``chunkSize``; each chunk sums
/// its weight gradient in sample order and the chunks are added in chunk order, so results
/// do not depend on the thread count. When the backward pass is itself recorded (Hessian-
/// vector products) it is built from differentiable operations instead
/// (`FusedOperation/convolution`, `FusedOperation/sameConvolution`).
extension Tensor {
    /// Samples per chunk of work: a fixed constant, part of the summation order of ∂W.
    static let convolutionChunkSize = 8

    func convolvedSampleBySample(weight: Tensor, bias: Tensor?, geometry g: WindowGeometry) -> Tensor {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (oh, ow) = g.outputSize(height: h, width: w)
        let oc = weight.shape[0], k = c * g.kernel.height * g.kernel.width, l = oh * ow
        let chunkSize = Tensor.convolutionChunkSize
        let chunks = (n + chunkSize - 1) / chunkSize
        let backend = Backends.current
        let input = self
        if n > 0, let native = Backends.convolutions {
            let shape = ConvolutionShape(input: self.shape, weight: weight.shape, g)
            if native.prepare(shape, hasBias: bias != nil) {
                return convolvedNatively(weight: weight, bias: bias, shape: shape, backend: native)
            }
        }
        if let same = SameConvolution(g, height: h, width: w, channels: c) {
            return convolvedSameSampleBySample(weight: weight, bias: bias, same: same, geometry: g)
        }
        let values = scalars.withUnsafeBufferPointer { x in
            weight.scalars.withUnsafeBufferPointer { filters in
                makeScalars(count: n * oc * l) { out in
                    parallelFor(chunks, grain: 1) { range in
                        var columns = [Float](repeating: 0, count: k * l)
                        columns.withUnsafeMutableBufferPointer { columns in
                            for sample in range.lowerBound * chunkSize..<Swift.min(n, range.upperBound * chunkSize) {
                                unfoldSample(x.baseAddress! + sample * c * h * w, into: columns.baseAddress!, c: c, h: h, w: w, g)
                                let y = out + sample * oc * l
                                if let bias {
                                    for ch in 0..<oc { (y + ch * l).initialize(repeating: bias.scalars[ch], count: l) }
                                }
                                backend.gemm(
                                    transposeA: false, transposeB: false, m: oc, n: l, k: k, alpha: 1,
                                    a: filters.baseAddress!, lda: k, b: columns.baseAddress!, ldb: l,
                                    beta: bias == nil ? 0 : 1, c: y, ldc: l)
                            }
                        }
                    }
                }
            }
        }
        let needsInput = node != nil, needsWeight = weight.node != nil, needsBias = bias?.node != nil
        let inputs = bias.map { [self, weight, $0] } ?? [self, weight]
        return Tensor.fused(.convolution, shape: [n, oc, oh, ow], scalars: values, inputs: inputs, fast: { gradient, _ in
            // With stride 1, ∂x_n is itself a convolution of ∂y_n with the flipped, transposed
            // filters (padding d·(k − 1) − p): one more im2col instead of a gemm into a
            // [C·kh·kw, oh·ow] buffer (which OpenBLAS first zeroes) and a col2im.
            let (kh, kw) = g.kernel
            let backwardGeometry = WindowGeometry(
                kernel: g.kernel, stride: (1, 1),
                padding: (g.dilation.height * (kh - 1) - g.padding.height, g.dilation.width * (kw - 1) - g.padding.width),
                dilation: (g.dilation.height, g.dilation.width))
            // Only for 'same' convolutions: with less padding the transposed one would unfold
            // ∂y into a matrix larger than the columns it replaces, mostly zeros.
            let transposedConvolution = needsInput && g.stride == (1, 1) && oh == h && ow == w
                && backwardGeometry.padding.height >= 0 && backwardGeometry.padding.width >= 0
            let flipped = transposedConvolution ? flippedTransposedFilters(weight, c: c, oc: oc, kh: kh, kw: kw) : []
            let scratchCount = Swift.max(k * l, transposedConvolution ? oc * kh * kw * h * w : 0)
            var inputGradient = needsInput ? [Float](unsafeUninitializedCapacity: n * c * h * w) { $1 = n * c * h * w } : []
            var partials = needsWeight ? [Float](unsafeUninitializedCapacity: chunks * oc * k) { $1 = chunks * oc * k } : []
            gradient.scalars.withUnsafeBufferPointer { dy in
              input.scalars.withUnsafeBufferPointer { x in
                weight.scalars.withUnsafeBufferPointer { filters in
                  inputGradient.withUnsafeMutableBufferPointer { dx in
                    partials.withUnsafeMutableBufferPointer { partials in
                      parallelFor(chunks, grain: 1) { range in
                        var columns = [Float](unsafeUninitializedCapacity: scratchCount) { $1 = scratchCount }
                        columns.withUnsafeMutableBufferPointer { columns in
                          for chunk in range {
                            let samples = chunk * chunkSize..<Swift.min(n, (chunk + 1) * chunkSize)
                            for sample in samples {
                                let dySample = dy.baseAddress! + sample * oc * l
                                if needsWeight {
                                    unfoldSample(x.baseAddress! + sample * c * h * w, into: columns.baseAddress!, c: c, h: h, w: w, g)
                                    backend.gemm(
                                        transposeA: false, transposeB: true, m: oc, n: k, k: l, alpha: 1,
                                        a: dySample, lda: l, b: columns.baseAddress!, ldb: l,
                                        beta: sample == samples.lowerBound ? 0 : 1, c: partials.baseAddress! + chunk * oc * k, ldc: k)
                                }
                                if transposedConvolution {
                                    unfoldSample(dySample, into: columns.baseAddress!, c: oc, h: oh, w: ow, backwardGeometry)
                                    flipped.withUnsafeBufferPointer { flipped in
                                        backend.gemm(
                                            transposeA: false, transposeB: false, m: c, n: h * w, k: oc * kh * kw, alpha: 1,
                                            a: flipped.baseAddress!, lda: oc * kh * kw, b: columns.baseAddress!, ldb: h * w,
                                            beta: 0, c: dx.baseAddress! + sample * c * h * w, ldc: h * w)
                                    }
                                } else if needsInput {
                                    (dx.baseAddress! + sample * c * h * w).initialize(repeating: 0, count: c * h * w)
                                    backend.gemm(
                                        transposeA: true, transposeB: false, m: k, n: l, k: oc, alpha: 1,
                                        a: filters.baseAddress!, lda: k, b: dySample, ldb: l,
                                        beta: 0, c: columns.baseAddress!, ldc: l)
                                    foldSample(columns.baseAddress!, into: dx.baseAddress! + sample * c * h * w, c: c, h: h, w: w, g)
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
            var results: [Tensor?] = [
                needsInput ? Tensor(shape: input.shape, scalars: inputGradient) : nil,
                needsWeight ? Tensor(shape: weight.shape, scalars: sumOfChunks(partials, chunks: chunks, size: oc * k)) : nil,
            ]
            if bias != nil { results.append(needsBias ? gradient.channelSums() : nil) }
            return results
        }, differentiable: { gradient, _ in
            Tensor.convolutionPullbackComposite(gradient, input: input, weight: weight, hasBias: bias != nil, g)
        }, directional: Tensor.loweredConvolutionDirectional(input: input, weight: weight, hasBias: bias != nil, g))
    }

    /// ``convolvedSampleBySample(weight:bias:geometry:)`` for 'same' convolutions, through
    /// the row-shift lowering (``SameConvolution``).
    func convolvedSameSampleBySample(weight: Tensor, bias: Tensor?, same: SameConvolution, geometry g: WindowGeometry) -> Tensor {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (oc, kh, kw) = (weight.shape[0], same.kh, same.kw)
        let chunkSize = Tensor.convolutionChunkSize
        let chunks = (n + chunkSize - 1) / chunkSize
        let backend = Backends.current
        let input = self
        let filters = SameConvolution.filtersByRow(weight.scalars, oc: oc, c: c, kh: kh, kw: kw)
        let values = scalars.withUnsafeBufferPointer { x in
            filters.withUnsafeBufferPointer { filters in
                makeScalars(count: n * oc * h * w) { out in
                    parallelFor(chunks, grain: 1) { range in
                        var shifted = [Float](unsafeUninitializedCapacity: c * kw * same.rowLength) { $1 = c * kw * same.rowLength }
                        var wide = [Float](unsafeUninitializedCapacity: oc * same.wideCount) { $1 = oc * same.wideCount }
                        shifted.withUnsafeMutableBufferPointer { shifted in
                          wide.withUnsafeMutableBufferPointer { wide in
                            for sample in range.lowerBound * chunkSize..<Swift.min(n, range.upperBound * chunkSize) {
                                same.shiftedRows(of: x.baseAddress! + sample * c * h * w, channels: c, into: shifted.baseAddress!)
                                same.multiply(filters.baseAddress!, m: oc, channels: c, shifted: shifted.baseAddress!, into: wide.baseAddress!, backend: backend)
                                same.compact(wide.baseAddress!, rows: oc, into: out + sample * oc * h * w, bias: bias?.scalars)
                            }
                          }
                        }
                    }
                }
            }
        }
        let needsInput = node != nil, needsWeight = weight.node != nil, needsBias = bias?.node != nil
        let inputs = bias.map { [self, weight, $0] } ?? [self, weight]
        return Tensor.fused(.sameConvolution, shape: [n, oc, h, w], scalars: values, inputs: inputs, fast: { gradient, _ in
            // ∂x is a 'same' convolution of ∂y with the flipped, transposed filters.
            let flipped = needsInput ? SameConvolution.flippedFiltersByRow(weight.scalars, oc: oc, c: c, kh: kh, kw: kw) : []
            let k = c * kh * kw
            var inputGradient = needsInput ? [Float](unsafeUninitializedCapacity: n * c * h * w) { $1 = n * c * h * w } : []
            var partials = needsWeight ? [Float](unsafeUninitializedCapacity: chunks * oc * k) { $1 = chunks * oc * k } : []
            let shiftedCount = Swift.max(c, oc) * kw * same.rowLength
            gradient.scalars.withUnsafeBufferPointer { dy in
              input.scalars.withUnsafeBufferPointer { x in
                flipped.withUnsafeBufferPointer { flipped in
                  inputGradient.withUnsafeMutableBufferPointer { dx in
                    partials.withUnsafeMutableBufferPointer { partials in
                      parallelFor(chunks, grain: 1) { range in
                        var shifted = [Float](unsafeUninitializedCapacity: shiftedCount) { $1 = shiftedCount }
                        var wide = [Float](unsafeUninitializedCapacity: Swift.max(c, oc) * same.wideCount) { $1 = Swift.max(c, oc) * same.wideCount }
                        shifted.withUnsafeMutableBufferPointer { shifted in
                          wide.withUnsafeMutableBufferPointer { wide in
                            for chunk in range {
                                let samples = chunk * chunkSize..<Swift.min(n, (chunk + 1) * chunkSize)
                                for sample in samples {
                                    let dySample = dy.baseAddress! + sample * oc * h * w
                                    if needsWeight {
                                        same.widen(dySample, rows: oc, into: wide.baseAddress!)
                                        same.shiftedRows(of: x.baseAddress! + sample * c * h * w, channels: c, into: shifted.baseAddress!)
                                        same.accumulateFilterGradient(
                                            wide.baseAddress!, m: oc, channels: c, shifted: shifted.baseAddress!,
                                            into: partials.baseAddress! + chunk * oc * k, accumulate: sample != samples.lowerBound, backend: backend)
                                    }
                                    if needsInput {
                                        same.shiftedRows(of: dySample, channels: oc, into: shifted.baseAddress!)
                                        same.multiply(flipped.baseAddress!, m: c, channels: oc, shifted: shifted.baseAddress!, into: wide.baseAddress!, backend: backend)
                                        same.compact(wide.baseAddress!, rows: c, into: dx.baseAddress! + sample * c * h * w, bias: nil)
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
            var results: [Tensor?] = [
                needsInput ? Tensor(shape: input.shape, scalars: inputGradient) : nil,
                needsWeight ? Tensor(shape: weight.shape, scalars: SameConvolution.filterGradient(
                    fromRows: sumOfChunks(partials, chunks: chunks, size: oc * k), oc: oc, c: c, kh: kh, kw: kw)) : nil,
            ]
            if bias != nil { results.append(needsBias ? gradient.channelSums() : nil) }
            return results
        }, differentiable: { gradient, _ in
            Tensor.convolutionPullbackComposite(gradient, input: input, weight: weight, hasBias: bias != nil, g)
        }, directional: Tensor.loweredConvolutionDirectional(input: input, weight: weight, hasBias: bias != nil, g))
    }

    /// ``convolvedSampleBySample(weight:bias:geometry:)`` on a library's kernels (one call per
    /// pass for the whole batch), differentiable to any order on the same kernels.
    ///
    /// With A_w x = conv(x, w), the three passes are linear maps closed under differentiation:
    ///
    ///     y = conv(x, w)            ∂x = A_wᵀ ∂y (backward data),   ∂w = B_x ∂y (backward weights)
    ///     z = A_wᵀ d                ∂d = conv(∂z, w),               ∂w = B_{∂z} d
    ///     v = B_x d                 ∂x = A_{∂v}ᵀ d,                 ∂d = conv(x, ∂v)
    ///
    /// (from ⟨u, A_wᵀ d⟩ = ⟨conv(u, w), d⟩ and ⟨q, B_x d⟩ = ⟨conv(x, q), d⟩). So a recorded
    /// backward pass — a Hessian-vector product — runs the library's kernels too, instead of
    /// differentiating the lowering's whole-batch im2col composite. First-order results are
    /// the same calls as before, bit for bit.
    func convolvedNatively(weight: Tensor, bias: Tensor?, shape: ConvolutionShape, backend: any ConvolutionBackend) -> Tensor {
        let (oh, ow) = shape.outputSize
        let outputShape = [shape.batch, shape.outputChannels, oh, ow]
        let values = scalars.withUnsafeBufferPointer { x in
            weight.scalars.withUnsafeBufferPointer { filters in
                makeScalars(count: outputShape.product) { out in
                    if let bias {
                        bias.scalars.withUnsafeBufferPointer { b in
                            backend.forward(shape, input: x.baseAddress!, weight: filters.baseAddress!, bias: b.baseAddress!, output: out)
                        }
                    } else {
                        backend.forward(shape, input: x.baseAddress!, weight: filters.baseAddress!, bias: nil, output: out)
                    }
                }
            }
        }
        let input = self
        let inputs = bias.map { [self, weight, $0] } ?? [self, weight]
        return Tensor.fused(.convolution, shape: outputShape, scalars: values, inputs: inputs, fast: { gradient, _ in
            let results = Tensor.nativeConvolutionPullback(gradient, input: input, weight: weight, shape: shape, backend: backend)
            // The bias gradient keeps Plateau's fixed-order sums (independent of threads).
            return bias == nil ? results : results + [bias?.node != nil ? gradient.channelSums() : nil]
        }, differentiable: { gradient, _ in
            let results = Tensor.nativeConvolutionPullback(gradient, input: input, weight: weight, shape: shape, backend: backend)
            return bias == nil ? results : results + [gradient.sum(alongAxes: [0, 2, 3])]
        }, directional: Tensor.convolutionDirectional(
            input: input, weight: weight, hasBias: bias != nil,
            convolving: { x, w, b in x.convolvedNatively(weight: w, bias: b, shape: shape, backend: backend) },
            gradients: { gradient, needs in
                let results = Tensor.nativeConvolutionPullback(
                    gradient, input: input, weight: weight, shape: shape, backend: backend, needs: (needs[0], needs[1]))
                return bias == nil ? results : results + [needs[2] ? gradient.sum(alongAxes: [0, 2, 3]) : nil]
            }))
    }

    /// ``convolutionDirectional(input:weight:hasBias:convolving:gradients:)`` for the lowered
    /// paths (im2col, row shifts): the tangent through `conv2d`, the gradients from the
    /// differentiable composite.
    private static func loweredConvolutionDirectional(input: Tensor, weight: Tensor, hasBias: Bool, _ g: WindowGeometry) -> Node.DirectionalPullback {
        convolutionDirectional(
            input: input, weight: weight, hasBias: hasBias,
            convolving: { x, w, b in x.conv2d(weight: w, bias: b, stride: g.stride, padding: g.padding, dilation: g.dilation) },
            gradients: { gradient, needs in
                convolutionPullbackComposite(gradient, input: input, weight: weight, hasBias: hasBias, g, needs: needs)
            })
    }

    /// The ``Node/DirectionalPullback`` of a one-group convolution y = conv(x, w) + b, linear
    /// in each of x, w and b: the tangent conv(v_x, w) + conv(x, v_w) + v_b (`convolving` is
    /// the same convolution with other operands), and the gradients of the tracked inputs
    /// without a direction (`gradients(g, needs)` with one flag per input).
    static func convolutionDirectional(
        input: Tensor, weight: Tensor, hasBias: Bool,
        convolving: @escaping @Sendable (Tensor, Tensor, Tensor?) -> Tensor,
        gradients: @escaping @Sendable (Tensor, [Bool]) -> [Tensor?]
    ) -> Node.DirectionalPullback {
        let tracked = [input.node != nil, weight.node != nil] + (hasBias ? [true] : [])
        return { g, v in
            let vb = hasBias ? v[2] : nil
            var terms: [Tensor] = []
            if let vx = v[0] { terms.append(convolving(vx, weight, nil)) }
            if let vw = v[1] {
                terms.append(convolving(input, vw, vb))
            } else if let vb {
                terms.append(Tensor.zeros(g.shape) + vb.reshaped(to: [1, vb.count, 1, 1]))
            }
            let needs = zip(tracked, v).map { $0 && $1 == nil }
            return (gradients(g, needs), terms.dropFirst().reduce(terms[0], +))
        }
    }

    /// [A_wᵀ d, B_x d] for those of x and w that `needs` asks for (by default the tracked ones;
    /// `nil` for the others). An ordinary backward pass that wants both makes one backend
    /// call, which may share work between them.
    private static func nativeConvolutionPullback(
        _ d: Tensor, input x: Tensor, weight w: Tensor, shape: ConvolutionShape, backend: any ConvolutionBackend,
        needs: (input: Bool, weight: Bool)? = nil
    ) -> [Tensor?] {
        let needs = needs ?? (x.node != nil, w.node != nil)
        if !GradientRecording.isRecording && needs.input && needs.weight {
            var weightGradient = [Float]()
            let inputGradient = d.scalars.withUnsafeBufferPointer { dy in
                x.scalars.withUnsafeBufferPointer { input in
                    w.scalars.withUnsafeBufferPointer { filters in
                        makeScalars(count: x.count) { dx in
                            weightGradient = makeScalars(count: w.count) { dw in
                                backend.backward(shape, input: input.baseAddress!, outputGradient: dy.baseAddress!, weight: filters.baseAddress!,
                                                 inputGradient: dx, weightGradient: dw)
                            }
                        }
                    }
                }
            }
            return [Tensor(shape: x.shape, scalars: inputGradient), Tensor(shape: w.shape, scalars: weightGradient)]
        }
        return [needs.input ? nativeInputGradient(d, weight: w, inputShape: x.shape, shape: shape, backend: backend) : nil,
                needs.weight ? nativeWeightGradient(x, d, weightShape: w.shape, shape: shape, backend: backend) : nil]
    }

    /// A_wᵀ d on the backend (backward data), shaped like the convolution's input; recorded
    /// as an operation of d and w.
    static func nativeInputGradient(
        _ d: Tensor, weight w: Tensor, inputShape: [Int], shape: ConvolutionShape, backend: any ConvolutionBackend
    ) -> Tensor {
        let values = d.scalars.withUnsafeBufferPointer { dy in
            w.scalars.withUnsafeBufferPointer { filters in
                makeScalars(count: inputShape.product) { dx in
                    backend.backwardData(shape, outputGradient: dy.baseAddress!, weight: filters.baseAddress!, inputGradient: dx)
                }
            }
        }
        return recorded("conv2d-backward-data", shape: inputShape, scalars: values, inputs: [d, w]) { upstream, _ in
            [d.node != nil ? upstream.convolvedNatively(weight: w, bias: nil, shape: shape, backend: backend) : nil,
             w.node != nil ? nativeWeightGradient(upstream, d, weightShape: w.shape, shape: shape, backend: backend) : nil]
        }
    }

    /// B_x d on the backend (backward weights), shaped like the filters; recorded as an
    /// operation of x and d.
    private static func nativeWeightGradient(
        _ x: Tensor, _ d: Tensor, weightShape: [Int], shape: ConvolutionShape, backend: any ConvolutionBackend
    ) -> Tensor {
        let values = x.scalars.withUnsafeBufferPointer { input in
            d.scalars.withUnsafeBufferPointer { dy in
                makeScalars(count: weightShape.product) { dw in
                    backend.backwardWeights(shape, input: input.baseAddress!, outputGradient: dy.baseAddress!, weightGradient: dw)
                }
            }
        }
        return recorded("conv2d-backward-weights", shape: weightShape, scalars: values, inputs: [x, d]) { upstream, _ in
            [x.node != nil ? nativeInputGradient(d, weight: upstream, inputShape: x.shape, shape: shape, backend: backend) : nil,
             d.node != nil ? x.convolvedNatively(weight: upstream, bias: nil, shape: shape, backend: backend) : nil]
        }
    }

    /// The same pullback from differentiable operations (whole-batch im2col), so that the
    /// backward pass can itself be differentiated.
    static func convolutionPullbackComposite(
        _ gradient: Tensor, input: Tensor, weight: Tensor, hasBias: Bool, _ g: WindowGeometry, needs: [Bool]? = nil
    ) -> [Tensor?] {
        let needs = needs ?? [true, true, hasBias]
        let (n, oc) = (gradient.shape[0], gradient.shape[1]), l = gradient.shape[2] * gradient.shape[3]
        let k = weight.count / oc
        let moved = gradient.permuted([1, 0, 2, 3]).reshaped(to: [oc, n * l])
        let flatWeight = weight.reshaped(to: [oc, k])
        let inputGradient = needs[0] ? flatWeight.matmul(moved, transposingSelf: true).folded(into: input.shape, g, layout: .samplesInner) : nil
        let weightGradient = needs[1] ? moved.matmul(input.unfolded(g, layout: .samplesInner), transposingOther: true).reshaped(to: weight.shape) : nil
        return [inputGradient, weightGradient] + (hasBias ? [needs[2] ? gradient.sum(alongAxes: [0, 2, 3]) : nil] : [])
    }

    /// Σ over batch and positions per channel of `[N, C, H, W]`, in a fixed order.
    func channelSums() -> Tensor {
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3])
        var sums = [Float](repeating: 0, count: c)
        scalars.withUnsafeBufferPointer { src in
            sums.withUnsafeMutableBufferPointer { sums in
                parallelFor(c, elementsEach: n * plane) { channels in
                    for ch in channels {
                        var total: Double = 0
                        for b in 0..<n { total += Double(sumVector(src.baseAddress! + (b * c + ch) * plane, count: plane)) }
                        sums[ch] = Float(total)
                    }
                }
            }
        }
        return Tensor(shape: [c], scalars: sums)
    }
}

/// W'[c, (o, a, b)] = W[o, c, kh − 1 − a, kw − 1 − b]: the filters of the convolution that
/// maps ∂y to ∂x for stride 1, as a `[C, OC·kh·kw]` matrix.
private func flippedTransposedFilters(_ weight: Tensor, c: Int, oc: Int, kh: Int, kw: Int) -> [Float] {
    var result = [Float](repeating: 0, count: c * oc * kh * kw)
    weight.scalars.withUnsafeBufferPointer { w in
        for o in 0..<oc {
            for ch in 0..<c {
                for a in 0..<kh {
                    for b in 0..<kw {
                        result[ch * oc * kh * kw + (o * kh + a) * kw + b] = w[((o * c + ch) * kh + (kh - 1 - a)) * kw + (kw - 1 - b)]
                    }
                }
            }
        }
    }
    return result
}

/// Adds `chunks` consecutive blocks of `size` floats, in block order.
private func sumOfChunks(_ partials: [Float], chunks: Int, size: Int) -> [Float] {
    guard chunks > 0 else { return [Float](repeating: 0, count: size) }
    var total = Array(partials[0..<size])
    partials.withUnsafeBufferPointer { p in
        total.withUnsafeMutableBufferPointer { t in
            for chunk in 1..<Swift.max(chunks, 1) { addVector(p.baseAddress! + chunk * size, into: t.baseAddress!, count: size) }
        }
    }
    return total
}

/// Calls `body(planeOffset, rowOffset, ki, kj)` for each row `(c, ki, kj)` of one sample's
/// `[C·kh·kw, oh·ow]` window matrix: the walk im2col and col2im share.
@inline(__always)
private func forEachWindowRow(c: Int, h: Int, w: Int, _ g: WindowGeometry, _ body: (Int, Int, Int, Int) -> Void) {
    let (oh, ow) = g.outputSize(height: h, width: w)
    let (kh, kw) = g.kernel
    for ch in 0..<c {
        for ki in 0..<kh {
            for kj in 0..<kw { body(ch * h * w, ((ch * kh + ki) * kw + kj) * oh * ow, ki, kj) }
        }
    }
}

/// im2col of one sample `[C, H, W]` into `[C·kh·kw, oh·ow]`.
private func unfoldSample(_ image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>, c: Int, h: Int, w: Int, _ g: WindowGeometry) {
    let (oh, ow) = g.outputSize(height: h, width: w)
    forEachWindowRow(c: c, h: h, w: w, g) { plane, row, ki, kj in
        copyWindowRow(from: image + plane, to: columns + row, h: h, w: w, oh: oh, ow: ow, ki: ki, kj: kj, g)
    }
}

/// col2im of one sample: adds `[C·kh·kw, oh·ow]` window columns (a scratch buffer, which
/// it overwrites) into a zeroed `[C, H, W]`.
private func foldSample(_ columns: UnsafeMutablePointer<Float>, into image: UnsafeMutablePointer<Float>, c: Int, h: Int, w: Int, _ g: WindowGeometry) {
    let (oh, ow) = g.outputSize(height: h, width: w)
    forEachWindowRow(c: c, h: h, w: w, g) { plane, row, ki, kj in
        addWindowRow(consuming: columns + row, to: image + plane, h: h, w: w, oh: oh, ow: ow, ki: ki, kj: kj, g)
    }
}
