import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
@testable import PlateauTraining
import Testing

/// A 2-class linear model z = W·x + b.
private func linear(_ weight: [[Float]], _ bias: [Float]) -> Linear {
    Linear(weight: Tensor(weight), bias: Tensor(bias))
}

/// Four forget rows (group 0) and four retain rows (group 1) of 3 features, 2 classes.
private func mixedBatch() -> StepBatch {
    let inputs = Tensor([[1, 0.5, -1], [0.2, 1, 0.3], [-0.4, 0.1, 1], [0.9, -0.6, 0.2],
                         [0.3, 0.3, 0.3], [-1, 0.2, 0.5], [0.6, 0.9, -0.2], [0.1, -0.8, 0.7]])
    return StepBatch(inputs: inputs, labels: [1, 1, 1, 1, 0, 1, 0, 0], indices: [0, 1, 2, 3, 0, 1, 2, 3], groups: [0, 0, 0, 0, 1, 1, 1, 1], epoch: 0)
}

private let tinyModel = linear([[0.3, -0.2, 0.5], [-0.1, 0.4, 0.2]], [0.05, -0.05])

private func maxDifference(_ a: ParameterSet, _ b: ParameterSet) -> Float {
    (a - b).values.flatMap(\.scalars).map(abs).max() ?? 0
}

@Suite struct NPOLossTests {
    /// z = (0, 0), label 0: ℓ = ln 2; with ℓ_ref = ln 2 + 1 and β = 0.1 the loss is
    /// (2/β)·softplus(β(ℓ_ref − ℓ)) = 20·ln(1 + e^0.1) and ∂/∂z = −2σ(0.1)·(softmax − onehot)
    /// = −2σ(0.1)·(−½, ½) = (σ(0.1), −σ(0.1)).
    @Test func lossAndGradientByHand() {
        let model = linear([[0, 0], [0, 0]], [0, 0])
        let reference = Float(log(2.0) + 1)
        let result = valueWithGradient(at: model) { m in
            UnlearningLosses.npo(logits: m(Tensor([[1, 0]])), labels: [0], referenceLosses: [reference], beta: 0.1).sum()
        }
        #expect(abs(result.loss.item - 20 * Float(log(1 + exp(0.1)))) < 1e-4)
        let sigma = Float(1 / (1 + exp(-0.1)))  // 0.5249792
        let bias = result.gradient["bias"]!.scalars
        #expect(abs(bias[0] - sigma) < 1e-5 && abs(bias[1] + sigma) < 1e-5)
        // The weight's gradient is the bias's times x = (1, 0).
        #expect(result.gradient["weight"]!.scalars.enumerated().allSatisfy { abs($1 - [sigma, 0, -sigma, 0][$0]) < 1e-5 })
    }

    /// At ℓ = ℓ_ref NPO's gradient is gradient ascent's: the weight 2σ(0) is 1.
    @Test func equalsGradientAscentAtTheReference() {
        let batch = mixedBatch()
        let rows = Array(0..<4)
        let images = batch.inputs.gathering(rows, alongAxis: 0), labels = rows.map { batch.labels[$0] }
        let reference = withoutGradients { crossEntropy(logits: tinyModel(images), labels: labels, reduction: .none) }.scalars
        let npo = valueWithGradient(at: tinyModel) { m in
            UnlearningLosses.npo(logits: m(images), labels: labels, referenceLosses: reference, beta: 0.1).mean()
        }
        let ascent = valueWithGradient(at: tinyModel) { m in -crossEntropy(logits: m(images), labels: labels, reduction: .mean) }
        #expect(maxDifference(npo.gradient, ascent.gradient) < 1e-6)
        #expect(abs(npo.loss.item - 20 * Float(log(2.0))) < 1e-4)  // (2/β)·ln 2
    }

    /// The autodiff gradient matches central finite differences away from the reference.
    @Test func gradientMatchesFiniteDifferences() {
        let batch = mixedBatch()
        let images = batch.inputs.gathering([0, 1, 2, 3], alongAxis: 0), labels = [1, 1, 1, 1]
        let reference: [Float] = [0.2, 1.5, 0.7, 2.0]
        func loss(_ m: Linear) -> Float {
            withoutGradients { UnlearningLosses.npo(logits: m(images), labels: labels, referenceLosses: reference, beta: 0.5).mean() }.item
        }
        let analytic = valueWithGradient(at: tinyModel) { m in
            UnlearningLosses.npo(logits: m(images), labels: labels, referenceLosses: reference, beta: 0.5).mean()
        }.gradient
        let h: Float = 1e-2
        for index in 0..<6 {
            var plus = tinyModel, minus = tinyModel
            plus.weight = Tensor(shape: [2, 3], scalars: tinyModel.weight.scalars.enumerated().map { $0 == index ? $1 + h : $1 })
            minus.weight = Tensor(shape: [2, 3], scalars: tinyModel.weight.scalars.enumerated().map { $0 == index ? $1 - h : $1 })
            let numeric = (loss(plus) - loss(minus)) / (2 * h)
            #expect(abs(numeric - analytic["weight"]!.scalars[index]) < 2e-3, "weight[\(index)]")
        }
    }
}

