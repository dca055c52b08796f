import PlateauData
import PlateauNN
import PlateauTensor

/// The sharpness of one trained network on a fixed set of samples (what `plateau compare`
/// records in each run directory as `sharpness.json`).
public struct SharpnessSummary: Codable, Sendable, Equatable {
    /// Samples the measures were taken over.
    public var samples: Int
    /// The loss L(w) over them (evaluation-mode BatchNorm).
    public var loss: Float
    /// Top Hessian eigenvalues, descending (power iteration, PyHessian defaults).
    public var eigenvalues: [Float]
    /// Hutchinson's trace estimate, when measured.
    public var trace: Float?
    /// ρ of the ρ-sharpness measures.
    public var rho: Float
    /// One-step ρ-sharpness L(w + ρg/‖g‖) − L(w).
    public var rhoSharpness: Float?
    /// Worst case in the ρ-ball by projected ascent, when measured.
    public var worstCaseSharpness: Float?
    /// The 1-D filter-normalized landscape: α values and L(w + αδ).
    public var landscapeAlphas: [Float]
    public var landscapeLosses: [Float]
    /// Wall-clock seconds spent measuring.
    public var seconds: Double
    /// ‖θ‖ over all parameters (nil in caches written before it was recorded).
    public var weightNorm: Float?

    public init(samples: Int, loss: Float, eigenvalues: [Float], trace: Float?, rho: Float, rhoSharpness: Float?, worstCaseSharpness: Float?,
                landscapeAlphas: [Float], landscapeLosses: [Float], seconds: Double, weightNorm: Float? = nil) {
        self.samples = samples
        self.loss = loss
        self.eigenvalues = eigenvalues
        self.trace = trace
        self.rho = rho
        self.rhoSharpness = rhoSharpness
        self.worstCaseSharpness = worstCaseSharpness
        self.landscapeAlphas = landscapeAlphas
        self.landscapeLosses = landscapeLosses
        self.seconds = seconds
        self.weightNorm = weightNorm
    }
}

/// Which sharpness measures to take and with what settings.
public struct SharpnessSettings: Sendable {
    public var eigenvalueCount = 1
    public var eigen = true
    public var trace = false
    public var rho: Float = 0.05
    public var rhoSharpness = true
    public var worstCaseSteps = 0
    public var tolerance: Float = 1e-3
    public var maximumIterations = 100
    /// 1-D landscape points on [−range, range] (0 skips it).
    public var landscapePoints = 0
    public var landscapeRange: Float = 1
    /// Samples per piece of the loss (HVPs are averaged over pieces by size).
    public var batchSize = 1000
    public var mode: BatchNormMode = .evaluation
    /// Seeds the power iteration, Hutchinson and the landscape direction.
    public var seed: UInt64 = 17

    public init() {}
}

/// Measures a network's sharpness on a dataset with ``SharpnessSettings``.
public enum SharpnessProbe {
    public static func measure(_ model: any Layer, on data: Dataset, settings: SharpnessSettings) -> SharpnessSummary {
        measureOpened(model, on: data, settings: settings)
    }

    private static func measureOpened<Model: Layer>(_ model: Model, on data: Dataset, settings s: SharpnessSettings) -> SharpnessSummary {
        let start = ContinuousClock.now
        let loss = LossFunction.crossEntropy(model, on: data, batchSize: s.batchSize, mode: s.mode)
        var generator = SeededGenerator(seed: s.seed)
        let value = loss.value()
        let eigenvalues = s.eigen
            ? HessianEigenvalues.top(s.eigenvalueCount, of: loss, tolerance: s.tolerance, maximumIterations: s.maximumIterations, using: &generator)
                .map(\.value).sorted(by: >)
            : []
        let trace = s.trace ? HessianTrace(of: loss, tolerance: s.tolerance, maximumIterations: s.maximumIterations, using: &generator).value : nil
        let rho = s.rhoSharpness ? RhoSharpness.oneStep(of: loss, rho: s.rho).value : nil
        let worst = s.worstCaseSteps > 0 ? RhoSharpness.worstCase(of: loss, rho: s.rho, steps: s.worstCaseSteps).value : nil
        var alphas: [Float] = [], losses: [Float] = []
        if s.landscapePoints > 0 {
            var directionGenerator = SeededGenerator(seed: s.seed &+ 1)
            let direction = FilterNormalization.randomDirection(like: loss.parameters, using: &directionGenerator)
            alphas = LossLandscape.grid(-s.landscapeRange...s.landscapeRange, count: s.landscapePoints)
            losses = LossLandscape.line(of: loss, direction: direction, alphas: alphas)
        }
        let elapsed = ContinuousClock.now - start
        return SharpnessSummary(
            samples: data.count, loss: value, eigenvalues: eigenvalues, trace: trace, rho: s.rho, rhoSharpness: rho,
            worstCaseSharpness: worst, landscapeAlphas: alphas, landscapeLosses: losses,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
            weightNorm: Float(loss.parameters.sumOfSquares().squareRoot()))
    }
}
