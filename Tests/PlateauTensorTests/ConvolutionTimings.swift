import Foundation
import Testing
@testable import PlateauTensor

/// Per-layer timings of the convolution paths (a measurement, not a test: it asserts nothing
/// and runs only when `PLATEAU_CONVOLUTION_TIMINGS` is set). Run it in release:
///
///     PLATEAU_CONVOLUTION_TIMINGS=1 swift test -c release --filter ConvolutionTimings
///
/// For each layer of ResNet-20 and LeNet-5 at batch 128, the lowering and oneDNN alternate
/// in rounds; it prints each path's median forward and forward + backward (input and filter
/// gradients) in milliseconds.
@Suite struct ConvolutionTimings {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PLATEAU_CONVOLUTION_TIMINGS"] != nil))
    func layers() throws {
        let onednn = try OneDNNConvolutions(selection: .always)
        let layers: [(name: String, input: [Int], weight: [Int], stride: Int, padding: Int, bias: Bool, count: Int)] = [
            ("resnet20 stem 3→16 32×32", [128, 3, 32, 32], [16, 3, 3, 3], 1, 1, false, 1),
            ("resnet20 16→16 32×32", [128, 16, 32, 32], [16, 16, 3, 3], 1, 1, false, 6),
            ("resnet20 16→32 /2", [128, 16, 32, 32], [32, 16, 3, 3], 2, 1, false, 1),
            ("resnet20 32→32 16×16", [128, 32, 16, 16], [32, 32, 3, 3], 1, 1, false, 5),
            ("resnet20 32→64 /2", [128, 32, 16, 16], [64, 32, 3, 3], 2, 1, false, 1),
            ("resnet20 64→64 8×8", [128, 64, 8, 8], [64, 64, 3, 3], 1, 1, false, 5),
            ("lenet 1→6 5×5 pad 2 28×28", [128, 1, 28, 28], [6, 1, 5, 5], 1, 2, true, 1),
            ("lenet 6→16 5×5 14×14", [128, 6, 14, 14], [16, 6, 5, 5], 1, 0, true, 1),
        ]
        let threads = Parallelism.threadCount
        print("threads \(threads); median ms over 7 rounds (lowering | oneDNN); forward, forward+backward; ×count = layers of that shape")
        for layer in layers {
            var generator = SeededGenerator(seed: 1)
            let x = Tensor.randomUniform(layer.input, in: -1..<1, using: &generator).trackingGradients()
            let w = Tensor.randomUniform(layer.weight, in: -0.2..<0.2, using: &generator).trackingGradients()
            let b = layer.bias ? Tensor.zeros([layer.weight[0]]).trackingGradients() : nil
            func forward() -> Tensor {
                x.conv2d(weight: w, bias: b, stride: (layer.stride, layer.stride), padding: (layer.padding, layer.padding))
            }
            func time(_ body: () -> Void) -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            var results: [[Double]] = [[], [], [], []]
            for round in 0..<8 {
                for (path, backend) in [(0, nil), (1, onednn)] as [(Int, (any ConvolutionBackend)?)] {
                    Backends.$convolutions.withValue(backend) {
                        let f = time { _ = withoutGradients { forward() } }
                        let fb = time {
                            let y = withGradients { forward() }
                            _ = gradients(of: y, withRespectTo: [x, w], seed: y)
                        }
                        if round > 0 { results[path].append(f); results[2 + path].append(fb) }  // round 0 warms up
                    }
                }
            }
            func median(_ v: [Double]) -> String { String(format: "%.2f", v.sorted()[v.count / 2]) }
            print("| \(layer.name) (×\(layer.count)) | \(median(results[0])) | \(median(results[1])) | \(median(results[2])) | \(median(results[3])) |")
        }
    }
}
