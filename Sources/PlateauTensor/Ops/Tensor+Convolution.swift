/// The geometry of a 2-D sliding window: kernel, stride, zero padding and dilation, per
/// axis (height, width). Shared by convolution, transposed convolution and pooling.
public struct WindowGeometry: Sendable, Equatable {
    /// The kernel (window) size.
    public var kernel: (height: Int, width: Int)
    /// The step between windows.
    public var stride: (height: Int, width: Int)
    /// Zeros added on each side of the input.
    public var padding: (height: Int, width: Int)
    /// The spacing between kernel taps (1 is a dense kernel).
    public var dilation: (height: Int, width: Int)

    /// A window of the given kernel size; stride and dilation default to 1, padding to 0.
    public init(
        kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)
    ) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    /// Equal when all four pairs are equal.
    public static func == (l: WindowGeometry, r: WindowGeometry) -> Bool {
        l.kernel == r.kernel && l.stride == r.stride && l.padding == r.padding && l.dilation == r.dilation
    }

    /// Checks the parameters, naming the operation and the offending values.
    func validate(_ op: String, height: Int, width: Int) {
        precondition(kernel.height > 0 && kernel.width > 0, "\(op): kernel size must be positive, got \(kernel)")
        precondition(stride.height > 0 && stride.width > 0, "\(op): stride must be positive, got \(stride)")
        precondition(padding.height >= 0 && padding.width >= 0, "\(op): padding must be non-negative, got \(padding)")
        precondition(dilation.height > 0 && dilation.width > 0, "\(op): dilation must be positive, got \(dilation)")
        // Checked before `outputSize`: its integer division truncates toward zero, so a
        // window slightly larger than the padded input would otherwise count as one position.
        let spanH = dilation.height * (kernel.height - 1) + 1, spanW = dilation.width * (kernel.width - 1) + 1
        precondition(height + 2 * padding.height >= spanH && width + 2 * padding.width >= spanW,
            "\(op): input \(height)x\(width) with padding \(padding) is smaller than kernel \(kernel) with dilation \(dilation) (window \(spanH)x\(spanW))")
        let (oh, ow) = outputSize(height: height, width: width)
        precondition(oh > 0 && ow > 0,
            "\(op): input \(height)x\(width) is too small for kernel \(kernel) with padding \(padding) and dilation \(dilation) (output would be \(oh)x\(ow))")
    }

    /// The number of window positions along each axis for an input of this size.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let h = (height + 2 * padding.height - dilation.height * (kernel.height - 1) - 1) / stride.height + 1
        let w = (width + 2 * padding.width - dilation.width * (kernel.width - 1) - 1) / stride.width + 1
        return (h, w)
    }
}

extension Tensor {
    /// Unfolds sliding windows: `[N, C, H, W]` becomes `[N, C·kh·kw, oh·ow]`, zero where a
    /// window reaches into the padding (PyTorch's `unfold`, "im2col"). Linear, with
    /// ``foldingWindows(into:geometry:)`` as its adjoint, so anything built from it is
    /// differentiable to any order.
    public func unfoldingWindows(_ g: WindowGeometry) -> Tensor {
        unfolded(g, layout: .samplesOuter)
    }

    /// Sums window columns `[N, C·kh·kw, oh·ow]` back into an image of `imageShape`
    /// `[N, C, H, W]`: the adjoint of ``unfoldingWindows(_:)`` (PyTorch's `fold`, "col2im").
    public func foldingWindows(into imageShape: [Int], geometry g: WindowGeometry) -> Tensor {
        folded(into: imageShape, g, layout: .samplesOuter)
    }

    /// How unfolded windows are laid out. Convolution uses `.samplesInner`,
    /// `[C·kh·kw, N·oh·ow]`, so the whole batch is one large `gemm` instead of N small ones.
    enum WindowLayout: Sendable {
        case samplesOuter, samplesInner

        func shape(n: Int, rows: Int, columns: Int) -> [Int] {
            self == .samplesOuter ? [n, rows, columns] : [rows, n * columns]
        }

        /// Element offsets of (sample, row) starts.
        func strides(n: Int, rows: Int, columns: Int) -> (sample: Int, row: Int) {
            self == .samplesOuter ? (rows * columns, columns) : (columns, n * columns)
        }
    }

