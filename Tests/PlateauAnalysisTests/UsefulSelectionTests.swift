import Foundation
import PlateauAnalysis
import PlateauData
import PlateauTensor
import Testing

/// USEFUL's choice of the examples to duplicate (issue 15), on cases small enough to work
/// out by hand.
@Suite("USEFUL selection and planted patches") struct UsefulSelectionTests {
    /// Class 0: examples 0 and 2 have confident outputs (loss 0.1, 0.2), 1 and 3 flat ones
    /// (loss 0.9, 0.7). Class 1: examples 4, 5 confident (0.05 each), 6 flat (1.2).
    static let outputs = Tensor([[6, 0], [0.1, 0], [5, 0], [0, 0.1], [0, 6], [0, 5], [0.2, 0.1]] as [[Float]])
    static let labels = [0, 0, 0, 0, 1, 1, 1]
    static let losses: [Float] = [0.1, 0.9, 0.2, 0.7, 0.05, 0.05, 1.2]

    @Test func theHigherLossClusterOfEachClassIsUpsampledOnce() {
        for seed in 0..<4 as Range<UInt64> {
            let s = UsefulSelection.useful(outputs: Self.outputs, labels: Self.labels, losses: Self.losses, classCount: 2, seed: seed)
            #expect(s.rule == .useful)
            #expect(s.upsampled == [1, 3, 6], "seed \(seed)")
            #expect(s.classes.map(\.upsampled) == [2, 1])
            #expect(s.classes[0].clusterSizes == [2, 2] && s.classes[1].clusterSizes == [1, 2])
            // Mean losses, the upsampled cluster first: (0.9 + 0.7)/2 vs (0.1 + 0.2)/2; 1.2 vs 0.05.
            #expect(abs(s.classes[0].clusterMeanLosses[0] - 0.8) < 1e-6 && abs(s.classes[0].clusterMeanLosses[1] - 0.15) < 1e-6)
            #expect(abs(s.classes[1].clusterMeanLosses[0] - 1.2) < 1e-6 && abs(s.classes[1].clusterMeanLosses[1] - 0.05) < 1e-6)
        }
        // The enlarged set: every example once, then the duplicates — 7 + 3 rows.
        let s = UsefulSelection.useful(outputs: Self.outputs, labels: Self.labels, losses: Self.losses, classCount: 2, seed: 0)
        #expect(s.enlargedOrder(count: 7) == [0, 1, 2, 3, 4, 5, 6, 1, 3, 6])
    }

    @Test func classesThatDoNotSplitUpsampleNothing() {
        // Class 0 has one example; class 1's outputs are identical (one cluster); class 2 is absent.
        let outputs = Tensor([[1, 2, 3], [0, 1, 0], [0, 1, 0], [0, 1, 0]] as [[Float]])
        let s = UsefulSelection.useful(outputs: outputs, labels: [0, 1, 1, 1], losses: [3, 1, 2, 3], classCount: 3, seed: 5)
        #expect(s.upsampled.isEmpty)
        #expect(s.classes.map(\.examples) == [1, 3, 0])
        #expect(s.classes.map(\.upsampled) == [0, 0, 0])
    }

    @Test func theRandomControlDrawsAsManyPerClassFromTheClass() {
        let useful = UsefulSelection.useful(outputs: Self.outputs, labels: Self.labels, losses: Self.losses, classCount: 2, seed: 0)
        for seed in 0..<6 as Range<UInt64> {
            let r = UsefulSelection.random(matching: useful, labels: Self.labels, seed: seed)
            #expect(r.rule == .random)
            #expect(r.upsampled.count == 3 && Set(r.upsampled).count == 3)
            #expect(r.upsampled.filter { Self.labels[$0] == 0 }.count == 2)
            #expect(r.upsampled.filter { Self.labels[$0] == 1 }.count == 1)
            #expect(r.upsampled == UsefulSelection.random(matching: useful, labels: Self.labels, seed: seed).upsampled)
        }
    }

    @Test func aPatchOverwritesExactlyItsSquareOnTheChosenImages() {
        // Two 1x4x4 images of zeros, label 0 and 1; a 2x2 patch of 9 at (1, 2) on image 1 only.
        let dataset = Dataset(name: "t", images: Tensor.zeros([2, 1, 4, 4]), labels: [0, 1], classCount: 2)
        let pasted = dataset.pasting({ _ in PlantedPatch(row: 1, column: 2, size: 2, value: 9) }, onto: [1])
        var expected = [Float](repeating: 0, count: 32)
        for i in [16 + 6, 16 + 7, 16 + 10, 16 + 11] { expected[i] = 9 }
        #expect(pasted.images.scalars == expected)
        #expect(pasted.labels == [0, 1])
        // Shortcut positions on 28x28: ten distinct squares inside the 4-pixel border MNIST leaves blank.
        let squares = (0..<10).map { PlantedPatch.shortcut(label: $0, height: 28, width: 28) }
        #expect(Set(squares.map { [$0.row, $0.column] }).count == 10)
        #expect(squares.allSatisfy { $0.fits(height: 28, width: 28) && ($0.row + $0.size <= 4 || $0.row >= 24) })
    }

    @Test func perClassSamplingTakesTheRoundedFraction() {
        // Classes of 4 and 3 examples: half of each is 2 and 1.5 → 2.
        let dataset = Dataset(name: "t", images: Tensor.zeros([7, 1, 2, 2]), labels: [0, 1, 0, 1, 0, 1, 0], classCount: 2)
        let chosen = dataset.sampledPerClass(fraction: 0.5, seed: 3)
        #expect(chosen.filter { dataset.labels[$0] == 0 }.count == 2 && chosen.filter { dataset.labels[$0] == 1 }.count == 2)
        #expect(chosen == chosen.sorted() && Set(chosen).count == 4)
        #expect(dataset.sampledPerClass(fraction: 0.01, classes: [1], seed: 3).count == 1)  // at least one
        #expect(dataset.sampledPerClass(fraction: 0, seed: 3).isEmpty)
    }
}
