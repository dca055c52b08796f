import Foundation
import Testing
@testable import PlateauTensor

/// Timings of batch norm's fused forms against the compositions they replace (a measurement,
/// not a test: it asserts nothing and runs only when `PLATEAU_NORMALIZATION_TIMINGS` is set).
/// Run it in release, with activations from the heap as in a training run's steady state
/// (where glibc's adaptive threshold has risen above their size; here each fresh 8 MB array
/// would otherwise be a new mapping whose page faults swamp the differences measured):
///
///     GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824 \
///     PLATEAU_NORMALIZATION_TIMINGS=1 swift test -c release -Xswiftc -enable-testing --filter NormalizationTimings
///
/// For ResNet-20's three activation shapes at batch 128, the variants alternate in rounds
/// (forward, and forward + backward into every input, on the tape as training runs them) so
/// that a drift of the shared machine hits all alike; it prints medians in milliseconds.
/// Both forms of each pair compute the same bits; only their memory passes differ.
@Suite struct NormalizationTimings {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PLATEAU_NORMALIZATION_TIMINGS"] != nil))
    func residualBlockEnds() {
        print("threads \(Parallelism.threadCount); median ms over 30 rounds (forward / forward + backward)")
        print("| activation | bn, then add-relu | bn with the residual and ReLU | bn, then relu | rectified bn |")
        for shape in [[128, 16, 32, 32], [128, 32, 16, 16], [128, 64, 8, 8]] {
            var generator = SeededGenerator(seed: 7)
            let c = shape[1]
            let x = Tensor.randomNormal(shape, using: &generator).trackingGradients()
            let r = Tensor.randomNormal(shape, using: &generator).trackingGradients()
            let scale = (Tensor.randomUniform([c], in: 0.5..<1.5, using: &generator)).trackingGradients()
            let offset = Tensor.randomUniform([c], in: -0.5..<0.5, using: &generator).trackingGradients()
            let probe = Tensor.randomNormal(shape, using: &generator)
            let variants: [() -> Tensor] = [
                { x.batchNormalized(scale: scale, offset: offset, epsilon: 1e-5).output.addingRectified(r) },
                { x.batchNormalized(scale: scale, offset: offset, epsilon: 1e-5, rectified: true, adding: r).output },
                { x.batchNormalized(scale: scale, offset: offset, epsilon: 1e-5).output.relu() },
                { x.batchNormalized(scale: scale, offset: offset, epsilon: 1e-5, rectified: true).output },
            ]
            func time(_ body: () -> Void) -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            var results = [[Double]](repeating: [], count: 2 * variants.count)
            for round in 0..<31 {
                for (i, variant) in variants.enumerated() {
                    let forward = time { _ = withoutGradients { variant() } }
                    let both = time {
                        let y = withGradients { variant() }
                        _ = gradients(of: y, withRespectTo: i < 2 ? [x, scale, offset, r] : [x, scale, offset], seed: probe)
                    }
                    if round > 0 { results[2 * i].append(forward); results[2 * i + 1].append(both) }  // round 0 warms up
                }
            }
            func median(_ v: [Double]) -> String { String(format: "%.2f", v.sorted()[v.count / 2]) }
            let m = results.map(median)
            print("| \(shape) | \(m[0]) / \(m[1]) | \(m[2]) / \(m[3]) | \(m[4]) / \(m[5]) | \(m[6]) / \(m[7]) |")
        }
    }
}
