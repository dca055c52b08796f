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
/// A rank-4 image file (magic 2052, `N, C, rows, columns`) comes back as `[N, C, rows, columns]`.
/// Trailing bytes after the declared data are rejected, as is any inconsistency.
public enum MNIST {
    /// The four standard file names, each optionally followed by `.gz`.
    public static let trainImagesFile = "train-images-idx3-ubyte"
    public static let trainLabelsFile = "train-labels-idx1-ubyte"
    public static let testImagesFile = "t10k-images-idx3-ubyte"
    public static let testLabelsFile = "t10k-labels-idx1-ubyte"

    /// Magic number of an IDX image file (unsigned bytes, rank 3).
    public static let imagesMagic: UInt32 = 2051
    /// Magic number of an IDX image file of rank 4 (`N, C, rows, columns`; Colored MNIST).
    public static let images4Magic: UInt32 = 2052
    /// Magic number of an IDX label file (unsigned bytes, rank 1).
    public static let labelsMagic: UInt32 = 2049

    /// Fashion-MNIST's class names (Xiao, Rasul & Vollgraf 2017).
    public static let fashionClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Parses an IDX image file's bytes into `[N, C, rows, columns]` with values in `[0, 1]`:
    /// a rank-3 file (magic 2051) gives `C = 1`; a rank-4 file (magic 2052, extents
    /// `N, C, rows, columns`, as written for Colored MNIST's two colour planes) gives its `C`.
    public static func parseImages(_ bytes: [UInt8], file: String) throws -> Tensor {
        let header = try imageHeader(bytes, file: file)
        let (count, channels, rows, columns, pixels) = (header.count, header.channels, header.rows, header.columns, header.pixels)
        let size = channels == 1 && header.headerSize == 16 ? "\(rows)×\(columns)" : "\(channels)×\(rows)×\(columns)"
        guard pixels <= bytes.count - header.headerSize else {
            throw DataError(
                .truncated, file: file, field: "pixel data",
                expected: "\(count)·\(channels * rows * columns) bytes after the \(header.headerSize)-byte header",
                found: "\(bytes.count - header.headerSize) bytes")
        }
        guard pixels == bytes.count - header.headerSize else {
            throw DataError(
                .invalidSize, file: file, field: "file size",
                expected: "\(header.headerSize + pixels) bytes (\(header.headerSize)-byte header + \(count) images of \(size))",
                found: "\(bytes.count) bytes")
        }
        return Tensor(
            decoding: bytes, as: .uint8, shape: [count, channels, rows, columns], offset: header.headerSize, dividingBy: 255)
    }

    /// Parses an image file's bytes as stored: raw IDX, or gzip. A gzip file is inflated
    /// in two steps: its header (16 bytes, or 20 for a rank-4 file), then exactly the size
    /// the header declares — never more, whatever the stream holds; trailing data or a short
    /// stream is a ``DataError`` naming the file.
    public static func parseImagesFile(_ bytes: [UInt8], file: String) throws -> Tensor {
        guard Gzip.isGzip(bytes) else { return try parseImages(bytes, file: file) }
        var prefix = try Gzip.inflatePrefix(bytes, count: 16, file: file)
        if try ByteReader(bytes: prefix, file: file).uint32BigEndian(at: 0, field: "magic number") == images4Magic {
            prefix = try Gzip.inflatePrefix(bytes, count: 20, file: file)
        }
        let header = try imageHeader(prefix, file: file)
        let data = try Gzip.inflate(
            bytes, file: file, exactly: header.headerSize + header.pixels, field: "decompressed size",
            describing: "\(header.headerSize)-byte header + \(header.count) images of \(header.channels)×\(header.rows)×\(header.columns)")
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

    /// An image file's header: extents, header size and pixel byte count.
    struct ImageHeader {
        var count: Int, channels: Int, rows: Int, columns: Int
        /// 16 for rank 3, 20 for rank 4.
        var headerSize: Int
        /// count·channels·rows·columns.
        var pixels: Int
    }

    /// The header of a rank-3 (magic 2051) or rank-4 (magic 2052) unsigned-byte image file.
    static func imageHeader(_ bytes: [UInt8], file: String) throws -> ImageHeader {
        let reader = ByteReader(bytes: bytes, file: file)
        let magic = try reader.uint32BigEndian(at: 0, field: "magic number")
        guard magic == imagesMagic || magic == images4Magic else {
            throw DataError(
                .badMagic, file: file, field: "magic number",
                expected: "2051 (0x00000803, unsigned-byte images of rank 3) or 2052 (0x00000804, rank 4)",
                found: describeMagic(magic))
        }
        let rank4 = magic == images4Magic
        let count = Int(try reader.uint32BigEndian(at: 4, field: "image count"))
        let channels = rank4 ? Int(try reader.uint32BigEndian(at: 8, field: "channel count")) : 1
        let rows = Int(try reader.uint32BigEndian(at: rank4 ? 12 : 8, field: "row count"))
        let columns = Int(try reader.uint32BigEndian(at: rank4 ? 16 : 12, field: "column count"))
        let headerSize = rank4 ? 20 : 16
        guard rows > 0, columns > 0, channels > 0 else {
            throw DataError(
                .invalidSize, file: file, field: "image size", expected: "positive channels, rows and columns",
                found: rank4 ? "\(channels)×\(rows)×\(columns)" : "\(rows)×\(columns)")
        }
        guard let pixels = checkedProduct([count, channels, rows, columns]), pixels <= maximumDataBytes else {
            throw DataError(
                .truncated, file: file, field: "pixel data",
                expected: "\(count)·\(channels)·\(rows)·\(columns) bytes after the \(headerSize)-byte header (at most \(maximumDataBytes))",
                found: "\(bytes.count - headerSize) bytes")
        }
        return ImageHeader(count: count, channels: channels, rows: rows, columns: columns, headerSize: headerSize, pixels: pixels)
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

    /// Encodes images (`[N, 1, H, W]` or `[N, H, W]`, values in [0, 1]) as rank-3 IDX bytes,
    /// or `[N, C, H, W]` with `C > 1` as rank-4 IDX bytes (magic 2052); pixel = round(255·x)
    /// clamped to 0...255 — the inverse of ``parseImages(_:file:)``.
    public static func encodeImages(_ images: Tensor) -> [UInt8] {
        precondition(images.rank == 3 || images.rank == 4, "encodeImages: shape \(images.shape)")
        let n = images.shape[0], h = images.shape[images.rank - 2], w = images.shape[images.rank - 1]
        var bytes: [UInt8]
        if images.rank == 4 && images.shape[1] != 1 {
            bytes = bigEndian(images4Magic) + bigEndian(UInt32(n)) + bigEndian(UInt32(images.shape[1]))
        } else {
            bytes = bigEndian(imagesMagic) + bigEndian(UInt32(n))
        }
        bytes += bigEndian(UInt32(h)) + bigEndian(UInt32(w))
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
