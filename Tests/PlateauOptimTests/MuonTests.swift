import Foundation
import Testing
import PlateauTensor
@testable import PlateauOptim

/// The singular values of a [rows, cols] matrix: square roots of the eigenvalues of its
/// smaller Gram matrix, by cyclic Jacobi rotations in double precision.
func singularValues(_ m: Tensor) -> [Double] {
    let rows = m.shape[0], columns = m.shape[1], v = m.scalars.map(Double.init)
    let n = min(rows, columns)
    var a = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n { for j in 0..<n {
        a[i][j] = rows <= columns
            ? (0..<columns).reduce(0) { $0 + v[i * columns + $1] * v[j * columns + $1] }
            : (0..<rows).reduce(0) { $0 + v[$1 * columns + i] * v[$1 * columns + j] }
    } }
    for _ in 0..<50 {
        for p in 0..<n { for q in (p + 1)..<max(n, p + 1) where abs(a[p][q]) > 1e-15 {
            let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
            let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
            let c = 1 / (t * t + 1).squareRoot(), s = t * c
            for k in 0..<n {
                let (akp, akq) = (a[k][p], a[k][q])
                a[k][p] = c * akp - s * akq
                a[k][q] = s * akp + c * akq
            }
            for k in 0..<n {
                let (apk, aqk) = (a[p][k], a[q][k])
                a[p][k] = c * apk - s * aqk
                a[q][k] = s * apk + c * aqk
            }
        } }
    }
    return (0..<n).map { max(a[$0][$0], 0).squareRoot() }.sorted()
}

@Test(arguments: [[6, 6], [10, 4], [4, 10], [16, 12], [3, 20]])
func newtonSchulzSingularValuesLandInHalfToThreeHalves(shape: [Int]) {
    var generator = SeededGenerator(seed: 7)
    for _ in 0..<3 {
        let m = Tensor.randomNormal(shape, using: &generator)
        let o = Muon.orthogonalized(m)
        #expect(o.shape == shape)
        let values = singularValues(o)
        #expect(values.allSatisfy { $0 >= 0.5 && $0 <= 1.5 }, "\(shape): \(values)")
    }
}

@Test func nuclearNormEstimateMatchesAKnownSpectrum() {
    // diag(3, 1, 0.5) padded to 3×5, rotated by nothing: ‖·‖_* = 4.5.
    var values = [Float](repeating: 0, count: 15)
    (values[0], values[6], values[12]) = (3, 1, 0.5)
    let estimate = Muon.nuclearNorm(Tensor(shape: [3, 5], scalars: values))
    #expect(abs(estimate - 4.5) < 0.02, "\(estimate)")
    var generator = SeededGenerator(seed: 3)
    let random = Tensor.randomNormal([9, 5], using: &generator)
    let exact = singularValues(random).reduce(0, +)
    #expect(abs(Muon.nuclearNorm(random) - exact) < 0.01 * exact)
}

/// NS₅ in double precision with loops, written from the formulas (no Tensor ops).
func referenceNewtonSchulz(_ g: [[Double]]) -> [[Double]] {
    let tall = g.count > g[0].count
    var x = tall ? (0..<g[0].count).map { j in g.map { $0[j] } } : g
    let norm = x.joined().reduce(0) { $0 + $1 * $1 }.squareRoot()
    x = x.map { $0.map { $0 / (norm + 1e-7) } }
    func mul(_ p: [[Double]], _ q: [[Double]]) -> [[Double]] {
        p.map { row in (0..<q[0].count).map { j in (0..<q.count).reduce(0) { $0 + row[$1] * q[$1][j] } } }
    }
    for _ in 0..<5 {
        let xt = (0..<x[0].count).map { j in x.map { $0[j] } }
        let a = mul(x, xt), aa = mul(a, a)
        let b = zip(a, aa).map { zip($0, $1).map { -4.7750 * $0 + 2.0315 * $1 } }
        let bx = mul(b, x)
        x = zip(x, bx).map { zip($0, $1).map { 3.4445 * $0 + $1 } }
    }
    return tall ? (0..<x[0].count).map { j in x.map { $0[j] } } : x
}

