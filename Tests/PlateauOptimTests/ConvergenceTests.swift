import Testing
import PlateauTensor
@testable import PlateauOptim

/// Minimizes the y = 2x + 1 fit with `optimizer`, setting the learning rate from `schedule`
/// (if any) before each step, and returns the final loss and parameters.
func fitLine<O: Optimizer>(
    with optimizer: inout O, steps: Int, schedule: (any LearningRateSchedule)? = nil
) -> (loss: Float, parameters: ParameterSet) {
    var parameters = LineFit.initialParameters
    for step in 0..<steps {
        if let schedule { optimizer.learningRate = schedule.learningRate(atStep: step) }
        let (_, gradient) = LineFit.lossAndGradient(at: parameters)
        optimizer.update(&parameters, along: gradient)
    }
    return (LineFit.lossAndGradient(at: parameters).loss, parameters)
}

@Test func initialLossIsLarge() {
    #expect(LineFit.lossAndGradient(at: LineFit.initialParameters).loss > 1)
}

@Test func sgdFitsALine() {
    var sgd = SGD(learningRate: 0.2)
    let (loss, parameters) = fitLine(with: &sgd, steps: 200)
    #expect(loss < 1e-3)
    #expect(abs(parameters["weight"]!.item - 2) < 0.05 && abs(parameters["bias"]!.item - 1) < 0.05)
}

@Test func sgdMomentumFitsALine() {
    var sgd = SGD(learningRate: 0.05, momentum: 0.9)
    #expect(fitLine(with: &sgd, steps: 200).loss < 1e-3)
}

@Test func sgdNesterovFitsALine() {
    var sgd = SGD(learningRate: 0.05, momentum: 0.9, nesterov: true)
    #expect(fitLine(with: &sgd, steps: 200).loss < 1e-3)
}

@Test func adamFitsALine() throws {
    var adam = Adam(learningRate: 0.1)
    let schedule = try CosineAnnealing(learningRate: 0.1, minimumLearningRate: 0.001, epochs: 1, stepsPerEpoch: 300)
    #expect(fitLine(with: &adam, steps: 300, schedule: schedule).loss < 1e-3)
}

@Test func adamWFitsALine() throws {
    var adamW = AdamW(learningRate: 0.1)
    let schedule = try OneCycle(maximumLearningRate: 0.2, epochs: 1, stepsPerEpoch: 300)
    #expect(fitLine(with: &adamW, steps: 300, schedule: schedule).loss < 1e-3)
}

@Test func sgdMinimizesAQuadraticBowl() {
    // f(w) = Σ cᵢ (wᵢ − tᵢ)² with an ill-conditioned diagonal; ∇f = 2c(w − t).
    let c = Tensor([Float(1), 10]), t = Tensor([Float(3), -1])
    var parameters = ParameterSet([("w", Tensor([Float(0), 0]))])
    var sgd = SGD(learningRate: 0.04, momentum: 0.5)
    func loss(_ w: Tensor) -> Tensor { (c * (w - t).square()).sum() }
    for _ in 0..<200 {
        let (_, grads) = valueWithGradient(at: [parameters["w"]!]) { loss($0[0]) }
        sgd.update(&parameters, along: ParameterSet([("w", grads[0])]))
    }
    #expect(loss(parameters["w"]!).item < 1e-3)
}