    func unfolded(_ g: WindowGeometry, layout: WindowLayout) -> Tensor {
        precondition(rank == 4, "unfoldingWindows: expected [N, C, H, W], got \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        g.validate("unfoldingWindows", height: h, width: w)
        let (oh, ow) = g.outputSize(height: h, width: w)
        let (kh, kw) = g.kernel
        let rows = c * kh * kw, columns = oh * ow
        let (sampleStride, rowStride) = layout.strides(n: n, rows: rows, columns: columns)
        let values = scalars.withUnsafeBufferPointer { src in
            makeScalars(count: n * rows * columns) { out in
                // Planes (sample, channel) write disjoint rows: split them across threads.
                parallelFor(n * c, elementsEach: kh * kw * columns) { planes in
                    for p in planes {
                        let (b, ch) = p.quotientAndRemainder(dividingBy: c)
                        let plane = src.baseAddress! + p * h * w
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let row = out + b * sampleStride + ((ch * kh + ki) * kw + kj) * rowStride
                                copyWindowRow(from: plane, to: row, h: h, w: w, oh: oh, ow: ow, ki: ki, kj: kj, g)
                            }
                        }
                    }
                }
            }
        }
        let inputShape = shape
        return Tensor.recorded("unfold", shape: layout.shape(n: n, rows: rows, columns: columns), scalars: values, inputs: [self]) { grad, _ in
            [grad.folded(into: inputShape, g, layout: layout)]
        }
    }

    func folded(into imageShape: [Int], _ g: WindowGeometry, layout: WindowLayout) -> Tensor {
        precondition(imageShape.count == 4, "foldingWindows: image shape must be [N, C, H, W], got \(imageShape)")
        let (n, c, h, w) = (imageShape[0], imageShape[1], imageShape[2], imageShape[3])
        g.validate("foldingWindows", height: h, width: w)
        let (oh, ow) = g.outputSize(height: h, width: w)
        let (kh, kw) = g.kernel
        let rows = c * kh * kw, columns = oh * ow
        let expected = layout.shape(n: n, rows: rows, columns: columns)
        precondition(shape == expected, "foldingWindows: expected columns of shape \(expected) for image \(imageShape), got \(shape)")
        let (sampleStride, rowStride) = layout.strides(n: n, rows: rows, columns: columns)
        let values = scalars.withUnsafeBufferPointer { src in
            makeScalars(count: n * c * h * w) { out in
                // Each (sample, channel) plane accumulates only its own windows, in a fixed order.
                parallelFor(n * c, elementsEach: kh * kw * columns) { planes in
                    for p in planes {
                        let (b, ch) = p.quotientAndRemainder(dividingBy: c)
                        let plane = out + p * h * w
                        plane.initialize(repeating: 0, count: h * w)
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let row = src.baseAddress! + b * sampleStride + ((ch * kh + ki) * kw + kj) * rowStride
                                addWindowRow(from: row, to: plane, h: h, w: w, oh: oh, ow: ow, ki: ki, kj: kj, g)
                            }
                        }
                    }
                }
            }
        }
        return Tensor.recorded("fold", shape: imageShape, scalars: values, inputs: [self]) { grad, _ in
            [grad.unfolded(g, layout: layout)]
        }
    }

    /// 2-D cross-correlation (PyTorch's `conv2d`): input `[N, C, H, W]`, weight
    /// `[OC, C/groups, kh, kw]`, optional bias `[OC]`, output `[N, OC, oh, ow]`.
    /// Computed sample by sample with the im2col matrix in cache (see
    /// `convolvedSampleBySample`); grouped convolutions as im2col of the whole batch followed
    /// by one batched `gemm` per group.
    public func conv2d(
        weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1), groups: Int = 1
    ) -> Tensor {
        precondition(rank == 4, "conv2d: input must be [N, C, H, W], got \(shape)")
        precondition(weight.rank == 4, "conv2d: weight must be [OC, C/groups, kh, kw], got \(weight.shape)")
        let (n, c) = (shape[0], shape[1])
        let oc = weight.shape[0]
        precondition(groups > 0 && c % groups == 0 && oc % groups == 0,
                     "conv2d: groups \(groups) must divide input channels \(c) and output channels \(oc)")
        precondition(weight.shape[1] == c / groups,
                     "conv2d: weight \(weight.shape) expects \(weight.shape[1] * groups) input channels, input \(shape) has \(c)")
        let g = WindowGeometry(kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, dilation: dilation)
        g.validate("conv2d", height: shape[2], width: shape[3])
        if let bias { precondition(bias.shape == [oc], "conv2d: bias must be [\(oc)], got \(bias.shape)") }
        let (oh, ow) = g.outputSize(height: shape[2], width: shape[3])
        if groups == 1 { return convolvedSampleBySample(weight: weight, bias: bias, geometry: g) }
        let columns = unfolded(g, layout: .samplesInner)  // [C·kh·kw, N·oh·ow]
        let k = (c / groups) * g.kernel.height * g.kernel.width
        // Grouped: one batched gemm per group over the whole batch's windows.
        let product = weight.reshaped(to: [groups, oc / groups, k]).matmul(columns.reshaped(to: [groups, k, n * oh * ow]))
        return product.reshaped(to: [oc, n, oh, ow]).movingBatchOutward(addingPerChannel: bias)
    }

    /// `[C, N, H, W]` → `[N, C, H, W]` with an optional per-channel `bias` added: the
    /// permute and broadcast add that follow a convolution's gemm, fused into one pass each
    /// way (the backward pass yields the permuted gradient and the bias sums together;
    /// `FusedOperation/batchOutward`).
    func movingBatchOutward(addingPerChannel bias: Tensor?) -> Tensor {
        let (c, n, plane) = (shape[0], shape[1], shape[2] * shape[3])
        let values = scalars.withUnsafeBufferPointer { src in
            makeScalars(count: count) { out in
                parallelFor(n * c, elementsEach: plane) { planes in
                    for p in planes {
                        let (b, ch) = p.quotientAndRemainder(dividingBy: c)
                        let from = src.baseAddress! + (ch * n + b) * plane, to = out + p * plane
                        if let bias { addScalar(bias.scalars[ch], from, to: to, count: plane) } else { copyVector(from, to: to, count: plane) }
                    }
                }
            }
        }
        let outShape = [n, c, shape[2], shape[3]]
        return Tensor.fused(.batchOutward, shape: outShape, scalars: values, inputs: bias.map { [self, $0] } ?? [self], fast: { g, _ in
            var sums = [Float](repeating: 0, count: c)
            let moved = g.scalars.withUnsafeBufferPointer { src in
                sums.withUnsafeMutableBufferPointer { sums in
                    makeScalars(count: g.count) { out in
                        // Channel rows are disjoint outputs; each sums its planes in batch order.
                        parallelFor(c, elementsEach: n * plane) { channels in
                            for ch in channels {
                                var total: Double = 0
                                for b in 0..<n {
                                    let from = src.baseAddress! + (b * c + ch) * plane
                                    copyVector(from, to: out + (ch * n + b) * plane, count: plane)
                                    if bias != nil { total += Double(sumVector(from, count: plane)) }
                                }
                                sums[ch] = Float(total)
                            }
                        }
                    }
                }
            }
            let back = Tensor(shape: [c, n, outShape[2], outShape[3]], scalars: moved)
            return bias == nil ? [back] : [back, Tensor(shape: [c], scalars: sums)]
        }, differentiable: { g, _ in
            let back = g.permuted([1, 0, 2, 3])
            return bias == nil ? [back] : [back, g.sum(alongAxes: [0, 2, 3])]
        })
    }

    /// Transposed convolution (PyTorch's `conv_transpose2d`): input `[N, IC, H, W]`, weight
    /// `[IC, OC/groups, kh, kw]`, output `[N, OC, H', W']` with
    /// `H' = (H - 1)·stride - 2·padding + dilation·(kh - 1) + outputPadding + 1`.
    /// It is the adjoint of `conv2d`: with a convolution backend (oneDNN), that convolution's
    /// backward-data pass for one group and an output padding below the stride; otherwise a
    /// `gemm` followed by col2im.
    public func transposedConv2d(
        weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
    ) -> Tensor {
        precondition(rank == 4, "transposedConv2d: input must be [N, C, H, W], got \(shape)")
        precondition(weight.rank == 4, "transposedConv2d: weight must be [IC, OC/groups, kh, kw], got \(weight.shape)")
        let (n, ic, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(groups > 0 && ic % groups == 0, "transposedConv2d: groups \(groups) must divide input channels \(ic)")
        precondition(weight.shape[0] == ic, "transposedConv2d: weight \(weight.shape) expects \(weight.shape[0]) input channels, input \(shape) has \(ic)")
        precondition(stride.0 > 0 && stride.1 > 0, "transposedConv2d: stride must be positive, got \(stride)")
        precondition(padding.0 >= 0 && padding.1 >= 0, "transposedConv2d: padding must be non-negative, got \(padding)")
        precondition(dilation.0 > 0 && dilation.1 > 0, "transposedConv2d: dilation must be positive, got \(dilation)")
        precondition(weight.shape[2] > 0 && weight.shape[3] > 0, "transposedConv2d: kernel size must be positive, got weight \(weight.shape)")
        precondition(outputPadding.0 >= 0 && outputPadding.1 >= 0 && outputPadding.0 < Swift.max(stride.0, dilation.0)
                     && outputPadding.1 < Swift.max(stride.1, dilation.1),
                     "transposedConv2d: output padding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
        let ocPerGroup = weight.shape[1], oc = ocPerGroup * groups
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        let outH = (h - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
        let outW = (w - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
        precondition(outH > 0 && outW > 0, "transposedConv2d: output size \(outH)x\(outW) is not positive for input \(shape)")
        if let bias { precondition(bias.shape == [oc], "transposedConv2d: bias must be [\(oc)], got \(bias.shape)") }
        func biased(_ output: Tensor) -> Tensor { bias.map { output + $0.reshaped(to: [1, oc, 1, 1]) } ?? output }
        let g = WindowGeometry(kernel: (kh, kw), stride: stride, padding: padding, dilation: dilation)
        if groups == 1 && outputPadding.0 < stride.0 && outputPadding.1 < stride.1 && n > 0, let native = Backends.convolutions {
            // The adjoint of the convolution [N, OC, H', W'] → [N, IC, H, W] with these filters:
            // its backward-data pass on the library's kernels, differentiable to any order.
            let adjoint = ConvolutionShape(input: [n, oc, outH, outW], weight: weight.shape, g)
            if native.prepare(adjoint, hasBias: false) {
                return biased(Tensor.nativeInputGradient(self, weight: weight, inputShape: [n, oc, outH, outW], shape: adjoint, backend: native))
            }
        }
        let icg = ic / groups, k = ocPerGroup * kh * kw
        // [G, IC/G, N·H·W] after moving the batch inward, then Wᵀ per group: [G, OC/G·kh·kw, N·H·W],
        // so the whole batch is one gemm per group.
        let input = permuted([1, 0, 2, 3]).reshaped(to: [groups, icg, n * h * w])
        let columns = weight.reshaped(to: [groups, icg, k]).matmul(input, transposingSelf: true)
            .reshaped(to: [oc * kh * kw, n * h * w])
        var output: Tensor
        if outputPadding.0 < stride.0 && outputPadding.1 < stride.1 {
            // The output image has exactly h×w window positions under this geometry.
            output = columns.folded(into: [n, oc, outH, outW], g, layout: .samplesInner)
        } else {
            // Output padding of at least the stride (allowed below the dilation) gives an
            // image with more window positions than the input has pixels, which folding
            // cannot express. Fold into the unpadded full extent instead and crop `padding`
            // off the start; rows past the full extent are zeros.
            let fullH = (h - 1) * stride.0 + dilation.0 * (kh - 1) + 1
            let fullW = (w - 1) * stride.1 + dilation.1 * (kw - 1) + 1
            let unpadded = WindowGeometry(kernel: (kh, kw), stride: stride, dilation: dilation)
            output = columns.folded(into: [n, oc, fullH, fullW], unpadded, layout: .samplesInner)
            for (axis, start, extent, full) in [(2, padding.0, outH, fullH), (3, padding.1, outW, fullW)] {
                let lower = Swift.min(start, full), upper = Swift.min(full, start + extent)
                output = output.sliced(alongAxis: axis, lower..<upper)
                    .padded(alongAxis: axis, before: 0, after: extent - (upper - lower))
            }
        }
        return biased(output)
    }

    /// Max pooling over windows (padding counts as −∞). The gradient flows to the first
    /// maximum of each window.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) -> Tensor {
        precondition(rank == 4, "maxPool2d: input must be [N, C, H, W], got \(shape)")
        let g = WindowGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation)
        precondition(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1,
                     "maxPool2d: padding \(padding) must be at most half the kernel \(kernel)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        g.validate("maxPool2d", height: h, width: w)
        let (oh, ow) = g.outputSize(height: h, width: w)
        // A window can miss the image entirely (large dilation with padding): name it.
        func emptyWindow(_ outputs: Int, _ extent: Int, _ stride: Int, _ pad: Int, _ dilation: Int, _ k: Int) -> Int? {
            (0..<outputs).first { o in (0..<k).allSatisfy { let i = o * stride - pad + $0 * dilation; return i < 0 || i >= extent } }
        }
        let emptyRow = emptyWindow(oh, h, g.stride.height, padding.0, dilation.0, kernel.0)
        let emptyColumn = emptyWindow(ow, w, g.stride.width, padding.1, dilation.1, kernel.1)
        if emptyRow != nil || emptyColumn != nil {
            preconditionFailure("maxPool2d: window (\(emptyRow ?? 0), \(emptyColumn ?? 0)) lies entirely in the padding (input \(shape), kernel \(kernel), padding \(padding), dilation \(dilation))")
        }
        let planeSize = h * w, outPlane = oh * ow
        // Argmax indices only when a backward pass will need them (not in evaluation or a
        // teacher's forward pass).
        let tracked = GradientRecording.isRecording && node != nil
        var indices = [Int](repeating: 0, count: tracked ? n * c * outPlane : 0)
        // Values and argmax indices in one pass; the 2×2 stride-2 window every CNN here uses
        // gets a branch-light loop, others the general window walk.
        let pairs = kernel == (2, 2) && g.stride == (2, 2) && padding == (0, 0) && dilation == (1, 1)
        let (kh, kw, sh, sw, ph, pw, dh, dw) = (kernel.0, kernel.1, g.stride.height, g.stride.width, padding.0, padding.1, dilation.0, dilation.1)
        // Narrow planes: each window's input offset within its plane.
        let pairOffsets = pairs && ow < 8 ? (0..<outPlane).map { 2 * ($0 / ow) * w + 2 * ($0 % ow) } : []
        let values = scalars.withUnsafeBufferPointer { src in
          indices.withUnsafeMutableBufferPointer { indices in
            makeScalars(count: n * c * outPlane) { out in
              parallelFor(n * c, elementsEach: planeSize) { planes in
                // An empty array's base address may be non-nil: test `tracked`, not the pointer.
                let x = src.baseAddress!, index = tracked ? indices.baseAddress : nil
                for plane in planes {
                    let base = plane * planeSize
                    let o = out + plane * outPlane, at = index.map { $0 + plane * outPlane }
                    if pairs && ow >= 8 {
                        maxPoolPairs(x + base, width: w, outputHeight: oh, outputWidth: ow, values: o, argmax: at, base: base)
                        continue
                    }
                    if pairs {
                        maxPoolPairsGathered(x + base, width: w, offsets: pairOffsets, values: o, argmax: at, base: base)
                        continue
                    }
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var best = -Float.infinity, bestIndex = -1
                            for ki in 0..<kh {
                                let iy = oy * sh - ph + ki * dh
                                if iy < 0 || iy >= h { continue }
                                for kj in 0..<kw {
                                    let ix = ox * sw - pw + kj * dw
                                    if ix < 0 || ix >= w { continue }
                                    let v = x[base + iy * w + ix]
                                    if v > best || bestIndex < 0 || v.isNaN { best = v; bestIndex = base + iy * w + ix }
                                }
                            }
                            o[oy * ow + ox] = best
                            at?[oy * ow + ox] = bestIndex
                        }
                    }
                }
              }
            }
          }
        }
        let inputShape = shape, argmax = indices
        return Tensor.recorded("maxpool", shape: [n, c, oh, ow], scalars: values, inputs: [self]) { grad, _ in
            [grad.scatteringElements(argmax, into: inputShape, segments: Swift.max(n * c, 1))]
        }
    }

    /// Average pooling over windows; zero padding counts toward the average (PyTorch's
    /// default `count_include_pad=True`).
    public func avgPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) -> Tensor {
        precondition(rank == 4, "avgPool2d: input must be [N, C, H, W], got \(shape)")
        let g = WindowGeometry(kernel: kernel, stride: stride ?? kernel, padding: padding)
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        g.validate("avgPool2d", height: h, width: w)
        let (oh, ow) = g.outputSize(height: h, width: w)
        if padding == (0, 0) && g.stride == kernel && h % kernel.0 == 0 && w % kernel.1 == 0 {
            // Non-overlapping windows tile the image: a reshape and a mean.
            return reshaped(to: [n, c, oh, kernel.0, ow, kernel.1]).mean(alongAxes: [3, 5])
        }
        return reshaped(to: [n * c, 1, h, w]).unfoldingWindows(g).mean(alongAxis: 1).reshaped(to: [n, c, oh, ow])
    }

    /// Average pooling to a fixed output size (PyTorch's `adaptive_avg_pool2d`): output cell
    /// `i` averages input rows `⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉`, likewise for columns.
    public func adaptiveAvgPool2d(outputSize: (Int, Int)) -> Tensor {
        precondition(rank == 4, "adaptiveAvgPool2d: input must be [N, C, H, W], got \(shape)")
        precondition(outputSize.0 > 0 && outputSize.1 > 0, "adaptiveAvgPool2d: output size must be positive, got \(outputSize)")
        let (h, w) = (shape[2], shape[3])
        if outputSize == (1, 1) { return mean(alongAxes: [2, 3], keepingDimensions: true) }
        func averaging(_ size: Int, _ out: Int) -> Tensor {
            var m = [Float](repeating: 0, count: out * size)
            for i in 0..<out {
                let start = (i * size) / out, end = ((i + 1) * size + out - 1) / out
                for j in start..<end { m[i * size + j] = 1 / Float(end - start) }
            }
            return Tensor(shape: [out, size], scalars: m)
        }
        return averaging(h, outputSize.0).matmul(self).matmul(averaging(w, outputSize.1), transposingOther: true)
    }

    /// Nearest-neighbour upsampling to `size` (PyTorch `mode="nearest"`: source index
    /// `⌊dst · in / out⌋`).
    ///
    /// One pass each way (`FusedOperation/nearestUpsampling`): the output plane reads its
    /// source plane directly, and the gradient sums each source pixel's copies in output
    /// order, plane by plane (the same bits at any thread count).
    public func upsampledNearest(to size: (Int, Int)) -> Tensor {
        precondition(rank == 4, "upsampledNearest: input must be [N, C, H, W], got \(shape)")
        precondition(size.0 > 0 && size.1 > 0, "upsampledNearest: size must be positive, got \(size)")
        let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
        let (rows, columns) = Tensor.nearestSources(from: (h, w), to: size)
        let outPlane = size.0 * size.1
        let values = scalars.withUnsafeBufferPointer { x in
            makeScalars(count: planes * outPlane) { out in
                parallelFor(planes, elementsEach: outPlane) { range in
                    for p in range {
                        let source = x.baseAddress! + p * h * w, target = out + p * outPlane
                        for oy in 0..<size.0 {
                            let row = source + rows[oy] * w, targetRow = target + oy * size.1
                            for ox in 0..<size.1 { targetRow[ox] = row[columns[ox]] }
                        }
                    }
                }
            }
        }
        let inputShape = shape
        return Tensor.fused(.nearestUpsampling, shape: [shape[0], shape[1], size.0, size.1], scalars: values, inputs: [self], fast: { g, _ in
            let gradient = g.scalars.withUnsafeBufferPointer { dy in
                makeScalars(count: planes * h * w) { out in
                    parallelFor(planes, elementsEach: outPlane) { range in
                        for p in range {
                            let target = out + p * h * w, source = dy.baseAddress! + p * outPlane
                            target.initialize(repeating: 0, count: h * w)
                            for oy in 0..<size.0 {
                                let row = target + rows[oy] * w, sourceRow = source + oy * size.1
                                for ox in 0..<size.1 { row[columns[ox]] += sourceRow[ox] }
                            }
                        }
                    }
                }
            }
            return [Tensor(shape: inputShape, scalars: gradient)]
        }, differentiable: { g, _ in
            // Summing the copies is linear: the composite's pullback, recorded.
            [g.scatteringAdd(columns, alongAxis: 3, extent: w).scatteringAdd(rows, alongAxis: 2, extent: h)]
        })
    }

    /// The source row of each output row and column of each output column of nearest
    /// upsampling (PyTorch's `⌊dst · in / out⌋`).
    static func nearestSources(from input: (Int, Int), to size: (Int, Int)) -> (rows: [Int], columns: [Int]) {
        ((0..<size.0).map { Swift.min($0 * input.0 / size.0, input.0 - 1) },
         (0..<size.1).map { Swift.min($0 * input.1 / size.1, input.1 - 1) })
    }

    /// Bilinear upsampling to `size` (PyTorch `mode="bilinear", align_corners=False`).
    public func upsampledBilinear(to size: (Int, Int)) -> Tensor {
        precondition(rank == 4, "upsampledBilinear: input must be [N, C, H, W], got \(shape)")
        precondition(size.0 > 0 && size.1 > 0, "upsampledBilinear: size must be positive, got \(size)")
        func interpolation(_ input: Int, _ output: Int) -> Tensor {
            var m = [Float](repeating: 0, count: output * input)
            let scale = Float(input) / Float(output)
            for i in 0..<output {
                let source = Swift.max((Float(i) + 0.5) * scale - 0.5, 0)
                let i0 = Swift.min(Int(source), input - 1), i1 = Swift.min(i0 + 1, input - 1)
                let lambda = source - Float(i0)
                m[i * input + i0] += 1 - lambda
                m[i * input + i1] += lambda
            }
            return Tensor(shape: [output, input], scalars: m)
        }
        return interpolation(shape[2], size.0).matmul(self).matmul(interpolation(shape[3], size.1), transposingOther: true)
    }

    /// The elements at flat `indices` arranged in `shape`: the differentiable core of max
    /// pooling. Its adjoint scatters back into this tensor's shape.
    public func takingElements(_ indices: [Int], shape outShape: [Int]) -> Tensor {
        precondition(indices.count == outShape.product, "takingElements: \(indices.count) indices for shape \(outShape)")
        for i in indices where i < 0 || i >= count {
            preconditionFailure("takingElements: flat index \(i) out of range 0..<\(count) for shape \(shape)")
        }
        let values = scalars.withUnsafeBufferPointer { src in
            makeScalars(count: indices.count) { out in for (j, i) in indices.enumerated() { out[j] = src[i] } }
        }
        let inputShape = shape
        return Tensor.recorded("take", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.scatteringElements(indices, into: inputShape)]
        }
    }

    /// Adds element `j` of `self` at flat index `indices[j]` of a zero tensor of `shape`.
    public func scatteringElements(_ indices: [Int], into outShape: [Int]) -> Tensor {
        scatteringElements(indices, into: outShape, segments: 1)
    }

    /// ``scatteringElements(_:into:)`` where `self` and the result split into `segments`
    /// equal runs and run s of `self` lands only in run s of the result (max pooling's
    /// gradient: a plane's windows lie in that plane), so the runs are written in parallel,
    /// each in element order: the same sums as one serial pass, at any thread count.
    func scatteringElements(_ indices: [Int], into outShape: [Int], segments: Int) -> Tensor {
        precondition(indices.count == count, "scatteringElements: \(indices.count) indices for \(count) elements of shape \(shape)")
        precondition(outShape.allSatisfy { $0 >= 0 }, "scatteringElements: negative extent in shape \(outShape)")
        let outCount = outShape.product
        precondition(segments >= 1 && count % segments == 0 && outCount % segments == 0,
                     "scatteringElements: \(segments) segments do not divide \(count) and \(outCount) elements")
        let inRun = count / segments, outRun = outCount / segments
        let values = scalars.withUnsafeBufferPointer { src in
          indices.withUnsafeBufferPointer { indices in
            makeScalars(count: outCount) { out in
                parallelFor(segments, elementsEach: inRun + outRun) { range in
                    for segment in range {
                        let target = out + segment * outRun, first = segment * outRun
                        target.initialize(repeating: 0, count: outRun)
                        for j in (segment * inRun)..<((segment + 1) * inRun) {
                            let i = indices[j] - first
                            if i < 0 || i >= outRun {
                                preconditionFailure(segments == 1
                                    ? "scatteringElements: flat index \(indices[j]) out of range 0..<\(outCount) for shape \(outShape)"
                                    : "scatteringElements: flat index \(indices[j]) of segment \(segment) outside its run \(first)..<\(first + outRun)")
                            }
                            target[i] += src[j]
                        }
                    }
                }
            }
          }
        }
        let inputShape = shape
        return Tensor.recorded("scatter", shape: outShape, scalars: values, inputs: [self]) { g, _ in
            [g.takingElements(indices, shape: inputShape)]
        }
    }
}

