import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plateau's own worker threads for `parallelFor`: they spin briefly for the next job before
/// sleeping, as OpenMP's workers do.
///
/// Why not `DispatchQueue.concurrentPerform`: a training step of a small model is hundreds of
/// parallel loops of tens of microseconds each (a Mixer step at 2 threads: about 150), and
/// waking a parked Dispatch worker for each one cost a fifth of the step in the kernel's
/// scheduler (`perf`: `finish_task_switch`, `__schedule`, futex wake-ups). A worker that has
/// just finished a part keeps polling for ``spinNanoseconds`` and picks the next job up within
/// a fraction of a microsecond; only an idle pool sleeps (and costs a wake-up).
///
/// One job at a time: a loop that finds the pool busy (another task's loop, e.g. two runs of
/// `plateau compare` side by side) runs through `concurrentPerform` instead. Part p of a job
/// always runs the same range, so results do not depend on which thread ran it.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle worker polls for the next job before it sleeps.
    static let spinNanoseconds: UInt64 = 50_000

    /// The most parts a job may have (the pool's threads plus the caller).
    static let maximumParts = 1 << 12

    /// The job being run. Written by the caller before it publishes the job's `ticket`
    /// (release) and read by a worker that takes part in it after seeing the ticket
    /// (acquire); it cannot change before every part is done.
    private var job: ((Int) -> Void)?
    /// The job's number times ``maximumParts`` plus its part count, in one word, so that a
    /// worker reads which job and how many parts together.
    private let ticket = Atomic<Int>(0)
    /// Parts not finished yet, workers' parts only (the caller runs part 0 itself).
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Workers asleep on `condition`, and the lock that orders going to sleep against waking.
    private let sleepers = Atomic<Int>(0)
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Started workers; only grown, under `lock`.
    private var workerCount = 0

    private init() {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(condition, nil)
    }

    /// Runs `body(p)` for p in 0..<parts, part 0 on the calling thread, and returns when all
    /// are done; `false` (nothing run) when the pool is busy with another caller's job.
    func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        precondition(parts >= 1 && parts < Self.maximumParts, "WorkerPool: \(parts) parts")
        guard parts >= 2 else {
            body(0)
            return true
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(parts - 1)
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            pending.store(parts - 1, ordering: .relaxed)
            let number = ticket.load(ordering: .relaxed) / Self.maximumParts + 1
            // Sequentially consistent, as the sleepers' count read after it: a worker going to
            // sleep either sees this ticket or is counted and woken.
            ticket.store(number * Self.maximumParts + parts, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(lock)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(lock)
            }
            escapable(0)
            // Poll for the other parts; past a few microseconds, yield the core, so that an
            // oversubscribed machine (more runnable threads than cores) runs the worker that
            // this thread waits for instead of this loop.
            var polls = 0
            while pending.load(ordering: .acquiring) > 0 {
                polls += 1
                if polls > 2_000 { sched_yield() }
            }
            job = nil
        }
        return true
    }

    private func ensureWorkers(_ count: Int) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while workerCount < count {
            // The ticket before the job about to be published: a thread that starts late must
            // still take that job as new.
            let start = WorkerStart(pool: self, part: workerCount + 1, seen: ticket.load(ordering: .acquiring))
            let context = Unmanaged.passRetained(start).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.work(part: start.part, seen: start.seen)
            }, context)
            precondition(status == 0, "WorkerPool: cannot start a worker thread (pthread_create: \(status))")
            pthread_detach(thread)
            workerCount += 1
        }
    }

    /// A worker's life: wait for the next ticket (polling, then asleep), run its part when the
    /// job has one, report it done.
    private func work(part: Int, seen initial: Int) -> Never {
        var seen = initial
        while true {
            var current = ticket.load(ordering: .acquiring)
            if current == seen {
                let start = monotonicNanoseconds()
                while current == seen && monotonicNanoseconds() &- start < Self.spinNanoseconds {
                    for _ in 0..<64 where ticket.load(ordering: .relaxed) == seen {}
                    current = ticket.load(ordering: .acquiring)
                }
            }
            if current == seen {
                pthread_mutex_lock(lock)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while ticket.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(condition, lock) }
                sleepers.subtract(1, ordering: .relaxed)
                pthread_mutex_unlock(lock)
                current = ticket.load(ordering: .acquiring)
            }
            seen = current
            if part < current % Self.maximumParts {
                runJob(part)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Calls the job, holding the closure no longer than the call: the caller's
    /// `withoutActuallyEscaping` traps if a reference outlives the last part.
    @inline(never)
    private func runJob(_ part: Int) {
        job.unsafelyUnwrapped(part)
    }
}

private final class WorkerStart {
    let pool: WorkerPool
    let part: Int
    let seen: Int
    init(pool: WorkerPool, part: Int, seen: Int) { (self.pool, self.part, self.seen) = (pool, part, seen) }
}

@inline(__always)
private func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}
