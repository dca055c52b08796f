import Dispatch

/// How many threads Plateau's own loops (elementwise, im2col, batch norm, reductions) use.
///
/// Work is split only across independent outputs — each output element is computed by one
/// thread in the same order as serially — so results are bit-identical whatever the count.
/// Set it once at start-up (the CLI's `--threads` sets it together with OpenBLAS's).
public enum Parallelism {
    nonisolated(unsafe) public static var threadCount = 2
}

/// An unchecked wrapper for handing a non-Sendable closure to worker threads; sound here
/// because `parallelFor` waits for every worker before returning and the workers touch
/// disjoint ranges.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}

/// Runs `body` over `0..<count` in contiguous chunks, on up to ``Parallelism/threadCount``
/// threads when each would get at least `grain` items; serially otherwise.
@inline(__always)
func parallelFor(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let parts = Swift.min(Parallelism.threadCount, count / Swift.max(grain, 1))
    if parts < 2 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            box.value((part * count / parts)..<((part + 1) * count / parts))
        }
    }
}

/// Elements per thread below which splitting costs more than it saves (64 K floats: an MLP
/// activation of 128 × 512 stays serial, a ResNet activation of 2 M is split).
let elementGrain = 1 << 16