/// An MLP-shaped parameter set: first layer, two hidden matrices (one tall), head, biases.
func mlpParameters() -> ParameterSet {
    var generator = SeededGenerator(seed: 11)
    return ParameterSet([
        ("0.weight", Tensor.randomNormal([3, 2], using: &generator)), ("0.bias", Tensor.randomNormal([3], using: &generator)),
        ("1.weight", Tensor.randomNormal([4, 3], using: &generator)), ("1.bias", Tensor.randomNormal([4], using: &generator)),
        ("2.weight", Tensor.randomNormal([3, 4], using: &generator)),
        ("3.weight", Tensor.randomNormal([2, 3], using: &generator)), ("3.bias", Tensor.randomNormal([2], using: &generator)),
    ])
}

func mlpGradient(_ step: Int) -> ParameterSet {
    var generator = SeededGenerator(seed: UInt64(100 + step))
    return mlpParameters().map { Tensor.randomNormal($0.shape, using: &generator) }
}

@Test func hiddenMatricesExcludeFirstLastAndNonWeights() {
    #expect(Muon.hiddenMatrices(of: mlpParameters()) == ["1.weight", "2.weight"])
    let vit = ParameterSet([
        ("class_token", Tensor.zeros([1, 1, 4])), ("patch.weight", Tensor.zeros([4, 1, 2, 2])), ("pos_embedding", Tensor.zeros([1, 5, 4])),
        ("attn.in_proj_weight", Tensor.zeros([12, 4])), ("conv.weight", Tensor.zeros([4, 4, 3, 3])), ("head.weight", Tensor.zeros([10, 4])),
    ])
    #expect(Muon.hiddenMatrices(of: vit) == ["attn.in_proj_weight", "conv.weight"])
}

@Test func muonStepMatchesLoopComputedUpdate() {
    let (lr, beta, wd) = (Float(0.02), 0.95, 0.1)
    var muon = Muon(learningRate: lr, momentum: Float(beta), weightDecay: Float(wd))
    var parameters = mlpParameters()
    var expected = parameters["1.weight"]!.scalars.map(Double.init)
    var buffer = [Double](repeating: 0, count: 12)
    for step in 0..<2 {
        let g = mlpGradient(step)["1.weight"]!.scalars.map(Double.init)
        buffer = zip(buffer, g).map { beta * $0 + (1 - beta) * $1 }
        let u = zip(g, buffer).map { (1 - beta) * $0 + beta * $1 }
        let o = referenceNewtonSchulz((0..<4).map { Array(u[($0 * 3)..<($0 * 3 + 3)]) }).joined()
        let scale = (4.0 / 3.0).squareRoot()  // tall [4, 3]: √max(1, rows/cols)
        expected = zip(expected, o).map { $0 * (1 - Double(lr) * wd) - Double(lr) * scale * $1 }
        muon.update(&parameters, along: mlpGradient(step))
    }
    let actual = parameters["1.weight"]!.scalars
    #expect(zip(actual, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "\(actual) vs \(expected)")
    #expect(muon.state.tensors["momentum_buffer.1.weight"] != nil)
}

