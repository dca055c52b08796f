import Foundation
import PlateauTensor

/// The generators of `plateau data make`: shifted variants of MNIST written as standard IDX
/// directories (readable by `--dataset mnist --data-dir`) with a ``DomainManifest``.
///
/// Every random draw comes from a ``SeededGenerator`` derived from the seed and a fixed
/// stream number, so the same source and seed give the same bytes, and generating a subset
/// of MNIST-C's corruptions gives the same bytes for those corruptions.
///
/// Kinds (details and formulas in docs/data.md):
/// - `rotated-mnist` (DomainBed): the training images, shuffled with the seed, dealt round-robin
///   into six domains (`shuffled[d], shuffled[d+6], …`), rotated by 0°, 15°, …, 75°; each
///   domain's last `testFraction` is its `t10k-*` test file.
/// - `mnist-c`: the test images under each ``Corruption`` at severities 1…5, plus `clean/`
///   (the source re-encoded uncompressed); each `<corruption>/<severity>/` links to `clean/`'s
///   training files so it loads as a whole MNIST directory.
/// - `colored-mnist` (DomainBed): binary label `digit < 5` flipped with probability 0.25, a
///   colour that disagrees with it with probability 0.1, 0.2, 0.9 per environment; images
///   `[2, 28, 28]` (red, green), written as rank-4 IDX files.
/// - `multi-mnist`: two digits on a 36×36 canvas (upper-left and lower-right, pixel-wise max),
///   optionally area-resized to 28×28, with a second label file for the right digit.
public enum ShiftedMNIST {
    /// The kinds `plateau data make` knows.
    public enum Kind: String, CaseIterable, Sendable {
        case rotatedMNIST = "rotated-mnist"
        case mnistC = "mnist-c"
        case coloredMNIST = "colored-mnist"
        case multiMNIST = "multi-mnist"
        case mnistSeg = "mnist-seg"
    }

    /// Settings of a generation run.
    public struct Options: Sendable {
        public var seed: UInt64 = 0
        /// The fraction of each domain kept as its test file (rotated and colored MNIST).
        public var testFraction: Double = 0.2
        /// Multi-MNIST's output side: 36 (the canvas) or 28 (area-resized).
        public var multiSize: Int = 28
        /// MNIST-C's corruptions and severities to write.
        public var corruptions: [Corruption] = Corruption.allCases
        public var severities: [Int] = Array(Corruption.severities)
        /// mnist-seg: images written per split.
        public var segmentationTrainCount = 10_000
        public var segmentationTestCount = 2_000

        public init() {}
    }

    /// DomainBed's Rotated MNIST angles.
    public static let rotationAngles: [Double] = [0, 15, 30, 45, 60, 75]
    /// DomainBed's Colored MNIST environments: name, directory, colour-flip probability.
    public static let colorEnvironments: [(name: String, directory: String, flip: Double)] = [
        ("+90%", "plus90", 0.1), ("+80%", "plus80", 0.2), ("-90%", "minus90", 0.9),
    ]
    /// Colored MNIST's label noise.
    public static let colorLabelNoise = 0.25
    /// The right digit's label file of Multi-MNIST (the left digit's is the standard name).
    public static let rightLabelsSuffix = "-labels-right-idx1-ubyte"
    /// Multi-MNIST: canvas side and the right digit's offset (both axes).
    public static let multiCanvas = 36, multiOffset = 8

    /// Writes `kind` made from the MNIST directory `source` into `output` (which must exist
    /// and be empty of earlier results — the command checks), calling `progress` with one line
    /// per domain written. Returns the manifest, also written as `output/manifest.json`.
    @discardableResult
    public static func make(
        _ kind: Kind, from source: URL, to output: URL, options: Options = Options(), progress: (String) -> Void = { _ in }
    ) throws -> DomainManifest {
        let (records, train, test) = try readSource(source)
        var manifest = DomainManifest(kind: kind.rawValue, seed: options.seed, source: records)
        switch kind {
        case .rotatedMNIST: try makeRotated(train, into: output, options: options, manifest: &manifest, progress: progress)
        case .mnistC: try makeCorrupted(train: train, test: test, into: output, options: options, manifest: &manifest, progress: progress)
        case .coloredMNIST: try makeColored(train, into: output, options: options, manifest: &manifest, progress: progress)
        case .multiMNIST: try makeMulti(train: train, test: test, into: output, options: options, manifest: &manifest, progress: progress)
        case .mnistSeg: try MNISTSegmentation.make(train: train, test: test, into: output, options: options, manifest: &manifest, progress: progress)
        }
        try manifest.write(to: output)
        return manifest
    }

