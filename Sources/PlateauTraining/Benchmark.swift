import Foundation
#if canImport(Glibc)
import Glibc
// glibc's malloc_trim(3); <malloc.h> is not part of the Glibc module map.
@_silgen_name("malloc_trim") private func malloc_trim(_ padding: Int) -> Int32
#endif
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// The engine workloads that `plateau bench` times: one per model family of the CLI, on
/// synthetic data of its dataset's shape, plus the sgemm ceiling.
public enum BenchmarkWorkload: String, CaseIterable, Sendable {
    case mlp, lenet
    /// `lenet` with `--quantize w4a4`: LSQ fake quantization of every layer's weight and input
    /// (first and last at 8 bits), input step sizes calibrated on the first batch.
    case lenetW4A4 = "lenet-w4a4"
    case resnet20
    /// The CLI's `vit` (ModelFactory) on 1×28×28 with 7×7 patches.
    case vit
    /// The CLI's `mixer` (ModelFactory) on 1×28×28 with 7×7 patches.
    case mixer
    /// The CLI's `wrn16-4` on 3×32×32.
    case wideResNet16x4 = "wrn16-4"
    /// ``PlateauNN/UNet`` (3 levels, width 16, 2 classes) on 1×28×28 with a per-pixel
    /// cross-entropy over synthetic per-pixel labels.
    case unet
    /// ``PlateauNN/UMamba`` (the `unet` workload's U-Net with a Mamba layer at the
    /// bottleneck) on the same images and loss.
    case umamba
    /// ``PlateauNN/FusionUNet`` with ``PlateauNN/FreqFusion`` decoder steps (the CLI's
    /// `unet-freqfusion`: 3 levels, width 16) on the same images and loss.
    case unetFreqFusion = "unet-freqfusion"
    /// One exact Hessian-vector product (double backward) against one gradient of the MLP's
    /// (784-512-512-10) cross-entropy at batch 1000: the unit of every λ_max estimate.
    case hvp
    case sgemm

    /// The batch size of `plateau bench` and `benchmarks/peers.py` unless given: 128, as the
    /// CLI trains; 32 for WRN-16-4, whose step at 128 (≈ 300 GFLOP) would take seconds.
    /// 1000 for `hvp`, the batch of a sharpness measurement.
    public var defaultBatchSize: Int { self == .wideResNet16x4 ? 32 : self == .hvp ? 1000 : 128 }

    /// Whether the model predicts per pixel (the U-Nets): per-pixel labels and loss.
    public var isPerPixel: Bool { self == .unet || self == .umamba || self == .unetFreqFusion }

    /// One sample's shape.
    public var sampleShape: [Int] {
        switch self {
        case .mlp, .hvp: [784]
        case .resnet20, .wideResNet16x4: [3, 32, 32]
        case .lenet, .lenetW4A4, .vit, .mixer, .unet, .umamba, .unetFreqFusion: [1, 28, 28]
        case .sgemm: []
        }
    }
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
    /// The process's peak resident memory while this workload ran (all its methods), in bytes:
    /// see ``resetPeakResident()``.
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

    public static let tableHeader = "workload     optimizer       batch    ms/step    steps/s     GFLOPS  of peak   vs SGD  passes  bank MB  peak MB"

    public var tableLine: String {
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        return pad(workload, 12) + " " + pad(optimizer, 14)
            + String(format: " %6d %10.2f %10.1f %10.1f %7.0f%%", batch, median, stepsPerSecond, gflops, 100 * fractionOfPeak)
            + (ratioToSGD.map { String(format: "  %6.2fx", $0) } ?? "        -")
            + String(format: "  %6.2f", passesPerStep)
            + (memoryBankBytes.map { String(format: "  %7.1f", Double($0) / 1e6) } ?? "        -")
            + (peakResidentBytes.map { String(format: "  %7.0f", Double($0) / 1e6) } ?? "        -")
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
        if let peakResidentBytes { object["peak_rss_bytes"] = peakResidentBytes }
        object = object.filter { ($0.value as? Double)?.isFinite ?? true }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// This process's peak resident set size (Linux `VmHWM`) in bytes, if readable.
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return peakResidentBytes(status: status)
    }

