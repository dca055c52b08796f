import Foundation
import PlateauTensor

/// A labelled segmentation dataset held in memory: images and one class per pixel.
///
/// `images` is a ``Dataset`` (`[N, C, H, W]`) whose per-sample label is a side label (for
/// mnist-seg the number of digits in the image), so everything built for datasets (subsets,
/// normalization, batches with sample indices) applies; `masks[i·H·W + y·W + x]` is the class
/// of pixel (x, y) of sample i, in `0..<classCount` (class 0 is the background).
public struct SegmentationDataset: Sendable {
    public var images: Dataset
    /// Per-pixel classes, sample after sample, rows in order.
    public var masks: [Int32]
    /// Pixel classes, background (0) included.
    public var classCount: Int
    /// Optional names, `classNames[c]` for pixel class `c`.
    public var classNames: [String]?

    /// - Precondition: images of rank 4 and one class in `0..<classCount` per pixel of each image.
    public init(images: Dataset, masks: [Int32], classCount: Int, classNames: [String]? = nil) {
        precondition(images.images.rank == 4, "SegmentationDataset: images must be [N, C, H, W], got \(images.images.shape)")
        let pixels = images.images.shape[2] * images.images.shape[3]
        precondition(masks.count == images.count * pixels, "SegmentationDataset: \(masks.count) mask pixels for \(images.count) images of \(pixels) pixels")
        precondition(masks.allSatisfy { $0 >= 0 && Int($0) < classCount }, "SegmentationDataset: a pixel class is outside 0..<\(classCount)")
        self.images = images
        self.masks = masks
        self.classCount = classCount
        self.classNames = classNames
    }

    public var count: Int { images.count }
    /// (H, W) of every image and mask.
    public var size: (height: Int, width: Int) { (images.images.shape[2], images.images.shape[3]) }
    public var pixelsPerImage: Int { size.height * size.width }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int], name: String? = nil) -> SegmentationDataset {
        let p = pixelsPerImage
        var masks: [Int32] = []
        masks.reserveCapacity(indices.count * p)
        for i in indices { masks += self.masks[(i * p)..<((i + 1) * p)] }
        return SegmentationDataset(images: images.subset(indices, name: name), masks: masks, classCount: classCount, classNames: classNames)
    }

    /// The first `count` samples (all when there are fewer).
    public func prefix(_ count: Int) -> SegmentationDataset {
        count >= self.count ? self : subset(Array(0..<count))
    }

    /// The masks of samples `indices`, `[n·H·W]`, for a batch.
    public func masks(of indices: [Int]) -> [Int32] {
        let p = pixelsPerImage
        var result: [Int32] = []
        result.reserveCapacity(indices.count * p)
        for i in indices { result += masks[(i * p)..<((i + 1) * p)] }
        return result
    }
}

/// `plateau data make mnist-seg`: 64×64 images holding 2–4 real MNIST digits, with a class
/// per pixel (0 background, digit d → class d + 1; 11 classes), and its reader.
///
/// Generation of image i of a split (train digits from MNIST's training set, test digits from
/// its test set), all draws from `SeededGenerator(seed: stream(seed, 300 + split))`:
/// 1. k = 2 + ⌊3u⌋ digits (2, 3 or 4, uniform).
/// 2. For each digit: a source index drawn uniformly; its *ink box* is the bounding box of its
///    pixels ≥ 0.5 (the mask threshold). Up to ``placementAttempts`` positions of that box on
///    the canvas are drawn uniformly; the first whose box, grown by ``gap`` pixels, meets no
///    earlier digit's box is taken. If none fits, the digit is dropped, so an image can hold
///    fewer than k digits (never fewer than 1; the manifest counts them).
/// 3. The image is the digits' 28×28 crops pasted at their positions (boxes disjoint, so
///    no pixel is written twice by ink; faint pixels outside an ink box are dropped so that the
///    image and the mask agree); a pixel's class is d + 1 where the digit's value is ≥ 0.5,
///    else 0.
///
/// Files (uncompressed IDX, as the other kinds): `train-images-idx3-ubyte` (`N, 64, 64`),
/// `train-masks-idx3-ubyte` (same header, bytes = pixel classes 0…10),
/// `train-labels-idx1-ubyte` (the number of digits per image, so `--dataset mnist` can
/// still read the directory), and the same three `t10k-*` files; `manifest.json` as every kind.
public enum MNISTSegmentation {
    /// Canvas side.
    public static let side = 64
    /// Pixel classes: background plus ten digits.
    public static let classCount = 11
    /// Pixels at or above this value (in [0, 1]) are the digit's; below, background.
    public static let maskThreshold: Float = 0.5
    /// Minimum empty pixels between two digits' ink boxes.
    public static let gap = 1
    /// Positions tried per digit before it is dropped.
    public static let placementAttempts = 50
    /// The mask files' suffix after `train` / `t10k`.
    public static let masksSuffix = "-masks-idx3-ubyte"
    /// `background`, `0` … `9`.
    public static let classNames = ["background"] + (0...9).map(String.init)