/// 2×2 stride-2 max pooling of one plane, output row by output row and eight windows at a
/// time: the windows' top and bottom input rows are two 16-value loads each, split into their
/// even and odd columns (gathering them value by value was most of LeNet-5's pooling time).
/// A row's last eight windows are taken from its end, overlapping the previous eight when
/// the row is not a multiple of eight (those are recomputed to the same values); narrower
/// planes go to ``maxPoolPairsGathered``. The four values are compared by ``windowMaxima``.
@inline(__always)
private func maxPoolPairs(
    _ plane: UnsafePointer<Float>, width w: Int, outputHeight oh: Int, outputWidth ow: Int,
    values: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int>?, base: Int
) {
    precondition(ow >= 8, "maxPoolPairs: rows of fewer than 8 windows go to maxPoolPairsGathered")
    let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14), below = Int32(w)
    for oy in 0..<oh {
        let top = plane + 2 * oy * w, bottom = top + w
        let out = values + oy * ow, at = argmax.map { $0 + oy * ow }
        // Flat index of the row's first window's top-left value.
        let rowBase = base + 2 * oy * w
        var next = 0
        while true {
            let ox = Swift.min(next, ow - 8)
            let upper = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
            let lower = UnsafeRawPointer(bottom + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
            let (best, offset) = windowMaxima(upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf, below: below)
            UnsafeMutableRawPointer(out + ox).storeBytes(of: best, as: SIMD8<Float>.self)
            if let at {
                let index = SIMD8<Int>(truncatingIfNeeded: offset &+ lanes) &+ (rowBase + 2 * ox)
                UnsafeMutableRawPointer(at + ox).storeBytes(of: index, as: SIMD8<Int>.self)
            }
            if ox == ow - 8 { break }
            next += 8
        }
    }
}

