import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

@Suite struct MNISTTests {
    let images = sampleImages(5, 1, 4, 3)
    let labels = [3, 0, 9, 1, 7]

    @Test func roundTripRawAndGzip() throws {
        try withTemporaryDirectory { dir in
            for gz in [false, true] {
                let suffix = gz ? ".gz" : ""
                let imageBytes = MNIST.encodeImages(images), labelBytes = MNIST.encodeLabels(labels)
                try write(gz ? Gzip.compress(imageBytes) : imageBytes, to: dir.appendingPathComponent("i\(suffix)"))
                try write(gz ? Gzip.compress(labelBytes) : labelBytes, to: dir.appendingPathComponent("l\(suffix)"))
                let dataset = try MNIST.load(
                    images: dir.appendingPathComponent("i\(suffix)"), labels: dir.appendingPathComponent("l\(suffix)"), name: "t")
                #expect(dataset.images.shape == [5, 1, 4, 3])
                #expect(dataset.sampleShape == [1, 4, 3])
                #expect(dataset.images.isClose(to: images, relativeTolerance: 0, absoluteTolerance: 1e-6))
                #expect(dataset.labels == labels)
                #expect(dataset.classCount == 10)
                #expect(dataset.images.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
            }
        }
    }

    @Test func loadsStandardDirectory() throws {
        try withTemporaryDirectory { dir in
            try write(Gzip.compress(MNIST.encodeImages(images)), to: dir.appendingPathComponent("train-images-idx3-ubyte.gz"))
            try write(MNIST.encodeLabels(labels), to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
            try write(MNIST.encodeImages(sampleImages(2, 1, 4, 3, seed: 9)), to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
            try write(Gzip.compress(MNIST.encodeLabels([4, 2])), to: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
            let (train, test) = try MNIST.loadDirectory(dir)
            #expect(train.count == 5 && test.count == 2)
            #expect(train.name == "mnist-train" && test.name == "mnist-test")
            #expect(test.labels == [4, 2])
        }
    }

    @Test func missingDirectoryFileNamesIt() throws {
        try withTemporaryDirectory { dir in
            expectDataError(.unreadable, naming: "train-images-idx3-ubyte") { _ = try MNIST.loadDirectory(dir) }
            expectDataError(.unreadable, naming: "nothing.gz") { _ = try MNIST.readImages(at: dir.appendingPathComponent("nothing.gz")) }
        }
    }

    @Test func badMagic() {
        var bytes = MNIST.encodeImages(images)
        expectDataError(.badMagic, naming: "x-images") { _ = try MNIST.parseLabels(bytes, file: "x-images") }
        bytes[3] = 0x02
        expectDataError(.badMagic, naming: "imgs") { _ = try MNIST.parseImages(bytes, file: "imgs") }
        expectDataError(.badMagic, naming: "lbls") { _ = try MNIST.parseLabels(MNIST.encodeImages(images), file: "lbls") }
    }

    @Test func truncatedFiles() {
        let bytes = MNIST.encodeImages(images)
        expectDataError(.truncated, naming: "a") { _ = try MNIST.parseImages(Array(bytes.prefix(10)), file: "a") }
        expectDataError(.truncated, naming: "b") { _ = try MNIST.parseImages(Array(bytes.dropLast()), file: "b") }
        expectDataError(.truncated, naming: "c") { _ = try MNIST.parseLabels(Array(MNIST.encodeLabels(labels).dropLast()), file: "c") }
        expectDataError(.truncated, naming: "d") { _ = try MNIST.parseLabels([0, 0, 8], file: "d") }
        expectDataError(.invalidSize, naming: "e") { _ = try MNIST.parseImages(bytes + [0], file: "e") }
        // A header declaring 2³²−1 images of 2³²−1 × 2³²−1 pixels must not overflow.
        expectDataError(.truncated, naming: "f") {
            _ = try MNIST.parseImages([0, 0, 8, 3] + [UInt8](repeating: 0xFF, count: 12), file: "f")
        }
    }

    @Test func truncatedGzip() throws {
        try withTemporaryDirectory { dir in
            let gz = Gzip.compress(MNIST.encodeImages(images))
            let url = dir.appendingPathComponent("train-images-idx3-ubyte.gz")
            try write(Array(gz.dropLast(12)), to: url)
            expectDataError(.decompression, naming: "train-images-idx3-ubyte.gz") { _ = try MNIST.readImages(at: url) }
        }
    }

    /// A small gzip whose header declares 2 images of 28×28 followed by 16 MB of zeros
    /// (about 16 kB compressed): rejected after inflating at most the declared
    /// 16 + 2·784 = 1584 bytes (+1 to see the excess), not the whole stream.
    @Test func gzipInflatesOnlyWhatTheHeaderDeclares() throws {
        let header = MNIST.encodeImages(Tensor.zeros([2, 1, 28, 28]))
        let bomb = Gzip.compress(header + [UInt8](repeating: 0, count: 16 << 20), level: 9)
        #expect(bomb.count < 100_000)
        let error = #expect(throws: DataError.self) { try MNIST.parseImagesFile(bomb, file: "bomb-images.gz") }
        #expect(error?.kind == .invalidSize)
        #expect(error?.file == "bomb-images.gz" && error?.field == "decompressed size")
        #expect(error?.expected.hasPrefix("1584 decompressed bytes") == true, "\(String(describing: error))")
        #expect(error?.found == "more than 1584 bytes (trailing data)")
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("train-images-idx3-ubyte.gz")
            try write(bomb, to: url)
            expectDataError(.invalidSize, naming: "train-images-idx3-ubyte.gz") { _ = try MNIST.readImages(at: url) }
        }
        // The same for labels: 3 declared, a megabyte present.
        let labelBomb = Gzip.compress(MNIST.encodeLabels([1, 2, 3]) + [UInt8](repeating: 0, count: 1 << 20))
        let labelError = #expect(throws: DataError.self) { try MNIST.parseLabelsFile(labelBomb, file: "l.gz") }
        #expect(labelError?.kind == .invalidSize && labelError?.found == "more than 11 bytes (trailing data)")
        // A short stream: 3 images declared, 2 present.
        var short = MNIST.encodeImages(Tensor.zeros([2, 1, 28, 28]))
        short[7] = 3
        let shortError = #expect(throws: DataError.self) { try MNIST.parseImagesFile(Gzip.compress(short), file: "s.gz") }
        #expect(shortError?.kind == .truncated && shortError?.field == "decompressed size")
        #expect(shortError?.expected.hasPrefix("2368 decompressed bytes") == true && shortError?.found == "1584 bytes")
        // Valid files still read, raw and gzip.
        #expect(try MNIST.parseImagesFile(Gzip.compress(header), file: "ok.gz").shape == [2, 1, 28, 28])
        #expect(try MNIST.parseLabelsFile(Gzip.compress(MNIST.encodeLabels([4, 5])), file: "ok.gz") == [4, 5])
        // The inflater itself stops at the limit and at a prefix.
        #expect(try Gzip.inflatePrefix(bomb, count: 16, file: "b") == Array(header.prefix(16)))
        let limited = #expect(throws: DataError.self) { try Gzip.inflate(bomb, file: "b", limit: 4096) }
        #expect(limited?.found == "more than 4096 decompressed bytes")
    }

    @Test func labelOutOfRange() {
        let error = #expect(throws: DataError.self) { try MNIST.parseLabels(MNIST.encodeLabels([1, 2, 10]), file: "labels") }
        #expect(error?.kind == .invalidLabel)
        #expect(error?.field == "label 2")
        #expect(error?.found == "10")
    }

    @Test func countMismatchNamesBothFiles() throws {
        try withTemporaryDirectory { dir in
            try write(MNIST.encodeImages(images), to: dir.appendingPathComponent("imgs"))
            try write(MNIST.encodeLabels([1, 2]), to: dir.appendingPathComponent("lbls"))
            let error = #expect(throws: DataError.self) {
                try MNIST.load(images: dir.appendingPathComponent("imgs"), labels: dir.appendingPathComponent("lbls"), name: "x")
            }
            #expect(error?.kind == .countMismatch)
            #expect(error?.description.contains("imgs") == true && error?.description.contains("lbls") == true)
        }
    }

    @Test func rankFourImagesRoundTripAsChannels() throws {
        // Colored MNIST's [N, 2, H, W] images: magic 2052 and four extents, raw or gzip.
        let colored = sampleImages(3, 2, 4, 5, seed: 4)
        let bytes = MNIST.encodeImages(colored)
        #expect(Array(bytes.prefix(20)) == [0, 0, 8, 4, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 5])
        #expect(bytes.count == 20 + 3 * 2 * 4 * 5)
        for stored in [bytes, Gzip.compress(bytes)] {
            let parsed = try MNIST.parseImagesFile(stored, file: "c")
            #expect(parsed.shape == [3, 2, 4, 5])
            #expect(parsed.isClose(to: colored, relativeTolerance: 0, absoluteTolerance: 1e-6))
        }
        // Single-channel rank-4 tensors stay rank-3 files (what every MNIST tool reads).
        #expect(Array(MNIST.encodeImages(images).prefix(4)) == [0, 0, 8, 3])
        try withTemporaryDirectory { dir in
            try write(bytes, to: dir.appendingPathComponent("train-images-idx3-ubyte"))
            try write(MNIST.encodeLabels([1, 0, 1]), to: dir.appendingPathComponent("train-labels-idx1-ubyte"))
            try write(MNIST.encodeImages(sampleImages(1, 2, 4, 5)), to: dir.appendingPathComponent("t10k-images-idx3-ubyte"))
            try write(MNIST.encodeLabels([0]), to: dir.appendingPathComponent("t10k-labels-idx1-ubyte"))
            let (train, test) = try MNIST.loadDirectory(dir)
            #expect(train.sampleShape == [2, 4, 5] && test.sampleShape == [2, 4, 5])
        }
    }

    @Test func rankFourErrorsNameTheFile() {
        let bytes = MNIST.encodeImages(sampleImages(2, 2, 3, 3))
        expectDataError(.truncated, naming: "r4") { _ = try MNIST.parseImages(Array(bytes.dropLast()), file: "r4") }
        expectDataError(.invalidSize, naming: "r4") { _ = try MNIST.parseImages(bytes + [7], file: "r4") }
        expectDataError(.truncated, naming: "r4") { _ = try MNIST.parseImages(Array(bytes.prefix(18)), file: "r4") }
        var zeroChannels = bytes
        zeroChannels[11] = 0
        expectDataError(.invalidSize, naming: "r4") { _ = try MNIST.parseImages(zeroChannels, file: "r4") }
    }

    /// Uses the real MNIST files only when `scripts/fetch_mnist.py` has written them.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: repositoryRoot.appendingPathComponent("data/mnist/t10k-labels-idx1-ubyte.gz").path)))
    func realMNISTIfPresent() throws {
        let dir = repositoryRoot.appendingPathComponent("data/mnist")
        let test = try MNIST.load(
            images: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz"),
            labels: dir.appendingPathComponent("t10k-labels-idx1-ubyte.gz"), name: "mnist-test")
        #expect(test.images.shape == [10000, 1, 28, 28])
        #expect(Array(test.labels.prefix(5)) == [7, 2, 1, 0, 4])
        #expect(test.classHistogram == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        let trainLabels = try MNIST.readLabels(at: dir.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        #expect(trainLabels.count == 60000)
        #expect(Array(trainLabels.prefix(5)) == [5, 0, 4, 1, 9])
    }
}
