import ArgumentParser
import Foundation
import Plateau

/// `plateau bench`: steady-state time per training step of the engine's workloads.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure time per training step (release builds only give meaningful numbers).",
        discussion: """
            Runs each workload with synthetic data after a warm-up and reports the median \
            time per step over the measured steps, the achieved GFLOPS as a fraction \
            of the machine's sgemm ceiling, and the peak resident memory while the workload \
            ran. Build with `swift run -c release plateau bench`.

            Workloads: mlp (784-512-512-10), lenet (LeNet-5) on 1x28x28; lenet-w4a4 (LeNet-5 with \
            --quantize w4a4: LSQ fake quantization, first and last layer at 8 bits; gaqat runs only here); resnet20 and \
            wrn16-4 on 3x32x32; vit and mixer (as `plateau train --model vit|mixer` builds \
            them: 7x7 patches) on 1x28x28; unet (3 levels, width 16) on 1x28x28 with a \
            per-pixel cross-entropy over 2 classes (methods that add an objective term, \
            saf and mesa, do not apply there and are skipped); umamba (the same U-Net with a \
            Mamba layer at the bottleneck) and unet-freqfusion (its encoder with FreqFusion \
            decoder steps, as plateau train --model unet-freqfusion) likewise. --image-side 64 \
            runs the three on 64x64 images instead. hvp times one exact Hessian-vector product (double \
            backward) against one gradient of the mlp's cross-entropy at batch 1000: rows \
            gradient, hvp (a one-off product) and hvp-linearized (a product at a point whose \
            forward and first backward pass are recorded already, as power iteration and \
            Lanczos use it), whose "vs SGD" column is then the cost relative to the gradient \
            (--optimizers does not apply).
            """
    )

    @Option(parsing: .unconditional, help: "Comma-separated workloads: \(BenchmarkWorkload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workloads: String = BenchmarkWorkload.allCases.map(\.rawValue).joined(separator: ",")

    @Option(parsing: .unconditional, help: "Comma-separated optimizers, interleaved in blocks; sgd is the baseline of ratio_vs_sgd.")
    var optimizers: String = "sgd"

    @Option(parsing: .unconditional, help: "Steps per interleaved block.")
    var blockSize: Int = 5

    @Option(parsing: .unconditional, help: "Samples per step (default: 128; 32 for wrn16-4).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Measured steps per workload (the median is reported).")
    var steps: Int = 50

    @Option(parsing: .unconditional, help: "Warm-up steps before measuring.")
    var warmup: Int = 5

    @Option(parsing: .unconditional, help: "Threads (OpenBLAS and Plateau's own loops).")
    var threads: Int = 2

    @Option(parsing: .unconditional, help: "Random seed for weights and synthetic data.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Image side for unet, umamba and unet-freqfusion (a multiple of 4; default 28).")
    var imageSide: Int?

    @Flag(help: .hidden) var skipCeiling = false
    @Option(parsing: .unconditional, help: .hidden) var loopThreads: Int?
    /// Let OpenBLAS split each product over its own threads (the pre-0.2 behaviour), for comparison.
    @Flag(help: .hidden) var blasThreading = false

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    mutating func validate() throws {
        try OptionCheck.count(batchSize, "batch-size", in: 1...65536)
        try OptionCheck.count(steps, "steps", in: 1...1_000_000)
        try OptionCheck.count(warmup, "warmup", in: 0...1_000_000)
        try OptionCheck.count(imageSide, "image-side", in: 4...1024)
        if let imageSide, imageSide % 4 != 0 { throw ValidationError("--image-side: expected a multiple of 4, got \(imageSide)") }
        _ = try parsedWorkloads()
        try OptionCheck.count(blockSize, "block-size", in: 1...steps)
        try OptionCheck.threads(threads)
        try OptionCheck.threads(loopThreads, "loop-threads")
        for name in optimizers.split(separator: ",") where !MethodRegistry.standard.names.contains(String(name)) {
            throw ValidationError("unknown optimizer '\(name)'; expected one of \(MethodRegistry.standard.names.joined(separator: ", "))")
        }
    }

    func parsedWorkloads() throws -> [BenchmarkWorkload] {
        try workloads.split(separator: ",").map { name in
            guard let w = BenchmarkWorkload(rawValue: String(name)) else {
                throw ValidationError("unknown workload '\(name)'; expected one of \(BenchmarkWorkload.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return w
        }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        // --blas-threading: the backend's own threads split each product instead of Plateau's blocks.
        let backend: any Backend = switch Backends.current {
        case is OneDNNBackend: OneDNNBackend(threading: blasThreading ? .oneDNN(threads: threads) : .plateau)
        case is OpenBLASBackend: OpenBLASBackend(threading: blasThreading ? .openBLAS(threads: threads) : .plateau)
        case let other: other
        }
        try Parallelism.withThreads(loopThreads ?? threads) { try Backends.$current.withValue(backend) {
        let selected = try parsedWorkloads()
        let ceiling = selected.contains(.sgemm) || !skipCeiling ? Benchmark.sgemmCeiling() : (best: Double.nan, bySize: [])
        var rows: [BenchmarkResult] = []
        if selected.contains(.sgemm) {
            for (size, gflops) in ceiling.bySize {
                rows.append(BenchmarkResult(workload: "sgemm\(size)", optimizer: "-", batch: size, milliseconds: [2 * pow(Double(size), 3) / gflops / 1e6], flopsPerStep: 2 * pow(Double(size), 3), ceiling: ceiling.best))
            }
        }
        for workload in selected where workload != .sgemm {
            if !json { FileHandle.standardError.write(Data("running \(workload.rawValue)…\n".utf8)) }
            let methods = optimizers.split(separator: ",").map(String.init)
            for method in methods {
                if let reason = try Benchmark.skipReason(method: method, workload: workload) {
                    FileHandle.standardError.write(Data("note: \(reason)\n".utf8))
                }
            }
            // Each workload's own peak; where it cannot be reset, only the first workload's
            // peak is its own, and later ones report none rather than an earlier one's.
            let peakIsOwn = BenchmarkResult.resetPeakResident() || rows.allSatisfy { $0.workload.hasPrefix("sgemm") }
            var results = try Benchmark.run(workload, methods: methods, batchSize: batchSize ?? workload.defaultBatchSize, steps: steps, warmup: warmup, blockSize: blockSize, seed: seed, ceiling: ceiling.best, imageSide: imageSide)
            let peak = peakIsOwn ? BenchmarkResult.peakResidentBytes() : nil
            for i in results.indices { results[i].peakResidentBytes = peak }
            rows += results
        }
        if json {
            for row in rows { print(row.jsonLine) }
            return
        } else {
            let convolutions = Backends.convolutions?.name ?? "lowering to sgemm"
            let gemm = backend is OneDNNBackend ? "oneDNN (\(OneDNNBackend.instructionSet) kernels)"
                : backend is OpenBLASBackend ? "OpenBLAS (\(OpenBLASBackend.coreName) kernels)" : backend.name
            print("gemm: \(gemm), \(threads) threads; sgemm ceiling \(String(format: "%.1f", ceiling.best)) GFLOPS; convolutions: \(convolutions)")
            if backend is OpenBLASBackend, ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "generic"].contains(OpenBLASBackend.coreName) {
                printWarning("warning: OpenBLAS chose its \(OpenBLASBackend.coreName) kernels, slow on a modern CPU it did not recognize; use the default PLATEAU_GEMM=onednn, or try OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2) in the environment")
            }
            print(BenchmarkResult.tableHeader)
            for row in rows { print(row.tableLine) }
        }
        } }
    }
}
