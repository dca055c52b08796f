import Foundation
import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }

/// A convolution case: input shape, filters `[OC, C, kh, kw]`, stride, padding, dilation, bias.
private struct Case: CustomStringConvertible {
    var input: [Int], weight: [Int]
    var stride = (1, 1), padding = (0, 0), dilation = (1, 1)
    var bias = true
    var description: String { "x\(input) w\(weight) stride \(stride) pad \(padding) dilation \(dilation) bias \(bias)" }
    var geometry: WindowGeometry {
        WindowGeometry(kernel: (weight[2], weight[3]), stride: stride, padding: padding, dilation: dilation)
    }
    var shape: ConvolutionShape { ConvolutionShape(input: input, weight: weight, geometry) }
}

private let cases: [Case] = [
    Case(input: [4, 16, 10, 10], weight: [16, 16, 3, 3], padding: (1, 1)),  // ResNet's 3×3 'same'
    Case(input: [2, 3, 9, 9], weight: [6, 3, 5, 5], padding: (2, 2)),  // 5×5 pad 2, odd size
    Case(input: [3, 8, 9, 9], weight: [16, 8, 3, 3], stride: (2, 2), padding: (1, 1)),  // downsampling, odd size
    Case(input: [3, 16, 8, 8], weight: [32, 16, 1, 1], stride: (2, 2), bias: false),  // ResNet's 1×1 shortcut
    Case(input: [2, 16, 7, 7], weight: [8, 16, 1, 1]),  // 1×1 stride 1
    Case(input: [1, 5, 7, 7], weight: [7, 5, 3, 3], padding: (1, 1)),  // batch 1, odd channel counts
    Case(input: [2, 1, 12, 12], weight: [6, 1, 5, 5]),  // LeNet's first layer, no padding
    Case(input: [2, 4, 9, 11], weight: [5, 4, 3, 2], stride: (1, 2), padding: (2, 1), dilation: (2, 1), bias: false),
    Case(input: [37, 4, 6, 6], weight: [8, 4, 3, 3], padding: (1, 1)),  // two full chunks of 16 and a remainder
]

/// Runs `body` with convolutions on oneDNN (every shape it accepts).
private func onOneDNN<R>(_ body: () throws -> R) throws -> R {
    try Backends.$convolutions.withValue(try OneDNNConvolutions(selection: .always), operation: body)
}

/// Runs `body` with every convolution lowered to products (the reference).
private func onLowering<R>(_ body: () throws -> R) rethrows -> R {
    try Backends.$convolutions.withValue(nil, operation: body)
}

/// Forward value and the gradients of ⟨c, conv(x, w) + b⟩ with respect to x, w (and b).
private func convolutionAndGradients(_ c: Case, seed: UInt64) -> [Tensor] {
    let x = u(c.input, seed).trackingGradients(), w = (u(c.weight, seed + 1) * 0.5).trackingGradients()
    let b = c.bias ? u([c.weight[0]], seed + 2).trackingGradients() : nil
    let y = withGradients { x.conv2d(weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation) }
    let cotangent = u(y.shape, seed + 3)
    let grads = gradients(of: y, withRespectTo: [x, w] + (b.map { [$0] } ?? []), seed: cotangent)
    return [y] + grads
}

@Suite struct OneDNNConvolutionTests {
    /// Each case runs on oneDNN (not silently on the lowering), and its forward value,
    /// input gradient, filter gradient and bias gradient agree with the lowering.
    @Test func forwardAndGradientsMatchTheLowering() throws {
        let onednn = try OneDNNConvolutions(selection: .always)
        for (i, c) in cases.enumerated() {
            #expect(onednn.prepare(c.shape, hasBias: c.bias), "oneDNN declined \(c)")
            let reference = onLowering { convolutionAndGradients(c, seed: 700 + UInt64(10 * i)) }
            let native = Backends.$convolutions.withValue(onednn) { convolutionAndGradients(c, seed: 700 + UInt64(10 * i)) }
            for (name, (a, e)) in zip(["output", "∂x", "∂w", "∂b"], zip(native, reference)) {
                expectClose(a, e, relative: 1e-4, absolute: 1e-4, "\(c): \(name)")
            }
        }
    }

