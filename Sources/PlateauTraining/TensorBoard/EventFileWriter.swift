import Foundation

/// Writes scalars as a TensorBoard event file, so that `tensorboard --logdir runs` plots a
/// run's curves.
///
/// The file is a TFRecord stream: each record is its length (u64, little-endian), the
/// masked CRC-32C of those 8 bytes, the payload and the masked CRC-32C of the payload. Each
/// payload is a serialized `tensorflow.Event` protocol buffer; only the few fields a scalar
/// needs are written, by hand (wire format: field number << 3 | wire type):
///
///     Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
///     Summary { repeated Value value = 1; }
///     Value   { string tag = 1; float simple_value = 2; }
///
/// The first record carries `file_version = "brain.Event:2"`. Records are appended and
/// flushed as they come; a process killed mid-write leaves at most one truncated last
/// record, which TensorBoard's reader stops at. A resumed run opens a new file in the same
/// directory: TensorBoard merges a directory's event files by step.
public final class EventFileWriter {
    public let url: URL
    private let handle: FileHandle

    /// Creates `events.out.tfevents.<seconds>.<host>.<pid>.plateau` in `directory`.
    public init(directory: URL, clock: () -> Double = { Date().timeIntervalSince1970 }) throws {
        let now = clock()
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(now)).\(host).\(ProcessInfo.processInfo.processIdentifier).plateau")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ConfigurationError(field: "output", message: "cannot create the TensorBoard event file \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
        var event = ProtobufWriter()
        event.double(1, now)
        event.int64(2, 0)
        event.string(3, "brain.Event:2")
        try append(event.bytes)
    }

    deinit { try? handle.close() }

    /// Appends one event holding `scalars` (tag → value) at `step`.
    public func write(step: Int, scalars: [(tag: String, value: Float)], wallTime: Double = Date().timeIntervalSince1970) throws {
        var summary = ProtobufWriter()
        for (tag, value) in scalars {
            var entry = ProtobufWriter()
            entry.string(1, tag)
            entry.float(2, value)
            summary.message(1, entry.bytes)
        }
        var event = ProtobufWriter()
        event.double(1, wallTime)
        event.int64(2, Int64(step))
        event.message(5, summary.bytes)
        try append(event.bytes)
    }

    private func append(_ payload: [UInt8]) throws {
        var record: [UInt8] = []
        let length = littleEndianBytes(UInt64(payload.count))
        record += length
        record += littleEndianBytes(CRC32C.masked(length))
        record += payload
        record += littleEndianBytes(CRC32C.masked(payload))
        do {
            try handle.write(contentsOf: record)
        } catch {
            throw ConfigurationError(field: "output", message: "cannot write the TensorBoard event file \(url.path): \(error.localizedDescription)")
        }
    }
}

/// The protocol-buffer wire format, for the handful of field types an event needs.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func int64(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        bytes += littleEndianBytes(value.bitPattern)
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        bytes += littleEndianBytes(value.bitPattern)
    }

    mutating func message(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ text: String) { message(field, Array(text.utf8)) }
}

/// The bytes of `value`, least significant first.
func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}
