import Foundation
import Testing
@testable import PlateauTensor

/// Per-layer timings of the convolution paths (a measurement, not a test: it asserts nothing
/// and runs only when `PLATEAU_CONVOLUTION_TIMINGS` is set). Run it in release:
///
///     PLATEAU_CONVOLUTION_TIMINGS=1 swift test -c release --filter ConvolutionTimings
///
/// For each layer of ResNet-20, LeNet-5 and the U-Net at batch 128 and of WRN-16-4 at batch
/// 32, the paths alternate in rounds: the lowering (forward, and forward + backward through
/// the tape), then oneDNN's direct and Winograd kernels pass by pass (forward, backward-data,
/// backward-weights, called on the backend as the engine calls it). It prints medians in
/// milliseconds. The Winograd rule (``OneDNNConvolutions/usesWinograd(_:pass:)``) comes from
/// these figures; a Winograd column equal to the direct one is a pass oneDNN has no Winograd
/// kernel for (it falls back).
@Suite struct ConvolutionTimings {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PLATEAU_CONVOLUTION_TIMINGS"] != nil))
    func layers() throws {
        let direct = try OneDNNConvolutions(selection: .always, winograd: .never)
        let winograd = try OneDNNConvolutions(selection: .always, winograd: .always)
        let layers: [(name: String, input: [Int], weight: [Int], stride: Int, padding: Int, bias: Bool, count: Int)] = [
            ("resnet20 stem 3→16 32×32", [128, 3, 32, 32], [16, 3, 3, 3], 1, 1, false, 1),
            ("resnet20 16→16 32×32", [128, 16, 32, 32], [16, 16, 3, 3], 1, 1, false, 6),
            ("resnet20 16→32 /2", [128, 16, 32, 32], [32, 16, 3, 3], 2, 1, false, 1),
            ("resnet20 32→32 16×16", [128, 32, 16, 16], [32, 32, 3, 3], 1, 1, false, 5),
            ("resnet20 32→64 /2", [128, 32, 16, 16], [64, 32, 3, 3], 2, 1, false, 1),
            ("resnet20 64→64 8×8", [128, 64, 8, 8], [64, 64, 3, 3], 1, 1, false, 5),
            ("lenet 1→6 5×5 pad 2 28×28", [128, 1, 28, 28], [6, 1, 5, 5], 1, 2, true, 1),
            ("lenet 6→16 5×5 14×14", [128, 6, 14, 14], [16, 6, 5, 5], 1, 0, true, 1),
            ("wrn16-4 16→64 32×32", [32, 16, 32, 32], [64, 16, 3, 3], 1, 1, false, 1),
            ("wrn16-4 64→64 32×32", [32, 64, 32, 32], [64, 64, 3, 3], 1, 1, false, 3),
            ("wrn16-4 128→128 16×16", [32, 128, 16, 16], [128, 128, 3, 3], 1, 1, false, 3),
            ("wrn16-4 256→256 8×8", [32, 256, 8, 8], [256, 256, 3, 3], 1, 1, false, 3),
            ("unet 16→16 28×28", [128, 16, 28, 28], [16, 16, 3, 3], 1, 1, true, 2),
            ("unet 32→32 14×14", [128, 32, 14, 14], [32, 32, 3, 3], 1, 1, true, 2),
            ("unet 64→32 14×14", [128, 64, 14, 14], [32, 64, 3, 3], 1, 1, true, 1),
            ("unet 64→64 7×7", [128, 64, 7, 7], [64, 64, 3, 3], 1, 1, true, 1),
        ]
        print("threads \(Parallelism.threadCount); median ms over 15 rounds; ×count = layers of that shape")
        print("| layer | lowering fwd | lowering fwd+bwd | direct fwd / bwd-data / bwd-weights | Winograd fwd / bwd-data / bwd-weights |")
        for layer in layers {
            var generator = SeededGenerator(seed: 1)
            let x = Tensor.randomUniform(layer.input, in: -1..<1, using: &generator).trackingGradients()
            let w = Tensor.randomUniform(layer.weight, in: -0.2..<0.2, using: &generator).trackingGradients()
            let b = layer.bias ? Tensor.zeros([layer.weight[0]]).trackingGradients() : nil
            let geometry = WindowGeometry(
                kernel: (layer.weight[2], layer.weight[3]), stride: (layer.stride, layer.stride),
                padding: (layer.padding, layer.padding), dilation: (1, 1))
            let shape = ConvolutionShape(input: layer.input, weight: layer.weight, geometry)
            let (oh, ow) = shape.outputSize
            let dy = Tensor.randomUniform([layer.input[0], layer.weight[0], oh, ow], in: -1..<1, using: &generator)
            var output = [Float](repeating: 0, count: dy.count), dx = [Float](repeating: 0, count: x.count)
            var dw = [Float](repeating: 0, count: w.count)
            func forward() -> Tensor {
                x.conv2d(weight: w, bias: b, stride: (layer.stride, layer.stride), padding: (layer.padding, layer.padding))
            }
            func time(_ body: () -> Void) -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            /// Forward, backward-data, backward-weights on `backend`.
            func passes(_ backend: OneDNNConvolutions) -> [Double] {
                precondition(backend.prepare(shape, hasBias: layer.bias))
                return x.scalars.withUnsafeBufferPointer { x in
                    w.scalars.withUnsafeBufferPointer { w in
                        dy.scalars.withUnsafeBufferPointer { dy in
                            let bias = b?.scalars ?? []
                            return bias.withUnsafeBufferPointer { bias in [
                                time { backend.forward(shape, input: x.baseAddress!, weight: w.baseAddress!,
                                                       bias: layer.bias ? bias.baseAddress : nil, output: &output) },
                                time { backend.backwardData(shape, outputGradient: dy.baseAddress!, weight: w.baseAddress!, inputGradient: &dx) },
                                time { backend.backwardWeights(shape, input: x.baseAddress!, outputGradient: dy.baseAddress!, weightGradient: &dw) },
                            ] }
                        }
                    }
                }
            }
            var results = [[Double]](repeating: [], count: 8)
            for round in 0..<16 {
                let lowering = Backends.$convolutions.withValue(nil) {
                    [time { _ = withoutGradients { forward() } },
                     time {
                        let y = withGradients { forward() }
                        _ = gradients(of: y, withRespectTo: [x, w], seed: y)
                     }]
                }
                let measured = lowering + passes(direct) + passes(winograd)
                if round > 0 { for (i, t) in measured.enumerated() { results[i].append(t) } }  // round 0 warms up
            }
            func median(_ v: [Double]) -> String { String(format: "%.2f", v.sorted()[v.count / 2]) }
            let m = results.map(median)
            print("| \(layer.name) (×\(layer.count)) | \(m[0]) | \(m[1]) | \(m[2...4].joined(separator: " / ")) | \(m[5...7].joined(separator: " / ")) |")
        }
    }
}
