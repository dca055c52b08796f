import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import Testing

@Suite("Hessian spectrum")
struct HessianSpectrumTests {
    @Test("power iteration with deflation finds the eigenvalues of a diagonal Hessian")
    func powerIterationDiagonal() {
        // ½ wᵀ diag(1, 2, 10, 0.5) w: H is the diagonal at every w.
        let loss = quadratic(diagonal([1, 2, 10, 0.5]), at: [0.3, -1, 2, 0.1])
        var g = SeededGenerator(seed: 3)
        let top = HessianEigenvalues.top(3, of: loss, tolerance: 1e-6, maximumIterations: 300, using: &g)
        expectClose(top[0].value, 10, relative: 1e-4)
        expectClose(top[1].value, 2, relative: 1e-3)
        expectClose(top[2].value, 1, relative: 1e-3)
        #expect(top[0].converged)
        // The top eigenvector is ±e_3.
        expectClose(Swift.abs(top[0].vector["w"]!.scalars[2]), 1, relative: 1e-3)
    }

    @Test("power iteration on a non-diagonal quadratic: [[2,1],[1,2]] has eigenvalues 3 and 1")
    func powerIterationDense() {
        let loss = quadratic([[2, 1], [1, 2]], at: [1, 0])
        var g = SeededGenerator(seed: 4)
        let top = HessianEigenvalues.top(2, of: loss, tolerance: 1e-7, maximumIterations: 200, using: &g)
        expectClose(top[0].value, 3, relative: 1e-4)
        expectClose(top[1].value, 1, relative: 1e-3)
    }