    /// Small versions of the cases (each input element costs two forward passes): strides, a
    /// cropped input, a 1×1 filter, dilation.
    fileprivate static let smallCases = [
        Case(input: [2, 2, 6, 6], weight: [3, 2, 5, 5], padding: (2, 2)),
        Case(input: [2, 3, 7, 7], weight: [4, 3, 3, 3], stride: (2, 2), padding: (1, 1)),
        Case(input: [2, 4, 6, 6], weight: [5, 4, 1, 1], stride: (2, 2), bias: false),
        Case(input: [1, 2, 7, 8], weight: [3, 2, 3, 2], stride: (1, 2), padding: (2, 1), dilation: (2, 1)),
    ]

    /// The oneDNN pullback against central finite differences through the op.
    @Test func gradientsMatchFiniteDifferences() throws {
        for c in Self.smallCases {
            let inputs = [u(c.input, 800), u(c.weight, 801) * 0.5] + (c.bias ? [u([c.weight[0]], 802)] : [])
            try onOneDNN {
                checkGradients(at: inputs) { p in
                    p[0].conv2d(weight: p[1], bias: c.bias ? p[2] : nil, stride: c.stride, padding: c.padding, dilation: c.dilation).tanh()
                }
            }
        }
    }

    /// Second order stays exact with oneDNN bound: the recorded backward pass runs oneDNN's
    /// backward-data and backward-weights as differentiable operations, and the HVP matches
    /// finite differences of gradients and the lowering's composite.
    @Test func hessianVectorProductsStayExact() throws {
        let images = u([2, 3, 6, 6], 810)
        func loss(_ p: [Tensor]) -> Tensor {
            let h = images.conv2d(weight: p[0], bias: p[1], padding: (1, 1)).tanh()
                .conv2d(weight: p[2], stride: (2, 2), padding: (1, 1)).tanh()  // [2, 4, 3, 3]
            return h.square().mean()
        }
        let w = [u([4, 3, 3, 3], 811), u([4], 812), u([4, 4, 3, 3], 813) * 0.5]
        let v = [u([4, 3, 3, 3], 814), u([4], 815), u([4, 4, 3, 3], 816)]
        let lowered = onLowering { hessianVectorProduct(at: w, along: v, of: loss) }
        try onOneDNN {
            let exact = hessianVectorProduct(at: w, along: v, of: loss)
            let numeric = HessianTests.finiteDifferenceHVP(at: w, along: v, loss)
            for (e, n) in zip(exact, numeric) { expectClose(e, n, relative: 2e-2, absolute: 2e-3) }
            for (e, l) in zip(exact, lowered) { expectClose(e, l, relative: 1e-4, absolute: 1e-5) }
            checkSecondOrderGradients(at: [images, w[0]]) { p in p[0].conv2d(weight: p[1], padding: (1, 1)).tanh() }
        }
    }

    /// The differentiable backward passes, through every geometry the first-order test
    /// covers (strides, a cropped input, dilation, 1×1): the gradient map's own gradient —
    /// which runs backward-data, backward-weights and the forward pass once more, each as
    /// the pullback of another — matches finite differences, and so does a third derivative.
    @Test func secondAndThirdOrderMatchFiniteDifferences() throws {
        for c in Self.smallCases {
            let inputs = [u(c.input, 830), u(c.weight, 831) * 0.5] + (c.bias ? [u([c.weight[0]], 832)] : [])
            try onOneDNN {
                checkSecondOrderGradients(at: inputs) { p in
                    p[0].conv2d(weight: p[1], bias: c.bias ? p[2] : nil, stride: c.stride, padding: c.padding, dilation: c.dilation).tanh()
                }
            }
        }
        // d³/dt³ of Σ tanh(conv(x, w + t·v)) at t = 0, by differentiating twice with
        // createGraph and once more, against a central difference of the second derivative.
        let x = u([2, 2, 5, 5], 833), w = u([3, 2, 3, 3], 834) * 0.5, v = u([3, 2, 3, 3], 835)
        func f(_ t: Tensor) -> Tensor { x.conv2d(weight: w + v * t, padding: (1, 1)).tanh().sum() }
        func derivatives(at t: Float) -> (second: Float, third: Float) {
            let leaf = Tensor(t).trackingGradients()
            return withGradients {
                let first = gradients(of: f(leaf), withRespectTo: [leaf], createGraph: true)[0]
                let second = gradients(of: first, withRespectTo: [leaf], createGraph: true)[0]
                let third = gradients(of: second, withRespectTo: [leaf])[0]
                return (second.item, third.item)
            }
        }
        try onOneDNN {
            let h: Float = 1e-2
            let numeric = (derivatives(at: h).second - derivatives(at: -h).second) / (2 * h)
            expectClose(Tensor(derivatives(at: 0).third), Tensor(numeric), relative: 2e-2, absolute: 2e-2)
        }
    }

