internal import CDNNL
import Foundation

/// Convolutions on oneDNN's primitives (Debian: `libdnnl-dev`, oneDNN 2.6): the JIT
/// kernels PyTorch's CPU path uses, in oneDNN's blocked layouts (`nChw16c` on AVX-512),
/// with reorders from and to Plateau's NCHW around each call. Where it measured faster,
/// 3×3 layers run oneDNN's Winograd kernels instead of the direct ones PyTorch calls
/// (``usesWinograd(_:pass:)``).
///
/// Primitives are created once per shape and kept in a cache owned by this value (guarded
/// by a lock; the primitives themselves may run from several threads at once, each call
/// bringing its own scratch memory).
///
/// Threads: Debian builds oneDNN on OpenMP, whose idle workers spin for the cores while
/// Plateau's own loops run (measured: LeNet's step 2.6x slower at 2 threads). So oneDNN
/// runs single-threaded (the calling thread's OpenMP count is set to 1 around each call) and
/// Plateau splits the batch into fixed chunks of ``chunkSize`` samples spread over
/// ``Parallelism/threadCount`` threads, as the lowering does. Each chunk's result depends only
/// on its shape, and the filter gradient adds the chunks' partial sums in chunk order, so
/// results are bit-identical across runs and across thread counts on one machine. Across
/// machines they are not: oneDNN picks its kernels by instruction set (AVX2, AVX-512), and
/// Winograd's (AVX-512 only) round differently from direct ones.
public final class OneDNNConvolutions: ConvolutionBackend, @unchecked Sendable {
    /// Which shapes go to oneDNN.
    public enum Selection: Sendable, Equatable {
        /// Every shape oneDNN can compute.
        case always
        /// Only shapes where oneDNN measured faster than the lowering on this project's
        /// benchmark machine (``OneDNNConvolutions/measuredFaster(_:)``).
        case measured
    }

    /// Which shapes go to oneDNN.
    public let selection: Selection
    public var name: String {
        let algorithms = switch winograd {
        case .measured: ""
        case .never: "-direct"
        case .always: "-winograd"
        }
        return (selection == .always ? "onednn" : "onednn-auto") + algorithms
    }

    // Handles are created in `init` and destroyed in `deinit`; the cache is only touched
    // under `lock`, and cached entries are immutable.
    private let engine: dnnl_engine_t
    private let lock = NSLock()
    private var entries: [Key: Entry?] = [:]

    /// Starts a oneDNN CPU engine.
    ///
    /// - Throws: ``BackendError`` when oneDNN cannot create its engine.
    /// - Parameter winograd: Which 3×3 shapes ask for Winograd kernels (``usesWinograd(_:pass:)``).
    public init(selection: Selection = .always, winograd: Winograd = .measured) throws {
        var engine: dnnl_engine_t?
        let status = dnnl_engine_create(&engine, dnnl_cpu, 0)
        guard status == dnnl_success, let engine else {
            throw BackendError("oneDNN: cannot create a CPU engine (status \(status.rawValue))")
        }
        self.engine = engine
        self.selection = selection
        self.winograd = winograd
    }

    deinit {
        entries.removeAll()
        dnnl_engine_destroy(engine)
    }

    /// The rule behind ``Selection-swift.enum/measured``: every shape, so far. Each layer of
    /// ResNet-20 and LeNet-5 at batch 128 measured faster on oneDNN, forward and forward +
    /// backward, by 1.2x (LeNet's one-channel first layer, forward + backward) to 9.6x (docs/results.md, "Issue 11:
    /// oneDNN"; `PLATEAU_CONVOLUTION_TIMINGS=1 swift test -c release --filter
    /// ConvolutionTimings`). A shape measured slower is routed back to the lowering here.
    public static func measuredFaster(_ shape: ConvolutionShape) -> Bool {
        true
    }

    /// Samples per oneDNN call. Fixed, never derived from the thread count: the filter
    /// gradient is summed chunk by chunk in chunk order, so the chunk size is part of the
    /// arithmetic (as `Tensor.convolutionChunkSize` is for the lowering).
    public static let chunkSize = 16

