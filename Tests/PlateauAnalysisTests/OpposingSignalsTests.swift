import Foundation
import PlateauAnalysis
import PlateauData
import PlateauNN
import PlateauTensor
import Testing

/// The opposing-signals finder's arithmetic (issue 15) on a loss table worked out by hand:
/// examples 0 and 1 swing in antiphase (1 → 2 → 1 and 1 → 0 → 1), example 2 never moves,
/// example 3 moves a little with example 0.
@Suite("opposing signals") struct OpposingSignalsTests {
    static let losses: [[Float]] = [[1, 1, 1, 1], [2, 0, 1, 1.125], [1, 1, 1, 1]]

    @Test func theExamplesWhoseLossMovesMostComeFirst() {
        #expect(OpposingSignals.meanAbsoluteChange(Self.losses) == [1, 1, 0, 0.125])
        #expect(OpposingSignals.mostChanging(Self.losses, k: 2) == [0, 1])  // a tie: the lower index first
        #expect(OpposingSignals.largestChanges(before: Self.losses[0], after: Self.losses[1], k: 3) == [0, 1, 3])
        #expect(OpposingSignals.precision([0, 1], planted: [0, 1], k: 2) == 1)
        #expect(OpposingSignals.precision([0, 1], planted: [0, 3], k: 2) == 0.5)
        #expect(OpposingSignals.precision([], planted: [0], k: 2).isNaN)
        // Each step's top 1 is example 0 (tied with 1): planted {0, 1} always, {1} never.
        #expect(OpposingSignals.meanStepPrecision(Self.losses, planted: [0, 1], k: 1) == 1)
        #expect(OpposingSignals.meanStepPrecision(Self.losses, planted: [1], k: 1) == 0)
    }

    @Test func theTopExamplesSplitIntoTheGroupsThatMoveAgainstEachOther() {
        let (with, against) = OpposingSignals.split([0, 1, 3], losses: Self.losses)
        #expect(with == [0, 3] && against == [1])
        #expect(OpposingSignals.splitAgreement(with: with, against: against, groupA: [0], groupB: [1]) == 1)
        #expect(OpposingSignals.splitAgreement(with: with, against: against, groupA: [1], groupB: [0]) == 1)  // names may swap
        #expect(OpposingSignals.splitAgreement(with: [0, 1], against: [], groupA: [0], groupB: [1]) == 0.5)
        #expect(OpposingSignals.splitAgreement(with: [2], against: [3], groupA: [0], groupB: [1]).isNaN)
        // Antiphase: A's changes (+1, −1) against B's (−1, +1); in phase with example 3.
        #expect(abs(OpposingSignals.antiphaseCorrelation(Self.losses, groupA: [0], groupB: [1]) + 1) < 1e-12)
        #expect(abs(OpposingSignals.antiphaseCorrelation(Self.losses, groupA: [0], groupB: [3]) - 1) < 1e-12)
        #expect(OpposingSignals.antiphaseCorrelation(Self.losses, groupA: [0], groupB: [2]).isNaN)  // a flat curve
        #expect(OpposingSignals.groupMeans(Self.losses, group: [0, 1]) == [1, 1, 1])
        // Changes 1, 1, 1, 0: the last half averages 0.5.
        #expect(OpposingSignals.lateAmplitude([0, 1, 0, 1, 1]) == 0.5)
    }

    @Test func theToyPlantsTheOpposingFeatureInTwoEqualGroups() {
        let toy = OpposingSignalsToy(samplesPerClass: 100, dimension: 5, coreSignal: 0.5, alpha: 20, fraction: 0.1, seed: 7)
        #expect(toy.dataset.count == 200 && toy.dataset.sampleShape == [5] && toy.dataset.classHistogram == [100, 100])
        // 10 of each class carry it, alternately agreeing (A) and opposing (B): 10 in each group.
        #expect(toy.groupA.count == 10 && toy.groupB.count == 10 && Set(toy.groupA).isDisjoint(with: toy.groupB))
        let x = toy.dataset.images.scalars
        func u(_ i: Int) -> Float { x[i * 5 + 1] * (toy.dataset.labels[i] == 1 ? 1 : -1) }  // the feature, signed by the label
        #expect(toy.groupA.allSatisfy { u($0) > 10 })
        #expect(toy.groupB.allSatisfy { u($0) < -10 })
        let planted = Set(toy.groupA + toy.groupB)
        #expect((0..<200).filter { !planted.contains($0) }.allSatisfy { abs(u($0)) < 10 })
        #expect(OpposingSignalsToy(samplesPerClass: 100, dimension: 5, fraction: 0.1, seed: 7).dataset.images == toy.dataset.images)
    }

    @Test func aDeepLinearNetworkMultipliesItsWeights() {
        var g = SeededGenerator(seed: 1)
        var network = DeepLinear(sizes: [3, 2, 2], using: &g)
        #expect(network.parameters.keys.sorted() == ["layers.0.weight", "layers.1.weight"])
        network.layers[0] = Linear(weight: Tensor([[1, 0, 0], [0, 1, 0]] as [[Float]]), bias: nil)
        network.layers[1] = Linear(weight: Tensor([[2, 0], [1, 3]] as [[Float]]), bias: nil)
        // W₁(W₀x) for x = (1, 2, 3): W₀x = (1, 2), then (2·1, 1·1 + 3·2) = (2, 7).
        #expect(network(Tensor([[1, 2, 3]] as [[Float]])).scalars == [2, 7])
    }
}