@Test func nonMatrixParametersTakeAdamWSteps() {
    var muon = Muon(learningRate: 0.04, weightDecay: 0.1, adamLearningRate: 1e-3)
    muon.learningRate = 0.02  // a schedule halving η halves AdamW's rate too
    var adamW = AdamW(learningRate: 5e-4, beta1: 0.9, beta2: 0.95, epsilon: 1e-10, weightDecay: 0.1)
    var parameters = mlpParameters()
    let others = ["0.weight", "0.bias", "1.bias", "3.weight", "3.bias"]
    var reference = parameters.filter { others.contains($0) }
    for step in 0..<3 {
        muon.update(&parameters, along: mlpGradient(step))
        adamW.update(&reference, along: mlpGradient(step).filter { others.contains($0) })
    }
    for key in others { #expect(parameters[key] == reference[key], "\(key)") }
    #expect(muon.state.scalars["step.0.bias"] == 3)
    #expect(muon.state.tensors["exp_avg.1.weight"] == nil)
}

@Test func lantonScalesTheNoisierLayerByTheSquareRootOfTheNoiseRatio() {
    // Two hidden layers (plus first and last). Between steps 1 and 2 the hidden gradients
    // change by D₁ = I (‖·‖_* = 2, n = 4) and D₂ = 2I (‖·‖_* = 4, n = 16): after one noise
    // sample Ĥ = n, so the scales are 1 and √(4/16) = 1/2.
    func parameters() -> ParameterSet {
        ParameterSet([("0.weight", Tensor.ones([2, 2])), ("1.weight", Tensor.ones([2, 2])),
                      ("2.weight", Tensor.ones([2, 2])), ("3.weight", Tensor.ones([2, 2]))])
    }
    let first = ParameterSet([("0.weight", Tensor.ones([2, 2])), ("1.weight", Tensor([[1, 0], [0, 3]])),
                              ("2.weight", Tensor([[1, 0], [0, 3]])), ("3.weight", Tensor.ones([2, 2]))])
    let second = ParameterSet([("0.weight", Tensor.ones([2, 2])), ("1.weight", Tensor([[2, 0], [0, 4]])),
                               ("2.weight", Tensor([[3, 0], [0, 5]])), ("3.weight", Tensor.ones([2, 2]))])
    var lanton = Muon(learningRate: 0.1, noiseAdaptation: .init(beta2: 0.9))
    var muon = Muon(learningRate: 0.1)
    var p = parameters(), q = parameters()
    lanton.update(&p, along: first)
    muon.update(&q, along: first)
    #expect(p == q)  // no noise sample yet: plain Muon
    #expect(lanton.layerStatistics.map(\.scale) == [1, 1])
    let (beforeP, beforeQ) = (p, q)
    lanton.update(&p, along: second)
    muon.update(&q, along: second)
    let stats = lanton.layerStatistics
    #expect(stats.map(\.path) == ["1.weight", "2.weight"])
    #expect(abs(stats[0].noise - 4) < 0.05 && abs(stats[1].noise - 16) < 0.2, "\(stats)")
    #expect(stats[0].scale == 1 && abs(stats[1].scale - 0.5) < 0.005, "\(stats)")
    for (key, expectedScale) in [("1.weight", Float(1)), ("2.weight", stats[1].scale)] {
        let lantonStep = (p[key]! - beforeP[key]!).scalars, muonStep = (q[key]! - beforeQ[key]!).scalars
        #expect(zip(lantonStep, muonStep).allSatisfy { abs($0 - expectedScale * $1) < 1e-6 }, "\(key)")
    }
    #expect(lanton.state.scalars["noise_step.2.weight"] == 1)
    #expect(lanton.diagnostics.map(\.tag) == [
        "train/lanton_noise/1.weight", "train/lanton_lr/1.weight", "train/lanton_noise/2.weight", "train/lanton_lr/2.weight",
    ])
    #expect(lanton.diagnostics[3].value == 0.1 * stats[1].scale)
    #expect(muon.diagnostics.isEmpty)
}

/// Runs `steps` Muon updates of the MLP-shaped set from `step0`.
func runMuon(_ optimizer: inout Muon, _ parameters: inout ParameterSet, from step0: Int, steps: Int) {
    for step in step0..<(step0 + steps) { optimizer.update(&parameters, along: mlpGradient(step)) }
}

@Test(arguments: [false, true])
func muonResumesBitIdentically(lanton: Bool) throws {
    func make() -> Muon { Muon(learningRate: 0.02, weightDecay: 0.01, noiseAdaptation: lanton ? .init() : nil) }
    var optimizer = make()
    var parameters = mlpParameters()
    runMuon(&optimizer, &parameters, from: 0, steps: 3)
    let (savedState, savedParameters) = (optimizer.state, parameters)
    runMuon(&optimizer, &parameters, from: 3, steps: 3)

    var resumed = make()
    try resumed.restore(savedState)
    #expect(resumed.state == savedState)
    var resumedParameters = savedParameters
    runMuon(&resumed, &resumedParameters, from: 3, steps: 3)
    #expect(resumedParameters == parameters)
    #expect(resumed.state == optimizer.state)
    try savedState.validate(against: mlpParameters())
}

@Test func muonRestoreRejectsForeignAndIncompleteState() {
    var optimizer = Muon(noiseAdaptation: .init())
    var parameters = mlpParameters()
    runMuon(&optimizer, &parameters, from: 0, steps: 2)
    var plain = Muon()
    #expect(throws: OptimizerStateError.unexpectedKey("previous_gradient.1.weight")) { try plain.restore(optimizer.state) }
    var state = optimizer.state
    state.scalars["noise_ema.2.weight"] = nil
    var lanton = Muon(noiseAdaptation: .init())
    #expect(throws: OptimizerStateError.missingKey("noise_ema.2.weight")) { try lanton.restore(state) }
}
