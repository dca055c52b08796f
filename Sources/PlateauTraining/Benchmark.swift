import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The engine workloads that `plateau bench` times.
public enum BenchmarkWorkload: String, CaseIterable, Sendable {
    case mlp, lenet, resnet20, sgemm
}

/// One benchmark row: a workload's per-step times and derived rates.
public struct BenchmarkResult: Sendable {
    public var workload: String
    public var optimizer: String
    public var batch: Int
    public var milliseconds: [Double]
    /// Floating-point operations of one step (forward + backward, multiply-adds counted as 2).
    public var flopsPerStep: Double
    /// The machine's sgemm GFLOPS measured in the same run.
    public var ceiling: Double
    /// Median over interleaved rounds of this method's mean step time in the round's block
    /// relative to SGD's.
    public var ratioToSGD: Double? = nil
    /// Mean forward–backward passes per step.
    public var passesPerStep: Float = 1
    /// Bytes of SAF's memory bank, sized for 60,000 samples (MNIST).
    public var memoryBankBytes: Int? = nil
    /// The process's peak resident memory after this workload, in bytes.
    public var peakResidentBytes: Int? = nil

    public init(workload: String, optimizer: String, batch: Int, milliseconds: [Double], flopsPerStep: Double, ceiling: Double) {
        self.workload = workload
        self.optimizer = optimizer
        self.batch = batch
        self.milliseconds = milliseconds
        self.flopsPerStep = flopsPerStep
        self.ceiling = ceiling
    }

    public var median: Double { milliseconds.sorted()[milliseconds.count / 2] }
    /// The mean step time: for methods whose steps differ in cost (LookSAM's every k-th
    /// SAM step) the median alone hides the expensive steps.
    public var mean: Double { milliseconds.reduce(0, +) / Double(max(milliseconds.count, 1)) }
    public var stepsPerSecond: Double { 1000 / median }
    public var gflops: Double { flopsPerStep / median / 1e6 }
    public var fractionOfPeak: Double { gflops / ceiling }

    public static let tableHeader = "workload     optimizer  batch    ms/step    steps/s     GFLOPS  of peak   vs SGD  passes  bank MB"

    public var tableLine: String {
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        return pad(workload, 12) + " " + pad(optimizer, 9)
            + String(format: " %6d %10.2f %10.1f %10.1f %7.0f%%", batch, median, stepsPerSecond, gflops, 100 * fractionOfPeak)
            + (ratioToSGD.map { String(format: "  %6.2fx", $0) } ?? "        -")
            + String(format: "  %6.2f", passesPerStep)
            + (memoryBankBytes.map { String(format: "  %7.1f", Double($0) / 1e6) } ?? "        -")
    }

    public var jsonLine: String {
        var object: [String: Any] = [
            "workload": workload, "optimizer": optimizer, "batch": batch, "ms_per_step_median": median, "ms_per_step_mean": mean,
            "steps_per_second": stepsPerSecond, "gflops": gflops,
            "passes_per_step": passesPerStep, "steps_measured": milliseconds.count,
        ]
        // Without a measured ceiling (--skip-ceiling) the fraction is NaN, which JSON cannot
        // hold: the key is left out rather than the whole row lost.
        if fractionOfPeak.isFinite { object["fraction_of_peak"] = fractionOfPeak }
        if let ratioToSGD { object["ratio_vs_sgd"] = ratioToSGD }
        if let memoryBankBytes { object["memory_bank_bytes"] = memoryBankBytes }
        if let peakResidentBytes { object["peak_resident_bytes"] = peakResidentBytes }
        object = object.filter { ($0.value as? Double)?.isFinite ?? true }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The process's peak resident set size (Linux `VmHWM`), if readable.
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kilobytes * 1024
    }
}

