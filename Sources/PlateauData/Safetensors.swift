import Foundation
import PlateauTensor

/// Reading and writing the safetensors format (Hugging Face).
///
/// Layout:
///
///     bytes 0..<8      N, the header length, unsigned 64-bit little-endian
///     bytes 8..<8+N    a UTF-8 JSON object:
///                        { "<name>": { "dtype": "F32", "shape": [2, 3],
///                                      "data_offsets": [begin, end] }, …,
///                          "__metadata__": { "<key>": "<string value>", … } }
///     bytes 8+N...     the data section; a tensor's bytes are [begin, end) relative to
///                      its start, row-major, little-endian
///
/// The writer lays tensors out in the given order, contiguously, and pads the header with
/// spaces to a multiple of 8 bytes (as the reference implementation does). It writes to a
/// temporary file in the destination's directory and renames it into place, so a reader
/// never sees a half-written file.
///
/// The reader checks that the header fits in the file, is a JSON object of well-formed
/// entries, that `end − begin = product(shape) · size(dtype)`, that the byte ranges lie in
/// the data section, do not overlap and leave no gap (the reference rejects holes too).
/// It converts `F32`, `F64`, `F16`, `BF16`, `I64`, `I32`, `I16`, `I8`, `U8` and `BOOL` to
/// `Float` tensors; other dtypes throw ``DataError/Kind/unsupportedDType``.
public enum Safetensors {
    /// The element types this module knows, with their sizes in bytes.
    public enum DType: String, Sendable, CaseIterable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

        public var byteCount: Int { encoding.byteCount }