    private struct Key: Hashable {
        var shape: ConvolutionShape
        var hasBias: Bool
    }

    /// Which 3×3 shapes ask for Winograd kernels (see ``usesWinograd(_:pass:)``).
    public enum Winograd: Sendable, Equatable {
        /// None: every shape on the direct kernels.
        case never
        /// Those where Winograd measured faster (``usesWinograd(_:pass:)``).
        case measured
        /// Every 3×3, stride-1, undilated shape (for measuring the rule).
        case always
    }

    /// Which 3×3 shapes ask for Winograd kernels.
    public let winograd: Winograd

    /// The three passes of a convolution.
    public enum Pass: Sendable, CaseIterable {
        case forward, backwardData, backwardWeights
    }

    /// Whether `pass` of `shape` asks oneDNN for its Winograd F(4×4, 3×3) kernels (Lavin &
    /// Gray 2016: each 4×4 output tile from a 6×6 input tile in 36 multiplies per channel
    /// pair instead of 144), falling back to the direct kernels where oneDNN has none (it
    /// builds them for AVX-512 only). The passes choose independently: each is an exact
    /// operation of its own, and each is the others' pullback whatever its algorithm.
    ///
    /// The rule is static — by shape, never by timing a run — because the two algorithms
    /// round differently and the same seed must give the same result. Under
    /// ``Winograd-swift.enum/measured``: 3×3 filters, stride 1, no dilation, at least 32
    /// channels in and out, and an output whose sides are whole 4×4 tiles; for the filter
    /// gradient also at most 64 × 64 channel pairs (its 6×6 transformed accumulators, 36 per
    /// pair, outgrow the cache beyond that: at 128 × 128 it measured 1.6x slower than direct,
    /// while forward and backward-data ran 1.5–1.9x faster). Measured on this project's
    /// machine (AVX-512, 16-sample chunks, 2 threads; `PLATEAU_CONVOLUTION_TIMINGS=1 swift
    /// test -c release --filter ConvolutionTimings`, docs/results.md "Issue 11, session 9").
    public func usesWinograd(_ shape: ConvolutionShape, pass: Pass) -> Bool {
        guard winograd != .never, shape.kernelHeight == 3, shape.kernelWidth == 3,
              shape.strideHeight == 1, shape.strideWidth == 1,
              shape.dilationHeight == 1, shape.dilationWidth == 1 else { return false }
        if winograd == .always { return true }
        let (oh, ow) = shape.outputSize
        guard shape.channels >= 32, shape.outputChannels >= 32, oh % 4 == 0, ow % 4 == 0 else { return false }
        return pass != .backwardWeights || shape.channels * shape.outputChannels <= 64 * 64
    }

    /// The oneDNN kernels that run `shape`'s full chunk (forward, backward-data,
    /// backward-weights; e.g. `"jit_wino_4x3:avx512_core"`), or `nil` when oneDNN declines
    /// the shape. For reports and tests: which instruction set and algorithm a shape got.
    public func implementations(of shape: ConvolutionShape, hasBias: Bool = false) -> [String]? {
        guard let entry = entry(OneDNNConvolutions.chunks(of: shape).shape(0), hasBias: hasBias) else { return nil }
        return [entry.forward, entry.backwardData, entry.backwardWeights].map(\.implementation)
    }

    /// The shapes of a batch's chunks: full ones, then the remainder.
    private static func chunks(of shape: ConvolutionShape) -> (count: Int, shape: (Int) -> ConvolutionShape, first: (Int) -> Int) {
        let count = (shape.batch + chunkSize - 1) / chunkSize
        return (count, { chunk in
            var s = shape
            s.batch = Swift.min(shape.batch, (chunk + 1) * chunkSize) - chunk * chunkSize
            return s
        }, { $0 * chunkSize })
    }

    // MARK: - ConvolutionBackend

