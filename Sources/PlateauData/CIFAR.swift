import Foundation
import PlateauTensor

/// Readers for the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009).
///
/// A CIFAR-10 file is a sequence of 3,073-byte records: 1 label byte (0...9) then 3,072
/// pixel bytes — the 1,024 red values of the 32×32 image in row-major order, then green,
/// then blue. A CIFAR-100 record has 3,074 bytes: a coarse label (0...19), a fine label
/// (0...99), then the same 3,072 pixels. Files hold no header, so the only structural checks
/// are that the size is a positive multiple of the record size and that labels are in range.
///
/// Images come back as `[N, 3, 32, 32]` with values `x / 255`.
public enum CIFAR {
    public static let imageBytes = 3 * 32 * 32
    /// The training files of CIFAR-10's binary version.
    public static let cifar10TrainFiles = (1...5).map { "data_batch_\($0).bin" }
    public static let cifar10TestFile = "test_batch.bin"
    public static let cifar10ClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// Which CIFAR-100 label to use as the class.
    public enum CIFAR100Labels: Sendable {
        /// The 20 superclasses.
        case coarse
        /// The 100 classes.
        case fine
    }

    /// Parses CIFAR-10 records: `(images [N, 3, 32, 32], labels)`.
    public static func parseCIFAR10(_ bytes: [UInt8], file: String) throws -> (images: Tensor, labels: [Int]) {
        try parse(bytes, file: file, labelBytes: 1, labelIndex: 0, classCount: 10, labelName: "label")
    }

    /// Parses CIFAR-100 records, keeping the coarse or the fine label.
    public static func parseCIFAR100(
        _ bytes: [UInt8], file: String, labels: CIFAR100Labels = .fine
    ) throws -> (images: Tensor, labels: [Int]) {
        // Both labels are validated whichever is kept.
        let coarse = try parse(bytes, file: file, labelBytes: 2, labelIndex: 0, classCount: 20, labelName: "coarse label", decodeImages: labels == .coarse)
        let fine = try parse(bytes, file: file, labelBytes: 2, labelIndex: 1, classCount: 100, labelName: "fine label", decodeImages: labels == .fine)
        return labels == .coarse ? coarse : fine
    }

    /// Reads and concatenates CIFAR-10 batch files.
    public static func readCIFAR10(files: [URL], name: String) throws -> Dataset {
        var parts: [(images: Tensor, labels: [Int])] = []
        for url in files { parts.append(try parseCIFAR10(readBytes(of: url), file: displayName(url))) }
        return concatenate(parts, name: name, classCount: 10, classNames: cifar10ClassNames)
    }

    /// Loads CIFAR-10 from `cifar-10-batches-bin/` (or a directory holding its files directly):
    /// `data_batch_1.bin` … `data_batch_5.bin` (50,000 images) and `test_batch.bin` (10,000).
    public static func loadCIFAR10(directory: URL) throws -> (train: Dataset, test: Dataset) {
        let root = resolve(directory, subdirectory: "cifar-10-batches-bin")
        let train = try readCIFAR10(files: cifar10TrainFiles.map { try locate([$0], in: root) }, name: "cifar10-train")
        let test = try readCIFAR10(files: [locate([cifar10TestFile], in: root)], name: "cifar10-test")
        return (train, test)
    }

    /// Loads CIFAR-100 from `cifar-100-binary/` (or a directory holding its files directly):
    /// `train.bin` (50,000 images) and `test.bin` (10,000).
    public static func loadCIFAR100(directory: URL, labels: CIFAR100Labels = .fine) throws -> (train: Dataset, test: Dataset) {
        let root = resolve(directory, subdirectory: "cifar-100-binary")
        let classCount = labels == .fine ? 100 : 20
        func read(_ file: String, _ name: String) throws -> Dataset {
            let url = try locate([file], in: root)
            let part = try parseCIFAR100(readBytes(of: url), file: displayName(url), labels: labels)
            return concatenate([part], name: name, classCount: classCount, classNames: nil)
        }
        return (try read("train.bin", "cifar100-train"), try read("test.bin", "cifar100-test"))
    }

    private static func resolve(_ directory: URL, subdirectory: String) -> URL {
        let nested = directory.appendingPathComponent(subdirectory)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return nested
        }
        return directory
    }

    private static func parse(
        _ bytes: [UInt8], file: String, labelBytes: Int, labelIndex: Int, classCount: Int, labelName: String,
        decodeImages: Bool = true
    ) throws -> (images: Tensor, labels: [Int]) {
        let record = labelBytes + imageBytes
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw DataError(
                bytes.isEmpty ? .empty : .invalidSize, file: file, field: "file size",
                expected: "a positive multiple of the \(record)-byte record (\(labelBytes) label byte\(labelBytes == 1 ? "" : "s") + 3072 pixels)",
                found: "\(bytes.count) bytes (\(bytes.count / record) records + \(bytes.count % record) bytes)")
        }
        let n = bytes.count / record
        var labels = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let label = Int(bytes[i * record + labelIndex])
            guard label < classCount else {
                throw DataError(
                    .invalidLabel, file: file, field: "record \(i) \(labelName)",
                    expected: "a class in 0..<\(classCount)", found: "\(label)")
            }
            labels[i] = label
        }
        guard decodeImages else { return (Tensor.zeros([0, 3, 32, 32]), labels) }
        // Each record's pixels follow its label bytes.
        let images = Tensor(decoding: bytes, as: .uint8, shape: [n, 3, 32, 32], offset: labelBytes, recordStride: record, dividingBy: 255)
        return (images, labels)
    }

    private static func concatenate(
        _ parts: [(images: Tensor, labels: [Int])], name: String, classCount: Int, classNames: [String]?
    ) -> Dataset {
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.reduce(0) { $0 + $1.images.count })
        var labels: [Int] = []
        for part in parts {
            scalars += part.images.scalars
            labels += part.labels
        }
        return Dataset(
            name: name, images: Tensor(shape: [labels.count, 3, 32, 32], scalars: scalars), labels: labels,
            classCount: classCount, classNames: classNames)
    }
}
