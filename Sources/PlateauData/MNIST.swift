import Foundation
import PlateauTensor

/// Readers for MNIST and Fashion-MNIST in LeCun's IDX format, raw or gzip-compressed.
///
/// An IDX file is big-endian: a 4-byte magic `00 00 TT DD` (TT = element type, 0x08 for
/// unsigned bytes; DD = rank), then DD 32-bit extents, then the elements in row-major order.
///
///     images: magic 2051 = 0x00000803, N, rows, columns, N·rows·columns pixel bytes
///     labels: magic 2049 = 0x00000801, N, N label bytes (each < 10)
///
/// Pixels are scaled to `[0, 1]` by `x / 255`; images come back as `[N, 1, rows, columns]`.
/// Trailing bytes after the declared data are rejected, as is any inconsistency.
public enum MNIST {
    /// The four standard file names, each optionally followed by `.gz`.
    public static let trainImagesFile = "train-images-idx3-ubyte"
    public static let trainLabelsFile = "train-labels-idx1-ubyte"
    public static let testImagesFile = "t10k-images-idx3-ubyte"
    public static let testLabelsFile = "t10k-labels-idx1-ubyte"

    /// Magic number of an IDX image file (unsigned bytes, rank 3).
    public static let imagesMagic: UInt32 = 2051
    /// Magic number of an IDX label file (unsigned bytes, rank 1).
    public static let labelsMagic: UInt32 = 2049

    /// Fashion-MNIST's class names (Xiao, Rasul & Vollgraf 2017).
    public static let fashionClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Parses an IDX image file's bytes into `[N, 1, rows, columns]` with values in `[0, 1]`.
    public static func parseImages(_ bytes: [UInt8], file: String) throws -> Tensor {
        let (count, rows, columns, pixels) = try imageHeader(bytes, file: file)
        guard pixels <= bytes.count - 16 else {
            throw DataError(
                .truncated, file: file, field: "pixel data",
                expected: "\(count)·\(rows)·\(columns) bytes after the 16-byte header",
                found: "\(bytes.count - 16) bytes")
        }
        guard pixels == bytes.count - 16 else {
            throw DataError(
                .invalidSize, file: file, field: "file size",
                expected: "\(16 + pixels) bytes (16-byte header + \(count) images of \(rows)×\(columns))",
                found: "\(bytes.count) bytes")
        }
        return Tensor(decoding: bytes, as: .uint8, shape: [count, 1, rows, columns], offset: 16, dividingBy: 255)
    }

    /// Parses an image file's bytes as stored: raw IDX, or gzip. A gzip file is inflated
    /// in two steps: its first 16 bytes (the header), then exactly the size the header
    /// declares — never more, whatever the stream holds; trailing data or a short stream
    /// is a ``DataError`` naming the file.
    public static func parseImagesFile(_ bytes: [UInt8], file: String) throws -> Tensor {
        guard Gzip.isGzip(bytes) else { return try parseImages(bytes, file: file) }
        let (count, rows, columns, pixels) = try imageHeader(Gzip.inflatePrefix(bytes, count: 16, file: file), file: file)
        let data = try Gzip.inflate(
            bytes, file: file, exactly: 16 + pixels, field: "decompressed size",
            describing: "16-byte header + \(count) images of \(rows)×\(columns)")
        return try parseImages(data, file: file)
    }

    /// Parses a label file's bytes as stored (raw or gzip), inflating no more than the
    /// 8-byte header plus the label count it declares.
    public static func parseLabelsFile(_ bytes: [UInt8], file: String, classCount: Int = 10) throws -> [Int] {
        guard Gzip.isGzip(bytes) else { return try parseLabels(bytes, file: file, classCount: classCount) }
        let count = try labelHeader(Gzip.inflatePrefix(bytes, count: 8, file: file), file: file)
        let data = try Gzip.inflate(
            bytes, file: file, exactly: 8 + count, field: "decompressed size", describing: "8-byte header + \(count) labels")
        return try parseLabels(data, file: file, classCount: classCount)
    }

    /// The largest pixel count a header may declare: 2³¹ bytes.
    static let maximumDataBytes = 1 << 31

    /// (count, rows, columns, count·rows·columns) from an image file's header.
    static func imageHeader(_ bytes: [UInt8], file: String) throws -> (Int, Int, Int, Int) {
        let reader = ByteReader(bytes: bytes, file: file)
        let magic = try reader.uint32BigEndian(at: 0, field: "magic number")
        guard magic == imagesMagic else {
            throw DataError(
                .badMagic, file: file, field: "magic number",
                expected: "2051 (0x00000803, unsigned-byte images of rank 3)", found: describeMagic(magic))
        }
        let count = Int(try reader.uint32BigEndian(at: 4, field: "image count"))
        let rows = Int(try reader.uint32BigEndian(at: 8, field: "row count"))
        let columns = Int(try reader.uint32BigEndian(at: 12, field: "column count"))
        guard rows > 0, columns > 0 else {
            throw DataError(
                .invalidSize, file: file, field: "image size", expected: "positive rows and columns",
                found: "\(rows)×\(columns)")
        }
        guard let pixels = checkedProduct([count, rows, columns]), pixels <= maximumDataBytes else {
            throw DataError(
                .truncated, file: file, field: "pixel data",
                expected: "\(count)·\(rows)·\(columns) bytes after the 16-byte header (at most \(maximumDataBytes))",
                found: "\(bytes.count - 16) bytes")
        }
        return (count, rows, columns, pixels)
    }

