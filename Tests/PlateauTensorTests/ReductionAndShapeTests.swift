import Foundation
import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }
private func d(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.distinct(shape, seed: seed) }

@Suite struct ReductionTests {
    static let x = u([2, 3, 4], 50)
    static let cases: [GradCase] = [
        GradCase(name: "sum all", inputs: [x]) { $0[0].sum() },
        GradCase(name: "sum axis 1", inputs: [x]) { $0[0].sum(alongAxis: 1) },
        GradCase(name: "sum axes [0,2]", inputs: [x]) { $0[0].sum(alongAxes: [0, 2]) },
        GradCase(name: "sum axes [-1,0] keep", inputs: [x]) { $0[0].sum(alongAxes: [-1, 0], keepingDimensions: true) },
        GradCase(name: "sum axes [] (identity)", inputs: [x]) { $0[0].sum(alongAxes: []) },
        GradCase(name: "mean all", inputs: [x]) { $0[0].mean() },
        GradCase(name: "mean axes [1,2] keep", inputs: [x]) { $0[0].mean(alongAxes: [1, 2], keepingDimensions: true) },
        GradCase(name: "mean axis -2", inputs: [x]) { $0[0].mean(alongAxis: -2) },
        GradCase(name: "variance all", inputs: [x]) { $0[0].variance() },
        GradCase(name: "variance axis -1 keep", inputs: [x]) { $0[0].variance(alongAxes: [-1], keepingDimensions: true) },
        GradCase(name: "variance axes [0,1] unbiased", inputs: [x]) { $0[0].variance(alongAxes: [0, 1], unbiased: true) },
        GradCase(name: "max all", inputs: [d([2, 3, 4], 51)]) { $0[0].max() },
        GradCase(name: "max axes [0,2]", inputs: [d([2, 3, 4], 52)]) { $0[0].max(alongAxes: [0, 2]) },
        GradCase(name: "max axis -1 keep", inputs: [d([2, 3, 4], 53)]) { $0[0].max(alongAxes: [-1], keepingDimensions: true) },
        GradCase(name: "min axes [1] ", inputs: [d([2, 3, 4], 54)]) { $0[0].min(alongAxes: [1]) },
        GradCase(name: "min axes [-3,-1] keep", inputs: [d([2, 3, 4], 55)]) { $0[0].min(alongAxes: [-3, -1], keepingDimensions: true) },
        GradCase(name: "logSumExp axis 1", inputs: [x * 3]) { $0[0].logSumExp(alongAxes: [1]) },
        GradCase(name: "logSumExp axes [0,-1] keep", inputs: [x * 3]) { $0[0].logSumExp(alongAxes: [0, -1], keepingDimensions: true) },
        GradCase(name: "reduced(toShape:) [2,3,4]->[3,1]", inputs: [x]) { $0[0].reduced(toShape: [3, 1]) },
        GradCase(name: "reduced(toShape:) [2,3,4]->[1,3,4]", inputs: [x]) { $0[0].reduced(toShape: [1, 3, 4]) },
    ]

    @Test(arguments: cases) func gradient(_ c: GradCase) { checkGradients(at: c.inputs, checker: c.checker, c.function) }
    @Test(arguments: cases) func secondOrder(_ c: GradCase) { checkSecondOrderGradients(at: c.inputs, checker: c.checker, c.function) }

    /// Swapping the last two axes goes matrix by matrix in 4 × 4 tiles (a matrix in 32 × 32
    /// blocks of them): every shape, with and without partial tiles and blocks, and any thread
    /// count, must give the definition's order.
    @Test(arguments: [[3, 7, 10], [2, 2, 4, 9], [5, 8, 8], [64, 17, 64], [2, 1, 3], [70, 45], [3, 5]])
    func swappingTheLastTwoAxesMatchesTheDefinition(_ shape: [Int]) {
        var generator = SeededGenerator(seed: 78)
        let x = Tensor.randomNormal(shape, using: &generator)
        let (rows, columns) = (shape[shape.count - 2], shape[shape.count - 1]), size = rows * columns
        var expected = [Float](repeating: 0, count: x.count)
        for m in 0..<(x.count / size) {
            for r in 0..<rows { for c in 0..<columns { expected[m * size + c * rows + r] = x.scalars[m * size + r * columns + c] } }
        }
        for threads in [1, 2, 3] {
            let y = Parallelism.withThreads(threads) { x.transposed }
            #expect(y.shape == Array(shape.dropLast(2)) + [columns, rows] && y.scalars == expected)
        }
    }

