import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import Testing

@Suite("rho-sharpness and landscapes")
struct SharpnessTests {
    @Test("one-step sharpness of a quadratic is ρ‖g‖ + ½ρ² gᵀHg/‖g‖²")
    func oneStepQuadratic() {
        let h: [Float] = [1, 2, 10]
        let loss = quadratic(diagonal(h), at: [1, 1, 1])
        let rho: Float = 0.1
        // g = Hw = (1, 2, 10), ‖g‖² = 105, gᵀHg = 1 + 8 + 1000.
        let expected = rho * Float(105).squareRoot() + 0.5 * rho * rho * 1009 / 105
        let s = RhoSharpness.oneStep(of: loss, rho: rho)
        expectClose(s.value, expected, relative: 1e-4)
        expectClose(s.perturbationNorm, rho, relative: 1e-5)
    }

    @Test("sharpness is non-negative and the worst case is at least the one-step value")
    func nonNegative() {
        let problem = TinyProblem()
        let loss = problem.loss
        let one = RhoSharpness.oneStep(of: loss, rho: 0.05)
        let worst = RhoSharpness.worstCase(of: loss, rho: 0.05, steps: 5)
        let adaptive = RhoSharpness.adaptive(of: loss, rho: 0.5)
        #expect(one.value >= 0)
        #expect(worst.value >= one.value - 1e-6)
        #expect(worst.perturbationNorm <= 0.05 * (1 + 1e-4))
        #expect(adaptive.value >= 0)
        // m-sharpness with chunks of 4 samples.
        let b = problem.batch
        let chunks = stride(from: 0, to: 12, by: 4).map { s in
            Batch(images: b.images.sliced(alongAxis: 0, s..<(s + 4)), labels: Array(b.labels[s..<(s + 4)]), indices: Array(s..<(s + 4)))
        }
        let m = RhoSharpness.mSharpness(of: LossFunction.crossEntropy(problem.model, batches: chunks), rho: 0.05)
        #expect(m >= 0)
        // For a convex quadratic every measure is positive away from the minimum.
        let q = quadratic(diagonal([1, 2, 10]), at: [0.2, -0.4, 0.1])
        #expect(RhoSharpness.worstCase(of: q, rho: 0.1, steps: 10).value > 0)
    }

    @Test("a flat function (constant, zero gradient) has zero sharpness of every kind")
    func flatFunction() {
        let point = ParameterSet([("w", Tensor([0.5, -2, 3]))])
        let constant = LossFunction(at: point) { p in p["w"]!.sum() * 0 + 1.25 }
        #expect(RhoSharpness.oneStep(of: constant, rho: 0.05).value == 0)
        #expect(RhoSharpness.worstCase(of: constant, rho: 0.05, steps: 4).value == 0)
        #expect(RhoSharpness.adaptive(of: constant).value == 0)
        #expect(RhoSharpness.mSharpness(of: constant) == 0)
        // At the minimum of a quadratic the gradient is zero: one-step sharpness is 0.
        #expect(RhoSharpness.oneStep(of: quadratic(diagonal([1, 2]), at: [0, 0]), rho: 0.1).value == 0)
    }

    @Test("filter normalization: each direction filter has its weight filter's norm; biases are zero")
    func filterNormalization() {
        var g = SeededGenerator(seed: 12)
        let model = MLP(sizes: [4, 8, 3], using: &g)
        let weights = model.parameters
        let d = FilterNormalization.randomDirection(like: weights, using: &g)
        for key in weights.keys {
            let w = weights[key]!, v = d[key]!
            if w.rank <= 1 {
                #expect(v.scalars.allSatisfy { $0 == 0 }, "\(key) should be zero")
                continue
            }
            let size = w.count / w.shape[0]
            for f in 0..<w.shape[0] {
                let wn = w.scalars[(f * size)..<((f + 1) * size)].reduce(0) { $0 + $1 * $1 }.squareRoot()
                let dn = v.scalars[(f * size)..<((f + 1) * size)].reduce(0) { $0 + $1 * $1 }.squareRoot()
                expectClose(dn, wn, relative: 1e-5)
            }
        }
        // A 4-D conv weight: filters are output channels.
        let conv = ParameterSet([("conv.weight", Tensor.randomNormal([3, 2, 3, 3], using: &g)), ("bn.weight", Tensor.ones([3]))])
        let dc = FilterNormalization.randomDirection(like: conv, using: &g)
        let w = conv["conv.weight"]!.sliced(alongAxis: 0, 1..<2), v = dc["conv.weight"]!.sliced(alongAxis: 0, 1..<2)
        expectClose(v.norm().item, w.norm().item, relative: 1e-5)
        #expect(dc["bn.weight"]!.scalars == [0, 0, 0])
    }

