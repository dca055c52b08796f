import Foundation
import PlateauData
import PlateauNN
import PlateauTensor
import PlateauTraining
import Testing

/// A dense run's last checkpoint (1 epoch of SGD on the synthetic data) and its parameters.
private func denseCheckpoint(_ label: String) throws -> (url: URL, parameters: ParameterSet) {
    let directory = try temporaryDirectory("prune-dense-\(label)")
    try train(configuration("sgd", epochs: 1), output: directory)
    let url = directory.appendingPathComponent(RunDirectory.lastCheckpointFile)
    let checkpoint = try Checkpoint.read(from: url)
    let prunable = checkpoint.model.filter { key in MagnitudePruning.isPrunable(path: key, shape: checkpoint.model[key]!.shape) }
    return (url, prunable)
}

/// Retrains from `dense` with `masks` (nil: a plain fine-tuning run).
private func retrain(
    from dense: URL, masks: ParameterSet?, optimizer: String = "sgd", epochs: Int = 2, output: URL? = nil, resume: Bool = false,
    adjust: (inout RunConfiguration) -> Void = { _ in }
) throws -> ParameterSet {
    var c = configuration(optimizer, epochs: epochs, seed: 7)
    c.initialWeights = dense.path
    c.weightDecay = 0.01  // decay must not revive a pruned weight either
    adjust(&c)
    var trainer = try Trainer(configuration: c, train: trainSet, test: testSet, output: output, resume: resume)
    trainer.masks = masks
    var observer = SilentObserver()
    return try trainer.runReturningModel(observer: &observer).model.stateDictionary
}

/// Every entry a mask zeroes is exactly 0 in `state`, and every kept entry is nonzero.
private func expectPruned(_ state: ParameterSet, by masks: ParameterSet) {
    for (key, mask) in masks.entries {
        let weights = state[key]!.scalars
        #expect(zip(weights, mask.scalars).allSatisfy { $1 == 0 ? $0.bitPattern == 0 : $0 != 0 }, "\(key)")
    }
}

@Test func theGlobalThresholdKeepsExactlyTheLargestMagnitudesAcrossLayers() throws {
    let parameters = ParameterSet([
        ("a.weight", Tensor([[3, -1], [0.5, 2]])), ("a.bias", Tensor([10, 10])), ("b.weight", Tensor([[-4, 1]])),
    ])
    let masks = try MagnitudePruning.masks(for: parameters, density: 0.5)  // 3 of 6 prunable scalars
    #expect(masks.keys == ["a.weight", "b.weight"])  // biases are not pruned
    #expect(masks["a.weight"]!.scalars == [1, 0, 0, 1])
    #expect(masks["b.weight"]!.scalars == [1, 0])
    let (kept, total) = MagnitudePruning.density(of: masks)
    #expect(kept == 3 && total == 6)
    // Ties at the threshold go to the earlier entries: the count stays exact.
    let ties = try MagnitudePruning.masks(for: ParameterSet([("w.weight", Tensor([[1, -1], [1, 1]]))]), density: 0.25)
    #expect(ties["w.weight"]!.scalars == [1, 0, 0, 0])
    #expect(try MagnitudePruning.masks(for: parameters, density: 1)["a.weight"]!.scalars == [1, 1, 1, 1])
    #expect(throws: ConfigurationError.self) { try MagnitudePruning.masks(for: parameters, density: 0) }
    #expect(throws: ConfigurationError.self) { try MagnitudePruning.masks(for: parameters, density: 1.5) }
}

@Test(arguments: ["sgd", "adam", "sam"])
func prunedWeightsStayExactlyZeroThroughTraining(optimizer: String) throws {
    let dense = try denseCheckpoint(optimizer)
    let masks = try MagnitudePruning.masks(for: dense.parameters, density: 0.3)
    let state = try retrain(from: dense.url, masks: masks, optimizer: optimizer)
    expectPruned(state, by: masks)
    // Without the masks the same training moves the pruned weights off 0.
    var start = try Checkpoint.read(from: dense.url)
    start.model = start.model.mapWithKeys { key, value in masks[key].map { value * $0 } ?? value }
    let pruned = dense.url.deletingLastPathComponent().appendingPathComponent("pruned-start.safetensors")
    try start.write(to: pruned)
    let unmasked = try retrain(from: pruned, masks: nil, optimizer: optimizer)
    #expect(masks.entries.contains { key, mask in zip(unmasked[key]!.scalars, mask.scalars).contains { $1 == 0 && $0 != 0 } })
}

@Test func theMasksAreSavedInTheCheckpointAndAResumeKeepsThemBitIdentically() throws {
    let dense = try denseCheckpoint("resume")
    let masks = try MagnitudePruning.masks(for: dense.parameters, density: 0.2)
    let whole = try retrain(from: dense.url, masks: masks, epochs: 2)
    let directory = try temporaryDirectory("prune-resume")
    _ = try retrain(from: dense.url, masks: masks, epochs: 1, output: directory)
    let saved = try Checkpoint.read(from: directory.appendingPathComponent(RunDirectory.lastCheckpointFile))
    #expect(saved.masks == masks)
    expectPruned(saved.model, by: masks)
    // The resume gets no masks from the caller: only the checkpoint's.
    let resumed = try retrain(from: dense.url, masks: nil, epochs: 2, output: directory, resume: true)
    #expect(resumed == whole)
    // Loading the checkpoint (as `plateau eval` does) checks and applies its masks.
    var damaged = saved
    damaged.masks = damaged.masks.mapWithKeys { _, mask in Tensor(shape: mask.shape, scalars: mask.scalars.map { $0 == 1 ? 2 : 0 }) }
    #expect(throws: ConfigurationError.self) { _ = try damaged.loadedModel(sampleShape: [4], classCount: 3, source: "damaged") }
    let loaded = try saved.loadedModel(sampleShape: [4], classCount: 3, source: "saved")
    expectPruned(loaded.stateDictionary, by: masks)
}

@Test func densityOneIsBitIdenticalToPlainFineTuning() throws {
    let dense = try denseCheckpoint("one")
    let masks = try MagnitudePruning.masks(for: dense.parameters, density: 1)
    #expect(MagnitudePruning.density(of: masks).kept == dense.parameters.scalarCount)
    #expect(try retrain(from: dense.url, masks: masks, epochs: 1) == retrain(from: dense.url, masks: nil, epochs: 1))
    #expect(try retrain(from: dense.url, masks: masks, optimizer: "adam", epochs: 1) == retrain(from: dense.url, masks: nil, optimizer: "adam", epochs: 1))
}