    /// `subsampled` is the two gathers ResNet's shortcut used to make, in one pass, and its
    /// gradient their adjoint, at odd sizes and any thread count.
    @Test(arguments: [(2, 2), (3, 2), (1, 4)])
    func subsamplingEqualsGatheringRowsThenColumns(_ stride: (Int, Int)) {
        var generator = SeededGenerator(seed: 82)
        let x = Tensor.randomNormal([16, 8, 33, 30], using: &generator)
        let rows = Array(Swift.stride(from: 0, to: 33, by: stride.0)), columns = Array(Swift.stride(from: 0, to: 30, by: stride.1))
        let expected = x.gathering(rows, alongAxis: 2).gathering(columns, alongAxis: 3)
        let g = Tensor.randomNormal(expected.shape, using: &generator)
        let expectedGradient = g.scatteringAdd(columns, alongAxis: 3, extent: 30).scatteringAdd(rows, alongAxis: 2, extent: 33)
        for threads in [1, 2, 3] {
            Parallelism.withThreads(threads) {
                #expect(x.subsampled(by: stride) == expected)
                #expect(g.spreadingOut(by: stride, into: x.shape) == expectedGradient)
            }
        }
    }

    /// ResNet's option-A shortcut takes every second row and column; at that size the gather
    /// and its adjoint run split over the outer slices, and must equal the element-by-element
    /// definition at any thread count.
    @Test func stridedGatherAndScatterMatchTheirDefinition() {
        var generator = SeededGenerator(seed: 77)
        let x = Tensor.randomNormal([16, 8, 32, 32], using: &generator)
        let columns = Array(stride(from: 0, to: 32, by: 2)), repeated = [3, 0, 3, 31, 3]
        var expectedGather = [Float](), expectedScatter = [Float](repeating: 0, count: 16 * 8 * 32 * 32)
        for o in 0..<(16 * 8 * 32) {
            for column in columns { expectedGather.append(x.scalars[o * 32 + column]) }
            for (j, column) in repeated.enumerated() { expectedScatter[o * 32 + column] += x.scalars[o * 32 + j] }
        }
        let slices = x.sliced(alongAxis: 3, 0..<5)
        for threads in [1, 2, 3] {
            Parallelism.withThreads(threads) {
                #expect(x.gathering(columns, alongAxis: 3).scalars == expectedGather)
                #expect(slices.scatteringAdd(repeated, alongAxis: 3, extent: 32).scalars == expectedScatter)
            }
        }
    }

    @Test func forwardValues() {
        let t = Tensor(shape: [2, 3], scalars: [1, 5, 3, 4, 2, 6])
        #expect(t.sum().item == 21)
        #expect(t.sum(alongAxis: 0).scalars == [5, 7, 9])
        #expect(t.sum(alongAxis: -1, keepingDimensions: true).shape == [2, 1])
        #expect(t.sum(alongAxis: -1, keepingDimensions: true).scalars == [9, 12])
        #expect(t.mean(alongAxis: 1).scalars == [3, 4])
        #expect(t.max(alongAxes: [1]).scalars == [5, 6])
        #expect(t.min(alongAxes: [0]).scalars == [1, 2, 3])
        #expect(t.max().shape == [] && t.max().item == 6)
        #expect(t.argmax(alongAxis: 1) == [1, 2])
        #expect(t.argmax(alongAxis: 0) == [1, 0, 1])
        #expect(Tensor([3, 7, 7, 1]).argmax(alongAxis: 0) == [1])
        // variance of [1, 5, 3] = 8/3 (biased), 4 (unbiased)
        expectClose(t.variance(alongAxes: [1]), Tensor([8.0 / 3, 8.0 / 3]))
        expectClose(t.variance(alongAxes: [1], unbiased: true), Tensor([4, 4]))
        // Non-adjacent axes: [2,3,4] sum over 0 and 2
        let r = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        let expectedSums: [Float] = [60, 92, 124]  // r[j,k,i] = 12j + 4k + i summed over j, i: 32k + 60
        #expect(r.sum(alongAxes: [0, 2]).scalars == expectedSums)
    }