    @Test("the Hessian operator gives one-off products bit for bit, whichever pieces its memory budget keeps")
    func hessianOperatorKeepsPiecesWithinItsBudget() {
        var g = SeededGenerator(seed: 9)
        let model = MLP(sizes: [4, 8, 3], using: &g)
        let batches = (0..<3).map { b in
            Batch(images: Tensor.randomNormal([5 + b, 4], using: &g), labels: (0..<(5 + b)).map { $0 % 3 }, indices: Array(0..<(5 + b)))
        }
        let loss = LossFunction.crossEntropy(model, batches: batches)
        let v = loss.parameters.map { Tensor.randomNormal($0.shape, using: &g) }
        let oneOff = loss.hessianVectorProduct(along: v)
        let all = HessianOperator(loss)
        #expect(all.linearizedPieceCount == 3)
        #expect(HessianOperator(loss, memoryBudget: 0).linearizedPieceCount == 0)
        var unrecorded = loss
        unrecorded.hessianMemoryBudget = 0  // the estimators' default comes from the loss
        #expect(HessianOperator(unrecorded).linearizedPieceCount == 0)
        let first = loss.pieces[0]
        let onePiece = HessianLinearization(at: loss.parameters.values) { p in
            first.evaluate(ParameterSet(Array(zip(loss.parameters.keys, p)))).sum()
        }.recordedBytes
        // A budget that the first recording fits and the second overflows.
        let partial = HessianOperator(loss, memoryBudget: onePiece + onePiece / 2)
        #expect(partial.linearizedPieceCount == 1)
        for hessian in [all, partial] {
            let product = hessian.product(along: v)
            for key in loss.parameters.keys { #expect(product[key]! == oneOff[key]!) }
        }
    }

    @Test("Lanczos finds the exact spectrum of a quadratic")
    func lanczosQuadratic() {
        let loss = quadratic(diagonal([1, 2, 10, 0.5, 4]), at: [1, 1, 1, 1, 1])
        var g = SeededGenerator(seed: 5)
        let top = HessianLanczos.top(5, of: loss, using: &g)
        for (found, expected) in zip(top, [10, 4, 2, 1, 0.5] as [Float]) { expectClose(found, expected, relative: 1e-4) }
    }

    @Test("Lanczos agrees with power iteration on an MLP 4-8-3")
    func lanczosAgreesWithPowerIteration() {
        let loss = TinyProblem().loss
        var g1 = SeededGenerator(seed: 6), g2 = SeededGenerator(seed: 7)
        let power = HessianEigenvalues.top(2, of: loss, tolerance: 1e-6, maximumIterations: 500, using: &g1).map(\.value)
        let lanczos = HessianLanczos.top(2, of: loss, tolerance: 1e-6, using: &g2)
        #expect(power[0] > 0)
        expectClose(lanczos[0], power[0], relative: 1e-3)
        expectClose(lanczos[1], power[1], relative: 1e-2)
    }

    @Test("Hutchinson's trace is exact for a diagonal Hessian and close for a dense one")
    func hutchinsonTrace() {
        var g = SeededGenerator(seed: 8)
        let diagonalTrace = HessianTrace(of: quadratic(diagonal([1, 2, 10, 0.5]), at: [0, 0, 0, 0]), using: &g)
        expectClose(diagonalTrace.value, 13.5, relative: 1e-6)
        #expect(diagonalTrace.samples.allSatisfy { Swift.abs($0 - 13.5) < 1e-4 })
        // vᵀ A v = 4 + 2 v1 v2 for A = [[2,1],[1,2]]: mean 4, each sample 2 or 6.
        let dense = HessianTrace(of: quadratic([[2, 1], [1, 2]], at: [0, 0]), tolerance: 0, maximumIterations: 400, using: &g)
        #expect(dense.samples.allSatisfy { Swift.abs($0 - 2) < 1e-4 || Swift.abs($0 - 6) < 1e-4 })
        #expect(Swift.abs(dense.value - 4) < 4 * dense.standardError + 1e-3)
    }

    @Test("the spectral density's nodes lie in the spectrum and its weights sum to 1")
    func spectralDensity() {
        let loss = quadratic(diagonal([1, 2, 10, 0.5, 4, 3]), at: [1, 1, 1, 1, 1, 1])
        var g = SeededGenerator(seed: 9)
        let density = HessianSpectralDensity(of: loss, iterations: 6, runs: 3, using: &g)
        expectClose(Float(density.weights.reduce(0, +)), 1, relative: 1e-5)
        #expect(density.nodes.allSatisfy { $0 > 0.5 - 1e-4 && $0 < 10 + 1e-4 })
        // With m = n the quadrature is exact: Σ τ θ = mean over runs of vᵀHv/‖v‖² = tr(H)/n.
        let mean = zip(density.nodes, density.weights).reduce(0.0) { $0 + $1.0 * $1.1 }
        #expect(Swift.abs(mean - 20.5 / 6) < 1e-3)
        #expect(density.density(gridCount: 50).count == 50)
        #expect(density.runLengths == [6, 6, 6])
    }

    @Test("a dataset loss averages its batches by size: HVP of 8+4 samples equals the 12-sample HVP")
    func datasetAverage() {
        let problem = TinyProblem()
        let whole = problem.loss
        let b = problem.batch
        let parts = [
            Batch(images: b.images.sliced(alongAxis: 0, 0..<8), labels: Array(b.labels[0..<8]), indices: Array(0..<8)),
            Batch(images: b.images.sliced(alongAxis: 0, 8..<12), labels: Array(b.labels[8..<12]), indices: Array(8..<12)),
        ]
        let split = LossFunction.crossEntropy(problem.model, batches: parts)
        var g = SeededGenerator(seed: 10)
        let v = whole.parameters.map { Tensor.randomNormal($0.shape, using: &g) }
        let a = whole.hessianVectorProduct(along: v), c = split.hessianVectorProduct(along: v)
        for key in a.keys {
            for (x, y) in zip(a[key]!.scalars, c[key]!.scalars) { expectClose(y, x, relative: 1e-4, absolute: 1e-5) }
        }
        expectClose(split.value(), whole.value(), relative: 1e-6)
    }

    @Test("per-group eigenvalues use the Hessian block of each group")
    func perGroup() {
        // Two independent parameters: f = ½(3a² + 7b²) (a, b vectors) → blocks 3 and 7.
        let point = ParameterSet([("x.a", Tensor([1, 2])), ("y.b", Tensor([0.5]))])
        let loss = LossFunction(at: point) { p in (p["x.a"]!.square().sum() * 1.5) + (p["y.b"]!.square().sum() * 3.5) }
        var g = SeededGenerator(seed: 11)
        let groups = ParameterGroups.layers(of: point)
        #expect(groups.map(\.name) == ["x", "y"])
        let result = HessianEigenvalues.perGroup(of: loss, groups: groups, using: &g)
        expectClose(result[0].eigenvalue, 3, relative: 1e-4)
        expectClose(result[1].eigenvalue, 7, relative: 1e-4)
    }
}