    public func prepare(_ shape: ConvolutionShape, hasBias: Bool) -> Bool {
        if selection == .measured && !OneDNNConvolutions.measuredFaster(shape) { return false }
        let chunks = OneDNNConvolutions.chunks(of: shape)
        // The full chunk and the remainder (the last chunk) are the only two shapes.
        return [0, chunks.count - 1].allSatisfy { entry(chunks.shape($0), hasBias: hasBias) != nil }
    }

    public func forward(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
    ) {
        let (oh, ow) = shape.outputSize
        let inputSample = shape.channels * shape.height * shape.width, outputSample = shape.outputChannels * oh * ow
        let chunks = OneDNNConvolutions.chunks(of: shape)
        let filters = sharedFilters(\.forward, chunks: chunks, weight: weight, hasBias: bias != nil)
        defer { filters?.release() }
        parallelFor(chunks.count, grain: 1) { range in
            for chunk in range {
                let s = chunks.shape(chunk), first = chunks.first(chunk)
                let entry = preparedEntry(s, hasBias: bias != nil)
                var buffers: [Int32: UnsafeMutableRawPointer] = [
                    DNNL_ARG_SRC: UnsafeMutableRawPointer(mutating: input + first * inputSample),
                    DNNL_ARG_WEIGHTS: UnsafeMutableRawPointer(mutating: weight),
                    DNNL_ARG_DST: UnsafeMutableRawPointer(output + first * outputSample),
                ]
                if let bias { buffers[DNNL_ARG_BIAS] = UnsafeMutableRawPointer(mutating: bias) }
                run(entry.forward, buffers, s, prepared: filters?.prepared(for: entry.forward) ?? [:])
            }
        }
    }

    public func backwardData(
        _ shape: ConvolutionShape, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>
    ) {
        backward(shape, input: nil, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient, weightGradient: nil)
    }

    public func backwardWeights(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>
    ) {
        backward(shape, input: input, outputGradient: outputGradient, weight: nil, inputGradient: nil, weightGradient: weightGradient)
    }

    /// Both passes chunk by chunk: each chunk's ∂y is reordered into oneDNN's layout once for
    /// the two (when they read it in the same layout), and the filters once for all chunks.
    /// The reorders are exact copies, so the results are those of the separate passes.
    public func backward(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?
    ) {
        backward(shape, input: Optional(input), outputGradient: outputGradient, weight: Optional(weight),
                 inputGradient: inputGradient, weightGradient: weightGradient)
    }

    private func backward(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>?, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?
    ) {
        let (oh, ow) = shape.outputSize
        let inputSample = shape.channels * shape.height * shape.width, outputSample = shape.outputChannels * oh * ow
        let weightCount = shape.outputChannels * shape.channels * shape.kernelHeight * shape.kernelWidth
        let chunks = OneDNNConvolutions.chunks(of: shape)
        let filters = inputGradient == nil ? nil : sharedFilters(\.backwardData, chunks: chunks, weight: weight!, hasBias: false)
        defer { filters?.release() }
        // With a filter gradient, chunk 0 writes the result, every other chunk a partial sum;
        // added in chunk order.
        let partialCount = weightGradient == nil ? 0 : (chunks.count - 1) * weightCount
        var partials = [Float](unsafeUninitializedCapacity: partialCount) { $1 = partialCount }
        partials.withUnsafeMutableBufferPointer { partials in
            parallelFor(chunks.count, grain: 1) { range in
                for chunk in range {
                    let s = chunks.shape(chunk), first = chunks.first(chunk)
                    let entry = preparedEntry(s, hasBias: false)
                    let dy = UnsafeMutableRawPointer(mutating: outputGradient + first * outputSample)
                    let sharedDy = inputGradient != nil && weightGradient != nil && entry.passesShareOutputGradientLayout
                        ? reordered(entry.backwardData, DNNL_ARG_DIFF_DST, dy, s) : nil
                    defer { free(sharedDy) }
                    let prepared: [Int32: UnsafeMutableRawPointer] = sharedDy.map { [DNNL_ARG_DIFF_DST: $0] } ?? [:]
                    if let inputGradient {
                        let dx = inputGradient + first * inputSample
                        if entry.croppedInput { dx.initialize(repeating: 0, count: s.batch * inputSample) }
                        run(entry.backwardData, [
                            DNNL_ARG_DIFF_DST: dy,
                            DNNL_ARG_WEIGHTS: UnsafeMutableRawPointer(mutating: weight!),
                            DNNL_ARG_DIFF_SRC: UnsafeMutableRawPointer(dx),
                        ], s, prepared: prepared.merging(filters?.prepared(for: entry.backwardData) ?? [:]) { a, _ in a })
                    }
                    if let weightGradient {
                        let target = chunk == 0 ? weightGradient : partials.baseAddress! + (chunk - 1) * weightCount
                        run(entry.backwardWeights, [
                            DNNL_ARG_SRC: UnsafeMutableRawPointer(mutating: input! + first * inputSample),
                            DNNL_ARG_DIFF_DST: dy,
                            DNNL_ARG_DIFF_WEIGHTS: UnsafeMutableRawPointer(target),
                        ], s, prepared: prepared)
                    }
                }
            }
            if let weightGradient {
                for chunk in 1..<Swift.max(chunks.count, 1) {
                    addVector(partials.baseAddress! + (chunk - 1) * weightCount, into: weightGradient, count: weightCount)
                }
            }
        }
    }

