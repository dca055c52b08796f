import Foundation

/// A failure to read or write a dataset or tensor file.
///
/// Every reader in PlateauData validates its input and throws this instead of trapping,
/// whatever the bytes. The message always names the file, the field that was wrong, what was
/// expected and what was found:
///
///     train-images-idx3-ubyte.gz: magic number: expected 2051 (0x00000803, unsigned-byte images of rank 3), found 2049
///
/// ``kind`` classifies the failure for code that wants to react to it (tests match on it).
public struct DataError: Error, LocalizedError, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, independently of the file format.
    public enum Kind: String, Sendable, Equatable {
        /// The file does not exist or cannot be opened.
        case unreadable
        /// The file could not be written.
        case unwritable
        /// A gzip stream is corrupt or truncated.
        case decompression
        /// The file ends before a field it declares.
        case truncated
        /// A magic number or signature is wrong.
        case badMagic
        /// A declared dimension, count or size is impossible or inconsistent with the data.
        case invalidSize
        /// Two files that must agree (images and labels) disagree on a count or shape.
        case countMismatch
        /// A class label is outside `0..<classCount`.
        case invalidLabel
        /// A table row has a different number of cells from the first row.
        case raggedRow
        /// A table cell that must be a number is not.
        case nonNumericCell
        /// A header (safetensors JSON, table header) is malformed.
        case invalidHeader
        /// A safetensors tensor's byte range is outside the data section.
        case offsetsOutOfRange
        /// Two safetensors tensors share bytes.
        case overlappingOffsets
        /// A safetensors dtype that this reader does not convert.
        case unsupportedDType
        /// The data is empty where samples are required.
        case empty
        /// An argument given by the caller is invalid (a label column that does not exist).
        case invalidArgument
    }

    public var kind: Kind
    /// The file's name (last path component) or another short source description.
    public var file: String
    /// The field, record or cell concerned: `"magic number"`, `"row 12, column 3"`, `"tensor \"w\": dtype"`.
    public var field: String
    /// What the format requires there.
    public var expected: String
    /// What was found instead.
    public var found: String

    public init(_ kind: Kind, file: String, field: String, expected: String, found: String) {
        self.kind = kind
        self.file = file
        self.field = field
        self.expected = expected
        self.found = found
    }

    public var description: String { "\(file): \(field): expected \(expected), found \(found)" }
    public var errorDescription: String? { description }
}

/// The short name used in error messages for a file URL: its last path component.
func displayName(_ url: URL) -> String { url.lastPathComponent }

/// Reads a whole file, inflating it first when it starts with the gzip signature (1f 8b).
func readBytes(of url: URL, maximumDecompressedBytes: Int = Gzip.defaultLimit) throws -> [UInt8] {
    let bytes = try readStoredBytes(of: url)
    if Gzip.isGzip(bytes) {
        return try Gzip.inflate(bytes, file: displayName(url), limit: maximumDecompressedBytes)
    }
    return bytes
}

/// A whole file's bytes as stored (still compressed when it is gzip).
func readStoredBytes(of url: URL) throws -> [UInt8] {
    let name = displayName(url)
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        let exists = FileManager.default.fileExists(atPath: url.path)
        throw DataError(
            .unreadable, file: name, field: "file", expected: "a readable file at \(url.path)",
            found: exists ? "an unreadable file (\(error.localizedDescription))" : "no such file")
    }
    return [UInt8](data)
}

/// The first of `candidates` (file names) that exists in `directory`, trying each name
/// as given and with a `.gz` suffix.
func locate(_ candidates: [String], in directory: URL) throws -> URL {
    for name in candidates {
        for suffix in ["", ".gz"] {
            let url = directory.appendingPathComponent(name + suffix)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
    }
    throw DataError(
        .unreadable, file: directory.lastPathComponent, field: "directory \(directory.path)",
        expected: "a file named \(candidates.map { "\($0)[.gz]" }.joined(separator: " or "))",
        found: "none")
}

/// Big-endian and little-endian integer reads with bounds checks that throw.
struct ByteReader {
    let bytes: [UInt8]
    let file: String

    func require(_ range: Range<Int>, field: String) throws {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else {
            throw DataError(
                .truncated, file: file, field: field,
                expected: "bytes \(range.lowerBound)..<\(range.upperBound)",
                found: "a file of \(bytes.count) bytes")
        }
    }

    func uint32BigEndian(at offset: Int, field: String) throws -> UInt32 {
        try require(offset..<(offset + 4), field: field)
        return bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    func uint64LittleEndian(at offset: Int, field: String) throws -> UInt64 {
        try require(offset..<(offset + 8), field: field)
        var value: UInt64 = 0
        for i in (0..<8).reversed() { value = value << 8 | UInt64(bytes[offset + i]) }
        return value
    }
}

/// `a * b * ...` or `nil` on overflow.
func checkedProduct(_ factors: [Int]) -> Int? {
    var result = 1
    for factor in factors {
        guard factor >= 0 else { return nil }
        let (product, overflow) = result.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        result = product
    }
    return result
}