    @Test("the landscape at the origin equals the loss")
    func landscapeOrigin() {
        let loss = TinyProblem().loss
        var g = SeededGenerator(seed: 13)
        let d1 = FilterNormalization.randomDirection(like: loss.parameters, using: &g)
        let d2 = FilterNormalization.randomDirection(like: loss.parameters, using: &g)
        let alphas = LossLandscape.grid(-1...1, count: 5)
        #expect(alphas == [-1, -0.5, 0, 0.5, 1])
        let line = LossLandscape.line(of: loss, direction: d1, alphas: alphas)
        #expect(line[2] == loss.value())
        var calls = 0
        let plane = LossLandscape.plane(of: loss, directions: (d1, d2), alphas: alphas, betas: alphas) { done, total in
            calls += 1
            #expect(done <= total)
        }
        #expect(calls == 25)
        #expect(plane[2][2] == loss.value())
        #expect(plane[2] == line)  // β = 0 is the 1-D line
    }

    @Test("BatchNorm re-estimation averages batch statistics; interpolation hits the endpoints")
    func modeConnectivity() {
        var g = SeededGenerator(seed: 14)
        var net = Sequential([Linear(inputCount: 3, outputCount: 2, using: &g), BatchNorm(featureCount: 2)])
        let x1 = Tensor.randomNormal([6, 3], using: &g), x2 = Tensor.randomNormal([4, 3], using: &g)
        let re = ModeConnectivity.reestimatingBatchNorm(net, on: [x1, x2])
        // The expected mean: the pre-BN activations' mean over the 10 samples.
        let linear = net.stateDictionary
        let z = Tensor.concatenating([x1, x2], alongAxis: 0).matmul(linear["0.weight"]!, transposingOther: true) + linear["0.bias"]!
        let expectedMean = z.mean(alongAxes: [0])
        for (a, b) in zip(re.buffers["1.running_mean"]!.scalars, expectedMean.scalars) { expectClose(a, b, relative: 1e-4, absolute: 1e-5) }
        // Variance: the batch-size-weighted mean of the unbiased per-batch variances.
        let z1 = z.sliced(alongAxis: 0, 0..<6), z2 = z.sliced(alongAxis: 0, 6..<10)
        let v = (z1.variance(alongAxes: [0], unbiased: true) * 6 + z2.variance(alongAxes: [0], unbiased: true) * 4) * 0.1
        for (a, b) in zip(re.buffers["1.running_var"]!.scalars, v.scalars) { expectClose(a, b, relative: 1e-4, absolute: 1e-5) }
        #expect(re.parameters == net.parameters)

        net.setTraining(false)
        let other = Sequential([Linear(inputCount: 3, outputCount: 2, using: &g), BatchNorm(featureCount: 2)])
        #expect(ModeConnectivity.interpolated(from: net, to: other, alpha: 0).parameters == net.parameters)
        #expect(ModeConnectivity.interpolated(from: net, to: other, alpha: 1).parameters == other.parameters)
        let path = ModeConnectivity.path(from: net, to: other, alphas: [0, 0.5, 1], reestimatingOn: [x1]) { m in
            var m = m.training(false)
            return PlateauNN.crossEntropy(logits: m(x1), labels: [0, 1, 0, 1, 0, 1]).item
        }
        #expect(path.count == 3 && path.allSatisfy(\.isFinite))
    }
}