/// 2×2 stride-2 max pooling of a plane whose rows have fewer than eight windows (LeNet-5's
/// 10×10 maps), eight windows at a time across rows: each window's four values are gathered
/// from its offset in the plane, then compared by ``windowMaxima``.
@inline(__always)
private func maxPoolPairsGathered(
    _ plane: UnsafePointer<Float>, width w: Int, offsets: [Int], values: UnsafeMutablePointer<Float>,
    argmax: UnsafeMutablePointer<Int>?, base: Int
) {
    let count = offsets.count
    var j = 0
    offsets.withUnsafeBufferPointer { offsets in
        while j + 8 <= count {
            var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
            for l in 0..<8 {
                let p = plane + offsets[j + l]
                a[l] = p[0]; b[l] = p[1]; c[l] = p[w]; d[l] = p[w + 1]
            }
            let (best, offset) = windowMaxima(a, b, c, d, below: Int32(w))
            UnsafeMutableRawPointer(values + j).storeBytes(of: best, as: SIMD8<Float>.self)
            if let argmax { for l in 0..<8 { argmax[j + l] = base + offsets[j + l] + Int(offset[l]) } }
            j += 8
        }
        while j < count {
            let p = plane + offsets[j]
            var best = p[0], k = 0
            if p[1] > best || p[1].isNaN { best = p[1]; k = 1 }
            if p[w] > best || p[w].isNaN { best = p[w]; k = 2 }
            if p[w + 1] > best || p[w + 1].isNaN { best = p[w + 1]; k = 3 }
            values[j] = best
            argmax?[j] = base + offsets[j] + (k & 1) + (k >> 1) * w
            j += 1
        }
    }
}