        /// How the engine decodes this dtype's little-endian bytes.
        public var encoding: ScalarEncoding {
            switch self {
            case .F64: .float64
            case .F32: .float32
            case .F16: .float16
            case .BF16: .bfloat16
            case .I64: .int64
            case .I32: .int32
            case .I16: .int16
            case .I8: .int8
            case .U8: .uint8
            case .BOOL: .bool
            }
        }
    }

    /// The largest header accepted (the reference's limit): 100 MB.
    public static let maximumHeaderLength = 100_000_000

    /// The contents of a safetensors file.
    public struct Contents: Sendable {
        /// The tensors in data-section order (for files this module wrote: the order given).
        public var tensors: [(name: String, tensor: Tensor)]
        /// Each tensor's dtype in the file.
        public var dtypes: [String: DType]
        /// The `__metadata__` map (empty when absent).
        public var metadata: [String: String]

        /// The tensor named `name`.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

        /// The tensors as a ``ParameterSet`` in file order.
        public var parameterSet: ParameterSet { ParameterSet(tensors.map { ($0.name, $0.tensor) }) }
    }

    // MARK: - Writing

    /// The file bytes for `tensors` (stored as `F32`) and `metadata`.
    ///
    /// Throws ``DataError/Kind/invalidArgument`` for a duplicate or empty name or the
    /// reserved name `__metadata__`.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], file: String = "<memory>") throws -> [UInt8] {
        try encode(raw: tensors.map { RawEntry(name: $0.0, tensor: $0.1) }, metadata: metadata, file: file)
    }

    /// Writes `tensors` and `metadata` to `url` atomically (temporary file + rename).
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        let bytes = try encode(tensors, metadata: metadata, file: displayName(url))
        try writeAtomically(Data(bytes), to: url)
    }

    /// Writes a ``ParameterSet`` in its key order.
    public static func write(_ parameters: ParameterSet, metadata: [String: String] = [:], to url: URL) throws {
        try write(parameters.entries.map { ($0.key, $0.value) }, metadata: metadata, to: url)
    }

    // MARK: - Reading

    /// Reads and validates a safetensors file.
    public static func read(from url: URL) throws -> Contents {
        let name = displayName(url)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError(.unreadable, file: name, field: "file", expected: "a readable file at \(url.path)", found: error.localizedDescription)
        }
        return try decode([UInt8](data), file: name)
    }

    /// Validates and decodes safetensors bytes held in memory.
    public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws -> Contents {
        let reader = ByteReader(bytes: bytes, file: file)
        let declared = try reader.uint64LittleEndian(at: 0, field: "header length")
        guard declared <= UInt64(maximumHeaderLength), Int(declared) <= bytes.count - 8 else {
            throw DataError(
                .invalidHeader, file: file, field: "header length",
                expected: "at most \(min(maximumHeaderLength, bytes.count - 8)) bytes (the rest of the file)",
                found: "\(declared)")
        }
        let headerEnd = 8 + Int(declared)
        let headerBytes = Array(bytes[8..<headerEnd])
        let object: Any
        do {
            guard String(validating: headerBytes, as: UTF8.self) != nil else { throw CocoaError(.fileReadCorruptFile) }
            object = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw DataError(.invalidHeader, file: file, field: "JSON header", expected: "a valid UTF-8 JSON object", found: "invalid JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw DataError(.invalidHeader, file: file, field: "JSON header", expected: "a JSON object", found: "\(type(of: object))")
        }
        let dataLength = bytes.count - headerEnd

        var metadata: [String: String] = [:]
        if let raw = dictionary["__metadata__"] {
            guard let map = raw as? [String: Any] else {
                throw DataError(.invalidHeader, file: file, field: "__metadata__", expected: "an object of strings", found: "\(jsonKind(raw))")
            }
            for (key, value) in map {
                guard let string = value as? String else {
                    throw DataError(
                        .invalidHeader, file: file, field: "__metadata__ \"\(key)\"", expected: "a string", found: jsonKind(value))
                }
                metadata[key] = string
            }
        }

        struct Entry {
            let name: String, dtype: DType, shape: [Int], begin: Int, end: Int
        }
        var entries: [Entry] = []
        for (name, raw) in dictionary where name != "__metadata__" {
            let field = "tensor \"\(name)\""
            guard let info = raw as? [String: Any] else {
                throw DataError(.invalidHeader, file: file, field: field, expected: "an object with dtype, shape, data_offsets", found: jsonKind(raw))
            }
            guard let dtypeName = info["dtype"] as? String else {
                throw DataError(.invalidHeader, file: file, field: "\(field) dtype", expected: "a string", found: jsonKind(info["dtype"]))
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw DataError(
                    .unsupportedDType, file: file, field: "\(field) dtype",
                    expected: "one of \(DType.allCases.map(\.rawValue).joined(separator: ", "))", found: "\"\(dtypeName)\"")
            }
            guard let shape = integers(info["shape"]) else {
                throw DataError(
                    .invalidHeader, file: file, field: "\(field) shape", expected: "an array of non-negative integers",
                    found: jsonKind(info["shape"]))
            }
            guard let offsets = integers(info["data_offsets"]), offsets.count == 2 else {
                throw DataError(
                    .invalidHeader, file: file, field: "\(field) data_offsets", expected: "[begin, end] non-negative integers",
                    found: jsonKind(info["data_offsets"]))
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataLength else {
                throw DataError(
                    .offsetsOutOfRange, file: file, field: "\(field) data_offsets",
                    expected: "0 ≤ begin ≤ end ≤ \(dataLength) (the data section)", found: "[\(begin), \(end)]")
            }
            guard let elements = checkedProduct(shape), let size = checkedProduct([elements, dtype.byteCount]), size == end - begin else {
                throw DataError(
                    .invalidSize, file: file, field: "\(field) byte range",
                    expected: "product(shape \(shape)) × \(dtype.byteCount) bytes (\(dtypeName))", found: "\(end - begin) bytes")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        var previous: String?
        for entry in entries {
            if entry.begin < position {
                throw DataError(
                    .overlappingOffsets, file: file, field: "tensor \"\(entry.name)\" data_offsets",
                    expected: "bytes not shared with tensor \"\(previous ?? "")\" (which ends at \(position))",
                    found: "[\(entry.begin), \(entry.end)]")
            }
            if entry.begin > position {
                throw DataError(
                    .offsetsOutOfRange, file: file, field: "tensor \"\(entry.name)\" data_offsets",
                    expected: "to start at \(position), right after the previous tensor (no gaps)",
                    found: "[\(entry.begin), \(entry.end)]")
            }
            position = entry.end
            previous = entry.name
        }
        guard position == dataLength else {
            throw DataError(
                .offsetsOutOfRange, file: file, field: "data section",
                expected: "tensors covering all \(dataLength) bytes", found: "\(dataLength - position) bytes not in any tensor")
        }

        var tensors: [(name: String, tensor: Tensor)] = []
        var dtypes: [String: DType] = [:]
        for entry in entries {
            tensors.append((entry.name, Tensor(decoding: bytes, as: entry.dtype.encoding, shape: entry.shape, offset: headerEnd + entry.begin)))
            dtypes[entry.name] = entry.dtype
        }
        return Contents(tensors: tensors, dtypes: dtypes, metadata: metadata)
    }

    // MARK: - Helpers

    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for element in array {
            // JSONSerialization yields NSNumber; reject booleans, fractions and negatives.
            guard !isJSONBoolean(element), let number = element as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double >= 0, double <= 9.007_199_254_740_992e15, double == double.rounded(.towardZero) else { return nil }
            let integer = number.int64Value
            guard Double(integer) == double else { return nil }
            result.append(Int(integer))
        }
        return result
    }

    /// Whether a JSONSerialization value came from `true`/`false` (which also bridge to NSNumber).
    private static func isJSONBoolean(_ value: Any) -> Bool {
        if let number = value as? NSNumber {
            let type = String(cString: number.objCType)
            return type == "c" || type == "B"
        }
        return value is Bool
    }

    private static func jsonKind(_ value: Any?) -> String {
        switch value {
        case nil: return "nothing"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNumber: return "a number"
        default: return "null"
        }
    }

    /// A JSON string literal for `s` (RFC 8259 escaping).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Writes `data` to `url` through ``AtomicFile`` (no half-written file, no stray temporary).
func writeAtomically(_ data: Data, to url: URL) throws {
    try AtomicFile.write(data, to: url)
}
