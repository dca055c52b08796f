import Foundation
import PlateauNN
import PlateauTensor
import PlateauTraining
import Testing

@Suite("Benchmark")
struct BenchmarkTests {
    // MARK: Peak resident memory

    @Test func peakResidentBytesReadsVmHWM() {
        let status = "Name:\tplateau\nVmPeak:\t 1234567 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
        #expect(BenchmarkResult.peakResidentBytes(status: status) == 204_800 * 1024)
        // From 10 GB on the 8-wide field leaves no space after the tab.
        #expect(BenchmarkResult.peakResidentBytes(status: "VmRSS:\t  100 kB\nVmHWM:\t12345678 kB\n") == 12_345_678 * 1024)
        #expect(BenchmarkResult.peakResidentBytes(status: "Name:\tx\nVmRSS:\t  100 kB\n") == nil)
        #expect(BenchmarkResult.peakResidentBytes(status: "VmHWM:\t  lots kB\n") == nil)
        #expect(BenchmarkResult.peakResidentBytes(status: "VmHWM:\t  100 MB\n") == nil)
    }

    #if os(Linux)
    @Test func resetStartsANewPeak() throws {
        // Touch 256 MB, free it, and the peak stays; after the reset it is gone.
        do {
            let buffer = [UInt8](repeating: 1, count: 256 << 20)
            #expect(buffer[buffer.count - 1] == 1)
        }
        let before = try #require(BenchmarkResult.peakResidentBytes())
        #expect(BenchmarkResult.resetPeakResident())
        let after = try #require(BenchmarkResult.peakResidentBytes())
        #expect(after < before - (128 << 20), "peak \(after) after the reset, \(before) before")
    }
    #endif

    // MARK: FLOPs

    @Test func multiplyAddsOfTheNewWorkloads() throws {
        // Counted by hand from the architectures (see Benchmark.multiplyAddsPerSample):
        // ViT: 16 patches·64·49 + 6 blocks·(17 tokens·(3·64² + 64² + 2·64·256) + 2·17²·64) + 64·10.
        // Mixer: 16·64·49 + 4·(64 channels·2·16·32 + 16 patches·2·64·256) + 64·10.
        // WRN-16-4: the stem, two blocks per group at 32², 16², 8² (1×1 projections entering each group), the fc.
        // U-Net (16, 32, 64 channels at 28², 14², 7²): double convs, two 2×2 transposed convs, the 1×1 output conv.
        let expected: [(BenchmarkWorkload, Int)] = [(.vit, 5_286_272), (.mixer, 2_410_112), (.wideResNet16x4, 392_612_352), (.unet, 19_004_160)]
        for (workload, macs) in expected {
            var g = SeededGenerator(seed: 1)
            let model: any Layer = workload == .unet
                ? UNet(inputChannels: 1, classCount: Benchmark.unetClasses, levels: 3, width: 16, using: &g)
                : try ModelFactory.make(workload.rawValue, sampleShape: workload.sampleShape, classCount: 10, using: &g)
            #expect(Benchmark.multiplyAddsPerSample(model, sampleShape: workload.sampleShape) == macs, "\(workload)")
        }
        var g = SeededGenerator(seed: 1)
        #expect(Benchmark.multiplyAddsPerSample(MLP(sizes: [4, 3], using: &g), sampleShape: [4]) == nil)
        // U-Net with FreqFusion decoder steps: the encoder and output conv as the U-Net's
        // (1,919,232 + 25,088 + 2·2,709,504); step 1 (32 channels, 14² ← 7²): lateral 2048·49,
        // double conv 18,432·196, FreqFusion (compressor 512, 3×3 kernel encoders 3600 + 1296,
        // half the four offset/scope convs 864) at both levels (196 + 49), reassembly
        // 32·(25 + 9)·196; step 2 (16 channels, 28² ← 14²) likewise.
        let freqFusion = FusionUNet(inputChannels: 1, classCount: Benchmark.unetClasses, levels: 3, width: 16, fusion: .freqFusion, using: &g)
        #expect(Benchmark.multiplyAddsPerSample(freqFusion, sampleShape: [1, 28, 28]) == 22_861_440)
    }

    // MARK: Running the workloads

    @Test func unetSkipsObjectiveTermsAndTrainsPerPixel() throws {
        #expect(try Benchmark.skipReason(method: "saf", workload: .unet)?.contains("per-pixel") == true)
        #expect(try Benchmark.skipReason(method: "mesa", workload: .unet) != nil)
        #expect(try Benchmark.skipReason(method: "sam", workload: .unet) == nil)
        #expect(try Benchmark.skipReason(method: "saf", workload: .vit) == nil)
        let results = try Benchmark.run(.unet, methods: ["sgd", "saf", "sam"], batchSize: 2, steps: 1, warmup: 0, blockSize: 1, seed: 3, ceiling: .nan)
        #expect(results.map(\.optimizer) == ["sgd", "sam"])
        #expect(results.map(\.passesPerStep) == [1, 2])
        #expect(results[0].flopsPerStep == 6 * 19_004_160 * 2)
    }

    @Test(arguments: [BenchmarkWorkload.vit, .mixer])
    func transformerWorkloadsRunSAF(_ workload: BenchmarkWorkload) throws {
        let results = try Benchmark.run(workload, methods: ["sgd", "saf"], batchSize: 2, steps: 1, warmup: 0, blockSize: 1, seed: 3, ceiling: .nan)
        #expect(results.map(\.optimizer) == ["sgd", "saf"])
        #expect(results.allSatisfy { $0.milliseconds.count == 1 && $0.milliseconds[0] > 0 })
        #expect(results[1].memoryBankBytes != nil)
    }

    /// The hvp workload times a gradient, a one-off Hessian-vector product of the MLP and a
    /// product at a linearized point, the gradient being the baseline of the ratios;
    /// --optimizers does not apply to it.
    @Test func hessianVectorProductWorkloadRatesAgainstTheGradient() throws {
        let results = try Benchmark.run(.hvp, methods: ["sam"], batchSize: 3, steps: 2, warmup: 0, blockSize: 1, seed: 3, ceiling: .nan)
        #expect(results.map(\.optimizer) == ["gradient", "hvp", "hvp-linearized"])
        #expect(results.allSatisfy { $0.workload == "hvp" && $0.batch == 3 && $0.milliseconds.count == 2 })
        #expect(results[0].ratioToSGD == 1)
        #expect(results[1].ratioToSGD != nil && results[2].ratioToSGD != nil)
    }

    @Test func defaultBatchSizes() {
        #expect(BenchmarkWorkload.wideResNet16x4.defaultBatchSize == 32)
        #expect(BenchmarkWorkload.hvp.defaultBatchSize == 1000)
        #expect(BenchmarkWorkload.allCases.filter { $0 != .wideResNet16x4 && $0 != .hvp }.allSatisfy { $0.defaultBatchSize == 128 })
        #expect(BenchmarkWorkload(rawValue: "wrn16-4") == .wideResNet16x4)
    }

    @Test func jsonCarriesPeakRSS() throws {
        var row = BenchmarkResult(workload: "vit", optimizer: "sgd", batch: 2, milliseconds: [1], flopsPerStep: 1, ceiling: 1)
        row.peakResidentBytes = 123
        let object = try #require(try JSONSerialization.jsonObject(with: Data(row.jsonLine.utf8)) as? [String: Any])
        #expect(object["peak_rss_bytes"] as? Int == 123)
    }
}