    /// The filters in the layout `pass` of the first chunk reads them in, reordered once for
    /// every chunk (`nil` with one chunk, or when no reorder is needed).
    private func sharedFilters(
        _ pass: (Entry) -> Primitive, chunks: (count: Int, shape: (Int) -> ConvolutionShape, first: (Int) -> Int),
        weight: UnsafePointer<Float>, hasBias: Bool
    ) -> SharedArgument? {
        guard chunks.count > 1 else { return nil }
        let reference = pass(preparedEntry(chunks.shape(0), hasBias: hasBias))
        guard let buffer = reordered(reference, DNNL_ARG_WEIGHTS, UnsafeMutableRawPointer(mutating: weight), chunks.shape(0)) else { return nil }
        return SharedArgument(index: DNNL_ARG_WEIGHTS, layout: reference.argument(DNNL_ARG_WEIGHTS)!.inner, buffer: buffer)
    }

    /// Input argument `index` of `pass` copied from `pointer` into the pass's own layout: a
    /// new buffer the caller frees, or `nil` when the layouts agree.
    private func reordered(_ pass: Primitive, _ index: Int32, _ pointer: UnsafeMutableRawPointer, _ shape: ConvolutionShape) -> UnsafeMutableRawPointer? {
        guard let argument = pass.argument(index), !argument.isOutput, let reorder = argument.reorder else { return nil }
        var buffer: UnsafeMutableRawPointer?
        precondition(posix_memalign(&buffer, 64, Swift.max(argument.innerBytes, 64)) == 0 && buffer != nil,
                     "OneDNNConvolutions: cannot allocate \(argument.innerBytes) bytes for \(shape)")
        OpenMP.withThreads(1) {
            var stream: dnnl_stream_t?, from: dnnl_memory_t?, to: dnnl_memory_t?
            var user = argument.user, inner = argument.inner
            check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream", shape)
            check(dnnl_memory_create(&from, &user, engine, pointer), "memory", shape)
            check(dnnl_memory_create(&to, &inner, engine, buffer), "memory", shape)
            let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
            check(dnnl_primitive_execute(reorder, stream, 2, arguments), "execute", shape)
            check(dnnl_stream_wait(stream), "wait", shape)
            dnnl_memory_destroy(from)
            dnnl_memory_destroy(to)
            dnnl_stream_destroy(stream)
        }
        return buffer
    }

    // MARK: - Cache