@Suite struct ForgetSmoothingTests {
    private func direction(_ smoothing: ForgetSmoothing, gamma: Float, method: UnlearningMethod = .npo) -> ParameterSet {
        var unlearner = Unlearner(method: method, retainWeight: gamma, smoothing: smoothing, base: SGD(learningRate: 0.1),
                                  referenceLosses: [0.3, 0.9, 0.5, 1.2], seed: 3)
        return unlearner.direction(at: tinyModel, on: mixedBatch()).direction
    }

    private func forgetLoss(_ m: inout Linear) -> Tensor {
        let batch = mixedBatch()
        let images = batch.inputs.gathering([0, 1, 2, 3], alongAxis: 0)
        return UnlearningLosses.npo(logits: m(images), labels: [1, 1, 1, 1], referenceLosses: [0.3, 0.9, 0.5, 1.2], beta: 0.1).mean()
    }

    private func retainGradient(at model: Linear) -> ParameterSet {
        let images = mixedBatch().inputs.gathering([4, 5, 6, 7], alongAxis: 0)
        return valueWithGradient(at: model) { m in crossEntropy(logits: m(images), labels: [0, 1, 0, 0], reduction: .mean) }.gradient
    }

    /// SAM perturbs the forget loss only: d = ∇ℓ_f(θ + ρĝ_f) + γ·∇ℓ_r(θ), the retain
    /// gradient taken at θ — not at θ + ε, where it differs.
    @Test func samPerturbsTheForgetLossOnly() {
        let rho: Float = 0.5, gamma: Float = 2
        let g = valueWithGradient(at: tinyModel, of: forgetLoss).gradient
        var moved = tinyModel
        moved.update(tinyModel.parameters.adding(g, scaledBy: rho / g.norm()))
        let perturbedForget = valueWithGradient(at: moved, of: forgetLoss).gradient
        let expected = perturbedForget.adding(retainGradient(at: tinyModel), scaledBy: gamma)
        let d = direction(.sam(rho: rho), gamma: gamma)
        #expect(maxDifference(d, expected) < 1e-6)
        // The retain part alone, d(γ) − d(0), is γ·∇ℓ_r(θ) exactly…
        let retainPart = (d - direction(.sam(rho: rho), gamma: 0)).scaled(by: 1 / gamma)
        #expect(maxDifference(retainPart, retainGradient(at: tinyModel)) < 1e-6)
        // …and the perturbed point would have given a different one.
        #expect(maxDifference(retainGradient(at: moved), retainGradient(at: tinyModel)) > 1e-3)
        // SAM changed the forget part.
        #expect(maxDifference(d, direction(.none, gamma: gamma)) > 1e-3)
    }

    /// gp's forget gradient is ∇(ℓ_f + λ‖∇ℓ_f‖), checked against central finite differences of that objective.
    @Test func gradientPenaltyMatchesFiniteDifferences() {
        let lambda: Float = 0.5
        func objective(_ m: Linear) -> Float {
            let result = valueWithGradient(at: m, of: forgetLoss)
            return result.loss.item + lambda * result.gradient.norm()
        }
        let d = direction(.gradientPenalty(lambda: lambda), gamma: 0)
        let h: Float = 1e-2
        for index in 0..<6 {
            var plus = tinyModel, minus = tinyModel
            plus.weight = Tensor(shape: [2, 3], scalars: tinyModel.weight.scalars.enumerated().map { $0 == index ? $1 + h : $1 })
            minus.weight = Tensor(shape: [2, 3], scalars: tinyModel.weight.scalars.enumerated().map { $0 == index ? $1 - h : $1 })
            let numeric = (objective(plus) - objective(minus)) / (2 * h)
            #expect(abs(numeric - d["weight"]!.scalars[index]) < 3e-3, "weight[\(index)]")
        }
    }

    /// cr adds λ·[H(θ+ε) − H(θ)]û to ∇ℓ_f: with λ = 0 it is plain NPO, and the term is the
    /// finite-difference change of the Hessian along û (here checked to be non-zero).
    @Test func curvatureReducesToPlainAtZeroWeight() {
        #expect(maxDifference(direction(.curvature(lambda: 0, radius: 0.1), gamma: 1), direction(.none, gamma: 1)) < 1e-7)
        #expect(maxDifference(direction(.curvature(lambda: 10, radius: 0.1), gamma: 1), direction(.none, gamma: 1)) > 1e-5)
    }