    // MARK: - Rotated MNIST

    static func makeRotated(
        _ train: Dataset, into output: URL, options: Options, manifest: inout DomainManifest, progress: (String) -> Void
    ) throws {
        let images = grayImages(train)
        let domains = dealt(count: images.count, into: rotationAngles.count, seed: options.seed)
        manifest.parameters = ["test_fraction": options.testFraction, "domains": Double(rotationAngles.count)]
        manifest.notes = [
            "DomainBed Rotated MNIST: the source training images are permuted with the seed (Fisher-Yates, Batches.permutation(seed, epoch 0)) and dealt round-robin, domain d taking permuted positions d, d+6, d+12, ...; DomainBed pools the 70,000 train+test images, here only the 60,000 training images are used so MNIST's t10k set stays unseen.",
            "Each domain is rotated counter-clockwise about the image centre ((w-1)/2, (h-1)/2), bilinear, zero fill, then stored as round(255*x).",
            "Each domain's first (1 - test_fraction) samples (in dealt order) are train-*, the rest t10k-*.",
        ]
        for (d, angle) in rotationAngles.enumerated() {
            let name = "rot\(Int(angle))"
            let indices = domains[d]
            let rotated = indices.map { ImageTransforms.rotate(images[$0], degrees: angle) }
            let labels = indices.map { train.labels[$0] }
            let directory = output.appendingPathComponent(name)
            let (trainCount, files) = try writeSplit(rotated, labels: labels, testFraction: options.testFraction, into: directory, prefix: name)
            manifest.domains.append(DomainManifest.Domain(
                name: name, directory: name, angleDegrees: angle,
                formula: "bilinear rotation by \(Int(angle)) degrees counter-clockwise about the centre, zero fill",
                trainCount: trainCount, testCount: rotated.count - trainCount, files: files))
            progress("\(name): \(trainCount) train + \(rotated.count - trainCount) test images rotated by \(Int(angle))°")
        }
    }

    /// Indices `0..<count` permuted with the seed and dealt round-robin into `parts` lists.
    static func dealt(count: Int, into parts: Int, seed: UInt64) -> [[Int]] {
        let permutation = Batches.permutation(count: count, seed: seed, epoch: 0)
        return (0..<parts).map { d in stride(from: d, to: count, by: parts).map { permutation[$0] } }
    }

    // MARK: - MNIST-C