/// The maxima of eight 2×2 windows (top-left values `a`, top-right `b`, bottom-left `c`,
/// bottom-right `d`) and each winner's offset from its top-left value (0, 1, `below`,
/// `below` + 1), compared lane-wise with selects, since on real activations the winner is
/// random and branches would mispredict half the time. Ties go to the first maximum in that
/// order and NaN wins, as in the window walk. Offsets in 32-bit lanes: 64-bit lane arithmetic
/// is emulated on baseline x86-64.
@inline(__always)
private func windowMaxima(
    _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>, below: Int32
) -> (maxima: SIMD8<Float>, offsets: SIMD8<Int32>) {
    var best = a, offset = SIMD8<Int32>(repeating: 0)
    var take = (b .> best) .| (b .!= b)
    best.replace(with: b, where: take); offset.replace(with: 1, where: take)
    take = (c .> best) .| (c .!= c)
    best.replace(with: c, where: take); offset.replace(with: below, where: take)
    take = (d .> best) .| (d .!= d)
    best.replace(with: d, where: take); offset.replace(with: below + 1, where: take)
    return (best, offset)
}

/// The input column of output column `ox` at kernel offset `kj`, and the range of output
/// columns whose input lies inside the image.
@inline(__always)
private func validColumns(w: Int, ow: Int, kj: Int, _ g: WindowGeometry) -> (offset: Int, range: Range<Int>) {
    let offset = kj * g.dilation.width - g.padding.width  // ix = ox·stride + offset
    let s = g.stride.width
    let first = offset >= 0 ? 0 : (-offset + s - 1) / s
    let last = w - 1 - offset < 0 ? -1 : (w - 1 - offset) / s  // largest ox with ix ≤ w − 1
    let upper = Swift.min(ow, last + 1)
    return (offset, first < upper ? first..<upper : 0..<0)
}