    /// rs with σ → 0 is plain; its noise is seeded (same seed, same direction).
    @Test func randomizedSmoothingIsSeeded() {
        let a = direction(.randomized(sigma: 0.1, samples: 3), gamma: 1)
        #expect(maxDifference(a, direction(.randomized(sigma: 0.1, samples: 3), gamma: 1)) == 0)
        #expect(maxDifference(a, direction(.none, gamma: 1)) > 1e-4)
        #expect(maxDifference(direction(.randomized(sigma: 0, samples: 2), gamma: 1), direction(.none, gamma: 1)) < 1e-6)
    }

    /// graddiff's forget gradient is −∇CE: the opposite of the retain-style gradient on the same rows.
    @Test func gradDiffAscends() {
        let images = mixedBatch().inputs.gathering([0, 1, 2, 3], alongAxis: 0)
        let ce = valueWithGradient(at: tinyModel) { m in crossEntropy(logits: m(images), labels: [1, 1, 1, 1], reduction: .mean) }.gradient
        #expect(maxDifference(direction(.none, gamma: 0, method: .graddiff), ce.scaled(by: -1)) < 1e-6)
    }
}

@Suite struct ForgetSpecTests {
    @Test func parses() throws {
        #expect(try ForgetSpec(parsing: "class:7") == .wholeClass(7))
        #expect(try ForgetSpec(parsing: "class:7:0.1") == .classFraction(7, 0.1))
        #expect(try ForgetSpec(parsing: "random:0.01") == .randomFraction(0.01))
        #expect(try ForgetSpec(parsing: "class:7:0.1").description == "class:7:0.1")
        #expect(try ForgetSpec(parsing: "random:0.01").forgetClass == nil)
    }

    @Test(arguments: ["", "class", "class:", "class:x", "class:-1", "class:7:0", "class:7:1.5", "class:7:nan", "class:7:0.1:2", "random", "random:0", "random:2", "forget:7"])
    func rejects(_ text: String) {
        #expect {
            try ForgetSpec(parsing: text)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.field == "forget" && error.message.contains("got '\(text)'") && error.message.contains("expected class:K")
        }
    }

    @Test func rejectsAClassBeyondTheDataset() {
        #expect(throws: ConfigurationError.self) { try ForgetSpec(parsing: "class:10", classCount: 10) }
        #expect((try? ForgetSpec(parsing: "class:9", classCount: 10)) == .wholeClass(9))
    }

    @Test func partitions() throws {
        let labels = [0, 7, 1, 7, 7, 2, 7, 3]
        let whole = try ForgetSpec.wholeClass(7).partition(labels: labels, seed: 0)
        #expect(whole.forget == [1, 3, 4, 6] && whole.retain == [0, 2, 5, 7])
        // A fraction keeps round(F·n) (at least 1) of the class, seeded.
        let half = try ForgetSpec.classFraction(7, 0.5).partition(labels: labels, seed: 4)
        #expect(half.forget.count == 2 && half.forget.allSatisfy { labels[$0] == 7 })
        #expect(try ForgetSpec.classFraction(7, 0.5).partition(labels: labels, seed: 4) == half)
        #expect(Set(half.forget).union(half.retain) == Set(labels.indices) && Set(half.forget).isDisjoint(with: half.retain))
        #expect(try ForgetSpec.classFraction(7, 0.01).partition(labels: labels, seed: 0).forget.count == 1)
        let random = try ForgetSpec.randomFraction(0.25).partition(labels: labels, seed: 1)
        #expect(random.forget.count == 2 && random.retain.count == 6)
        // Different seeds draw different sets somewhere among a few tries.
        let draws = Set((0..<8).map { try? ForgetSpec.randomFraction(0.25).partition(labels: labels, seed: $0).forget })
        #expect(draws.count > 1)
        #expect(ForgetSpec.wholeClass(7).testPartition(labels: [7, 0, 7]) == ([0, 2], [1]))
        #expect(ForgetSpec.randomFraction(0.1).testPartition(labels: [7, 0]) == ([], [0, 1]))
    }

    @Test func rejectsEmptySets() {
        #expect(throws: ConfigurationError.self) { try ForgetSpec.wholeClass(9).partition(labels: [0, 1], seed: 0) }
        #expect(throws: ConfigurationError.self) { try ForgetSpec.randomFraction(1).partition(labels: [0, 1], seed: 0) }
        #expect(throws: ConfigurationError.self) { try ForgetSpec.wholeClass(0).partition(labels: [0, 0], seed: 0) }
    }
}

