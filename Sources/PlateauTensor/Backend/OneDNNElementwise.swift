internal import CDNNL
import Foundation

/// Elementwise functions on oneDNN's eltwise primitives (`dnnl_eltwise_gelu_erf`,
/// `dnnl_eltwise_exp`, `dnnl_eltwise_logistic`; forward, and backward from the input),
/// JIT-compiled for this CPU's widest vectors.
///
/// As for ``OneDNNConvolutions``: oneDNN runs single-threaded (OpenMP count 1 around each
/// call) and Plateau splits the elements into fixed chunks of ``chunkSize`` spread over its
/// own threads. Each element's result depends only on its value (the kernels' masked tail
/// computes what the vector body does; checked at every offset of a chunk in the tests), so
/// results are bit-identical across thread counts. Primitives are created once per (function,
/// chunk length) and cached: a tensor's full chunks share one, its remainder has its own.
public final class OneDNNElementwise: ElementwiseBackend, @unchecked Sendable {
    public var name: String { "onednn" }

    /// Elements per oneDNN call: large enough that a call's fixed cost (a stream and two or
    /// three memory objects, about a microsecond) is lost in 32 K elements of work, small
    /// enough to spread an MLP activation over two threads.
    public static let chunkSize = 1 << 15

    // The engine lives as long as the value; the cache is only touched under `lock`, and
    // cached entries are immutable.
    private let engine: dnnl_engine_t
    private let lock = NSLock()
    private var entries: [Key: Primitives] = [:]

    private struct Key: Hashable {
        var function: ElementwiseFunction
        var count: Int
    }

    /// Starts a oneDNN CPU engine.
    ///
    /// - Throws: ``BackendError`` when oneDNN cannot create its engine.
    public init() throws {
        var engine: dnnl_engine_t?
        let status = dnnl_engine_create(&engine, dnnl_cpu, 0)
        guard status == dnnl_success, let engine else {
            throw BackendError("oneDNN: cannot create a CPU engine (status \(status.rawValue))")
        }
        self.engine = engine
    }

    deinit {
        entries.removeAll()
        dnnl_engine_destroy(engine)
    }

    public func forward(_ function: ElementwiseFunction, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
        forEachChunk(function, count: count) { primitives, offset, length in
            execute(primitives.forward, [
                (DNNL_ARG_SRC, UnsafeMutableRawPointer(mutating: input + offset)),
                (DNNL_ARG_DST, UnsafeMutableRawPointer(output + offset)),
            ], primitives.descriptor, function, length)
        }
    }

    public func backward(
        _ function: ElementwiseFunction, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, count: Int
    ) {
        forEachChunk(function, count: count) { primitives, offset, length in
            execute(primitives.backward, [
                (DNNL_ARG_SRC, UnsafeMutableRawPointer(mutating: input + offset)),
                (DNNL_ARG_DIFF_DST, UnsafeMutableRawPointer(mutating: outputGradient + offset)),
                (DNNL_ARG_DIFF_SRC, UnsafeMutableRawPointer(inputGradient + offset)),
            ], primitives.descriptor, function, length)
        }
    }

    /// Calls `body(primitives, offset, length)` for each chunk, in parallel.
    private func forEachChunk(_ function: ElementwiseFunction, count: Int, _ body: (Primitives, Int, Int) -> Void) {
        guard count > 0 else { return }
        let chunkCount = (count + Self.chunkSize - 1) / Self.chunkSize
        let full = count >= Self.chunkSize ? primitives(function, count: Self.chunkSize) : nil
        let remainder = count % Self.chunkSize == 0 ? nil : primitives(function, count: count % Self.chunkSize)
        parallelFor(chunkCount, grain: 1) { range in
            for chunk in range {
                let offset = chunk * Self.chunkSize, length = Swift.min(Self.chunkSize, count - offset)
                body(length == Self.chunkSize ? full! : remainder!, offset, length)
            }
        }
    }

