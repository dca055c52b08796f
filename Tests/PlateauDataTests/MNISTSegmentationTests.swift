import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// `plateau data make mnist-seg` on the synthetic MNIST of ``ShiftedMNISTTests``.
@Suite struct MNISTSegmentationTests {
    static func make(_ dir: URL, train: Int = 8, test: Int = 4) throws -> URL {
        let source = dir.appendingPathComponent("src"), output = dir.appendingPathComponent("seg")
        try ShiftedMNISTTests.writeSource(source)
        var options = ShiftedMNIST.Options()
        options.segmentationTrainCount = train
        options.segmentationTestCount = test
        try ShiftedMNIST.make(.mnistSeg, from: source, to: output, options: options)
        return output
    }

    @Test func imagesHoldTwoToFourDisjointDigitsWhoseMasksMatchTheirInk() throws {
        try withTemporaryDirectory { dir in
            let (train, test) = try MNISTSegmentation.loadDirectory(try Self.make(dir))
            #expect(train.count == 8 && test.count == 4)
            #expect(train.images.sampleShape == [1, 64, 64] && train.classCount == 11)
            let pixels = train.images.images.scalars
            for i in 0..<train.count {
                let mask = train.masks[(i * 4096)..<((i + 1) * 4096)]
                // Ink (≥ 0.5) is exactly the labelled pixels.
                for p in 0..<4096 { #expect((pixels[i * 4096 + p] >= 0.5) == (mask[i * 4096 + p] != 0)) }
                // The synthetic source's first four images are fainter than 0.5: no ink, dropped.
                #expect((0...4).contains(train.images.labels[i]))
                let classes = Set(mask.filter { $0 != 0 })
                #expect(classes.count <= train.images.labels[i] && classes.isEmpty == (train.images.labels[i] == 0))
            }
            #expect(train.images.labels.contains { $0 >= 2 })
        }
    }

    @Test func masksLoadedByTheReaderEqualTheComposition() throws {
        var generator = SeededGenerator(seed: 3)
        let source = Dataset(name: "s", images: ShiftedMNISTTests.syntheticImages(5, offset: 0), labels: [0, 1, 2, 3, 4], classCount: 10)
        let sample = MNISTSegmentation.compose(count: 3, from: source, using: &generator)
        // No two digits' masks touch: each 4-connected labelled region has one class.
        for i in 0..<3 {
            for y in 0..<64 {
                for x in 0..<63 {
                    let a = sample.masks[i * 4096 + y * 64 + x], b = sample.masks[i * 4096 + y * 64 + x + 1]
                    #expect(a == 0 || b == 0 || a == b)
                }
            }
        }
        let bytes = MNISTSegmentation.encodeMasks(sample.masks, count: 3)
        let parsed = try MNISTSegmentation.parseMasks(bytes, file: "m")
        #expect(parsed.masks == sample.masks.map(Int32.init))
    }

    @Test func badMaskFilesAreRejectedNamingFileAndField() throws {
        var masks = [UInt8](repeating: 0, count: 2 * 4096)
        masks[4096 + 70] = 11
        let bytes = MNISTSegmentation.encodeMasks(masks, count: 2)
        expectDataError(.invalidLabel, naming: "train-masks-idx3-ubyte") {
            _ = try MNISTSegmentation.parseMasks(bytes, file: "train-masks-idx3-ubyte")
        }
        do {
            _ = try MNISTSegmentation.parseMasks(bytes, file: "f")
        } catch let error as DataError {
            #expect(error.field == "pixel class of image 1 at row 1, column 6" && error.found == "11")
        }
        expectDataError(.truncated, naming: "t10k-masks-idx3-ubyte") {
            _ = try MNISTSegmentation.parseMasks(Array(bytes.dropLast(5)), file: "t10k-masks-idx3-ubyte")
        }
        try withTemporaryDirectory { dir in
            let output = try Self.make(dir)
            // One mask too few.
            let url = output.appendingPathComponent("t10k-masks-idx3-ubyte")
            try write(MNISTSegmentation.encodeMasks([UInt8](repeating: 0, count: 3 * 4096), count: 3), to: url)
            expectDataError(.countMismatch, naming: "t10k-masks-idx3-ubyte") { _ = try MNISTSegmentation.loadDirectory(output) }
            try FileManager.default.removeItem(at: url)
            expectDataError(.unreadable, naming: "t10k-masks-idx3-ubyte") { _ = try MNISTSegmentation.loadDirectory(output) }
        }
    }
}