    /// Same inputs: the same bits on a re-run, and the same bits at 1, 2 and 3 threads (the
    /// batch is split into fixed chunks run single-threaded, and the filter gradient adds the
    /// chunks in order). Three chunks (16 + 16 + 8 samples), so the split across threads varies.
    @Test func resultsAreBitIdenticalAcrossRunsAndThreadCounts() throws {
        let onednn = try OneDNNConvolutions(selection: .always)
        for c in [
            Case(input: [40, 16, 12, 12], weight: [16, 16, 3, 3], padding: (1, 1)),
            Case(input: [40, 8, 13, 13], weight: [16, 8, 3, 3], stride: (2, 2), padding: (1, 1), bias: false),
            Case(input: [40, 32, 8, 8], weight: [32, 32, 3, 3], padding: (1, 1)),  // Winograd on AVX-512
        ] {
            var runs: [(threads: Int, values: [[Float]])] = []
            for threads in [1, 2, 3, 2] {
                let values = Parallelism.withThreads(threads) {
                    Backends.$convolutions.withValue(onednn) { convolutionAndGradients(c, seed: 820).map(\.scalars) }
                }
                runs.append((threads, values))
            }
            for run in runs.dropFirst() {
                for (name, (a, b)) in zip(["output", "∂x", "∂w", "∂b"], zip(run.values, runs[0].values)) {
                    #expect(a == b, "\(c): \(name) at \(run.threads) threads differs from 1 thread")
                }
            }
        }
    }

    /// The combined backward pass (∂y reordered once for both passes, the filters once for
    /// every chunk) gives the separate passes' bits, over three chunks (16 + 16 + 8 samples)
    /// and a cropped input.
    @Test func combinedBackwardEqualsTheSeparatePasses() throws {
        let onednn = try OneDNNConvolutions(selection: .always)
        for c in [
            Case(input: [40, 16, 12, 12], weight: [16, 16, 3, 3], padding: (1, 1)),
            Case(input: [40, 8, 13, 13], weight: [16, 8, 3, 3], stride: (2, 2)),
        ] {
            let shape = c.shape
            #expect(onednn.prepare(shape, hasBias: false))
            let x = u(c.input, 840), w = u(c.weight, 841)
            let (oh, ow) = shape.outputSize
            let dy = u([c.input[0], c.weight[0], oh, ow], 842)
            var separate = ([Float](repeating: .nan, count: x.count), [Float](repeating: .nan, count: w.count))
            var combined = separate
            x.scalars.withUnsafeBufferPointer { x in
                w.scalars.withUnsafeBufferPointer { w in
                    dy.scalars.withUnsafeBufferPointer { dy in
                        onednn.backwardData(shape, outputGradient: dy.baseAddress!, weight: w.baseAddress!, inputGradient: &separate.0)
                        onednn.backwardWeights(shape, input: x.baseAddress!, outputGradient: dy.baseAddress!, weightGradient: &separate.1)
                        onednn.backward(shape, input: x.baseAddress!, outputGradient: dy.baseAddress!, weight: w.baseAddress!,
                                        inputGradient: &combined.0, weightGradient: &combined.1)
                    }
                }
            }
            #expect(combined.0 == separate.0, "\(c): ∂x")
            #expect(combined.1 == separate.1, "\(c): ∂w")
            #expect(!separate.0.contains { $0.isNaN } && !separate.1.contains { $0.isNaN }, "\(c): every element written")
        }
    }

