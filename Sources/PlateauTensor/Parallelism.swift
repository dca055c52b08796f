import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads Plateau's own loops (elementwise, im2col, batch norm, reductions, the
/// blocks of a product) use in the current task.
///
/// Work is split only across independent outputs — each output element is computed by one
/// thread in the same order as serially — so results are bit-identical whatever the count.
///
/// The count is a task-local value, bound for a scope with ``withThreads(_:_:)`` (the CLI's
/// `--threads` wraps a whole command in one), never a process-wide setting. That choice
/// over a property of the backend value: the count governs every loop of the engine, most of
/// which never reach the ``Backend`` (elementwise kernels, batch norm, im2col), and a
/// task-local composes like the other two scoped settings, ``Backends/current`` and gradient
/// recording: two tests, or two training runs of `plateau compare`, each run with their own
/// count at the same time without seeing each other's.
///
/// Task-locals are not inherited by threads started outside Swift concurrency: the workers
/// of `parallelFor` (`WorkerPool`'s threads, or Dispatch's) see the default unless they bind their own. The
/// engine's own workers never need it — a `parallelFor` inside another one runs serially.
public enum Parallelism {
    /// The count used when no scope binds one.
    public static let defaultThreadCount = 2

    @TaskLocal private static var boundThreadCount: Int?

    /// The number of threads Plateau's loops use in the current task: the innermost
    /// ``withThreads(_:_:)`` scope's count, else ``defaultThreadCount``.
    public static var threadCount: Int { boundThreadCount ?? defaultThreadCount }

    /// Runs `body` with Plateau's loops on `count` threads (at least 1).
    public static func withThreads<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try $boundThreadCount.withValue(Swift.max(1, count), operation: body)
    }
}

/// An unchecked wrapper for handing a non-Sendable closure to worker threads; sound here
/// because `parallelFor` waits for every worker before returning and the workers touch
/// disjoint ranges.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// Marks the threads that are running a part of a `parallelFor`.
private let workerKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "Parallelism: cannot create a thread-local key")
    return key
}()

/// Runs `body` over `0..<count` in contiguous chunks, on up to ``Parallelism/threadCount``
/// threads when each would get at least `grain` items; serially otherwise. A `parallelFor`
/// inside another one's body runs serially: the outer loop already occupies the threads
/// (a convolution spreads samples over them, and each sample's products must not split again).
@inline(__always)
func parallelFor(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let parts = Swift.min(Parallelism.threadCount, count / Swift.max(grain, 1))
    if parts < 2 || pthread_getspecific(workerKey) != nil {
        body(0..<count)
        return
    }
    let runPart = { (part: Int) in
        pthread_setspecific(workerKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(workerKey, nil) }
        body((part * count / parts)..<((part + 1) * count / parts))
    }
    // Plateau's spinning workers; Dispatch's when another task's loop holds them.
    if WorkerPool.shared.run(parts: parts, runPart) { return }
    withoutActuallyEscaping(runPart) { escapable in
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: parts) { box.value($0) }
    }
}

/// `parallelFor` over `count` independent pieces of `size` elements each (planes, rows,
/// slices): split only where every thread gets at least ``elementGrain`` elements.
@inline(__always)
func parallelFor(_ count: Int, elementsEach size: Int, _ body: (Range<Int>) -> Void) {
    parallelFor(count, grain: Swift.max(1, elementGrain / Swift.max(size, 1)), body)
}

/// Elements per thread below which splitting costs more than it saves (64 K floats: an MLP
/// activation of 128 × 512 stays serial, a ResNet activation of 2 M is split).
let elementGrain = 1 << 16