/// Steady-state timing of training steps on synthetic data.
public enum Benchmark {
    /// Best-of-several sgemm throughput at 256, 512 and 1024, with Plateau's blocking and
    /// with OpenBLAS's own threading: the ceiling every workload is measured against.
    public static func sgemmCeiling(repeats: Int = 5) -> (best: Double, bySize: [(Int, Double)]) {
        var bySize: [(Int, Double)] = []
        var generator = SeededGenerator(seed: 1)
        for size in [256, 512, 1024] {
            let a = Tensor.randomUniform([size, size], in: -1..<1, using: &generator)
            let b = Tensor.randomUniform([size, size], in: -1..<1, using: &generator)
            // The better of Plateau's blocked products and OpenBLAS's own threading: the
            // ceiling is the machine's, whoever reaches it.
            var best = Double.infinity
            for threading in [OpenBLASBackend.Threading.plateau, .openBLAS(threads: Parallelism.threadCount)] {
                Backends.$current.withValue(OpenBLASBackend(threading: threading)) {
                    for _ in 0..<repeats {
                        let start = ContinuousClock.now
                        _ = a.matmul(b)
                        best = min(best, seconds(ContinuousClock.now - start))
                    }
                }
            }
            bySize.append((size, 2 * pow(Double(size), 3) / best / 1e9))
        }
        return (bySize.map(\.1).max() ?? 1, bySize)
    }

    /// Times `methods` on `workload`, interleaved: each round runs a block of `blockSize`
    /// steps of every method in turn, so slow drifts of a shared machine hit all methods
    /// alike; a method's cost is the median over rounds of its block's mean step time divided
    /// by SGD's in the same round (`ratio_vs_sgd`). The block mean, not its median, so that a
    /// method whose steps differ in cost (LookSAM: one SAM step every k) is charged for all of
    /// them; the median over rounds keeps the ratio robust to a disturbed round.
    public static func run(
        _ workload: BenchmarkWorkload, methods: [String], batchSize: Int, steps: Int, warmup: Int, blockSize: Int = 5,
        seed: UInt64, ceiling: Double, registry: MethodRegistry = .standard
    ) throws -> [BenchmarkResult] {
        var generator = SeededGenerator(seed: seed)
        switch workload {
        case .mlp:
            let model = MLP(sizes: [784, 512, 512, 10], using: &generator)
            let flops = 6.0 * Double(batchSize) * Double(784 * 512 + 512 * 512 + 512 * 10)
            return try time(model, "mlp", inputShape: [batchSize, 784], flops: flops, methods: methods, steps: steps, warmup: warmup, blockSize: blockSize, ceiling: ceiling, registry: registry, using: &generator)
        case .lenet:
            let model = LeNet5(using: &generator)
            let macs: Int = 6 * 25 * 784 + 16 * 150 * 100 + 400 * 120 + 120 * 84 + 84 * 10
            let flops = 6 * Double(macs) * Double(batchSize)
            return try time(model, "lenet", inputShape: [batchSize, 1, 28, 28], flops: flops, methods: methods, steps: steps, warmup: warmup, blockSize: blockSize, ceiling: ceiling, registry: registry, using: &generator)
        case .resnet20:
            let model = ResNet(depth: 20, using: &generator)
            // conv MACs per image: stem 16·27·1024, stage1 6 convs 16·144·1024, stage2 32·144·256 + 5·32·288·256,
            // stage3 64·288·64 + 5·64·576·64, plus the 64→10 linear.
            var macs: Int = 16 * 27 * 1024 + 6 * 16 * 144 * 1024
            macs += 32 * 144 * 256 + 5 * 32 * 288 * 256
            macs += 64 * 288 * 64 + 5 * 64 * 576 * 64 + 640
            let flops = 6 * Double(macs) * Double(batchSize)
            return try time(model, "resnet20", inputShape: [batchSize, 3, 32, 32], flops: flops, methods: methods, steps: steps, warmup: warmup, blockSize: blockSize, ceiling: ceiling, registry: registry, using: &generator)
        case .sgemm:
            preconditionFailure("sgemm is measured by sgemmCeiling()")
        }
    }

    /// The sample count the benchmark's SAF bank is sized for (MNIST's training set).
    public static let bankSamples = 60_000

