import Foundation
import PlateauNN
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

    public init(workload: String, optimizer: String, batch: Int, milliseconds: [Double], flopsPerStep: Double, ceiling: Double) {
        self.workload = workload
        self.optimizer = optimizer
        self.batch = batch
        self.milliseconds = milliseconds
        self.flopsPerStep = flopsPerStep
        self.ceiling = ceiling
    }

    public var median: Double { milliseconds.sorted()[milliseconds.count / 2] }
    public var stepsPerSecond: Double { 1000 / median }
    public var gflops: Double { flopsPerStep / median / 1e6 }
    public var fractionOfPeak: Double { gflops / ceiling }

    public static let tableHeader = "workload     optimizer  batch    ms/step    steps/s     GFLOPS  of peak"

    public var tableLine: String {
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        return pad(workload, 12) + " " + pad(optimizer, 9)
            + String(format: " %6d %10.2f %10.1f %10.1f %7.0f%%", batch, median, stepsPerSecond, gflops, 100 * fractionOfPeak)
    }

    public var jsonLine: String {
        String(format: "{\"workload\":\"%@\",\"optimizer\":\"%@\",\"batch\":%d,\"ms_per_step_median\":%.4f,\"steps_per_second\":%.3f,\"gflops\":%.2f,\"fraction_of_peak\":%.4f}",
               workload, optimizer, batch, median, stepsPerSecond, gflops, fractionOfPeak)
    }
}

/// Steady-state timing of training steps on synthetic data.
public enum Benchmark {
    /// Best-of-several sgemm throughput at 256, 512 and 1024: the ceiling every workload is
    /// measured against.
    public static func sgemmCeiling(repeats: Int = 5) -> (best: Double, bySize: [(Int, Double)]) {
        var bySize: [(Int, Double)] = []
        var generator = SeededGenerator(seed: 1)
        for size in [256, 512, 1024] {
            let a = Tensor.randomUniform([size, size], in: -1..<1, using: &generator)
            let b = Tensor.randomUniform([size, size], in: -1..<1, using: &generator)
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = ContinuousClock.now
                _ = a.matmul(b)
                best = min(best, seconds(ContinuousClock.now - start))
            }
            bySize.append((size, 2 * pow(Double(size), 3) / best / 1e9))
        }
        return (bySize.map(\.1).max() ?? 1, bySize)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Times `steps` SGD-momentum steps after `warmup` unmeasured ones.
    public static func run(_ workload: BenchmarkWorkload, batchSize: Int, steps: Int, warmup: Int, seed: UInt64, ceiling: Double) -> BenchmarkResult {
        var generator = SeededGenerator(seed: seed)
        switch workload {
        case .mlp:
            let model = MLP(sizes: [784, 512, 512, 10], using: &generator)
            let flops = 6.0 * Double(batchSize) * Double(784 * 512 + 512 * 512 + 512 * 10)
            return time(model, "mlp", inputShape: [batchSize, 784], classes: 10, flops: flops, steps: steps, warmup: warmup, ceiling: ceiling, using: &generator)
        case .lenet:
            let model = LeNet5(using: &generator)
            let macs: Int = 6 * 25 * 784 + 16 * 150 * 100 + 400 * 120 + 120 * 84 + 84 * 10
            let perImage = 2 * Double(macs)
            return time(model, "lenet", inputShape: [batchSize, 1, 28, 28], classes: 10, flops: 3 * perImage * Double(batchSize), steps: steps, warmup: warmup, ceiling: ceiling, using: &generator)
        case .resnet20:
            let model = ResNet(depth: 20, using: &generator)
            // conv MACs per image: stem 16·27·1024, stage1 6 convs 16·144·1024, stage2 32·144·256 + 5·32·288·256,
            // stage3 64·288·64 + 5·64·576·64, plus the 64→10 linear.
            var macs: Int = 16 * 27 * 1024 + 6 * 16 * 144 * 1024
            macs += 32 * 144 * 256 + 5 * 32 * 288 * 256
            macs += 64 * 288 * 64 + 5 * 64 * 576 * 64 + 640
            return time(model, "resnet20", inputShape: [batchSize, 3, 32, 32], classes: 10, flops: 6 * Double(macs) * Double(batchSize), steps: steps, warmup: warmup, ceiling: ceiling, using: &generator)
        case .sgemm:
            preconditionFailure("sgemm is measured by sgemmCeiling()")
        }
    }

    static func time<M: Layer>(
        _ initial: M, _ name: String, inputShape: [Int], classes: Int, flops: Double, steps: Int, warmup: Int, ceiling: Double,
        using generator: inout SeededGenerator
    ) -> BenchmarkResult {
        var model = initial
        let images = Tensor.randomNormal(inputShape, using: &generator)
        let labels = (0..<inputShape[0]).map { _ in Int.random(in: 0..<classes, using: &generator) }
        var velocity = model.parameters.zeros()
        var times: [Double] = []
        for step in 0..<(warmup + steps) {
            let start = ContinuousClock.now
            let result = valueWithGradient(at: model) { (m: inout M) in crossEntropy(logits: m(images), labels: labels) }
            var parameters = model.parameters
            withoutGradients {
                velocity = velocity.scaled(by: 0.9) + result.gradient
                parameters = parameters - velocity.scaled(by: 0.01)
            }
            model = result.model
            model.update(parameters)
            if step >= warmup { times.append(seconds(ContinuousClock.now - start) * 1000) }
        }
        return BenchmarkResult(workload: name, optimizer: "sgd", batch: inputShape[0], milliseconds: times, flopsPerStep: flops, ceiling: ceiling)
    }
}
