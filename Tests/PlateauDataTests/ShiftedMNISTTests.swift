import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// `plateau data make`'s generators on a synthetic 20 + 10 image MNIST (never the real one).
@Suite struct ShiftedMNISTTests {
    /// A bar of varying length per image, so rotations and colours are visible.
    static func syntheticImages(_ n: Int, offset: Int) -> Tensor {
        var pixels = [Float](repeating: 0, count: n * 784)
        for i in 0..<n {
            for y in (6 + (i + offset) % 5)..<22 {
                for x in 9..<19 where (x + y + i) % 3 != 0 { pixels[i * 784 + y * 28 + x] = Float(100 + 7 * i) / 255 }
            }
        }
        return Tensor(shape: [n, 1, 28, 28], scalars: pixels)
    }

    static let trainLabels = (0..<20).map { ($0 * 7) % 10 }
    static let testLabels = (0..<10).map { (9 - $0) % 10 }

    /// Writes the synthetic MNIST into `directory` (the training images gzip-compressed, as
    /// the real download is).
    static func writeSource(_ directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write(Gzip.compress(MNIST.encodeImages(syntheticImages(20, offset: 0))), to: directory.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try write(MNIST.encodeLabels(trainLabels), to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        try write(MNIST.encodeImages(syntheticImages(10, offset: 3)), to: directory.appendingPathComponent("t10k-images-idx3-ubyte"))
        try write(MNIST.encodeLabels(testLabels), to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
    }

    /// SHA-256 of every regular file under `directory`, by relative path (links not followed).
    static func digests(_ directory: URL) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory.path)!
        while let path = enumerator.nextObject() as? String {
            let url = directory.appendingPathComponent(path)
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            if attributes[.type] as? FileAttributeType == .typeRegular {
                result[path] = SHA256.hexDigest([UInt8](try Data(contentsOf: url)))
            }
        }
        return result
    }

    static func options(seed: UInt64 = 0, corruptions: [Corruption] = [.gaussianNoise, .fog], severities: [Int] = [1, 5]) -> ShiftedMNIST.Options {
        var options = ShiftedMNIST.Options()
        options.seed = seed
        options.corruptions = corruptions
        options.severities = severities
        // mnist-seg: a few images keep the all-kinds tests fast.
        options.segmentationTrainCount = 6
        options.segmentationTestCount = 3
        return options
    }

    @Test func rotatedMNISTDealsDisjointDomainsAndRotatesThem() throws {
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src"), output = dir.appendingPathComponent("out")
            try Self.writeSource(source)
            var lines: [String] = []
            let manifest = try ShiftedMNIST.make(.rotatedMNIST, from: source, to: output, options: Self.options(seed: 3)) { lines.append($0) }
            #expect(manifest.domains.map(\.name) == ["rot0", "rot15", "rot30", "rot45", "rot60", "rot75"])
            #expect(manifest.domains.map { $0.angleDegrees ?? -1 } == [0, 15, 30, 45, 60, 75])
            #expect(lines.count == 6 && lines[1].hasPrefix("rot15:"))
            // 20 images dealt round-robin: 4, 4, 3, 3, 3, 3; the last 20% (rounded) of each is test.
            #expect(manifest.domains.map(\.trainCount) == [3, 3, 2, 2, 2, 2])
            #expect(manifest.domains.map(\.testCount) == [1, 1, 1, 1, 1, 1])
            let dealt = ShiftedMNIST.dealt(count: 20, into: 6, seed: 3)
            #expect(dealt.flatMap { $0 }.sorted() == Array(0..<20))
            let source20 = Self.syntheticImages(20, offset: 0)
            let sourceImages = ShiftedMNIST.grayImages(Dataset(name: "s", images: source20, labels: Self.trainLabels, classCount: 10))
            let shifted = try ShiftedDataset(directory: output)
            for (d, domain) in shifted.domains.enumerated() {
                let (train, test) = try shifted.load(domain)
                #expect(train.labels + test.labels == dealt[d].map { Self.trainLabels[$0] })
                let expected = ShiftedMNIST.tensor(dealt[d].map { ImageTransforms.rotate(sourceImages[$0], degrees: domain.angleDegrees!) })
                let written = Tensor(shape: [dealt[d].count, 1, 28, 28], scalars: train.images.scalars + test.images.scalars)
                // Stored as bytes: within half a grey level of the float rotation.
                #expect(written.isClose(to: expected, relativeTolerance: 0, absoluteTolerance: 0.5 / 255 + 1e-6))
            }
            // Environments keep their domain: DomainBed's leave-one-out reads all but one.
            let environments = try shifted.environments(names: ["rot75", "rot15"])
            #expect(environments.map(\.domain.angleDegrees) == [75, 15])
            #expect(environments.map(\.data.count) == [2, 3])
            #expect(try shifted.environments(test: true).map(\.data.count) == [1, 1, 1, 1, 1, 1])
            expectDataError(.invalidArgument, naming: "manifest.json") { _ = try shifted.environments(names: ["rot90"]) }
            // rot0 is the source itself, byte for byte.
            let rot0 = try shifted.load(shifted.domain(named: "rot0"))
            #expect(rot0.train.images.scalars == source20.gathering(Array(dealt[0].prefix(3)), alongAxis: 0).scalars)
        }
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() throws {
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src")
            try Self.writeSource(source)
            for kind in ShiftedMNIST.Kind.allCases {
                let a = dir.appendingPathComponent("\(kind.rawValue)-a"), b = dir.appendingPathComponent("\(kind.rawValue)-b")
                let c = dir.appendingPathComponent("\(kind.rawValue)-c")
                try ShiftedMNIST.make(kind, from: source, to: a, options: Self.options(seed: 5))
                try ShiftedMNIST.make(kind, from: source, to: b, options: Self.options(seed: 5))
                try ShiftedMNIST.make(kind, from: source, to: c, options: Self.options(seed: 6))
                let first = try Self.digests(a), second = try Self.digests(b), third = try Self.digests(c)
                #expect(first.keys.contains("manifest.json"), "\(kind)")
                #expect(first == second, "\(kind): the same seed gave different bytes")
                #expect(first != third, "\(kind): another seed gave the same bytes")
            }
        }
    }

