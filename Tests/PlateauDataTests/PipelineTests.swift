import Testing
@testable import PlateauData
import PlateauTensor

@Suite struct DatasetTests {
    @Test func subsetSplitAndNormalization() {
        let d = indexDataset(10)
        let s = d.subset([4, 1, 4])
        #expect(s.labels == [1, 1, 1] && s.images.scalars == [4, 4, 1, 1, 4, 4])
        let (train, validation) = d.split(validationCount: 3, seed: 5)
        #expect(train.count == 7 && validation.count == 3)
        let all = (train.images.scalars + validation.images.scalars).enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) }
        #expect(all.sorted() == Array(0..<10))
        #expect(d.split(validationCount: 3, seed: 5).validation.images == validation.images)
        #expect(d.split(validationFraction: 0.25, seed: 1).validation.count == 3)

        let images = Tensor(shape: [2, 2, 1, 2], scalars: [0, 2, 10, 10, 4, 6, 10, 10])
        let stats = Normalization.fit(images)
        #expect(stats.mean == [3, 10])
        #expect(stats.std[0] == Float(5).squareRoot() && stats.std[1] == 1)  // constant channel: std 1
        let normalized = stats.apply(to: images)
        #expect(normalized.isClose(to: Tensor(shape: [2, 2, 1, 2], scalars: [-3, -1, 0, 0, 1, 3, 0, 0].map { $0 == 0 ? 0 : $0 / Float(5).squareRoot() })))
        // Statistics fitted on train apply unchanged to test.
        let test = Tensor(shape: [1, 2, 1, 2], scalars: [3, 3, 11, 9])
        #expect(stats.apply(to: test).scalars == [0, 0, 1, -1])
    }
}

@Suite struct BatchTests {
    @Test func permutationsAreReproduciblePermutations() {
        for n in [0, 1, 2, 17, 100] {
            let p = Batches.permutation(count: n, seed: 42, epoch: 3)
            #expect(p.sorted() == Array(0..<n))
            #expect(p == Batches.permutation(count: n, seed: 42, epoch: 3))
        }
        let e0 = Batches.permutation(count: 100, seed: 42, epoch: 0)
        #expect(e0 != Batches.permutation(count: 100, seed: 42, epoch: 1))
        #expect(e0 != Batches.permutation(count: 100, seed: 43, epoch: 0))
    }

    @Test func batchesCarryDatasetIndices() {
        let d = indexDataset(10, classes: 3, shape: [1, 1, 2])
        let batches = d.batches(size: 4, shuffle: true, seed: 7, epoch: 2)
        #expect(batches.count == 3)
        var seen: [Int] = []
        for batch in batches {
            #expect(batch.images.shape == [batch.count, 1, 1, 2])
            for (j, index) in batch.indices.enumerated() {
                #expect(batch.images.scalars[2 * j] == Float(index))
                #expect(batch.labels[j] == index % 3)
            }
            seen += batch.indices
        }
        #expect(seen == Batches.permutation(count: 10, seed: 7, epoch: 2))
        #expect(Array(batches).map(\.count) == [4, 4, 2])
        // Same (seed, epoch) → same batches, independently of other epochs.
        #expect(Array(d.batches(size: 4, seed: 7, epoch: 2)).map(\.indices) == Array(batches).map(\.indices))
    }

    @Test func dropLastAndSequentialOrder() {
        let d = indexDataset(10)
        let dropped = d.batches(size: 4, shuffle: false, dropLast: true)
        #expect(Array(dropped).map(\.indices) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        #expect(d.batches(size: 5, dropLast: true).count == 2)
        #expect(d.batches(size: 20, dropLast: true).count == 0)
        #expect(d.batches(size: 20).count == 1)
    }
}

@Suite struct LabelNoiseTests {
    let labels = (0..<1000).map { $0 % 10 }

