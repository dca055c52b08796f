import Foundation
import PlateauAnalysis
import PlateauNN
import PlateauTensor
import Testing

/// The measurement tools of the pruning-regime and USEFUL experiments (issue 15).
@Suite("representation similarity, mode connectivity, k-means") struct RepresentationTests {
    @Test func ckaOfARepresentationWithItselfIsOneAndIgnoresRotationAndScale() {
        var g = SeededGenerator(seed: 4)
        let x = Tensor.randomNormal([50, 3], using: &g)
        #expect(abs(LinearCKA.similarity(x, x) - 1) < 1e-12)
        // A rotation of the 3 features by 90° in the (0, 1) plane, then ×3, plus a shift.
        let q = Tensor([[0, -1, 0], [1, 0, 0], [0, 0, 1]] as [[Float]])
        let y = x.matmul(q) * 3 + 7
        #expect(abs(LinearCKA.similarity(x, y) - 1) < 1e-6)
        // Unrelated representations of the same samples are far from 1.
        let z = Tensor.randomNormal([50, 3], using: &g)
        #expect(LinearCKA.similarity(x, z) < 0.3)
        #expect(LinearCKA.similarity(x, Tensor.zeros([50, 3])) == 0)
    }

    @Test func modeConnectivityIsNegativeOverABarrierAndNotOnAConvexPath() {
        // A barrier: the middle of the path is worse than both ends.
        #expect(abs(ModeConnectivity.mc(lossesAlongPath: [0.1, 0.5, 0.9, 0.5, 0.1]) + 0.8) < 1e-6)
        // A convex path (a valley between the endpoints) — mc ≥ 0, so not a barrier.
        let convex = (0...10).map { t -> Float in let s = Float(t) / 10; return 0.5 - 0.4 * s * (1 - s) * 4 }
        #expect(ModeConnectivity.mc(lossesAlongPath: convex) >= 0)
        // A flat path is neither; t* is sought between the endpoints (two points: no interior).
        #expect(ModeConnectivity.mc(lossesAlongPath: [0.3, 0.3, 0.3, 0.3]) == 0)
        #expect(ModeConnectivity.mc(lossesAlongPath: [0.2, 0.6]) == 0)
    }

    @Test func aPathAlongWhichTheLossIsConvexHasNoBarrierWhicheverEndIsHigher() {
        // mc < 0 means a barrier; ℓ(t) = a + b·t + c·t² with c ≥ 0 is convex, so never one.
        // The straight paths (c = 0) used to be called barriers when the first end was the
        // higher: the points beside the two ends tie in distance from the endpoints' mean.
        for (a, b, c) in [(1, -1, 0), (0, 1, 0), (2, -2, 0.5), (0.3, 0.4, 2), (1, -0.25, 0.01), (0.5, 0, 1)] as [(Float, Float, Float)] {
            for count in [5, 11] {
                let path = (0..<count).map { i -> Float in let t = Float(i) / Float(count - 1); return a + b * t + c * t * t }
                #expect(ModeConnectivity.mc(lossesAlongPath: path) >= 0, "a \(a) b \(b) c \(c), \(count) points: \(path)")
            }
        }
        // Concave (a hump above the chord) is a barrier, whichever end is higher.
        let hump = (0...10).map { i -> Float in let t = Float(i) / 10; return 1 - 0.5 * t + t * (1 - t) }
        #expect(ModeConnectivity.mc(lossesAlongPath: hump) < 0)
    }

    @Test func layerwiseCKAComparesEveryHiddenLayerAndTheLogits() {
        var g = SeededGenerator(seed: 2)
        let a = MLP(sizes: [6, 8, 5, 3], using: &g), b = MLP(sizes: [6, 8, 5, 3], using: &g)
        let x = Tensor.randomNormal([40, 6], using: &g)
        let layers = LayerRepresentations.of(a, on: x)
        #expect(layers.map(\.shape) == [[40, 8], [40, 5], [40, 3]])
        var model = a
        #expect(layers.last!.scalars == model(x).scalars)
        let same = LinearCKA.layerwise(a, a, on: x)
        #expect(same.count == 3 && same.allSatisfy { abs($0 - 1) < 1e-9 }, "\(same)")
        let other = LinearCKA.layerwise(a, b, on: x)
        #expect(other.count == 3 && other.allSatisfy { $0 < 0.999 }, "\(other)")
    }

    @Test func kMeansSeparatesTwoSeparableGroupsWhateverTheSeed() {
        var g = SeededGenerator(seed: 9)
        let left = Tensor.randomNormal([20, 2], using: &g) * 0.1 - 5
        let right = Tensor.randomNormal([30, 2], using: &g) * 0.1 + 5
        let points = Tensor.concatenating([left, right], alongAxis: 0)
        for seed in 0..<5 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            let clusters = KMeans(points, k: 2, using: &generator)
            let first = Set(clusters.assignments[0..<20]), second = Set(clusters.assignments[20..<50])
            #expect(first.count == 1 && second.count == 1 && first != second, "seed \(seed): \(clusters.assignments)")
            #expect(clusters.inertia < 50 * 2 * 0.1, "seed \(seed): inertia \(clusters.inertia)")
        }
        // Same seed, same clustering.
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1)
        #expect(KMeans(points, k: 3, using: &a).assignments == KMeans(points, k: 3, using: &b).assignments)
    }
}
