import PlateauTensor
@testable import PlateauOptim

/// A one-entry parameter set `{"w": values}`.
func vector(_ values: [Float], key: String = "w") -> ParameterSet {
    ParameterSet([(key, Tensor(values))])
}

/// The elements of entry `key`.
func elements(_ set: ParameterSet, _ key: String = "w") -> [Float] {
    set[key]!.scalars
}

/// Whether `a` and `b` agree element by element within `tolerance` (absolute).
func close(_ a: [Float], _ b: [Double], tolerance: Double = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tolerance }
}

/// Whether `a` is within a relative `tolerance` of `b`.
func close(_ a: Float, _ b: Double, relative tolerance: Double = 1e-6) -> Bool {
    abs(Double(a) - b) <= tolerance * max(abs(b), 1e-30)
}

/// The fixed three-step problem used by the hand-computed tests: w₀ = [1, −2] and
/// gradients g₁ = [0.5, 1], g₂ = [−1, 0.25], g₃ = [2, −0.5] (all exact in binary).
let initialWeights: [Float] = [1, -2]
let gradientSequence: [[Float]] = [[0.5, 1], [-1, 0.25], [2, -0.5]]

/// Runs `optimizer` along `gradientSequence` from `initialWeights`, returning w after each step.
func threeSteps<O: Optimizer>(_ optimizer: inout O) -> [[Float]] {
    var parameters = vector(initialWeights)
    var trajectory: [[Float]] = []
    for g in gradientSequence {
        optimizer.update(&parameters, along: vector(g))
        trajectory.append(elements(parameters))
    }
    return trajectory
}

/// The linear-regression problem y = 2x + 1 on 8 points in [−1, 1]:
/// parameters `{"weight": [1], "bias": [1]}`, mean squared error loss.
enum LineFit {
    static let x = Tensor((0..<8).map { Float($0) / 3.5 - 1 })
    static let y = x * 2 + 1

    static var initialParameters: ParameterSet {
        ParameterSet([("weight", Tensor([Float(-0.5)])), ("bias", Tensor([Float(0.25)]))])
    }

    /// The loss and its gradient at `parameters`, via the engine's reverse mode.
    static func lossAndGradient(at parameters: ParameterSet) -> (loss: Float, gradient: ParameterSet) {
        let (value, grads) = valueWithGradient(at: [parameters["weight"]!, parameters["bias"]!]) { p in
            (x * p[0] + p[1] - y).square().mean()
        }
        return (value.item, ParameterSet([("weight", grads[0]), ("bias", grads[1])]))
    }
}
