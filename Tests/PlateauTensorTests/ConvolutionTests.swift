import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }

struct ConvCase: CustomTestStringConvertible, Sendable {
    var input: [Int]
    var weight: [Int]
    var bias = false
    var stride = (1, 1), padding = (0, 0), dilation = (1, 1), outputPadding = (0, 0)
    var groups = 1
    var testDescription: String {
        "x\(input) w\(weight)\(bias ? " +b" : "") s\(stride) p\(padding) d\(dilation)\(outputPadding != (0, 0) ? " op\(outputPadding)" : "") g\(groups)"
    }
}

@Suite struct Conv2dTests {
    static let cases: [ConvCase] = [
        ConvCase(input: [1, 1, 4, 4], weight: [1, 1, 3, 3]),
        ConvCase(input: [2, 2, 5, 4], weight: [3, 2, 2, 3], bias: true),
        ConvCase(input: [1, 2, 5, 5], weight: [2, 2, 3, 3], stride: (2, 2), padding: (1, 1)),
        ConvCase(input: [1, 1, 6, 5], weight: [2, 1, 2, 2], stride: (2, 1), padding: (0, 1), dilation: (2, 2)),
        ConvCase(input: [1, 4, 4, 4], weight: [2, 2, 3, 3], bias: true, padding: (1, 1), groups: 2),
        ConvCase(input: [2, 3, 4, 4], weight: [3, 1, 3, 3], bias: true, stride: (1, 2), padding: (1, 1), groups: 3),  // depthwise
        ConvCase(input: [1, 2, 3, 3], weight: [4, 1, 2, 2], groups: 2),  // depthwise multiplier 2
        ConvCase(input: [1, 3, 3, 3], weight: [2, 3, 1, 1], bias: true),  // 1x1
        // More samples than one chunk of the sample-by-sample kernel (8), 'same' padding
        // (the block-copy im2col and the transposed-convolution input gradient), dilated.
        ConvCase(input: [9, 1, 4, 4], weight: [2, 1, 3, 3], bias: true, padding: (1, 1)),
        ConvCase(input: [9, 6, 4, 3], weight: [2, 6, 3, 3], bias: true, padding: (1, 1)),  // row-shift lowering (C·kw ≥ 16)
        ConvCase(input: [2, 4, 5, 4], weight: [3, 4, 5, 5], padding: (2, 2)),  // row-shift, 5×5
        ConvCase(input: [9, 1, 5, 5], weight: [1, 1, 3, 3], padding: (2, 2), dilation: (2, 2)),
        ConvCase(input: [9, 1, 5, 5], weight: [2, 1, 3, 3], stride: (2, 2), padding: (1, 1)),
    ]

    /// Runs `body` with convolutions lowered to products and again on oneDNN, so both paths
    /// meet the same checks.
    static func onEveryConvolutionPath(_ body: () -> Void) throws {
        Backends.$convolutions.withValue(nil, operation: body)
        try Backends.$convolutions.withValue(OneDNNConvolutions(), operation: body)
    }