    @Test func logSumExpIsStableAndCorrect() {
        let t = Tensor([[1000, 1000], [-1000, -1001]])
        let l = t.logSumExp(alongAxes: [1])
        expectClose(l, Tensor([1000 + 0.6931472, -1000 + 0.3132617]), relative: 1e-6)
        let small = Tensor([[0.1, 0.2, 0.3]])
        let expected = Float(Foundation.log(exp(0.1) + exp(0.2) + exp(0.3)))
        expectClose(small.logSumExp(alongAxes: [-1]), Tensor([expected]))
        #expect(Tensor([-.infinity, -.infinity]).logSumExp(alongAxes: [0]).item == -.infinity)
    }

    @Test func maxGradientIsSharedOnTies() {
        let x = Tensor([1, 3, 3, 2]).trackingGradients()
        #expect(gradients(of: x.max(), withRespectTo: [x])[0].scalars == [0, 0.5, 0.5, 0])
    }
}

@Suite struct ShapeTests {
    static let x = u([2, 3, 4], 60)
    static let cases: [GradCase] = [
        GradCase(name: "reshaped", inputs: [x]) { $0[0].reshaped(to: [4, 6]) },
        GradCase(name: "reshaped -1", inputs: [x]) { $0[0].reshaped(to: [3, -1]) },
        GradCase(name: "flattened", inputs: [x]) { $0[0].flattened() },
        GradCase(name: "broadcast [3,1]->[2,3,4]", inputs: [u([3, 1], 61)]) { $0[0].broadcast(to: [2, 3, 4]) },
        GradCase(name: "permuted [2,0,1]", inputs: [x]) { $0[0].permuted([2, 0, 1]) },
        GradCase(name: "permuted [1,0] (2-D fast path)", inputs: [u([3, 5], 62)]) { $0[0].permuted([1, 0]) },
        GradCase(name: "transposed", inputs: [x]) { $0[0].transposed },
        GradCase(name: "sliced axis 1", inputs: [x]) { $0[0].sliced(alongAxis: 1, 1..<3) },
        GradCase(name: "sliced axis -1", inputs: [x]) { $0[0].sliced(alongAxis: -1, 0..<2) },
        GradCase(name: "padded axis 2", inputs: [x]) { $0[0].padded(alongAxis: 2, before: 1, after: 2, value: 0.5) },
        GradCase(name: "padded all axes", inputs: [u([2, 3], 63)]) { $0[0].padded([(1, 0), (2, 1)]) },
        GradCase(name: "concatenating axis 1", inputs: [u([2, 1, 4], 64), u([2, 3, 4], 65), u([2, 2, 4], 66)]) {
            Tensor.concatenating($0, alongAxis: 1)
        },
        GradCase(name: "concatenating axis -1", inputs: [u([2, 3], 67), u([2, 2], 68)]) { Tensor.concatenating($0, alongAxis: -1) },
        GradCase(name: "stacking axis 0", inputs: [u([2, 3], 69), u([2, 3], 70)]) { Tensor.stacking($0) },
        GradCase(name: "stacking axis 2", inputs: [u([2, 3], 71), u([2, 3], 72), u([2, 3], 73)]) { Tensor.stacking($0, alongAxis: 2) },
        GradCase(name: "gathering with repeats", inputs: [x]) { $0[0].gathering([2, 0, 2, 1], alongAxis: 1) },
        GradCase(name: "gathering axis -1", inputs: [x]) { $0[0].gathering([3, 3, 0], alongAxis: -1) },
        GradCase(name: "scatteringAdd", inputs: [u([2, 3, 2], 74)]) { $0[0].scatteringAdd([4, 0, 4], alongAxis: 1, extent: 5) },
        GradCase(name: "scatteringAdd axis -1", inputs: [u([2, 3], 76)]) { $0[0].scatteringAdd([1, 3, 1], alongAxis: -1, extent: 4) },
        GradCase(name: "takingElements", inputs: [x]) { $0[0].takingElements([5, 0, 23, 5, 11, 7], shape: [2, 3]) },
        GradCase(name: "scatteringElements", inputs: [u([2, 3], 75)]) { $0[0].scatteringElements([5, 0, 9, 5, 11, 7], into: [3, 4]) },
        GradCase(name: "transposed rank 3", inputs: [u([2, 5, 6], 79)]) { $0[0].transposed },
        GradCase(name: "subsampled by 2", inputs: [u([2, 2, 5, 4], 80)]) { $0[0].subsampled(by: (2, 2)) },
        GradCase(name: "subsampled by (3, 1)", inputs: [u([1, 2, 7, 3], 81)]) { $0[0].subsampled(by: (3, 1)) },
        GradCase(name: "mixed chain", inputs: [x]) { t in
            (t[0].permuted([1, 2, 0]).reshaped(to: [3, 8]).sliced(alongAxis: 1, 2..<7) * t[0].sum(alongAxes: [0, 2]).reshaped(to: [3, 1])).tanh()
        },
    ]

