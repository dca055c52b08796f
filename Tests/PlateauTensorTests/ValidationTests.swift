import Testing
@testable import PlateauTensor

/// Bad input must stop with a message naming the op and the shapes, not crash inside a
/// kernel (or, worse, read or write out of bounds). Each case runs in a child process
/// (Swift Testing exit tests) and its standard error is checked for the message.
@Suite struct ValidationTests {
    static func expectMessage(
        _ result: ExitTest.Result?, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let result else { return }  // the exit expectation itself already failed
        let stderr = String(decoding: result.standardErrorContent, as: UTF8.self)
        for fragment in fragments {
            #expect(stderr.contains(fragment), "missing \"\(fragment)\" in:\n\(stderr.prefix(400))", sourceLocation: sourceLocation)
        }
    }

    @Test func addShapeMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        Self.expectMessage(r, "add: shapes [2, 3] and [4] do not broadcast")
    }

    @Test func matmulInnerDimensionMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        }
        Self.expectMessage(r, "matmul: inner dimensions differ", "[2, 3]", "[4, 5]")
    }

    @Test func matmulBatchMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3, 4]).matmul(Tensor.zeros([3, 4, 5]))
        }
        Self.expectMessage(r, "matmul: batch shapes [2] and [3] do not broadcast")
    }

    @Test func convKernelLargerThanInput() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 1, 3, 3]).conv2d(weight: Tensor.zeros([1, 1, 5, 5]))
        }
        Self.expectMessage(r, "conv2d: input 3x3", "kernel (height: 5, width: 5)")
    }

    /// With stride 3 the output-size formula truncated (3 − 5) / 3 to 0 and produced a 1x1
    /// output from a kernel that does not fit the input.
    @Test func convKernelLargerThanInputWithStride() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 1, 3, 3]).conv2d(weight: Tensor.zeros([1, 1, 5, 5]), stride: (3, 3))
        }
        Self.expectMessage(r, "conv2d: input 3x3", "smaller than kernel")
    }

    @Test func convNegativeStride() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 1, 4, 4]).conv2d(weight: Tensor.zeros([1, 1, 2, 2]), stride: (-1, 1))
        }
        Self.expectMessage(r, "conv2d: stride must be positive, got (height: -1, width: 1)")
    }

    @Test func convChannelMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 3, 4, 4]).conv2d(weight: Tensor.zeros([2, 2, 2, 2]))
        }
        Self.expectMessage(r, "conv2d: weight [2, 2, 2, 2] expects 2 input channels, input [1, 3, 4, 4] has 3")
    }

    @Test func transposedConvNegativeStride() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 1, 3, 3]).transposedConv2d(weight: Tensor.zeros([1, 1, 2, 2]), stride: (0, -2))
        }
        Self.expectMessage(r, "transposedConv2d: stride must be positive")
    }

    @Test func poolNegativeStride() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 1, 4, 4]).avgPool2d(kernel: (2, 2), stride: (2, -2))
        }
        Self.expectMessage(r, "avgPool2d: stride must be positive")
    }

    /// The second window sits wholly in the padding; it used to pick flat index −1.
    @Test func maxPoolWindowInsidePadding() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([1, 1, 2, 2]).maxPool2d(kernel: (2, 2), stride: (1, 1), padding: (1, 1), dilation: (3, 3))
        }
        Self.expectMessage(r, "maxPool2d: window", "lies entirely in the padding")
    }

    @Test func scatteringAddIndexOutOfRange() async {
        // Used to write past the end of the output buffer.
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 2]).scatteringAdd([0, 3], alongAxis: 0, extent: 3)
        }
        Self.expectMessage(r, "scatteringAdd: index 3 out of range 0..<3")
    }

    @Test func takingElementsIndexOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 2]).takingElements([0, 4], shape: [2])
        }
        Self.expectMessage(r, "takingElements: flat index 4 out of range 0..<4 for shape [2, 2]")
    }

    @Test func scatteringElementsIndexOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2]).scatteringElements([0, -1], into: [3])
        }
        Self.expectMessage(r, "scatteringElements: flat index -1 out of range 0..<3")
    }

    @Test func subsampledNeedsPlanesAndPositiveStrides() async {
        let rank = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 4, 4]).subsampled(by: (2, 2))
        }
        Self.expectMessage(rank, "subsampled: input must be [N, C, H, W], got [2, 4, 4]")
        let stride = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([1, 1, 4, 4]).subsampled(by: (0, 2))
        }
        Self.expectMessage(stride, "subsampled: strides must be positive, got (0, 2)")
    }

    @Test func scatteringElementsOutsideItsSegment() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([4]).scatteringElements([1, 2, 3, 2], into: [4], segments: 2)
        }
        Self.expectMessage(r, "scatteringElements: flat index 2 of segment 0 outside its run 0..<2")
    }

    @Test func paddedAxisOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 2]).padded(alongAxis: 2, before: 1, after: 0)
        }
        Self.expectMessage(r, "padded: axis 2 out of range for shape [2, 2]")
    }

    @Test func reshapeCountMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]).reshaped(to: [4, 2])
        }
        Self.expectMessage(r, "reshaped: cannot reshape [2, 3] (6 elements) to [4, 2]")
    }

    @Test func reducedToIncompatibleShape() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]).reduced(toShape: [4])
        }
        Self.expectMessage(r, "reduced(toShape:): cannot reduce [2, 3] to [4]")
    }

    @Test func seedShapeMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2]).trackingGradients()
            _ = gradients(of: x * 2, withRespectTo: [x], seed: Tensor([1, 2, 3]))
        }
        Self.expectMessage(r, "gradients: seed shape [3] differs from output shape [2]")
    }

    @Test func tensorElementCountMismatch() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(shape: [2, 2], scalars: [1, 2, 3])
        }
        Self.expectMessage(r, "Tensor: shape [2, 2] holds 4 elements, got 3")
    }

    @Test func reductionAxisOutOfRange() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]).sum(alongAxes: [-3])
        }
        Self.expectMessage(r, "sum: axis -3 out of range for shape [2, 3]")
    }

    @Test func pullbackReturningWrongShapeIsNamed() async {
        let r = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2, 3]).trackingGradients()
            let y = Tensor.recorded("broken", shape: [3], scalars: x.scalars, inputs: [x]) { g, _ in [g.sum()] }
            _ = gradients(of: (y * 2).sum(), withRespectTo: [x])
        }
        Self.expectMessage(r, "gradients: the pullback of 'broken' returned shape [] for an input of shape [3]")
    }

    @Test func validNegativeAxesStillWork() {
        // The axis normalisation added alongside the checks above.
        let t = Tensor([[1, 2], [3, 4]])
        #expect(t.padded(alongAxis: -1, before: 1, after: 0).scalars == [0, 1, 2, 0, 3, 4])
        #expect(t.scatteringAdd([1, 0], alongAxis: -1, extent: 3).scalars == [2, 1, 0, 4, 3, 0])
        #expect(Tensor.stacking([Tensor([1, 2]), Tensor([3, 4])], alongAxis: -1).scalars == [1, 3, 2, 4])
        #expect(Tensor.stacking([Tensor([1, 2]), Tensor([3, 4])], alongAxis: -2).scalars == [1, 2, 3, 4])
        // Kernel exactly as large as the padded input is fine.
        #expect(Tensor.ones([1, 1, 3, 3]).conv2d(weight: Tensor.ones([1, 1, 5, 5]), padding: (1, 1)).scalars == [9])
    }
}
