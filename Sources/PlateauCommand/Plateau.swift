import ArgumentParser
#if canImport(Glibc)
// glibc's mallopt(3); <malloc.h> is not part of the Glibc module map.
@_silgen_name("mallopt") private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
private let M_TRIM_THRESHOLD: Int32 = -1
private let M_MMAP_MAX: Int32 = -4
#endif

/// The `plateau` command: train, evaluate, compare and benchmark sharpness-aware optimizers.
@main
struct PlateauCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plateau",
        abstract: "Sharpness-aware training (SAM, SAF and family) in Swift.",
        subcommands: [TrainCommand.self, EvalCommand.self, MethodsCommand.self, CompareCommand.self, SharpnessCommand.self, LandscapeCommand.self, DemoCommand.self, BenchCommand.self, DataCommand.self]
    )

    /// Process-wide tuning done once at start-up.
    static func configureRuntime() {
        #if canImport(Glibc)
        // Every tensor operation allocates its result; glibc would serve the large ones (im2col
        // buffers reach 75 MB for ResNet-20) with fresh mmap'd pages — a page fault and a
        // kernel zeroing per 4 KiB — and unmap them on free. Serving everything from the heap
        // and never trimming it lets each step reuse the previous step's memory.
        _ = mallopt(M_MMAP_MAX, 0)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        #endif
    }
}
