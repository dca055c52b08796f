import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's OpenMP thread count, which oneDNN's OpenMP build reads when it
/// creates and runs a primitive. `omp_set_num_threads` is looked up in the process (libgomp
/// is loaded as oneDNN's dependency) rather than linked, since Debian keeps `libgomp.so`
/// in GCC's private directory.
enum OpenMP {
    private struct Function: @unchecked Sendable { let set: (@convention(c) (Int32) -> Void)?, get: (@convention(c) () -> Int32)? }
    private static let functions: Function = {
        let handle = dlopen(nil, RTLD_NOW)
        let set = dlsym(handle, "omp_set_num_threads"), get = dlsym(handle, "omp_get_max_threads")
        return Function(
            set: set.map { unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self) },
            get: get.map { unsafeBitCast($0, to: (@convention(c) () -> Int32).self) })
    }()

    /// Runs `body` with this thread's OpenMP count at `threads`, then restores it.
    static func withThreads<R>(_ threads: Int, _ body: () -> R) -> R {
        guard let set = functions.set, let get = functions.get else { return body() }
        let previous = get()
        set(Int32(threads))
        defer { set(previous) }
        return body()
    }
}