/// For stride 1 with output rows as wide as the input's ('same' padding), the output rows of
/// kernel row `ki` that read inside the image; `nil` for other geometries.
@inline(__always)
func sameSizeRows(h: Int, w: Int, oh: Int, ow: Int, ki: Int, _ g: WindowGeometry) -> Range<Int>? {
    guard g.stride == (1, 1) && ow == w else { return nil }
    return imageRows(h: h, oh: oh, ki: ki, g)
}

/// Zeroes, in each of `rows` of `ow` values, the columns outside `valid`.
@inline(__always)
func zeroInvalidColumns(_ row: UnsafeMutablePointer<Float>, rows: Range<Int>, ow: Int, valid: Range<Int>) {
    guard valid.lowerBound > 0 || valid.upperBound < ow else { return }
    for oy in rows {
        let r = row + oy * ow
        if valid.isEmpty { zeroVector(r, count: ow); continue }
        for ox in 0..<valid.lowerBound { r[ox] = 0 }
        for ox in valid.upperBound..<ow { r[ox] = 0 }
    }
}

/// col2im for one kernel offset of a scratch column buffer that may be overwritten: the
/// columns outside the image are zeroed first, so the valid rows add back as one shifted
/// block. Falls back to ``addWindowRow`` for other geometries.
@inline(__always)
func addWindowRow(
    consuming row: UnsafeMutablePointer<Float>, to plane: UnsafeMutablePointer<Float>,
    h: Int, w: Int, oh: Int, ow: Int, ki: Int, kj: Int, _ g: WindowGeometry
) {
    guard let rows = sameSizeRows(h: h, w: w, oh: oh, ow: ow, ki: ki, g) else {
        addWindowRow(from: row, to: plane, h: h, w: w, oh: oh, ow: ow, ki: ki, kj: kj, g)
        return
    }
    guard !rows.isEmpty else { return }
    let (offset, valid) = validColumns(w: w, ow: ow, kj: kj, g)
    zeroInvalidColumns(row, rows: rows, ow: ow, valid: valid)
    let start = rows.lowerBound * ow, count = rows.count * ow
    let target = (rows.lowerBound + ki * g.dilation.height - g.padding.height) * w + offset
    // Elements clipped here lie in invalid columns, which are zero.
    let lower = Swift.max(0, -target), upper = Swift.min(count, h * w - target)
    if lower < upper { addVector(row + start + lower, into: plane + target + lower, count: upper - lower) }
}