    @Test func manifestRecordsSourcesFilesAndParameters() throws {
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src"), output = dir.appendingPathComponent("out")
            try Self.writeSource(source)
            let manifest = try ShiftedMNIST.make(.mnistC, from: source, to: output, options: Self.options(seed: 9))
            let read = try DomainManifest.read(from: output)
            #expect(read == manifest)
            #expect(read.kind == "mnist-c" && read.seed == 9 && read.format == DomainManifest.currentFormat)
            // The source as stored (the gzip file's own digest).
            let stored = [UInt8](try Data(contentsOf: source.appendingPathComponent("train-images-idx3-ubyte.gz")))
            #expect(read.source.first == DomainManifest.FileRecord(name: "train-images-idx3-ubyte.gz", bytes: stored.count, sha256: SHA256.hexDigest(stored)))
            #expect(read.domains.map(\.name) == ["clean", "gaussian_noise/1", "gaussian_noise/5", "fog/1", "fog/5"])
            let noise = read.domains[2]
            #expect(noise.corruption == "gaussian_noise" && noise.severity == 5 && noise.parameters == ["sigma": 0.38])
            #expect(noise.testCount == 10 && noise.trainCount == 20)
            // Every recorded file is on disk with that digest; links point at clean/.
            for domain in read.domains {
                for file in domain.files {
                    let url = output.appendingPathComponent(domain.directory).appendingPathComponent(file.name)
                    let bytes = [UInt8](try Data(contentsOf: url))
                    #expect(bytes.count == file.bytes && SHA256.hexDigest(bytes) == file.sha256, "\(domain.name)/\(file.name)")
                    #expect(file.linkTo == nil || file.linkTo == "../../clean/\(file.name)")
                }
            }
            // Sorted keys, snake_case.
            let text = String(decoding: try Data(contentsOf: output.appendingPathComponent("manifest.json")), as: UTF8.self)
            #expect(text.contains("\"test_count\" : 10") && text.contains("\"link_to\" : \"../../clean/train-images-idx3-ubyte\""))
            let keys = try (JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]).keys.sorted()
            let order = ["domains", "format", "kind", "notes", "parameters", "seed", "source"]
            #expect(keys == order)
            #expect(text.range(of: "\"domains\"")!.lowerBound < text.range(of: "\"format\"")!.lowerBound)
            #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent(".manifest.json.tmp-\(ProcessInfo.processInfo.processIdentifier)").path))
        }
    }

    @Test func mnistCLoadsAsWholeDirectoriesAndStreamsDoNotDependOnTheSelection() throws {
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src")
            try Self.writeSource(source)
            let both = dir.appendingPathComponent("both"), fogOnly = dir.appendingPathComponent("fog")
            try ShiftedMNIST.make(.mnistC, from: source, to: both, options: Self.options())
            try ShiftedMNIST.make(.mnistC, from: source, to: fogOnly, options: Self.options(corruptions: [.fog], severities: [5]))
            #expect(try Self.digests(both)["fog/5/t10k-images-idx3-ubyte"] == Self.digests(fogOnly)["fog/5/t10k-images-idx3-ubyte"])
            let shifted = try ShiftedDataset(directory: both)
            let clean = try shifted.load(shifted.domain(named: "clean"))
            let (train, test) = try shifted.load(shifted.domain(named: "gaussian_noise/5"))
            #expect(train.images.scalars == clean.train.images.scalars && train.labels == Self.trainLabels)
            #expect(test.labels == Self.testLabels && test.count == 10)
            #expect(test.images.scalars != clean.test.images.scalars)
            #expect(clean.test.images.scalars == Self.syntheticImages(10, offset: 3).scalars)
            // The corrupted file is the corruption applied to the clean image, image by image,
            // with stream 5·k + s of the seed (gaussian_noise is k = 0).
            var generator = SeededGenerator(seed: ShiftedMNIST.stream(0, 5))
            let expected = ShiftedMNIST.grayImages(clean.test).map { Corruption.gaussianNoise.apply($0, severity: 5, using: &generator) }
            #expect(test.images.isClose(to: ShiftedMNIST.tensor(expected), relativeTolerance: 0, absoluteTolerance: 0.5 / 255 + 1e-6))
            expectDataError(.invalidArgument, naming: "manifest.json") { _ = try shifted.domain(named: "snow/3") }
        }
    }

    @Test func coloredMNISTHasTwoChannelsAndTheDocumentedLabels() throws {
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src"), output = dir.appendingPathComponent("out")
            try Self.writeSource(source)
            let manifest = try ShiftedMNIST.make(.coloredMNIST, from: source, to: output, options: Self.options(seed: 2))
            #expect(manifest.domains.map(\.name) == ["+90%", "+80%", "-90%"])
            #expect(manifest.domains.map(\.directory) == ["plus90", "plus80", "minus90"])
            #expect(manifest.domains.map { $0.colorFlipProbability ?? -1 } == [0.1, 0.2, 0.9])
            let shifted = try ShiftedDataset(directory: output)
            for domain in shifted.domains {
                let (train, test) = try shifted.load(domain)
                #expect(train.sampleShape == [2, 28, 28] && test.sampleShape == [2, 28, 28])
                let directory = shifted.directory(of: domain)
                let colors = try MNIST.readLabels(at: directory.appendingPathComponent("train-colors-idx1-ubyte"))
                let digits = try MNIST.readLabels(at: directory.appendingPathComponent("train-digits-idx1-ubyte"))
                let scalars = train.images.scalars
                for i in 0..<train.count {
                    #expect(train.labels[i] == 0 || train.labels[i] == 1)
                    let red = scalars[(i * 2 * 784)..<(i * 2 * 784 + 784)], green = scalars[(i * 2 * 784 + 784)..<((i + 1) * 2 * 784)]
                    // The digit sits in exactly the colour's channel.
                    #expect(colors[i] == 0 ? (green.allSatisfy { $0 == 0 } && red.contains { $0 > 0 }) : (red.allSatisfy { $0 == 0 } && green.contains { $0 > 0 }))
                    #expect(Self.trainLabels.contains(digits[i]))
                }
            }
        }
    }

    @Test func coloredSampleFollowsDomainBedsRule() {
        // Replaying the two uniforms: label = [digit < 5] XOR (u₁ < 0.25), colour = label XOR (u₂ < flip).
        let image = GrayImage(height: 2, width: 2, pixels: [0, 1, 0.5, 0])
        for seed in UInt64(0)..<20 {
            var generator = SeededGenerator(seed: seed), replay = generator
            let (label, color, planes) = ShiftedMNIST.colored(image, digit: 3, flip: 0.9, using: &generator)
            let expectedLabel = 1 ^ (replay.uniform() < 0.25 ? 1 : 0)
            let expectedColor = expectedLabel ^ (replay.uniform() < 0.9 ? 1 : 0)
            #expect(label == expectedLabel && color == expectedColor)
            #expect(planes == (color == 0 ? image.pixels + [0, 0, 0, 0] : [0, 0, 0, 0] + image.pixels))
        }
    }

    @Test func multiMNISTOverlaysTwoDigitsWithTwoLabelFiles() throws {
        // The pure overlay: left at (0, 0), right shifted by 8 on both axes, maximum where they meet.
        var left = GrayImage(height: 28, width: 28), right = GrayImage(height: 28, width: 28)
        left[0, 0] = 1
        left[10, 10] = 0.25
        right[0, 0] = 0.5
        right[2, 2] = 0.75
        let canvas = ShiftedMNIST.overlay(left, right, size: 36)
        #expect(canvas.height == 36 && canvas[0, 0] == 1 && canvas[8, 8] == 0.5 && canvas[10, 10] == 0.75)
        #expect(canvas.pixels.filter { $0 > 0 }.count == 3)
        #expect(ShiftedMNIST.overlay(left, right, size: 28).height == 28)
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src")
            try Self.writeSource(source)
            for size in [28, 36] {
                let output = dir.appendingPathComponent("out\(size)")
                var options = Self.options(seed: 4)
                options.multiSize = size
                try ShiftedMNIST.make(.multiMNIST, from: source, to: output, options: options)
                let (train, test) = try MNIST.loadDirectory(output)
                #expect(train.sampleShape == [1, size, size] && test.count == 10)
                #expect(train.labels == Self.trainLabels, "the standard label file is the left digit")
                let right = try MNIST.readLabels(at: output.appendingPathComponent("train-labels-right-idx1-ubyte"))
                var generator = SeededGenerator(seed: ShiftedMNIST.stream(4, 200))
                let partners = (0..<20).map { ShiftedMNIST.partner(of: $0, count: 20, using: &generator) }
                #expect(partners.enumerated().allSatisfy { $0.offset != $0.element })
                #expect(right == partners.map { Self.trainLabels[$0] })
                #expect(try MNIST.readLabels(at: output.appendingPathComponent("t10k-labels-right-idx1-ubyte")).count == 10)
            }
        }
    }

    @Test func missingSourceFilesAreNamed() throws {
        try withTemporaryDirectory { dir in
            let source = dir.appendingPathComponent("src")
            try Self.writeSource(source)
            try FileManager.default.removeItem(at: source.appendingPathComponent("t10k-labels-idx1-ubyte"))
            expectDataError(.unreadable, naming: "t10k-labels-idx1-ubyte") {
                try ShiftedMNIST.make(.rotatedMNIST, from: source, to: dir.appendingPathComponent("out"))
            }
            expectDataError(.unreadable, naming: "nowhere") {
                try ShiftedMNIST.make(.rotatedMNIST, from: dir.appendingPathComponent("nowhere"), to: dir.appendingPathComponent("out"))
            }
        }
    }

    @Test func manifestReadErrorsNameTheManifest() throws {
        try withTemporaryDirectory { dir in
            expectDataError(.unreadable, naming: "manifest.json") { _ = try DomainManifest.read(from: dir) }
            let url = dir.appendingPathComponent("manifest.json")
            try Data("{\"kind\": 3}".utf8).write(to: url)
            expectDataError(.invalidHeader, naming: "manifest.json") { _ = try DomainManifest.read(from: dir) }
            try Data("not json".utf8).write(to: url)
            expectDataError(.invalidHeader, naming: "manifest.json") { _ = try DomainManifest.read(from: dir) }
            var manifest = DomainManifest(kind: "rotated-mnist", seed: 1, source: [])
            manifest.format = "something-else/9"
            try manifest.write(to: dir)
            expectDataError(.invalidHeader, naming: "manifest.json") { _ = try DomainManifest.read(from: dir) }
            try Data("{\"format\": \"plateau-shifted-mnist/1\", \"kind\": \"x\", \"seed\": 0, \"source\": [], \"parameters\": {}, \"notes\": []}".utf8).write(to: url)
            var missing: DataError?
            do { _ = try DomainManifest.read(from: dir) } catch let error as DataError { missing = error }
            #expect(missing?.field == "domains", "\(String(describing: missing))")
        }
    }
}