    @Test(arguments: cases) func forwardMatchesDirectLoop(_ c: ConvCase) throws {
        let x = u(c.input, 100), w = u(c.weight, 101), b = c.bias ? u([c.weight[0]], 102) : nil
        let expected = naiveConv2d(x, w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        try Self.onEveryConvolutionPath {
            let y = x.conv2d(weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            expectClose(y, expected, relative: 1e-5, absolute: 1e-5, "\(Backends.convolutions?.name ?? "lowering")")
        }
        let reference = Backends.$convolutions.withValue(nil) { Backends.$current.withValue(ReferenceBackend()) {
            x.conv2d(weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        } }
        expectClose(reference, expected, relative: 1e-5, absolute: 1e-5)
    }

    @Test(arguments: cases) func gradient(_ c: ConvCase) throws {
        var inputs = [u(c.input, 103), u(c.weight, 104)]
        if c.bias { inputs.append(u([c.weight[0]], 105)) }
        try Self.onEveryConvolutionPath {
            checkGradients(at: inputs) { t in
                t[0].conv2d(weight: t[1], bias: c.bias ? t[2] : nil, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            }
        }
    }

    @Test(arguments: cases) func secondOrder(_ c: ConvCase) throws {
        try Self.onEveryConvolutionPath {
            checkSecondOrderGradients(at: [u(c.input, 106), u(c.weight, 107)]) { t in
                t[0].conv2d(weight: t[1], stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            }
        }
    }

    @Test func handComputed() {
        // 3x3 input, 2x2 kernel [[1, 0], [0, -1]]: y[i][j] = x[i][j] - x[i+1][j+1].
        let x = Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 10])
        let w = Tensor(shape: [1, 1, 2, 2], scalars: [1, 0, 0, -1])
        #expect(x.conv2d(weight: w).scalars == [-4, -4, -4, -5])
        #expect(x.conv2d(weight: w, bias: Tensor([1])).scalars == [-3, -3, -3, -4])
        // Padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1).
        #expect(x.conv2d(weight: w, stride: (2, 2), padding: (1, 1)).scalars == [-1, -3, -7, -5])
    }

    @Test func unfoldAndFoldAreAdjoint() {
        // <unfold(x), y> == <x, fold(y)> for a geometry with stride, padding and dilation.
        let geometry = WindowGeometry(kernel: (2, 3), stride: (2, 1), padding: (1, 1), dilation: (1, 2))
        let x = u([2, 2, 5, 4], 108)
        let columns = x.unfoldingWindows(geometry)
        let y = u(columns.shape, 109)
        let folded = y.foldingWindows(into: x.shape, geometry: geometry)
        let lhs = zip(columns.scalars, y.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x.scalars, folded.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(Swift.abs(lhs - rhs) < 1e-4)
        checkGradients(at: [x]) { $0[0].unfoldingWindows(geometry) }
        checkGradients(at: [y]) { $0[0].foldingWindows(into: [2, 2, 5, 4], geometry: geometry) }
    }

    @Test func outputSize() {
        let g = WindowGeometry(kernel: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 2))
        #expect(g.outputSize(height: 5, width: 4) == (3, 2))
        #expect(g == WindowGeometry(kernel: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 2)))
        #expect(g != WindowGeometry(kernel: (3, 2)))
    }
}

@Suite struct TransposedConv2dTests {
    static let cases: [ConvCase] = [
        ConvCase(input: [1, 1, 3, 3], weight: [1, 1, 3, 3]),
        ConvCase(input: [2, 2, 3, 2], weight: [2, 3, 2, 2], bias: true, stride: (2, 2)),
        ConvCase(input: [1, 2, 3, 3], weight: [2, 2, 3, 3], stride: (2, 2), padding: (1, 1)),
        ConvCase(input: [1, 2, 3, 3], weight: [2, 1, 3, 3], bias: true, stride: (2, 2), padding: (1, 1), outputPadding: (1, 1)),
        ConvCase(input: [1, 1, 2, 3], weight: [1, 2, 3, 2], stride: (3, 2), padding: (1, 0), outputPadding: (2, 1)),
        ConvCase(input: [1, 4, 2, 2], weight: [4, 1, 3, 3], bias: true, stride: (2, 1), padding: (1, 1), groups: 2),
        ConvCase(input: [1, 4, 3, 2], weight: [4, 2, 2, 2], stride: (2, 2), outputPadding: (1, 0), groups: 4),
        ConvCase(input: [1, 1, 3, 3], weight: [1, 1, 2, 2], stride: (1, 1), dilation: (2, 2)),
        // Output padding below the dilation but not below the stride (PyTorch allows it).
        ConvCase(input: [1, 1, 3, 3], weight: [1, 1, 2, 2], stride: (1, 1), padding: (1, 0), dilation: (2, 2), outputPadding: (1, 1)),
    ]

    // Each check runs on the lowering and on oneDNN (its backward-data pass, for one group
    // and an output padding below the stride).

    @Test(arguments: cases) func forwardMatchesScatterDefinition(_ c: ConvCase) throws {
        let x = u(c.input, 110), w = u(c.weight, 111), b = c.bias ? u([c.weight[1] * c.groups], 112) : nil
        let expected = naiveTransposedConv2d(x, w, bias: b, stride: c.stride, padding: c.padding,
                                             outputPadding: c.outputPadding, dilation: c.dilation, groups: c.groups)
        try Conv2dTests.onEveryConvolutionPath {
            let y = x.transposedConv2d(weight: w, bias: b, stride: c.stride, padding: c.padding, outputPadding: c.outputPadding,
                                       dilation: c.dilation, groups: c.groups)
            expectClose(y, expected, relative: 1e-5, absolute: 1e-5, "\(Backends.convolutions?.name ?? "lowering")")
        }
    }

    @Test(arguments: cases) func gradient(_ c: ConvCase) throws {
        var inputs = [u(c.input, 113), u(c.weight, 114)]
        if c.bias { inputs.append(u([c.weight[1] * c.groups], 115)) }
        try Conv2dTests.onEveryConvolutionPath {
            checkGradients(at: inputs) { t in
                t[0].transposedConv2d(weight: t[1], bias: c.bias ? t[2] : nil, stride: c.stride, padding: c.padding,
                                      outputPadding: c.outputPadding, dilation: c.dilation, groups: c.groups)
            }
        }
    }

    @Test(arguments: cases) func secondOrder(_ c: ConvCase) throws {
        try Conv2dTests.onEveryConvolutionPath {
            checkSecondOrderGradients(at: [u(c.input, 116), u(c.weight, 117)]) { t in
                t[0].transposedConv2d(weight: t[1], stride: c.stride, padding: c.padding, outputPadding: c.outputPadding,
                                      dilation: c.dilation, groups: c.groups)
            }
        }
    }

    /// conv_transpose2d is the adjoint of conv2d with the same weight:
    /// <conv2d(y, w), x> == <y, conv_transpose2d(x, w)>.
    @Test func isAdjointOfConv2d() {
        let w = u([3, 2, 3, 3], 118)  // conv: 2 -> 3 channels; transposed: 3 -> 2
        let y = u([1, 2, 6, 6], 119)
        let conv = y.conv2d(weight: w, stride: (2, 2), padding: (1, 1))
        let x = u(conv.shape, 120)
        let back = x.transposedConv2d(weight: w, stride: (2, 2), padding: (1, 1), outputPadding: (1, 1))
        #expect(back.shape == y.shape)
        let lhs = zip(conv.scalars, x.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(y.scalars, back.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(Swift.abs(lhs - rhs) < 1e-4)
    }
}