    /// Parses an IDX label file's bytes; every label must be below `classCount`.
    public static func parseLabels(_ bytes: [UInt8], file: String, classCount: Int = 10) throws -> [Int] {
        let count = try labelHeader(bytes, file: file)
        guard count <= bytes.count - 8 else {
            throw DataError(
                .truncated, file: file, field: "label data", expected: "\(count) bytes after the 8-byte header",
                found: "\(bytes.count - 8) bytes")
        }
        guard count == bytes.count - 8 else {
            throw DataError(
                .invalidSize, file: file, field: "file size",
                expected: "\(8 + count) bytes (8-byte header + \(count) labels)", found: "\(bytes.count) bytes")
        }
        var labels = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let label = Int(bytes[8 + i])
            guard label < classCount else {
                throw DataError(
                    .invalidLabel, file: file, field: "label \(i)", expected: "a class in 0..<\(classCount)",
                    found: "\(label)")
            }
            labels[i] = label
        }
        return labels
    }

    /// The label count from a label file's header.
    static func labelHeader(_ bytes: [UInt8], file: String) throws -> Int {
        let reader = ByteReader(bytes: bytes, file: file)
        let magic = try reader.uint32BigEndian(at: 0, field: "magic number")
        guard magic == labelsMagic else {
            throw DataError(
                .badMagic, file: file, field: "magic number",
                expected: "2049 (0x00000801, unsigned-byte labels of rank 1)", found: describeMagic(magic))
        }
        return Int(try reader.uint32BigEndian(at: 4, field: "label count"))
    }

    /// Reads an image file (raw or `.gz`).
    public static func readImages(at url: URL) throws -> Tensor {
        try parseImagesFile(readStoredBytes(of: url), file: displayName(url))
    }

    /// Reads a label file (raw or `.gz`).
    public static func readLabels(at url: URL, classCount: Int = 10) throws -> [Int] {
        try parseLabelsFile(readStoredBytes(of: url), file: displayName(url), classCount: classCount)
    }

    /// Reads a matching image and label file into a dataset; their counts must agree.
    public static func load(images: URL, labels: URL, name: String, classNames: [String]? = nil) throws -> Dataset {
        let tensor = try readImages(at: images)
        let targets = try readLabels(at: labels)
        guard tensor.shape[0] == targets.count else {
            throw DataError(
                .countMismatch, file: "\(displayName(images)) + \(displayName(labels))", field: "sample count",
                expected: "as many labels as images (\(tensor.shape[0]))", found: "\(targets.count) labels")
        }
        return Dataset(name: name, images: tensor, labels: targets, classCount: 10, classNames: classNames)
    }

    /// Loads the training and test sets from a directory holding the four standard files
    /// (each raw or `.gz`): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`. Datasets are named `name-train`
    /// and `name-test`. Works for Fashion-MNIST too (pass ``fashionClassNames``).
    public static func loadDirectory(
        _ directory: URL, name: String = "mnist", classNames: [String]? = nil
    ) throws -> (train: Dataset, test: Dataset) {
        let train = try load(
            images: locate([trainImagesFile, "train-images.idx3-ubyte"], in: directory),
            labels: locate([trainLabelsFile, "train-labels.idx1-ubyte"], in: directory),
            name: name + "-train", classNames: classNames)
        let test = try load(
            images: locate([testImagesFile, "t10k-images.idx3-ubyte"], in: directory),
            labels: locate([testLabelsFile, "t10k-labels.idx1-ubyte"], in: directory),
            name: name + "-test", classNames: classNames)
        guard train.sampleShape == test.sampleShape else {
            throw DataError(
                .countMismatch, file: directory.lastPathComponent, field: "image size",
                expected: "the same image size for train and test (\(train.sampleShape))",
                found: "\(test.sampleShape)")
        }
        return (train, test)
    }

    /// Encodes images (`[N, 1, H, W]` or `[N, H, W]`, values in [0, 1]) as IDX bytes,
    /// pixel = round(255·x) clamped to 0...255 — the inverse of ``parseImages(_:file:)``.
    public static func encodeImages(_ images: Tensor) -> [UInt8] {
        precondition(images.rank == 3 || (images.rank == 4 && images.shape[1] == 1), "encodeImages: shape \(images.shape)")
        let n = images.shape[0], h = images.shape[images.rank - 2], w = images.shape[images.rank - 1]
        var bytes = bigEndian(imagesMagic) + bigEndian(UInt32(n)) + bigEndian(UInt32(h)) + bigEndian(UInt32(w))
        bytes += images.scalars.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        return bytes
    }

    /// Encodes labels (each 0...255) as IDX bytes.
    public static func encodeLabels(_ labels: [Int]) -> [UInt8] {
        bigEndian(labelsMagic) + bigEndian(UInt32(labels.count)) + labels.map { UInt8($0) }
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func describeMagic(_ magic: UInt32) -> String {
        "\(magic) (0x\(String(magic, radix: 16).leftPadded(to: 8)))"
    }
}

extension String {
    func leftPadded(to width: Int, with character: Character = "0") -> String {
        count >= width ? self : String(repeating: character, count: width - count) + self
    }
}
