import Foundation
import PlateauTensor

extension Safetensors {
    /// One tensor stored in its own dtype: `bytes` are its little-endian elements.
    public struct RawEntry: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]

        public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// An `F32` entry holding `tensor`.
        public init(name: String, tensor: Tensor) {
            self.init(name: name, dtype: .F32, shape: tensor.shape, bytes: tensor.float32LittleEndianBytes)
        }
    }

    /// The file bytes for entries of any dtype (integer weights beside `F32` scales).
    ///
    /// Throws ``DataError/Kind/invalidArgument`` for a duplicate, empty or reserved name, or
    /// an entry whose byte count is not product(shape) × the dtype's size.
    public static func encode(raw entries: [RawEntry], metadata: [String: String] = [:], file: String = "<memory>") throws -> [UInt8] {
        var seen = Set<String>()
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for entry in entries {
            guard !entry.name.isEmpty, entry.name != "__metadata__", seen.insert(entry.name).inserted else {
                throw DataError(
                    .invalidArgument, file: file, field: "tensor name \"\(entry.name)\"",
                    expected: "unique, non-empty names other than __metadata__", found: "a duplicate or reserved name")
            }
            let expected = entry.shape.reduce(1, *) * entry.dtype.byteCount
            guard entry.bytes.count == expected else {
                throw DataError(
                    .invalidArgument, file: file, field: "tensor \"\(entry.name)\"",
                    expected: "\(expected) bytes (shape \(entry.shape), \(entry.dtype.rawValue))", found: "\(entry.bytes.count) bytes")
            }
            fields.append(
                "\(jsonString(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(entry.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}")
            offset += entry.bytes.count
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + offset)
        var length = UInt64(header.count)
        for _ in 0..<8 {
            bytes.append(UInt8(length & 0xFF))
            length >>= 8
        }
        bytes += header
        for entry in entries { bytes += entry.bytes }
        return bytes
    }

    /// Writes entries of any dtype and `metadata` to `url` atomically.
    public static func write(raw entries: [RawEntry], metadata: [String: String] = [:], to url: URL) throws {
        try writeAtomically(Data(try encode(raw: entries, metadata: metadata, file: displayName(url))), to: url)
    }
}