/// im2col for one kernel offset `(ki, kj)`: writes `oh·ow` window values (zero in the padding).
@inline(__always)
func copyWindowRow(
    from plane: UnsafePointer<Float>, to row: UnsafeMutablePointer<Float>,
    h: Int, w: Int, oh: Int, ow: Int, ki: Int, kj: Int, _ g: WindowGeometry
) {
    let (offset, valid) = validColumns(w: w, ow: ow, kj: kj, g)
    if let rows = sameSizeRows(h: h, w: w, oh: oh, ow: ow, ki: ki, g) {
        // Output rows as wide as input rows: the valid rows are one shifted block copy,
        // then the columns that fell into the padding (or wrapped to a neighbouring row)
        // are zeroed. Long copies instead of one short copy per row.
        zeroVector(row, count: rows.lowerBound * ow)
        zeroVector(row + rows.upperBound * ow, count: (oh - rows.upperBound) * ow)
        guard !rows.isEmpty else { return }
        let start = rows.lowerBound * ow, count = rows.count * ow
        let source = (rows.lowerBound + ki * g.dilation.height - g.padding.height) * w + offset
        let lower = Swift.max(0, -source), upper = Swift.min(count, h * w - source)
        if lower < upper { copyVector(plane + source + lower, to: row + start + lower, count: upper - lower) }
        zeroInvalidColumns(row, rows: rows, ow: ow, valid: valid)
        return
    }
    let rows = imageRows(h: h, oh: oh, ki: ki, g)
    zeroVector(row, count: rows.lowerBound * ow)
    zeroVector(row + rows.upperBound * ow, count: (oh - rows.upperBound) * ow)
    guard !rows.isEmpty else { return }
    // One short row per output row: loop-invariant work hoisted, pointers stepped.
    let s = g.stride.width, left = valid.lowerBound, right = ow &- valid.upperBound, count = valid.count
    let inputStep = g.stride.height &* w
    let firstInputRow: Int = rows.lowerBound * g.stride.height - g.padding.height + ki * g.dilation.height
    var src = plane + (firstInputRow * w + offset)
    var dst = row + rows.lowerBound * ow
    for _ in rows {
        for ox in 0..<left { dst[ox] = 0 }
        if s == 1 {
            copyVector(src + left, to: dst + left, count: count)
        } else {
            for ox in valid { dst[ox] = src[ox &* s] }
        }
        for ox in (ow &- right)..<ow { dst[ox] = 0 }
        src += inputStep
        dst += ow
    }
}