    /// Writes the mnist-seg split files into `output` (called by ``ShiftedMNIST/make``).
    static func make(
        train: Dataset, test: Dataset, into output: URL, options: ShiftedMNIST.Options, manifest: inout DomainManifest,
        progress: (String) -> Void
    ) throws {
        manifest.parameters = [
            "side": Double(side), "mask_threshold": Double(maskThreshold), "gap": Double(gap),
            "placement_attempts": Double(placementAttempts), "train_count": Double(options.segmentationTrainCount),
            "test_count": Double(options.segmentationTestCount),
        ]
        manifest.notes = [
            "MNIST segmentation: 64x64 black canvases with 2-4 real MNIST digits (k = 2 + floor(3u)); train images use MNIST's training digits, test images its test digits, drawn uniformly with replacement.",
            "Placement: each digit's ink box (bounding box of pixels >= 0.5) is placed uniformly at random; a position whose box grown by 1 pixel meets an earlier digit's box is redrawn, up to 50 times, after which the digit is dropped (so digits never overlap).",
            "Pixel classes (the *-masks-idx3-ubyte files, one byte per pixel): 0 background, d + 1 where digit d's pixel is >= 0.5. Pixels of a digit below 0.5 keep their grey value in the image but are background in the mask; pixels outside the ink box are not pasted.",
            "The *-labels-idx1-ubyte files hold the number of digits per image. Draws: SeededGenerator(seed: stream(seed, 300)) for train, stream(seed, 301) for test.",
        ]
        var files: [DomainManifest.FileRecord] = []
        var digitsPlaced: [Double] = []
        for (s, (split, source, count)) in [("train", train, options.segmentationTrainCount), ("t10k", test, options.segmentationTestCount)].enumerated() {
            var generator = SeededGenerator(seed: ShiftedMNIST.stream(options.seed, 300 + s))
            let sample = compose(count: count, from: source, using: &generator)
            let images = Tensor(shape: [count, 1, side, side], scalars: sample.pixels)
            files.append(try ShiftedMNIST.writeFile(MNIST.encodeImages(images), named: "\(split)-images-idx3-ubyte", in: output))
            files.append(try ShiftedMNIST.writeFile(encodeMasks(sample.masks, count: count), named: split + masksSuffix, in: output))
            files.append(try ShiftedMNIST.writeFile(MNIST.encodeLabels(sample.digitCounts), named: "\(split)-labels-idx1-ubyte", in: output))
            let mean = Double(sample.digitCounts.reduce(0, +)) / Double(max(count, 1))
            digitsPlaced.append(mean)
            progress("\(split): \(count) images of \(side)×\(side), \(String(format: "%.2f", mean)) digits per image")
        }
        manifest.domains.append(DomainManifest.Domain(
            name: "mnist-seg", directory: ".", formula: "2-4 non-overlapping MNIST digits on 64x64; mask = digit + 1 where pixel >= 0.5",
            parameters: ["mean_digits_train": digitsPlaced[0], "mean_digits_test": digitsPlaced[1]],
            trainCount: options.segmentationTrainCount, testCount: options.segmentationTestCount, files: files))
    }