    /// The `VmHWM` field of a `/proc/<pid>/status` text, in bytes. The kernel pads the kB value
    /// to 8 characters after a tab, so from 10 GB on no space separates it from the tab.
    public static func peakResidentBytes(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        let fields = line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 2, fields[1] == "kB", let kilobytes = Int(fields[0]) else { return nil }
        return kilobytes * 1024
    }

    /// Starts a new peak: returns the heap's free memory to the system (the CLI keeps freed
    /// memory in the heap for speed, so an earlier workload's buffers would otherwise count as
    /// resident), then resets `VmHWM` to the current resident size by writing 5 to
    /// `/proc/self/clear_refs` (Linux ≥ 4.0). Returns false where that is not possible, and the
    /// peak then covers the process's whole life.
    public static func resetPeakResident() -> Bool {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return write(descriptor, "5", 1) == 1
        #else
        return false
        #endif
    }
}

/// Steady-state timing of training steps on synthetic data.
public enum Benchmark {
    /// Best-of-several sgemm throughput at 256, 512 and 1024, by every backend Plateau has,
    /// each with Plateau's blocking and with the library's own threading: the ceiling every
    /// workload is measured against.
    public static func sgemmCeiling(repeats: Int = 5) -> (best: Double, bySize: [(Int, Double)]) {
        var bySize: [(Int, Double)] = []
        var generator = SeededGenerator(seed: 1)
        let threads = Parallelism.threadCount
        // The ceiling is the machine's, whoever reaches it: a ratio against a slow kernel's
        // peak (OpenBLAS on a core it did not recognize) would flatter every workload.
        let backends: [any Backend] = [
            OneDNNBackend(), OneDNNBackend(threading: .oneDNN(threads: threads)),
            OpenBLASBackend(), OpenBLASBackend(threading: .openBLAS(threads: threads)),
        ]
        for size in [256, 512, 1024] {
            let a = Tensor.randomUniform([size, size], in: -1..<1, using: &generator)
            let b = Tensor.randomUniform([size, size], in: -1..<1, using: &generator)
            var best = Double.infinity
            for backend in backends {
                Backends.$current.withValue(backend) {
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
    ///
    /// Methods that do not apply to the workload (see ``skipReason(method:workload:registry:)``)
    /// are left out of the results.
    ///
    /// `imageSide` replaces the 28×28 images of the per-pixel workloads (the U-Nets)
    /// by side×side ones (a multiple of 4), e.g. 64 for mnist-seg's images.
    public static func run(
        _ workload: BenchmarkWorkload, methods: [String], batchSize: Int, steps: Int, warmup: Int, blockSize: Int = 5,
        seed: UInt64, ceiling: Double, registry: MethodRegistry = .standard, imageSide: Int? = nil
    ) throws -> [BenchmarkResult] {
        var generator = SeededGenerator(seed: seed)
        let methods = try methods.filter { try skipReason(method: $0, workload: workload, registry: registry) == nil }
        var sampleShape = workload.sampleShape
        if let imageSide, workload.isPerPixel {
            guard imageSide > 0, imageSide % 4 == 0 else {
                throw ConfigurationError(field: "image-side", message: "expected a positive multiple of 4 (the U-Net pools twice), got \(imageSide)")
            }
            sampleShape = [1, imageSide, imageSide]
        }
        let inputShape = [batchSize] + sampleShape
        func flops(_ multiplyAdds: Int) -> Double { 6 * Double(multiplyAdds) * Double(batchSize) }
        func timed<M: Layer>(_ model: M, _ multiplyAdds: Int, pixelClasses: Int? = nil) throws -> [BenchmarkResult] {
            try time(model, workload.rawValue, inputShape: inputShape, flops: flops(multiplyAdds), methods: methods, steps: steps,
                     warmup: warmup, blockSize: blockSize, ceiling: ceiling, registry: registry, pixelClasses: pixelClasses,
                     using: &generator)
        }
        switch workload {
        case .mlp:
            let model = MLP(sizes: [784, 512, 512, 10], using: &generator)
            return try timed(model, 784 * 512 + 512 * 512 + 512 * 10)
        case .lenet:
            let model = LeNet5(using: &generator)
            return try timed(model, 6 * 25 * 784 + 16 * 150 * 100 + 400 * 120 + 120 * 84 + 84 * 10)
        case .lenetW4A4:
            var model = LeNet5(using: &generator)
            model.quantize(QuantizationSpec(weightBits: 4, activationBits: 4))
            let calibration = Tensor.randomNormal([batchSize] + workload.sampleShape, using: &generator)
            model.calibrateQuantizers { _ = $0(calibration) }
            return try timed(model, 6 * 25 * 784 + 16 * 150 * 100 + 400 * 120 + 120 * 84 + 84 * 10)
        case .resnet20:
            let model = ResNet(depth: 20, using: &generator)
            // conv MACs per image: stem 16·27·1024, stage1 6 convs 16·144·1024, stage2 32·144·256 + 5·32·288·256,
            // stage3 64·288·64 + 5·64·576·64, plus the 64→10 linear.
            var macs: Int = 16 * 27 * 1024 + 6 * 16 * 144 * 1024
            macs += 32 * 144 * 256 + 5 * 32 * 288 * 256
            macs += 64 * 288 * 64 + 5 * 64 * 576 * 64 + 640
            return try timed(model, macs)
        case .vit, .mixer, .wideResNet16x4:
            // Built as `plateau train --model NAME` builds it, so the bench times what trains.
            let model = try ModelFactory.make(workload.rawValue, sampleShape: workload.sampleShape, classCount: 10, using: &generator)
            return try timed(model, multiplyAddsPerSample(model, sampleShape: workload.sampleShape)!)
        case .unet:
            let model = UNet(inputChannels: 1, classCount: unetClasses, levels: 3, width: 16, using: &generator)
            return try timed(model, multiplyAddsPerSample(model, sampleShape: sampleShape)!, pixelClasses: unetClasses)
        case .umamba:
            let model = UMamba(inputChannels: 1, classCount: unetClasses, levels: 3, width: 16, using: &generator)
            return try timed(model, multiplyAddsPerSample(model, sampleShape: sampleShape)!, pixelClasses: unetClasses)
        case .unetFreqFusion:
            let model = FusionUNet(inputChannels: 1, classCount: unetClasses, levels: 3, width: 16, fusion: .freqFusion, using: &generator)
            return try timed(model, multiplyAddsPerSample(model, sampleShape: sampleShape)!, pixelClasses: unetClasses)
        case .hvp:
            return hessianVectorProductCost(batchSize: batchSize, steps: steps, warmup: warmup, blockSize: blockSize, ceiling: ceiling, using: &generator)
        case .sgemm:
            preconditionFailure("sgemm is measured by sgemmCeiling()")
        }
    }

    /// Rows `gradient`, `hvp` (a one-off product) and `hvp-linearized` (a product at a point
    /// already linearized) of the `hvp` workload, interleaved in blocks; a product row's
    /// `ratioToSGD` is its cost relative to the gradient in the same rounds (the gradient is
    /// the baseline). All rows count a gradient's FLOPs, so their GFLOPS compare as rates of
    /// gradient-equivalents.
    static func hessianVectorProductCost(
        batchSize: Int, steps: Int, warmup: Int, blockSize: Int, ceiling: Double, using generator: inout SeededGenerator
    ) -> [BenchmarkResult] {
        let model = MLP(sizes: [784, 512, 512, 10], using: &generator)
        let images = Tensor.randomNormal([batchSize, 784], using: &generator)
        let labels = (0..<batchSize).map { _ in Int.random(in: 0..<10, using: &generator) }
        let keys = model.parameters.keys, point = model.parameters.values
        let direction = point.map { Tensor.randomNormal($0.shape, using: &generator) }
        func loss(_ leaves: [Tensor]) -> Tensor {
            var copy = model
            copy.update(ParameterSet(Array(zip(keys, leaves))))
            return crossEntropy(logits: copy(images), labels: labels)
        }
        // The third pass is a product at a point linearized beforehand, as power iteration,
        // Lanczos and Hutchinson apply it tens of times (the recording is made once, untimed).
        let linearization = HessianLinearization(at: point, of: loss)
        let passes: [() -> Void] = [
            { _ = valueWithGradient(at: point, of: loss) },
            { _ = hessianVectorProduct(at: point, along: direction, of: loss) },
            { _ = linearization.product(along: direction) },
        ]
        func timed(_ pass: () -> Void) -> Double {
            let start = ContinuousClock.now
            pass()
            return seconds(ContinuousClock.now - start) * 1000
        }
        for pass in passes { for _ in 0..<warmup { _ = timed(pass) } }
        let (times, blockMeans) = interleavedBlocks(passes.count, steps: steps, blockSize: blockSize) { timed(passes[$0]) }
        let flops = 6 * Double(784 * 512 + 512 * 512 + 512 * 10) * Double(batchSize)
        return zip(["gradient", "hvp", "hvp-linearized"], times.indices).map { name, i in
            var result = BenchmarkResult(workload: "hvp", optimizer: name, batch: batchSize, milliseconds: times[i], flopsPerStep: flops, ceiling: ceiling)
            result.ratioToSGD = medianRatio(blockMeans[i], to: blockMeans[0])
            return result
        }
    }

    /// Rounds of `blockSize` measured steps of each of `kinds` kinds in turn, `step(kind)`
    /// returning a step's milliseconds, until `steps` per kind: each kind's step times and
    /// its blocks' mean times, in round order.
    static func interleavedBlocks(
        _ kinds: Int, steps: Int, blockSize: Int, _ step: (Int) -> Double
    ) -> (times: [[Double]], blockMeans: [[Double]]) {
        var times = [[Double]](repeating: [], count: kinds), blockMeans = [[Double]](repeating: [], count: kinds)
        for _ in 0..<((steps + blockSize - 1) / blockSize) {
            for kind in 0..<kinds {
                let block = (0..<blockSize).map { _ in step(kind) }
                times[kind] += block
                blockMeans[kind].append(block.reduce(0, +) / Double(block.count))
            }
        }
        return (times, blockMeans)
    }

    /// The median over rounds of `blocks[r] / baseline[r]`.
    static func medianRatio(_ blocks: [Double], to baseline: [Double]) -> Double {
        let ratios = zip(blocks, baseline).map { $0 / $1 }.sorted()
        return ratios[ratios.count / 2]
    }

    /// The U-Net workload's classes per pixel (foreground/background, as a digit mask would be).
    public static let unetClasses = 2

    /// Why `method` cannot be timed on `workload`, or `nil` when it can. A method that adds an
    /// objective term (SAF's and MESA's distillation over per-sample logits `[N, C]`) does not
    /// apply to the U-Net, whose outputs are per-pixel `[N, C, H, W]`.
    ///
    /// - Throws: ``ConfigurationError`` when `method` is not in `registry`.
    public static func skipReason(method: String, workload: BenchmarkWorkload, registry: MethodRegistry = .standard) throws -> String? {
        if method == "gaqat", workload != .lenetW4A4 {
            return "gaqat freezes quantizer step sizes and needs a quantized model; it is skipped on \(workload.rawValue) (use lenet-w4a4)"
        }
        guard workload.isPerPixel, try registry.entry(named: method).kind == .objective else { return nil }
        return "\(method) adds an objective term on per-sample logits [N, C], but the U-Net's outputs are per-pixel "
            + "[N, C, H, W]; \(method) is skipped on \(workload.rawValue)"
    }

    /// Multiply-adds of one sample's forward pass through every product: convolutions,
    /// transposed convolutions and linear layers (their weights' element counts times the
    /// output positions, or the input positions for a transposed convolution) and attention's
    /// Q·Kᵀ and A·V (T²·d each per block). Normalization, activations, pooling, softmax,
    /// residual additions and the loss are not counted. A step is counted as 6 FLOPs per
    /// multiply-add and sample: 2 forward, and backward two products of the forward one's
    /// size (the gradients with respect to both operands), as for the other workloads.
    /// Read from the built model, so it follows the model's sizes; `nil` for a model type
    /// this does not know.
    public static func multiplyAddsPerSample(_ model: any Layer, sampleShape: [Int]) -> Int? {
        let positions = sampleShape.count == 3 ? sampleShape[1] * sampleShape[2] : 1
        switch model {
        case let vit as VisionTransformer:
            let tokens = vit.positionEmbedding.shape[1], d = vit.dimension
            let patch = vit.patchEmbedding.weight.count * (tokens - 1)
            let blocks = vit.blocks.reduce(0) { total, block in
                let weights = block.attention.inProjectionWeight.count + block.attention.outProjection.weight.count
                    + block.mlp.fc1.weight.count + block.mlp.fc2.weight.count
                return total + tokens * weights + 2 * tokens * tokens * d
            }
            return patch + blocks + vit.head.weight.count
        case let mixer as MLPMixer:
            let patches = mixer.blocks[0].tokenMixing.fc1.weight.shape[1]
            let channels = mixer.blocks[0].channelMixing.fc1.weight.shape[1]
            let blocks = mixer.blocks.reduce(0) { total, block in
                // Token mixing: one MLP over the patches per channel; channel mixing: one over the channels per patch.
                total + channels * (block.tokenMixing.fc1.weight.count + block.tokenMixing.fc2.weight.count)
                    + patches * (block.channelMixing.fc1.weight.count + block.channelMixing.fc2.weight.count)
            }
            return mixer.stem.weight.count * patches + blocks + mixer.head.weight.count
        case let wrn as WideResNet:
            // Groups 2 and 3 enter with stride 2: a quarter of the positions each time.
            func group(_ blocks: [WideBasicBlock], _ positions: Int) -> Int {
                blocks.reduce(0) { $0 + positions * ($1.conv1.weight.count + $1.conv2.weight.count + ($1.convShortcut?.weight.count ?? 0)) }
            }
            return wrn.conv1.weight.count * positions + group(wrn.block1, positions) + group(wrn.block2, positions / 4)
                + group(wrn.block3, positions / 16) + wrn.fc.weight.count
        case let unet as UNet:
            // The transposed convolution of decoder step i reads level levels − 1 − i.
            func level(_ l: Int) -> Int { positions >> (2 * l) }
            var macs = unetEncoderMultiplyAdds(inc: unet.inc, down: unet.down, outc: unet.outc, positions: positions)
            for i in unet.up.indices {
                macs += unet.upsample[i].weight.count * level(unet.levels - 1 - i) + doubleConvWeights(unet.up[i]) * level(unet.levels - 2 - i)
            }
            return macs
        case let umamba as UMamba:
            // The U-Net's products plus, per Mamba layer, its four projections at every pixel of
            // its level (the scan and the depthwise convolution are elementwise-sized, not counted).
            var macs = multiplyAddsPerSample(umamba.unet, sampleShape: sampleShape)!
            for (i, layer) in umamba.mamba.enumerated() {
                let level = umamba.unet.levels - umamba.mambaLevels + i
                let m = layer.mamba
                let weights = m.inProjection.weight.count + m.xProjection.weight.count + m.dtProjection.weight.count + m.outProjection.weight.count
                macs += weights * (positions >> (2 * level))
            }
            return macs
        case let fusion as FusionUNet:
            // The encoder and the double convs as in the U-Net; per decoder step i (output level
            // l = levels − 2 − i, low-resolution input at l + 1), the 1×1 lateral at level l + 1
            // and FreqFusion's products: compressors and kernel/offset predictors at both levels,
            // and the reassemblies (C·k² per output pixel: low-pass at level l, high-pass too).
            func level(_ l: Int) -> Int { positions >> (2 * l) }
            var macs = unetEncoderMultiplyAdds(inc: fusion.inc, down: fusion.down, outc: fusion.outc, positions: positions)
            for i in fusion.up.indices {
                let l = fusion.levels - 2 - i
                macs += fusion.lateral[i].weight.count * level(l + 1) + doubleConvWeights(fusion.up[i]) * level(l)
                guard i < fusion.fusion.count else { continue }
                let f = fusion.fusion[i], channels = f.compressHigh.weight.shape[1]
                let predictors = [f.offsetHigh, f.offsetLow, f.scopeHigh, f.scopeLow].compactMap { $0?.weight.count }
                let perLevel = f.compressHigh.weight.count + f.lowPassEncoder.weight.count + f.highPassEncoder.weight.count
                    + predictors.reduce(0, +) / 2
                macs += perLevel * (level(l) + level(l + 1))
                macs += channels * (f.lowPassSize * f.lowPassSize + f.highPassSize * f.highPassSize) * level(l)
            }
            return macs
        default:
            return nil
        }
    }

    /// The weights of a U-Net double convolution's two 3×3 convolutions.
    private static func doubleConvWeights(_ d: DoubleConv) -> Int { d.conv1.weight.count + d.conv2.weight.count }

    /// A U-Net's encoder (level l has positions / 4^l pixels) and its 1×1 output convolution.
    private static func unetEncoderMultiplyAdds(inc: DoubleConv, down: [DoubleConv], outc: Conv2d, positions: Int) -> Int {
        var macs = (doubleConvWeights(inc) + outc.weight.count) * positions
        for i in down.indices { macs += doubleConvWeights(down[i]) * (positions >> (2 * (i + 1))) }
        return macs
    }

    /// The sample count the benchmark's SAF bank is sized for (MNIST's training set).
    public static let bankSamples = 60_000

    static func time<M: Layer>(
        _ initial: M, _ name: String, inputShape: [Int], flops: Double, methods: [String], steps: Int, warmup: Int,
        blockSize: Int, ceiling: Double, registry: MethodRegistry, pixelClasses: Int? = nil, using generator: inout SeededGenerator
    ) throws -> [BenchmarkResult] {
        let classes = pixelClasses ?? 10, batchSize = inputShape[0], batchCount = 4
        let batches = (0..<batchCount).map { b in
            Batch(images: Tensor.randomNormal(inputShape, using: &generator),
                  labels: (0..<batchSize).map { _ in Int.random(in: 0..<classes, using: &generator) },
                  indices: Array((b * batchSize)..<((b + 1) * batchSize)))
        }
        // A dense model learns one label per pixel: uniform synthetic labels, per sample.
        let pixelLabels: PixelCrossEntropyTerm? = pixelClasses.map { classes in
            let pixels = inputShape.dropFirst(2).reduce(1, *)
            return PixelCrossEntropyTerm(labels: (0..<(batchCount * batchSize)).map { _ in
                (0..<pixels).map { _ in Int.random(in: 0..<classes, using: &generator) }
            })
        }
        // Every method starts from the same weights and runs in the epoch where SAF/MESA are
        // active, with SAF's bank holding the past outputs it reads.
        let epoch = 5
        var engines: [StepEngine<M>] = []
        var models: [M] = []
        for method in methods {
            var c = RunConfiguration()
            c.optimizer = method
            if initial.isQuantized { c.quantize = "w4a4" }  // what gaqat checks for
            c.learningRate = 0.01
            c.momentum = 0.9
            if try registry.entry(named: method).options.contains(where: { $0.name == "saf-start" }) {
                c.methodOptions["saf-start"] = .int(epoch - 1)  // active in the epochs after it
            }
            var engine = try StepEngine(configuration: c, model: initial, sampleCount: max(bankSamples, batchSize * batchCount), classCount: classes, registry: registry)
            if let pixelLabels { engine.objective.terms[0] = pixelLabels }  // the data loss, per pixel
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
        var passes = [Float](repeating: 0, count: methods.count)
        let (times, blockMeans) = interleavedBlocks(methods.count, steps: steps, blockSize: blockSize) { i in
            let (ms, p) = timedStep(i)
            passes[i] += p
            return ms
        }
        let baseline = methods.firstIndex(of: "sgd")
        return methods.indices.map { i in
            var result = BenchmarkResult(workload: name, optimizer: methods[i], batch: batchSize, milliseconds: times[i], flopsPerStep: flops, ceiling: ceiling)
            result.passesPerStep = passes[i] / Float(times[i].count)
            if let baseline { result.ratioToSGD = medianRatio(blockMeans[i], to: blockMeans[baseline]) }
            let kept = engines[i].objectiveMemoryByteCount
            result.memoryBankBytes = kept > 0 ? kept : nil
            return result
        }
    }
}

/// The U-Net workload's data loss: ``PlateauNN/pixelwiseCrossEntropy(logits:labels:reduction:)``
/// of the outputs `[r, C, H, W]` against fixed per-pixel labels of each sample, the mean over
/// its pixels per sample (so the batch mean is the mean over all pixels, as PyTorch's
/// `F.cross_entropy` on `[N, C, H, W]`).
struct PixelCrossEntropyTerm: ObjectiveTerm {
    /// The labels of each sample's H·W pixels, by dataset index.
    let labels: [[Int]]

    var name: String { "pixel_cross_entropy" }

    mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        let batchLabels = batch.indices.map { labels[$0] }
        return { input, _ in
            pixelwiseCrossEntropy(logits: input.outputs, labels: input.selecting(batchLabels).flatMap { $0 }, reduction: .none)
        }
    }
}