/// The output rows of kernel row `ki` whose input row lies inside the image (the others
/// read only padding).
@inline(__always)
func imageRows(h: Int, oh: Int, ki: Int, _ g: WindowGeometry) -> Range<Int> {
    let shift = ki * g.dilation.height - g.padding.height  // iy = oy·stride + shift
    let sh = g.stride.height
    let lower = shift >= 0 ? 0 : (-shift + sh - 1) / sh
    let upper = h - 1 - shift < 0 ? 0 : Swift.min(oh, (h - 1 - shift) / sh + 1)
    return lower < upper ? lower..<upper : 0..<0
}

/// col2im for one kernel offset: adds the `oh·ow` window values back into the image plane.
@inline(__always)
func addWindowRow(
    from row: UnsafePointer<Float>, to plane: UnsafeMutablePointer<Float>,
    h: Int, w: Int, oh: Int, ow: Int, ki: Int, kj: Int, _ g: WindowGeometry
) {
    let (offset, valid) = validColumns(w: w, ow: ow, kj: kj, g)
    let rows = imageRows(h: h, oh: oh, ki: ki, g)
    guard !rows.isEmpty, !valid.isEmpty else { return }
    let s = g.stride.width, outputStep = g.stride.height &* w
    let firstInputRow: Int = rows.lowerBound * g.stride.height - g.padding.height + ki * g.dilation.height
    var src = row + rows.lowerBound * ow
    var dst = plane + (firstInputRow * w + offset)
    for _ in rows {
        if s == 1 {
            addVector(src + valid.lowerBound, into: dst + valid.lowerBound, count: valid.count)
        } else {
            for ox in valid { dst[ox &* s] += src[ox] }
        }
        src += ow
        dst += outputStep
    }
}
