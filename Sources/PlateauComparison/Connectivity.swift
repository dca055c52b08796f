import Foundation
import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining

/// How ``Connectivity/measure(_:_:train:test:settings:)`` measures two models.
public struct ConnectivitySettings: Codable, Equatable, Sendable {
    /// Points on the straight line from θ_A (α = 0) to θ_B (α = 1), endpoints included
    /// (the paper's 11).
    public var points = 11
    /// Test samples the path's loss and error are evaluated on (the first N; nil: all).
    public var testSamples: Int? = nil
    /// Training samples BatchNorm statistics are re-estimated on at each point (the first N).
    public var batchNormSamples = 2000
    /// Test samples the layer representations are compared on (the first N).
    public var ckaSamples = 500
    public var batchSize = 500

    public init() {}
}

/// Two models compared as Zhou et al. (ICML 2023) compare two retrained copies of a pruned
/// network: the loss and error along the straight line between them (BatchNorm
/// re-estimated at each point), the mode connectivity of that path, and linear CKA between
/// their layers.
///
/// Sign convention (``ModeConnectivity/mc(lossesAlongPath:)``): mc = ½(ℓ(0) + ℓ(1)) − ℓ(t*),
/// t* the interior point farthest from the endpoints' mean. **mc < 0 is a barrier** (the
/// path climbs above the endpoints: poorly connected, regime I); mc ≥ 0 is well connected
/// (a flat or convex path).
public struct ConnectivityMeasure: Codable, Equatable, Sendable {
    /// α of each point, 0 (model A) to 1 (model B).
    public var alphas: [Float]
    /// Test loss and test error (1 − accuracy) at each point.
    public var testLoss: [Float]
    public var testError: [Float]
    /// mc of the test loss along the path (the regime criterion), and of the test error.
    public var mc: Float
    public var mcError: Float
    /// Linear CKA per layer (``LayerRepresentations``) and its mean.
    public var layerCKA: [Double]
    public var meanCKA: Double

    public init(alphas: [Float], testLoss: [Float], testError: [Float], mc: Float, mcError: Float, layerCKA: [Double], meanCKA: Double) {
        self.alphas = alphas
        self.testLoss = testLoss
        self.testError = testError
        self.mc = mc
        self.mcError = mcError
        self.layerCKA = layerCKA
        self.meanCKA = meanCKA
    }
}

/// See ``ConnectivityMeasure``.
public enum Connectivity {
    /// Measures models `a` and `b` (the same architecture) on normalized splits.
    ///
    /// - Throws: ``ConfigurationError`` when the two models are of different types.
    public static func measure(_ a: any Layer, _ b: any Layer, train: Dataset, test: Dataset, settings: ConnectivitySettings) throws -> ConnectivityMeasure {
        let evaluated = LoadedCheckpoint.prefix(test, settings.testSamples)
        let bnInputs = Batches(dataset: LoadedCheckpoint.prefix(train, settings.batchNormSamples), batchSize: settings.batchSize, shuffle: false).map(\.images)
        let alphas = LossLandscape.grid(0...1, count: max(2, settings.points))
        func opened<M: Layer>(_ a: M) throws -> [(loss: Float, accuracy: Float)] {
            guard let b = b as? M else {
                throw ConfigurationError(field: "model", message: "the two models differ in type (\(type(of: a)) and \(type(of: b)))")
            }
            guard a.parameters.entries.map({ [$0.key] + $0.value.shape.map(String.init) }) == b.parameters.entries.map({ [$0.key] + $0.value.shape.map(String.init) }) else {
                throw ConfigurationError(field: "model", message: "the two models differ in parameter shapes")
            }
            var results: [(loss: Float, accuracy: Float)] = []
            // `path` reports one number per point; loss and accuracy come from one pass.
            _ = ModeConnectivity.path(from: a, to: b, alphas: alphas, reestimatingOn: bnInputs) { model in
                results.append(Evaluation.run(model, on: evaluated, batchSize: settings.batchSize))
                return results.last!.loss
            }
            return results
        }
        let path = try opened(a)
        let losses = path.map(\.loss), errors = path.map { 1 - $0.accuracy }
        let ckaInput = LoadedCheckpoint.prefix(test, settings.ckaSamples).images
        let layers = LinearCKA.layerwise(a, b, on: ckaInput)
        return ConnectivityMeasure(
            alphas: alphas, testLoss: losses, testError: errors,
            mc: ModeConnectivity.mc(lossesAlongPath: losses), mcError: ModeConnectivity.mc(lossesAlongPath: errors),
            layerCKA: layers, meanCKA: layers.isEmpty ? 0 : layers.reduce(0, +) / Double(layers.count))
    }
}