    static func makeCorrupted(
        train: Dataset, test: Dataset, into output: URL, options: Options, manifest: inout DomainManifest,
        progress: (String) -> Void
    ) throws {
        let images = grayImages(test)
        manifest.notes = [
            "MNIST-C-style corrupted test sets: <corruption>/<severity>/t10k-* hold the corrupted source test images (same order, same labels); their train-* files are symbolic links to clean/, the source re-encoded uncompressed.",
            "Each corruption is a formula on [0,1] pixels, clamped to [0,1], stored as round(255*x). Random draws for corruption k (Corruption.allCases order) at severity s come from SeededGenerator(seed: stream(seed, 5k+s)), images in source order, pixels in row-major order.",
        ]
        let clean = output.appendingPathComponent("clean")
        var cleanFiles = try writeIDX(images: train.images, labels: train.labels, split: "train", into: clean)
        cleanFiles += try writeIDX(images: test.images, labels: test.labels, split: "t10k", into: clean)
        manifest.domains.append(DomainManifest.Domain(
            name: "clean", directory: "clean", severity: 0, formula: "x (the source, uncompressed)",
            trainCount: train.count, testCount: test.count, files: cleanFiles))
        progress("clean: \(train.count) train + \(test.count) test images copied")
        let trainRecords = cleanFiles.filter { $0.name.hasPrefix("train-") }
        for corruption in options.corruptions {
            let k = Corruption.allCases.firstIndex(of: corruption)!
            for severity in options.severities {
                var generator = SeededGenerator(seed: stream(options.seed, 5 * k + severity))
                let corrupted = images.map { corruption.apply($0, severity: severity, using: &generator) }
                let name = "\(corruption.rawValue)/\(severity)"
                let directory = output.appendingPathComponent(name)
                var files = try writeIDX(images: tensor(corrupted), labels: test.labels, split: "t10k", into: directory)
                for record in trainRecords {
                    let link = directory.appendingPathComponent(record.name)
                    let target = "../../clean/\(record.name)"
                    do {
                        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target)
                    } catch {
                        throw DataError(.unwritable, file: record.name, field: "symbolic link", expected: "a link at \(link.path)", found: error.localizedDescription)
                    }
                    files.append(DomainManifest.FileRecord(name: record.name, bytes: record.bytes, sha256: record.sha256, linkTo: target))
                }
                manifest.domains.append(DomainManifest.Domain(
                    name: name, directory: name, corruption: corruption.rawValue, severity: severity,
                    formula: corruption.formula, parameters: corruption.parameters(severity: severity),
                    trainCount: train.count, testCount: test.count, files: files))
                let parameters = corruption.parameters(severity: severity).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                progress("\(name): \(test.count) test images (\(parameters.joined(separator: ", ")))")
            }
        }
    }

    /// The seed of random stream `index` under `seed` (SplitMix64-mixed, so nearby indices
    /// give unrelated streams).
    static func stream(_ seed: UInt64, _ index: Int) -> UInt64 {
        var generator = SeededGenerator(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        return generator.next()
    }

    // MARK: - Colored MNIST

    static func makeColored(
        _ train: Dataset, into output: URL, options: Options, manifest: inout DomainManifest, progress: (String) -> Void
    ) throws {
        let images = grayImages(train)
        let environments = dealt(count: images.count, into: colorEnvironments.count, seed: options.seed)
        manifest.parameters = ["test_fraction": options.testFraction, "label_noise": colorLabelNoise]
        manifest.notes = [
            "DomainBed Colored MNIST: the source training images are permuted with the seed and dealt round-robin into three environments (+90%, +80%, -90%); DomainBed pools train+test and halves the resolution to 14x14, here the 60,000 training images are used at 28x28.",
            "Label y = 1 if digit < 5 else 0, flipped with probability 0.25 (the written label); colour = label XOR Bernoulli(color_flip_probability). Image [2,28,28]: channel 0 (red) holds the digit when colour = 0, channel 1 (green) when colour = 1, the other channel is 0.",
            "Per sample, in dealt order: one uniform draw for the label flip, then one for the colour flip, from SeededGenerator(seed: stream(seed, 100+e)) for environment e.",
            "Images are rank-4 IDX files (magic 2052, extents N,2,28,28); train-colors-idx1-ubyte / t10k-colors-idx1-ubyte hold each sample's colour and train-digits-idx1-ubyte / t10k-digits-idx1-ubyte its original digit.",
        ]
        for (e, environment) in colorEnvironments.enumerated() {
            var generator = SeededGenerator(seed: stream(options.seed, 100 + e))
            let indices = environments[e]
            var labels: [Int] = [], colors: [Int] = [], pixels: [Float] = []
            pixels.reserveCapacity(indices.count * 2 * 784)
            for i in indices {
                let (label, color, planes) = colored(images[i], digit: train.labels[i], flip: environment.flip, using: &generator)
                labels.append(label)
                colors.append(color)
                pixels += planes
            }
            let side = images.first.map { ($0.height, $0.width) } ?? (28, 28)
            let all = Tensor(shape: [indices.count, 2, side.0, side.1], scalars: pixels)
            let directory = output.appendingPathComponent(environment.directory)
            let trainCount = indices.count - Int((options.testFraction * Double(indices.count)).rounded())
            let digits = indices.map { train.labels[$0] }
            var files: [DomainManifest.FileRecord] = []
            for (split, range) in [("train", 0..<trainCount), ("t10k", trainCount..<indices.count)] {
                files += try writeIDX(images: all.detached.gathering(Array(range), alongAxis: 0), labels: Array(labels[range]), split: split, into: directory)
                files.append(try writeFile(MNIST.encodeLabels(Array(colors[range])), named: "\(split)-colors-idx1-ubyte", in: directory))
                files.append(try writeFile(MNIST.encodeLabels(Array(digits[range])), named: "\(split)-digits-idx1-ubyte", in: directory))
            }
            manifest.domains.append(DomainManifest.Domain(
                name: environment.name, directory: environment.directory, colorFlipProbability: environment.flip,
                formula: "y = [digit < 5] XOR Bernoulli(0.25); colour = y XOR Bernoulli(\(environment.flip)); the digit in channel colour (0 red, 1 green)",
                parameters: ["label_noise": colorLabelNoise, "color_flip_probability": environment.flip],
                trainCount: trainCount, testCount: indices.count - trainCount, files: files))
            let agreement = zip(labels, colors).filter { $0 == $1 }.count
            progress("\(environment.directory) (\(environment.name)): \(trainCount) train + \(indices.count - trainCount) test images, colour agrees with label on \(agreement)/\(indices.count)")
        }
    }

    /// One Colored-MNIST sample: (noisy binary label, colour, red plane + green plane).
    /// Draws two uniforms: the label flip, then the colour flip.
    static func colored(_ image: GrayImage, digit: Int, flip: Double, using generator: inout SeededGenerator) -> (Int, Int, [Float]) {
        var label = digit < 5 ? 1 : 0
        if generator.uniform() < colorLabelNoise { label ^= 1 }
        var color = label
        if generator.uniform() < flip { color ^= 1 }
        let zeros = [Float](repeating: 0, count: image.pixels.count)
        return (label, color, color == 0 ? image.pixels + zeros : zeros + image.pixels)
    }

    // MARK: - Multi-MNIST

    static func makeMulti(
        train: Dataset, test: Dataset, into output: URL, options: Options, manifest: inout DomainManifest, progress: (String) -> Void
    ) throws {
        guard options.multiSize == 28 || options.multiSize == multiCanvas else {
            throw DataError(.invalidArgument, file: "multi-mnist", field: "size", expected: "28 or 36", found: "\(options.multiSize)")
        }
        manifest.parameters = ["canvas": Double(multiCanvas), "offset": Double(multiOffset), "size": Double(options.multiSize)]
        manifest.notes = [
            "Multi-MNIST (after Sabour et al. 2017 and Sener & Koltun 2018): sample i puts source image i at the upper-left of a 36x36 black canvas (rows and columns 0..27) and a partner image j != i, drawn uniformly from the same split, at the lower-right (offset 8,8); overlapping pixels take the maximum. With size 28 the canvas is area-averaged to 28x28.",
            "train-labels-idx1-ubyte / t10k-labels-idx1-ubyte: the left (upper-left) digit; train-labels-right-idx1-ubyte / t10k-labels-right-idx1-ubyte: the right (lower-right) digit.",
            "Partners are drawn from SeededGenerator(seed: stream(seed, 200)) for train and stream(seed, 201) for test.",
        ]
        var files: [DomainManifest.FileRecord] = []
        for (s, (split, dataset)) in [("train", train), ("t10k", test)].enumerated() {
            let images = grayImages(dataset)
            var generator = SeededGenerator(seed: stream(options.seed, 200 + s))
            var composed: [GrayImage] = [], right: [Int] = []
            for i in 0..<images.count {
                let j = partner(of: i, count: images.count, using: &generator)
                composed.append(overlay(images[i], images[j], size: options.multiSize))
                right.append(dataset.labels[j])
            }
            files += try writeIDX(images: tensor(composed, side: options.multiSize), labels: dataset.labels, split: split, into: output)
            files.append(try writeFile(MNIST.encodeLabels(right), named: split + rightLabelsSuffix, in: output))
            progress("\(split): \(images.count) images of \(options.multiSize)×\(options.multiSize) with two digits")
        }
        manifest.domains.append(DomainManifest.Domain(
            name: "multi-mnist", directory: ".", formula: "max(left at (0,0), right at (8,8)) on 36x36, area-resized to size",
            parameters: ["size": Double(options.multiSize)], trainCount: train.count, testCount: test.count, files: files))
    }

    /// A uniform index in `0..<count` other than `i` (itself when `count == 1`).
    static func partner(of i: Int, count: Int, using generator: inout SeededGenerator) -> Int {
        guard count > 1 else { return i }
        let j = Int(generator.uniform() * Double(count - 1))
        return j >= i ? j + 1 : j
    }

    /// `left` at the canvas's upper-left, `right` offset by ``multiOffset`` on both axes,
    /// pixel-wise maximum, area-resized to `size` when it is not the canvas side.
    public static func overlay(_ left: GrayImage, _ right: GrayImage, size: Int) -> GrayImage {
        let side = max(left.height, left.width) + multiOffset
        var canvas = GrayImage(height: side, width: side)
        for y in 0..<left.height { for x in 0..<left.width { canvas[x, y] = left[x, y] } }
        for y in 0..<right.height {
            for x in 0..<right.width { canvas[x + multiOffset, y + multiOffset] = max(canvas[x + multiOffset, y + multiOffset], right[x, y]) }
        }
        return size == side ? canvas : ImageTransforms.resizeArea(canvas, height: size, width: size)
    }

    // MARK: - Reading and writing

    /// The four source files of `directory` (raw or `.gz`); a missing directory or file is a
    /// ``DataError`` naming it. Cheap: lets a caller check `--from` before creating any output.
    @discardableResult
    public static func locateSource(_ directory: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError(.unreadable, file: directory.path, field: "--from", expected: "a directory holding the four MNIST IDX files", found: "no such directory")
        }
        let names = [
            [MNIST.trainImagesFile, "train-images.idx3-ubyte"], [MNIST.trainLabelsFile, "train-labels.idx1-ubyte"],
            [MNIST.testImagesFile, "t10k-images.idx3-ubyte"], [MNIST.testLabelsFile, "t10k-labels.idx1-ubyte"],
        ]
        return try names.map { try locate($0, in: directory) }
    }

    /// The source's stored files (name, size, SHA-256) and its training and test sets.
    static func readSource(_ directory: URL) throws -> ([DomainManifest.FileRecord], Dataset, Dataset) {
        var records: [DomainManifest.FileRecord] = []
        for url in try locateSource(directory) {
            let bytes = try readStoredBytes(of: url)
            records.append(DomainManifest.FileRecord(name: url.lastPathComponent, bytes: bytes.count, sha256: SHA256.hexDigest(bytes)))
        }
        let (train, test) = try MNIST.loadDirectory(directory)
        for dataset in [train, test] where dataset.sampleShape.count != 3 || dataset.sampleShape[0] != 1 {
            throw DataError(
                .invalidSize, file: directory.path, field: "image shape", expected: "single-channel images [1, H, W]",
                found: "\(dataset.sampleShape)")
        }
        return (records, train, test)
    }

    /// A dataset's images as ``GrayImage``s (single channel).
    static func grayImages(_ dataset: Dataset) -> [GrayImage] {
        let h = dataset.sampleShape[1], w = dataset.sampleShape[2]
        let scalars = dataset.images.scalars
        return (0..<dataset.count).map { i in GrayImage(height: h, width: w, pixels: Array(scalars[(i * h * w)..<((i + 1) * h * w)])) }
    }

    /// Images stacked as `[N, 1, side, side]` (`side` given for an empty list).
    static func tensor(_ images: [GrayImage], side: Int = 28) -> Tensor {
        let h = images.first?.height ?? side, w = images.first?.width ?? side
        return Tensor(shape: [images.count, 1, h, w], scalars: images.flatMap(\.pixels))
    }

    /// Writes the first `1 − testFraction` of the images as `train-*`, the rest as `t10k-*`;
    /// returns the training count and the file records.
    static func writeSplit(
        _ images: [GrayImage], labels: [Int], testFraction: Double, into directory: URL, prefix: String
    ) throws -> (Int, [DomainManifest.FileRecord]) {
        let trainCount = images.count - Int((testFraction * Double(images.count)).rounded())
        var files = try writeIDX(images: tensor(Array(images[..<trainCount])), labels: Array(labels[..<trainCount]), split: "train", into: directory)
        files += try writeIDX(images: tensor(Array(images[trainCount...])), labels: Array(labels[trainCount...]), split: "t10k", into: directory)
        return (trainCount, files)
    }

    /// Writes `<split>-images-idx3-ubyte` and `<split>-labels-idx1-ubyte` (uncompressed).
    static func writeIDX(images: Tensor, labels: [Int], split: String, into directory: URL) throws -> [DomainManifest.FileRecord] {
        [
            try writeFile(MNIST.encodeImages(images), named: "\(split)-images-idx3-ubyte", in: directory),
            try writeFile(MNIST.encodeLabels(labels), named: "\(split)-labels-idx1-ubyte", in: directory),
        ]
    }

    /// Writes `bytes` to `directory/name` (creating the directory), returning its record.
    static func writeFile(_ bytes: [UInt8], named name: String, in directory: URL) throws -> DomainManifest.FileRecord {
        let url = directory.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw DataError(.unwritable, file: name, field: "file", expected: "a writable file at \(url.path)", found: error.localizedDescription)
        }
        return DomainManifest.FileRecord(name: name, bytes: bytes.count, sha256: SHA256.hexDigest(bytes))
    }
}