    /// The entry of a chunk's shape. The backward passes do not depend on the bias: they
    /// use the entry without one.
    private func preparedEntry(_ shape: ConvolutionShape, hasBias: Bool) -> Entry {
        guard let entry = entry(shape, hasBias: hasBias) else {
            preconditionFailure("OneDNNConvolutions: oneDNN declined \(shape), which prepare(_:hasBias:) accepted")
        }
        return entry
    }

    private func entry(_ shape: ConvolutionShape, hasBias: Bool) -> Entry? {
        let key = Key(shape: shape, hasBias: hasBias)
        if let cached = lock.withLock({ entries[key] }) { return cached }
        // Created outside the lock (it JIT-compiles kernels); a race creates two and keeps one.
        let created = OpenMP.withThreads(1) { Entry(engine: engine, shape: shape, hasBias: hasBias) { usesWinograd(shape, pass: $0) } }
        return lock.withLock {
            if let cached = entries[key] { return cached }
            entries[key] = .some(created)
            return created
        }
    }

    // MARK: - Execution

    /// Runs one pass: reorders each NCHW input into the primitive's layout (unless `prepared`
    /// holds it in that layout already), executes it, and reorders its outputs back.
    private func run(
        _ pass: Primitive, _ buffers: [Int32: UnsafeMutableRawPointer], _ shape: ConvolutionShape,
        prepared: [Int32: UnsafeMutableRawPointer] = [:]
    ) {
        OpenMP.withThreads(1) {
            var stream: dnnl_stream_t?
            check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream", shape)
            defer { dnnl_stream_destroy(stream) }
            var memories: [dnnl_memory_t?] = []
            var scratch: [UnsafeMutableRawPointer] = []
            defer {
                for memory in memories { dnnl_memory_destroy(memory) }
                for buffer in scratch { free(buffer) }
            }
            func memory(_ descriptor: dnnl_memory_desc_t, _ handle: UnsafeMutableRawPointer?) -> dnnl_memory_t? {
                var descriptor = descriptor, memory: dnnl_memory_t?
                check(dnnl_memory_create(&memory, &descriptor, engine, handle), "memory", shape)
                memories.append(memory)
                return memory
            }
            func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
                var pointer: UnsafeMutableRawPointer?
                precondition(posix_memalign(&pointer, 64, Swift.max(bytes, 64)) == 0 && pointer != nil,
                             "OneDNNConvolutions: cannot allocate \(bytes) bytes for \(shape)")
                scratch.append(pointer!)
                return pointer!
            }
            func execute(_ primitive: dnnl_primitive_t, _ arguments: [dnnl_exec_arg_t]) {
                check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments), "execute", shape)
            }
            var arguments: [dnnl_exec_arg_t] = []
            var outputReorders: [(dnnl_primitive_t, dnnl_memory_t?, dnnl_memory_t?)] = []
            for argument in pass.arguments {
                guard let pointer = buffers[argument.index] else { continue }
                if let inner = prepared[argument.index] {
                    arguments.append(dnnl_exec_arg_t(arg: argument.index, memory: memory(argument.inner, inner)))
                    continue
                }
                let user = memory(argument.user, pointer)
                guard let reorder = argument.reorder else {
                    arguments.append(dnnl_exec_arg_t(arg: argument.index, memory: user))
                    continue
                }
                let inner = memory(argument.inner, allocate(argument.innerBytes))
                arguments.append(dnnl_exec_arg_t(arg: argument.index, memory: inner))
                if argument.isOutput {
                    outputReorders.append((reorder, inner, user))
                } else {
                    execute(reorder, [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: user), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: inner)])
                }
            }
            if let scratchpad = pass.scratchpad {
                arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory(scratchpad.descriptor, allocate(scratchpad.bytes))))
            }
            execute(pass.primitive, arguments)
            for (reorder, from, to) in outputReorders {
                execute(reorder, [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)])
            }
            check(dnnl_stream_wait(stream), "wait", shape)
        }
    }
}