@Suite struct UnlearningLoopTests {
    /// 3 classes of separable points; forget class 2.
    private func sets() -> (forget: Dataset, retain: Dataset, model: MLP) {
        let data = separableDataset(count: 48, seed: 5)
        let (forget, retain) = try! ForgetSpec.wholeClass(2).partition(labels: data.labels, seed: 0)
        var generator = SeededGenerator(seed: 1)
        return (data.subset(forget), data.subset(retain), MLP(sizes: [4, 8, 3], using: &generator))
    }

    private func run(_ smoothing: ForgetSmoothing, steps: Int, target: Float? = nil) throws -> (MLP, UnlearningOutcome) {
        let (forget, retain, model) = sets()
        let reference = UnlearningMetrics.sampleLosses(model, on: forget)
        let unlearner = Unlearner(method: .npo, retainWeight: 1, smoothing: smoothing, base: SGD(learningRate: 0.5), referenceLosses: reference, seed: 7)
        var loop = UnlearningLoop<MLP, SGD>(
            unlearner: unlearner, forget: forget, retain: retain, forgetBatchSize: 4, retainBatchSize: 6, steps: steps, learningRate: 0.5, seed: 2,
            targetForgetAccuracy: target, checkEvery: 1)
        var unlearned = model
        var observer = QuietLoopObserver()
        let outcome = try loop.run(&unlearned, observer: &observer)
        return (unlearned, outcome)
    }

    @Test func isDeterministic() throws {
        let a = try run(.randomized(sigma: 0.05, samples: 2), steps: 4).0, b = try run(.randomized(sigma: 0.05, samples: 2), steps: 4).0
        #expect(a.parameters == b.parameters)
        #expect(try run(.none, steps: 4).0.parameters != a.parameters)
    }

    /// wa outputs the mean of the last `count` snapshots: with every 1 and count 2 over 3
    /// steps, the mean of the plain run's weights after steps 2 and 3.
    @Test func weightAveragingAveragesTheTrailingWindow() throws {
        let (averaged, outcome) = try run(.weightAveraging(every: 1, count: 2), steps: 3)
        let two = try run(.none, steps: 2).0.parameters, three = try run(.none, steps: 3).0.parameters
        #expect(outcome.averagedSnapshots == 2)
        #expect(maxDifference(averaged.parameters, (two + three).scaled(by: 0.5)) < 1e-6)
    }

    @Test func stopsAtTheTarget() throws {
        let (_, outcome) = try run(.none, steps: 200, target: 0.2)
        #expect(outcome.reachedTarget && outcome.steps < 200)
        #expect(outcome.checks.last!.forgetAccuracy <= 0.2)
        #expect(outcome.checks.dropLast().allSatisfy { $0.forgetAccuracy > 0.2 })
    }

    /// The attack's curve starts at the model's accuracy, has one entry per step, and is seeded.
    @Test func relearningAttackRecordsEveryStep() throws {
        let (forget, retain, _) = sets()
        let (model, _) = try run(.none, steps: 200, target: 0.0)
        func attack() throws -> RelearningCurve {
            var attacked = model
            var loop = RelearningAttack<MLP>(attackSet: forget.subset([0, 1, 2, 3]), measured: forget, retainTest: retain, steps: 5, batchSize: 2, learningRate: 0.5, seed: 1)
            var observer = QuietLoopObserver()
            return try loop.run(&attacked, observer: &observer)
        }
        let curve = try attack()
        #expect(curve.forgetAccuracy.count == 6 && curve.attackLoss.count == 5)
        #expect(curve.forgetAccuracy[0] == Evaluation.run(model, on: forget).accuracy)
        #expect(curve.forgetAccuracy.last! > curve.forgetAccuracy[0])
        #expect(try attack() == curve)
    }
}

@Suite struct MembershipInferenceTests {
    @Test func aucByHand() {
        #expect(UnlearningMetrics.lossThresholdAUC(members: [1, 2], nonMembers: [3, 4]) == 1)
        #expect(UnlearningMetrics.lossThresholdAUC(members: [3, 4], nonMembers: [1, 2]) == 0)
        #expect(UnlearningMetrics.lossThresholdAUC(members: [1], nonMembers: [1]) == 0.5)
        // Pairs with the member's loss lower: (1,2), (1,4), (3,4) of 4.
        #expect(UnlearningMetrics.lossThresholdAUC(members: [1, 3], nonMembers: [2, 4]) == 0.75)
        // A tie counts half: (2 vs 2) ½ + (2 vs 5) 1 + (6 vs 2) 0 + (6 vs 5) 0 = 1.5 of 4.
        #expect(UnlearningMetrics.lossThresholdAUC(members: [2, 6], nonMembers: [2, 5]) == 0.375)
        #expect(UnlearningMetrics.lossThresholdAUC(members: [], nonMembers: [1]) == nil)
    }
}