    private func primitives(_ function: ElementwiseFunction, count: Int) -> Primitives {
        let key = Key(function: function, count: count)
        if let cached = lock.withLock({ entries[key] }) { return cached }
        // Created outside the lock (it JIT-compiles kernels); a race creates two and keeps one.
        let created = OpenMP.withThreads(1) { Primitives(engine: engine, function: function, count: count) }
        return lock.withLock {
            if let cached = entries[key] { return cached }
            entries[key] = created
            return created
        }
    }

    private func execute(
        _ primitive: dnnl_primitive_t, _ buffers: [(Int32, UnsafeMutableRawPointer)], _ descriptor: dnnl_memory_desc_t,
        _ function: ElementwiseFunction, _ count: Int
    ) {
        OpenMP.withThreads(1) {
            var stream: dnnl_stream_t?
            check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream", function, count)
            defer { dnnl_stream_destroy(stream) }
            var descriptor = descriptor
            var arguments: [dnnl_exec_arg_t] = []
            defer { for argument in arguments { dnnl_memory_destroy(argument.memory) } }
            for (index, pointer) in buffers {
                var memory: dnnl_memory_t?
                check(dnnl_memory_create(&memory, &descriptor, engine, pointer), "memory", function, count)
                arguments.append(dnnl_exec_arg_t(arg: index, memory: memory))
            }
            check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments), "execute", function, count)
            check(dnnl_stream_wait(stream), "wait", function, count)
        }
    }
}

/// Fails with the oneDNN status: a call that succeeded when the primitive was created failing
/// now is a broken invariant (or memory exhausted), not bad input.
private func check(_ status: dnnl_status_t, _ what: String, _ function: ElementwiseFunction, _ count: Int) {
    precondition(status == dnnl_success, "OneDNNElementwise: \(what) failed with status \(status.rawValue) for \(function) over \(count) elements")
}

/// The forward and backward primitives of one function over one length.
private final class Primitives: @unchecked Sendable {
    let descriptor: dnnl_memory_desc_t
    let forward: dnnl_primitive_t, backward: dnnl_primitive_t

    init(engine: dnnl_engine_t, function: ElementwiseFunction, count: Int) {
        let algorithm: dnnl_alg_kind_t = switch function {
        case .gelu: dnnl_eltwise_gelu_erf
        case .exp: dnnl_eltwise_exp
        case .sigmoid: dnnl_eltwise_logistic
        }
        var md = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_tag(&md, 1, [dnnl_dim_t(count)], dnnl_f32, dnnl_x), "memory descriptor", function, count)
        descriptor = md
        var forwardDesc = dnnl_eltwise_desc_t(), backwardDesc = dnnl_eltwise_desc_t()
        check(dnnl_eltwise_forward_desc_init(&forwardDesc, dnnl_forward_training, algorithm, &md, 0, 0), "forward descriptor", function, count)
        check(dnnl_eltwise_backward_desc_init(&backwardDesc, algorithm, &md, &md, 0, 0), "backward descriptor", function, count)
        var forwardPD: dnnl_primitive_desc_t?, backwardPD: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&forwardPD, &forwardDesc, nil, engine, nil), "forward primitive descriptor", function, count)
        defer { dnnl_primitive_desc_destroy(forwardPD) }
        check(dnnl_primitive_desc_create(&backwardPD, &backwardDesc, nil, engine, forwardPD), "backward primitive descriptor", function, count)
        defer { dnnl_primitive_desc_destroy(backwardPD) }
        var forward: dnnl_primitive_t?, backward: dnnl_primitive_t?
        check(dnnl_primitive_create(&forward, forwardPD), "forward primitive", function, count)
        check(dnnl_primitive_create(&backward, backwardPD), "backward primitive", function, count)
        self.forward = forward!
        self.backward = backward!
    }

    deinit {
        dnnl_primitive_destroy(forward)
        dnnl_primitive_destroy(backward)
    }
}
