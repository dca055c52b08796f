import ArgumentParser
#if canImport(Glibc)
// glibc's mallopt(3); <malloc.h> is not part of the Glibc module map.
@_silgen_name("mallopt") private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
private let M_TRIM_THRESHOLD: Int32 = -1
private let M_MMAP_THRESHOLD: Int32 = -3
#endif

/// The `plateau` command: train, evaluate, compare and benchmark sharpness-aware optimizers.
@main
struct PlateauCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plateau",
        abstract: "Sharpness-aware training (SAM, SAF and family) in Swift.",
        subcommands: [TrainCommand.self, EvalCommand.self, DemoCommand.self, BenchCommand.self, DataCommand.self]
    )

    /// Process-wide tuning done once at start-up.
    static func configureRuntime() {
        #if canImport(Glibc)
        // Every tensor operation allocates its result; glibc would serve the large ones with
        // fresh mmap'd pages (a page fault per 4 KiB, zeroed by the kernel) and give them back
        // on free. Keeping freed memory in the heap lets the next step reuse it.
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 30)
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
        #endif
    }
}