/// Fails with the oneDNN status: a call that succeeded when the primitive was created
/// failing now is a broken invariant (or memory exhausted), not bad input.
private func check(_ status: dnnl_status_t, _ what: String, _ shape: ConvolutionShape) {
    precondition(status == dnnl_success, "OneDNNConvolutions: \(what) failed with status \(status.rawValue) for \(shape)")
}

/// The three primitives of one shape, or `nil` from the initializer when oneDNN declines it.
private final class Entry: @unchecked Sendable {
    let forward: Primitive, backwardData: Primitive, backwardWeights: Primitive
    /// Whether oneDNN sees the input without its last rows or columns (which no window reads).
    let croppedInput: Bool
    /// Whether backward-data and backward-weights read ∂y in the same layout (one reorder
    /// can serve both).
    let passesShareOutputGradientLayout: Bool

    init?(engine: dnnl_engine_t, shape s: ConvolutionShape, hasBias: Bool, winograd: (OneDNNConvolutions.Pass) -> Bool) {
        let (oh, ow) = s.outputSize
        // oneDNN's right padding is whatever makes the output size come out: negative when
        // the last window stops short of the input's end, which not every kernel accepts.
        let padRight = [
            (oh - 1) * s.strideHeight + (s.kernelHeight - 1) * s.dilationHeight + 1 - s.height - s.paddingHeight,
            (ow - 1) * s.strideWidth + (s.kernelWidth - 1) * s.dilationWidth + 1 - s.width - s.paddingWidth,
        ]
        // A negative one means the last rows (columns) are read by no window. oneDNN does not
        // take negative padding: it sees a view of the input without them instead (strides of
        // the full image), and the input gradient there is zero.
        let cropped = (Swift.max(0, -padRight[0]), Swift.max(0, -padRight[1]))
        croppedInput = cropped != (0, 0)
        let strides: [Int64] = [Int64(s.strideHeight), Int64(s.strideWidth)]
        let dilates: [Int64] = [Int64(s.dilationHeight - 1), Int64(s.dilationWidth - 1)]
        let padLeft: [Int64] = [Int64(s.paddingHeight), Int64(s.paddingWidth)]
        let padR: [Int64] = padRight.map { Int64(Swift.max(0, $0)) }
        func descriptor(_ dims: [Int], _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
            var md = dnnl_memory_desc_t()
            let dims64 = dims.map(Int64.init)
            _ = dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims64, dnnl_f32, tag)
            return md
        }
        let src = [s.batch, s.channels, s.height - cropped.0, s.width - cropped.1], wei = [s.outputChannels, s.channels, s.kernelHeight, s.kernelWidth]
        let dst = [s.batch, s.outputChannels, oh, ow]
        var userSrc = dnnl_memory_desc_t()
        let imageStrides = [s.channels * s.height * s.width, s.height * s.width, s.width, 1].map(Int64.init)
        _ = dnnl_memory_desc_init_by_strides(&userSrc, 4, src.map(Int64.init), dnnl_f32, imageStrides)
        let userWei = descriptor(wei, dnnl_oihw), userDst = descriptor(dst, dnnl_nchw)
        var anySrc = descriptor(src, dnnl_format_tag_any), anyWei = descriptor(wei, dnnl_format_tag_any)
        var anyDst = descriptor(dst, dnnl_format_tag_any), bias = descriptor([s.outputChannels], dnnl_x)