    /// 3×3 stride-1 shapes with at least 32 channels in and out and whole 4×4 output tiles
    /// run oneDNN's Winograd F(4×4, 3×3) kernels where it has them (AVX-512; elsewhere the
    /// direct ones) — the filter gradient only up to 64 × 64 channel pairs — other shapes and
    /// `winograd: .never` the direct kernels. Every choice agrees with the lowering to the
    /// first-order test's tolerance, over two chunks with a remainder, on whole tiles and
    /// (`winograd: .always`) on partial ones; so does a Hessian-vector product.
    @Test func winogradWhereItPays() throws {
        let onednn = try OneDNNConvolutions(selection: .always)
        let direct = try OneDNNConvolutions(selection: .always, winograd: .never)
        let everywhere = try OneDNNConvolutions(selection: .always, winograd: .always)
        let winogradCase = Case(input: [18, 32, 8, 12], weight: [48, 32, 3, 3], padding: (1, 1))
        let shape = winogradCase.shape
        for pass in OneDNNConvolutions.Pass.allCases {
            #expect(onednn.usesWinograd(shape, pass: pass) && everywhere.usesWinograd(shape, pass: pass))
            #expect(!direct.usesWinograd(shape, pass: pass))
        }
        // Past 64 × 64 channel pairs the filter gradient stays direct; the other passes do not.
        let wide = ConvolutionShape(input: [32, 128, 16, 16], weight: [128, 128, 3, 3], winogradCase.geometry)
        #expect(onednn.usesWinograd(wide, pass: .forward) && onednn.usesWinograd(wide, pass: .backwardData))
        #expect(!onednn.usesWinograd(wide, pass: .backwardWeights) && everywhere.usesWinograd(wide, pass: .backwardWeights))
        let partialTiles = Case(input: [18, 32, 7, 9], weight: [48, 32, 3, 3], padding: (1, 1))
        for c in [
            partialTiles,
            Case(input: [18, 16, 8, 12], weight: [48, 16, 3, 3], padding: (1, 1)),  // 16 channels in
            Case(input: [18, 32, 8, 12], weight: [48, 32, 3, 3], stride: (2, 2), padding: (1, 1)),
            Case(input: [18, 32, 8, 12], weight: [48, 32, 3, 3], padding: (2, 2), dilation: (2, 2)),
            Case(input: [18, 32, 8, 12], weight: [48, 32, 1, 1]),
        ] {
            #expect(OneDNNConvolutions.Pass.allCases.allSatisfy { !onednn.usesWinograd(c.shape, pass: $0) }, "\(c)")
        }
        let directKernels = try #require(direct.implementations(of: shape, hasBias: true))
        #expect(directKernels.allSatisfy { !$0.contains("wino") }, "\(directKernels)")
        let kernels = try #require(onednn.implementations(of: shape, hasBias: true))
        if directKernels.allSatisfy({ $0.contains("avx512_core") }) {
            #expect(kernels.allSatisfy { $0.contains("wino") }, "\(kernels)")
        }
        for (c, backends) in [(winogradCase, [onednn, direct]), (partialTiles, [everywhere])] {
            let reference = onLowering { convolutionAndGradients(c, seed: 850) }
            for backend in backends {
                let native = Backends.$convolutions.withValue(backend) { convolutionAndGradients(c, seed: 850) }
                for (name, (a, e)) in zip(["output", "∂x", "∂w", "∂b"], zip(native, reference)) {
                    expectClose(a, e, relative: 1e-4, absolute: 1e-4, "\(backend.name) \(c): \(name)")
                }
            }
        }
        // Second order through the Winograd passes: each is the other's pullback, as for
        // the direct kernels.
        let images = u([2, 32, 4, 4], 851)  // one whole tile
        func loss(_ p: [Tensor]) -> Tensor { images.conv2d(weight: p[0], padding: (1, 1)).tanh().square().mean() }
        let w = [u([32, 32, 3, 3], 852) * 0.2], v = [u([32, 32, 3, 3], 853)]
        let lowered = onLowering { hessianVectorProduct(at: w, along: v, of: loss) }
        let winograd = Backends.$convolutions.withValue(onednn) { hessianVectorProduct(at: w, along: v, of: loss) }
        expectClose(winograd[0], lowered[0], relative: 1e-4, absolute: 1e-5)
    }

    /// `PLATEAU_CONVOLUTIONS` values: the four names, and a clear error for anything else.
    @Test func environmentValues() throws {
        #expect(try Backends.convolutions(named: nil)?.name == "onednn-auto")
        #expect(try Backends.convolutions(named: "")?.name == "onednn-auto")
        #expect(try Backends.convolutions(named: "lowering") == nil)
        #expect(try Backends.convolutions(named: "onednn")?.name == "onednn")
        #expect(try Backends.convolutions(named: "onednn-direct")?.name == "onednn-direct")
        #expect(try Backends.convolutions(named: "auto")?.name == "onednn-auto")
        #expect(throws: BackendError.self) { try Backends.convolutions(named: "mkl") }
        do {
            _ = try Backends.convolutions(named: "mkl")
        } catch {
            #expect("\(error)" == "PLATEAU_CONVOLUTIONS: expected lowering, onednn, onednn-direct or auto, found 'mkl'")
        }
    }
}