    static func time<M: Layer>(
        _ initial: M, _ name: String, inputShape: [Int], flops: Double, methods: [String], steps: Int, warmup: Int,
        blockSize: Int, ceiling: Double, registry: MethodRegistry, using generator: inout SeededGenerator
    ) throws -> [BenchmarkResult] {
        let classes = 10, batchSize = inputShape[0], batchCount = 4
        let batches = (0..<batchCount).map { b in
            Batch(images: Tensor.randomNormal(inputShape, using: &generator),
                  labels: (0..<batchSize).map { _ in Int.random(in: 0..<classes, using: &generator) },
                  indices: Array((b * batchSize)..<((b + 1) * batchSize)))
        }
        // Every method starts from the same weights and runs in the epoch where SAF/MESA are
        // active, with SAF's bank holding the past outputs it reads.
        let epoch = 5
        var engines: [StepEngine<M>] = []
        var models: [M] = []
        for method in methods {
            var c = RunConfiguration()
            c.optimizer = method
            c.learningRate = 0.01
            c.momentum = 0.9
            if try registry.entry(named: method).options.contains(where: { $0.name == "saf-start" }) {
                c.methodOptions["saf-start"] = .int(epoch - 1)  // active in the epochs after it
            }
            var engine = try StepEngine(configuration: c, model: initial, sampleCount: max(bankSamples, batchSize * batchCount), classCount: classes, registry: registry)
            for index in engine.objective.terms.indices {
                guard var saf = engine.objective.terms[index] as? SAF else { continue }
                // Past outputs for the lag epochs before the first measured one; later passes
                // over the batches read what the benchmark itself recorded lag passes earlier,
                // so the trajectory term is live at every step.
                for past in (epoch - saf.lag)..<epoch {
                    for batch in batches {
                        saf.memory.record(Tensor.randomNormal([batchSize, classes], using: &generator), for: batch.indices, epoch: past)
                    }
                }
                engine.objective.terms[index] = saf
            }
            engines.append(engine)
            models.append(initial)
        }
        var cursor = [Int](repeating: 0, count: methods.count)
        func timedStep(_ i: Int) -> (ms: Double, passes: Float) {
            let batch = batches[cursor[i] % batchCount]
            let stepEpoch = epoch + cursor[i] / batchCount  // one pass over the batches is an epoch
            cursor[i] += 1
            let start = ContinuousClock.now
            let (report, _) = engines[i].step(&models[i], on: batch, epoch: stepEpoch, learningRate: 0.01)
            return (seconds(ContinuousClock.now - start) * 1000, report.passes)
        }
        for i in methods.indices { for _ in 0..<warmup { _ = timedStep(i) } }
        var times = [[Double]](repeating: [], count: methods.count)
        var passes = [Float](repeating: 0, count: methods.count)
        var blockMeans = [[Double]](repeating: [], count: methods.count)
        let rounds = (steps + blockSize - 1) / blockSize
        for _ in 0..<rounds {
            for i in methods.indices {
                var block: [Double] = []
                for _ in 0..<blockSize {
                    let (ms, p) = timedStep(i)
                    block.append(ms)
                    passes[i] += p
                }
                times[i] += block
                blockMeans[i].append(block.reduce(0, +) / Double(block.count))
            }
        }
        let baseline = methods.firstIndex(of: "sgd")
        return methods.indices.map { i in
            var result = BenchmarkResult(workload: name, optimizer: methods[i], batch: batchSize, milliseconds: times[i], flopsPerStep: flops, ceiling: ceiling)
            result.passesPerStep = passes[i] / Float(times[i].count)
            if let baseline {
                let ratios = zip(blockMeans[i], blockMeans[baseline]).map { $0 / $1 }.sorted()
                result.ratioToSGD = ratios[ratios.count / 2]
            }
            let kept = engines[i].objectiveMemoryByteCount
            result.memoryBankBytes = kept > 0 ? kept : nil
            return result
        }
    }
}