        var attributes: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attributes) == dnnl_success else { return nil }
        defer { dnnl_primitive_attr_destroy(attributes) }
        // Scratch memory per call (ours), so that concurrent calls never share oneDNN's.
        guard dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user) == dnnl_success else { return nil }

        // Each pass takes the first algorithm oneDNN implements for its shape: Winograd is
        // built for AVX-512 only, so elsewhere every pass falls back to the direct kernels.
        func create(_ pass: OneDNNConvolutions.Pass, _ hint: dnnl_primitive_desc_t?, _ initialize: (dnnl_alg_kind_t, inout dnnl_convolution_desc_t) -> dnnl_status_t) -> dnnl_primitive_desc_t? {
            for algorithm in winograd(pass) ? [dnnl_convolution_winograd, dnnl_convolution_direct] : [dnnl_convolution_direct] {
                var desc = dnnl_convolution_desc_t()
                guard initialize(algorithm, &desc) == dnnl_success else { continue }
                var pd: dnnl_primitive_desc_t?
                if dnnl_primitive_desc_create(&pd, &desc, attributes, engine, hint) == dnnl_success, let pd { return pd }
            }
            return nil
        }
        guard let forwardPD = create(.forward, nil, { algorithm, desc in
            hasBias
                ? dnnl_dilated_convolution_forward_desc_init(
                    &desc, dnnl_forward_training, algorithm, &anySrc, &anyWei, &bias, &anyDst, strides, dilates, padLeft, padR)
                : dnnl_dilated_convolution_forward_desc_init(
                    &desc, dnnl_forward_training, algorithm, &anySrc, &anyWei, nil, &anyDst, strides, dilates, padLeft, padR)
        }) else { return nil }
        defer { dnnl_primitive_desc_destroy(forwardPD) }
        guard let dataPD = create(.backwardData, forwardPD, { algorithm, desc in
            dnnl_dilated_convolution_backward_data_desc_init(&desc, algorithm, &anySrc, &anyWei, &anyDst, strides, dilates, padLeft, padR)
        }) else { return nil }
        defer { dnnl_primitive_desc_destroy(dataPD) }
        guard let weightsPD = create(.backwardWeights, forwardPD, { algorithm, desc in
            dnnl_dilated_convolution_backward_weights_desc_init(&desc, algorithm, &anySrc, &anyWei, nil, &anyDst, strides, dilates, padLeft, padR)
        }) else { return nil }
        defer { dnnl_primitive_desc_destroy(weightsPD) }

        var forwardArguments = [
            Argument(index: DNNL_ARG_SRC, query: dnnl_query_src_md, user: userSrc, isOutput: false),
            Argument(index: DNNL_ARG_WEIGHTS, query: dnnl_query_weights_md, user: userWei, isOutput: false),
            Argument(index: DNNL_ARG_DST, query: dnnl_query_dst_md, user: userDst, isOutput: true),
        ]
        if hasBias { forwardArguments.append(Argument(index: DNNL_ARG_BIAS, query: dnnl_query_weights_md, queryIndex: 1, user: bias, isOutput: false)) }
        guard let forward = Primitive(forwardPD, forwardArguments, engine: engine),
              let backwardData = Primitive(dataPD, [
                Argument(index: DNNL_ARG_DIFF_DST, query: dnnl_query_diff_dst_md, user: userDst, isOutput: false),
                Argument(index: DNNL_ARG_WEIGHTS, query: dnnl_query_weights_md, user: userWei, isOutput: false),
                Argument(index: DNNL_ARG_DIFF_SRC, query: dnnl_query_diff_src_md, user: userSrc, isOutput: true),
              ], engine: engine),
              let backwardWeights = Primitive(weightsPD, [
                Argument(index: DNNL_ARG_SRC, query: dnnl_query_src_md, user: userSrc, isOutput: false),
                Argument(index: DNNL_ARG_DIFF_DST, query: dnnl_query_diff_dst_md, user: userDst, isOutput: false),
                Argument(index: DNNL_ARG_DIFF_WEIGHTS, query: dnnl_query_diff_weights_md, user: userWei, isOutput: true),
              ], engine: engine)
        else { return nil }
        (self.forward, self.backwardData, self.backwardWeights) = (forward, backwardData, backwardWeights)
        if var a = backwardData.argument(DNNL_ARG_DIFF_DST)?.inner, var b = backwardWeights.argument(DNNL_ARG_DIFF_DST)?.inner {
            passesShareOutputGradientLayout = dnnl_memory_desc_equal(&a, &b) != 0
        } else {
            passesShareOutputGradientLayout = false
        }
    }
}