    @Test(arguments: cases) func gradient(_ c: GradCase) { checkGradients(at: c.inputs, checker: c.checker, c.function) }
    @Test(arguments: cases) func secondOrder(_ c: GradCase) {
        checkSecondOrderGradients(at: c.inputs, checker: c.checker, c.function)
    }

    @Test func forwardValues() {
        let t = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        #expect(t.transposed.shape == [3, 2] && t.transposed.scalars == [0, 3, 1, 4, 2, 5])
        let r = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        let p = r.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        for i in 0..<4 { for j in 0..<2 { for k in 0..<3 { #expect(element(p, [i, j, k]) == element(r, [j, k, i])) } } }
        #expect(r.transposed.shape == [2, 4, 3] && element(r.transposed, [1, 3, 2]) == element(r, [1, 2, 3]))
        #expect(t.sliced(alongAxis: 1, 1..<3).scalars == [1, 2, 4, 5])
        #expect(t.padded(alongAxis: 1, before: 1, after: 0, value: 9).scalars == [9, 0, 1, 2, 9, 3, 4, 5])
        #expect(t.padded(alongAxis: 0, before: 0, after: 1).scalars == [0, 1, 2, 3, 4, 5, 0, 0, 0])
        #expect(Tensor.concatenating([t, Tensor([[6], [7]])], alongAxis: 1).scalars == [0, 1, 2, 6, 3, 4, 5, 7])
        #expect(Tensor.stacking([Tensor([1, 2]), Tensor([3, 4])], alongAxis: 1).scalars == [1, 3, 2, 4])
        #expect(Tensor.stacking([Tensor([1, 2]), Tensor([3, 4])], alongAxis: 1).shape == [2, 2])
        #expect(t.gathering([2, 2, 0], alongAxis: 1).scalars == [2, 2, 0, 5, 5, 3])
        #expect(Tensor([[1, 2], [3, 4]]).scatteringAdd([2, 2], alongAxis: 0, extent: 3).scalars == [0, 0, 0, 0, 4, 6])
        #expect(t.takingElements([5, 0, 5], shape: [3]).scalars == [5, 0, 5])
        #expect(Tensor([1, 2, 3]).scatteringElements([1, 1, 0], into: [2]).scalars == [3, 3])
        #expect(t.reshaped(to: [-1]).shape == [6] && t.flattened(fromAxis: 0).shape == [6])
        #expect(Tensor([1, 2]).broadcast(to: [2, 2]).scalars == [1, 2, 1, 2])
        #expect(Tensor.oneHot([2, 0], classCount: 3).scalars == [0, 0, 1, 1, 0, 0])
    }
}
