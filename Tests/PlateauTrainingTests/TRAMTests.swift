import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor
import PlateauTraining
import Testing

/// TRAM (issue 13): ρ_t is the KL between the reference's and the model's outputs on the
/// batch, zero when they agree; the rule turns it into ε = ρ_t·g/‖g‖; runs resume
/// bit-identically with the reference in the checkpoint.
@Suite("TRAM") struct TRAMTests {
    /// softmax([0, 0]) = (½, ½) and softmax([0, ln 3]) = (¼, ¾):
    /// KL(p‖q) = ½ln 2 + ½ln ⅔ = ½ln(4/3), KL(q‖p) = ¼ln ½ + ¾ln(3/2).
    @Test func theDistanceIsTheKLOfTheSoftmaxedOutputs() {
        let reference = Tensor(shape: [2, 2], scalars: [0, 0, 0, 0])
        let model = Tensor(shape: [2, 2], scalars: [0, Float(log(3.0)), 0, Float(log(3.0))])
        let forward = 0.5 * log(4.0 / 3.0), reverse = 0.25 * log(0.5) + 0.75 * log(1.5)
        #expect(abs(Double(TrustRegionReference.distance(.forward, reference: reference, model: model)) - forward) < 1e-6)
        #expect(abs(Double(TrustRegionReference.distance(.reverse, reference: reference, model: model)) - reverse) < 1e-6)
        #expect(abs(Double(TrustRegionReference.distance(.symmetric, reference: reference, model: model)) - (forward + reverse)) < 1e-6)
    }

    @Test func theRadiusIsZeroWhileTheModelIsItsReferenceAndScalesTheDistance() {
        var generator = SeededGenerator(seed: 3)
        var model = MLP(sizes: [4, 6, 3], using: &generator)  // var: a forward pass may update BatchNorm statistics (--norm)
        let batch = StepBatch(inputs: Tensor.randomNormal([5, 4], using: &generator), labels: [0, 1, 2, 0, 1], indices: Array(0..<5), epoch: 0)
        var term = TrustRegionReference(model: model, reference: .initial, scale: 2)
        #expect(term.measurement(for: batch, model: model) == 0)
        // A moved model: ρ = s · KL(f_θ₀ ‖ f_θ).
        var moved = model
        moved.update(model.parameters.mapWithKeys { _, w in w * 1.5 })
        let expected = 2 * TrustRegionReference.distance(.forward, reference: withoutGradients { model(batch.inputs) }, model: withoutGradients { moved(batch.inputs) })
        #expect(expected > 0)
        #expect(term.measurement(for: batch, model: moved) == expected)
        // TRAM-θ_{t−1}: the reference follows the model, so measuring the same weights twice gives 0.
        var previous = TrustRegionReference(model: model, reference: .previous)
        #expect(previous.measurement(for: batch, model: moved)! > 0)
        #expect(previous.measurement(for: batch, model: moved) == 0)
    }

    /// ε = ρ_t·g/‖g‖: the perturbation has the measured norm and the gradient's direction.
    @Test func theRulesPerturbationHasTheMeasuredRadius() throws {
        let gradient = ParameterSet([("w", Tensor(shape: [2], scalars: [3, 4]))])
        let context = StepContext(step: 0, learningRate: 0.1, measurement: 0.25)
        let epsilon = try #require(TRAM().perturbation(parameters: gradient, gradient: gradient, context: context))
        #expect(abs(epsilon["w"]!.scalars[0] - 0.15) < 1e-6 && abs(epsilon["w"]!.scalars[1] - 0.2) < 1e-6)
        let none = try #require(TRAM().perturbation(parameters: gradient, gradient: gradient, context: StepContext(step: 0, learningRate: 0.1)))
        #expect(none["w"]!.scalars == [0, 0])
    }

    /// Through the trainer: ρ_t reaches the rule (a run differs from the base optimizer's once
    /// the model has moved), and a resumed run is bit-identical with each reference.
    @Test(arguments: ["initial", "previous", "input-noise"])
    func trainsAndResumesBitIdentically(reference: String) throws {
        var c = configuration("tram", epochs: 2)
        c.methodOptions = ["tram-reference": .string(reference), "tram-scale": 50]
        let tram = try runToEnd(c)
        var sgd = c
        sgd.optimizer = "sgd"
        sgd.methodOptions = [:]
        let plain = try runToEnd(sgd)
        #expect(tram != plain, "TRAM (\(reference)) trained exactly as SGD: its radius never reached the rule")
        try checkResume(c)
    }

    /// A fine-tuning run (`--initial-weights`) logs each epoch's mean KL(f_θ₀ ‖ f_θ) over the
    /// test split — the held-out drift TRAM keeps small, for every method; a run from scratch
    /// logs none.
    @Test func fineTuningLogsTheDriftFromItsInitialWeights() throws {
        let directory = try temporaryDirectory("drift")
        defer { try? FileManager.default.removeItem(at: directory) }
        var silent = SilentObserver()
        let pretrained = directory.appendingPathComponent("pre"), tuned = directory.appendingPathComponent("tuned")
        let (_, initial) = try Trainer(configuration: configuration("sgd", epochs: 1), train: trainSet, test: testSet, output: pretrained)
            .runReturningModel(observer: &silent)
        #expect(MetricsLog.read(from: pretrained).allSatisfy { $0.driftFromInitial == nil })
        var c = configuration("sgd", epochs: 2)
        c.initialWeights = pretrained.appendingPathComponent("checkpoint-last.safetensors").path
        let (_, model) = try Trainer(configuration: c, train: trainSet, test: testSet, output: tuned).runReturningModel(observer: &silent)
        let rows = MetricsLog.read(from: tuned)
        #expect(rows.count == 2)
        let normalized = Normalization.fit(trainSet).apply(to: testSet)
        func drift<M: Layer, R: Layer>(_ m: M, _ r: R) -> Float {
            Evaluation.drift(of: m, from: r, on: normalized, normalize: { $0 }, normalizeReference: { $0 })
        }
        let expected = drift(model, initial)
        #expect(expected > 0 && rows.last?.driftFromInitial == expected)
        #expect(try String(contentsOf: tuned.appendingPathComponent("metrics.csv"), encoding: .utf8).contains(",drift_from_initial\n"))
    }

    private func runToEnd(_ c: RunConfiguration) throws -> [String: [UInt32]] {
        var silent = SilentObserver()
        let (_, model) = try Trainer(configuration: c, train: trainSet, test: testSet, output: nil).runReturningModel(observer: &silent)
        return Dictionary(uniqueKeysWithValues: model.stateDictionary.entries.map { ($0.key, $0.value.scalars.map(\.bitPattern)) })
    }
}