/// An input argument reordered once for several calls of passes that read it in `layout`.
private struct SharedArgument {
    let index: Int32
    let layout: dnnl_memory_desc_t
    let buffer: UnsafeMutableRawPointer

    /// The buffer for `pass`, if it reads the argument in this layout.
    func prepared(for pass: Primitive) -> [Int32: UnsafeMutableRawPointer] {
        guard var inner = pass.argument(index)?.inner else { return [:] }
        var layout = layout
        return dnnl_memory_desc_equal(&inner, &layout) != 0 ? [index: buffer] : [:]
    }

    func release() { free(buffer) }
}

/// One argument of a primitive: its NCHW (user) layout and the primitive's.
private struct Argument {
    var index: Int32
    var query: dnnl_query_t
    var queryIndex: Int32 = 0
    var user: dnnl_memory_desc_t
    var isOutput: Bool
    /// Filled by `Pass`: the primitive's layout, its size, and the reorder between the two
    /// (user → inner for inputs, inner → user for outputs; `nil` when the layouts agree).
    var inner = dnnl_memory_desc_t()
    var innerBytes = 0
    var reorder: dnnl_primitive_t?
}

/// A primitive, its arguments and its scratchpad.
private final class Primitive: @unchecked Sendable {
    let primitive: dnnl_primitive_t
    let arguments: [Argument]
    let scratchpad: (descriptor: dnnl_memory_desc_t, bytes: Int)?
    /// oneDNN's name for the kernel (`"jit:avx512_core"`, `"jit_wino_4x3:avx512_core"`).
    let implementation: String

    init?(_ pd: dnnl_primitive_desc_t, _ arguments: [Argument], engine: dnnl_engine_t) {
        var arguments = arguments
        var reorders: [dnnl_primitive_t] = []
        var failed = false
        for i in arguments.indices {
            guard let inner = dnnl_primitive_desc_query_md(pd, arguments[i].query, arguments[i].queryIndex)?.pointee else {
                failed = true
                break
            }
            arguments[i].inner = inner
            arguments[i].innerBytes = dnnl_memory_desc_get_size(&arguments[i].inner)
            if dnnl_memory_desc_equal(&arguments[i].user, &arguments[i].inner) != 0 { continue }
            var reorderPD: dnnl_primitive_desc_t?
            let created = arguments[i].isOutput
                ? dnnl_reorder_primitive_desc_create(&reorderPD, &arguments[i].inner, engine, &arguments[i].user, engine, nil)
                : dnnl_reorder_primitive_desc_create(&reorderPD, &arguments[i].user, engine, &arguments[i].inner, engine, nil)
            var reorder: dnnl_primitive_t?
            if created == dnnl_success, dnnl_primitive_create(&reorder, reorderPD) == dnnl_success, let reorder {
                arguments[i].reorder = reorder
                reorders.append(reorder)
            } else {
                failed = true
            }
            dnnl_primitive_desc_destroy(reorderPD)
            if failed { break }
        }
        var primitive: dnnl_primitive_t?
        if !failed && dnnl_primitive_create(&primitive, pd) != dnnl_success { failed = true }
        guard !failed, let primitive else {
            for reorder in reorders { dnnl_primitive_destroy(reorder) }
            return nil
        }
        self.primitive = primitive
        self.arguments = arguments
        var name: UnsafePointer<CChar>?
        implementation = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success
            ? name.map { String(cString: $0) } ?? "unknown" : "unknown"
        if var md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee, dnnl_memory_desc_get_size(&md) > 0 {
            scratchpad = (md, dnnl_memory_desc_get_size(&md))
        } else {
            scratchpad = nil
        }
    }

    /// The argument with oneDNN index `index` (`DNNL_ARG_…`).
    func argument(_ index: Int32) -> Argument? { arguments.first { $0.index == index } }

    deinit {
        dnnl_primitive_destroy(primitive)
        for argument in arguments { if let reorder = argument.reorder { dnnl_primitive_destroy(reorder) } }
    }
}