    /// `count` composed images (pixels and masks, image after image) from `source`'s digits.
    static func compose(count: Int, from source: Dataset, using generator: inout SeededGenerator) -> (pixels: [Float], masks: [UInt8], digitCounts: [Int]) {
        let h = source.sampleShape[1], w = source.sampleShape[2]
        let scalars = source.images.scalars
        var pixels = [Float](repeating: 0, count: count * side * side)
        var masks = [UInt8](repeating: 0, count: count * side * side)
        var digitCounts: [Int] = []
        for i in 0..<count {
            let wanted = 2 + min(Int(generator.uniform() * 3), 2)
            // Placed ink boxes on the canvas: (x0, y0, x1, y1), inclusive.
            var boxes: [(Int, Int, Int, Int)] = []
            for _ in 0..<wanted {
                let index = min(Int(generator.uniform() * Double(source.count)), source.count - 1)
                let base = index * h * w
                var (bx0, by0, bx1, by1) = (w, h, -1, -1)
                for y in 0..<h {
                    for x in 0..<w where scalars[base + y * w + x] >= maskThreshold {
                        bx0 = min(bx0, x); by0 = min(by0, y); bx1 = max(bx1, x); by1 = max(by1, y)
                    }
                }
                let boxWidth = bx1 - bx0 + 1, boxHeight = by1 - by0 + 1
                // A digit with no ink still costs its placement draws, so the stream does not depend on it.
                for _ in 0..<placementAttempts {
                    let px = Int(generator.uniform() * Double(side - max(boxWidth, 1) + 1))
                    let py = Int(generator.uniform() * Double(side - max(boxHeight, 1) + 1))
                    guard bx1 >= 0 else { continue }
                    let box = (px, py, px + boxWidth - 1, py + boxHeight - 1)
                    let clear = boxes.allSatisfy { b in
                        box.2 + gap < b.0 || b.2 + gap < box.0 || box.3 + gap < b.1 || b.3 + gap < box.1
                    }
                    guard clear else { continue }
                    boxes.append(box)
                    let label = UInt8(source.labels[index] + 1)
                    for y in 0..<boxHeight {
                        for x in 0..<boxWidth {
                            let value = scalars[base + (by0 + y) * w + bx0 + x]
                            let target = i * side * side + (py + y) * side + px + x
                            pixels[target] = value
                            if value >= maskThreshold { masks[target] = label }
                        }
                    }
                    break
                }
            }
            digitCounts.append(boxes.count)
        }
        return (pixels, masks, digitCounts)
    }

    /// An IDX rank-3 unsigned-byte file (magic 2051) of `count` masks of side × side classes.
    static func encodeMasks(_ masks: [UInt8], count: Int) -> [UInt8] {
        func bigEndian(_ value: UInt32) -> [UInt8] {
            [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        }
        return bigEndian(MNIST.imagesMagic) + bigEndian(UInt32(count)) + bigEndian(UInt32(side)) + bigEndian(UInt32(side)) + masks
    }

    /// Parses a mask file's bytes (raw or gzip): an IDX image file whose bytes are pixel
    /// classes; every class must be below `classCount`.
    public static func parseMasks(_ bytes: [UInt8], file: String, classCount: Int = classCount) throws -> (count: Int, height: Int, width: Int, masks: [Int32]) {
        let tensor = try MNIST.parseImagesFile(bytes, file: file)
        guard tensor.shape[1] == 1 else {
            throw DataError(.invalidSize, file: file, field: "magic number", expected: "2051 (a rank-3 file: one class per pixel)", found: "a rank-4 file with \(tensor.shape[1]) channels")
        }
        let (n, h, w) = (tensor.shape[0], tensor.shape[2], tensor.shape[3])
        var masks = [Int32](repeating: 0, count: n * h * w)
        for (i, value) in tensor.scalars.enumerated() {
            let c = Int32((value * 255).rounded())
            guard Int(c) < classCount else {
                throw DataError(
                    .invalidLabel, file: file, field: "pixel class of image \(i / (h * w)) at row \((i % (h * w)) / w), column \(i % w)",
                    expected: "a class in 0..<\(classCount)", found: "\(c)")
            }
            masks[i] = c
        }
        return (n, h, w, masks)
    }

    /// Reads `plateau data make mnist-seg`'s directory: images, per-pixel masks and
    /// digit-count labels of both splits (each raw or `.gz`); counts and sizes must agree.
    public static func loadDirectory(_ directory: URL, name: String = "mnist-seg") throws -> (train: SegmentationDataset, test: SegmentationDataset) {
        let (train, test) = try MNIST.loadDirectory(directory, name: name)
        func attach(_ dataset: Dataset, split: String) throws -> SegmentationDataset {
            let url = try locate([split + masksSuffix], in: directory)
            let file = displayName(url)
            let masks = try parseMasks(readStoredBytes(of: url), file: file)
            guard masks.count == dataset.count else {
                throw DataError(.countMismatch, file: file, field: "image count", expected: "one mask per image (\(dataset.count))", found: "\(masks.count) masks")
            }
            let shape = dataset.sampleShape
            guard shape.count == 3, masks.height == shape[1], masks.width == shape[2] else {
                throw DataError(.countMismatch, file: file, field: "mask size", expected: "the images' size \(shape.dropFirst().map(String.init).joined(separator: "×"))", found: "\(masks.height)×\(masks.width)")
            }
            return SegmentationDataset(images: dataset, masks: masks.masks, classCount: classCount, classNames: classNames)
        }
        return (try attach(train, split: "train"), try attach(test, split: "t10k"))
    }
}