    @Test func symmetricRateIsExactAndDeterministic() {
        let noise = LabelNoise(.symmetric, rate: 0.4, seed: 11)
        let result = noise.apply(to: labels, classCount: 10)
        #expect(result.flipped.count == 400)
        #expect(result.realizedRate == 0.4)
        #expect(result.flipped == result.flipped.sorted() && Set(result.flipped).count == 400)
        let changed = (0..<1000).filter { result.labels[$0] != labels[$0] }
        #expect(changed == result.flipped)
        #expect(result.labels.allSatisfy { $0 >= 0 && $0 < 10 })
        #expect(noise.apply(to: labels, classCount: 10) == result)
        #expect(LabelNoise(.symmetric, rate: 0.4, seed: 12).apply(to: labels, classCount: 10) != result)
        // The new labels spread over the other classes.
        #expect(Set(result.flipped.map { (result.labels[$0] - labels[$0] + 10) % 10 }) == Set(1..<10))
    }

    @Test func pairFlip() {
        let result = LabelNoise(.pairFlip, rate: 0.25, seed: 3).apply(to: labels, classCount: 10)
        #expect(result.flipped.count == 250)
        for i in result.flipped { #expect(result.labels[i] == (labels[i] + 1) % 10) }
        #expect(LabelNoise(.pairFlip, rate: 0, seed: 3).apply(to: labels, classCount: 10).labels == labels)
        let (noisy, record) = LabelNoise(.pairFlip, rate: 1, seed: 3).apply(to: indexDataset(6))
        #expect(record.flipped == Array(0..<6) && noisy.labels == [1, 2, 0, 1, 2, 0])
    }
}

@Suite struct AugmentationTests {
    let images = Tensor(shape: [2, 2, 2, 3], scalars: (1...24).map(Float.init))

    @Test func flipReversesRows() {
        let flipped = Augmentation.flippedHorizontally(images, where: [true, false])
        #expect(flipped.shape == images.shape)
        #expect(Array(flipped.scalars[0..<6]) == [3, 2, 1, 6, 5, 4])
        #expect(Array(flipped.scalars[12..<24]) == Array(images.scalars[12..<24]))
        #expect(Augmentation.flippedHorizontally(Augmentation.flippedHorizontally(images)) == images)
        var g = SeededGenerator(seed: 1)
        #expect(Augmentation.randomHorizontalFlip(images, probability: 1, using: &g) == Augmentation.flippedHorizontally(images))
        #expect(Augmentation.randomHorizontalFlip(images, probability: 0, using: &g) == images)
    }

    @Test func shiftAndCropPadWithZeros() {
        let one = Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init))
        #expect(Augmentation.shifted(one, offsets: [(1, 0)]).scalars == [4, 5, 6, 7, 8, 9, 0, 0, 0])
        #expect(Augmentation.shifted(one, offsets: [(0, -1)]).scalars == [0, 1, 2, 0, 4, 5, 0, 7, 8])
        #expect(Augmentation.shifted(one, offsets: [(5, 0)]).scalars == [Float](repeating: 0, count: 9))
        #expect(Augmentation.shifted(one, offsets: [(0, 0)]) == one)
        var g = SeededGenerator(seed: 9)
        let big = sampleImages(8, 3, 6, 6)
        let cropped = Augmentation.randomCrop(big, padding: 2, using: &g)
        #expect(cropped.shape == big.shape)
        // Every output value is 0 or comes from the same sample and channel.
        for s in 0..<8 {
            for c in 0..<3 {
                let plane = Set(big.scalars[((s * 3 + c) * 36)..<((s * 3 + c + 1) * 36)])
                for v in cropped.scalars[((s * 3 + c) * 36)..<((s * 3 + c + 1) * 36)] { #expect(v == 0 || plane.contains(v)) }
            }
        }
        var a = SeededGenerator(seed: 4), b = SeededGenerator(seed: 4)
        #expect(Augmentation.randomCrop(big, padding: 2, using: &a) == Augmentation.randomCrop(big, padding: 2, using: &b))
    }

    @Test func pipelineKeepsLabelsAndIndices() {
        let batch = Batch(images: images, labels: [1, 2], indices: [7, 3])
        let stats = Normalization.fit(images)
        var g = SeededGenerator(seed: 2)
        let out = Augmentation([.randomCrop(padding: 1), .horizontalFlip(), .normalize(stats)]).apply(to: batch, using: &g)
        #expect(out.images.shape == [2, 2, 2, 3] && out.labels == [1, 2] && out.indices == [7, 3])
        #expect(!out.images.hasNonFinite)
    }
}
