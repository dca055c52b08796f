import Foundation
@testable import PlateauTraining
import Testing

/// TensorBoard's event files: TFRecord framing with masked CRC-32C, and Event protocol
/// buffers, read back here by a decoder written from the format's definition.
@Suite struct TensorBoardTests {
    @Test("CRC-32C matches the standard check value and TFRecord's masking")
    func checksum() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let crc = CRC32C.checksum(Array("a".utf8))
        #expect(CRC32C.masked(Array("a".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test("an event file holds a version record, then one event per write with its scalars")
    func eventsRoundTrip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-tb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try EventFileWriter(directory: directory, clock: { 1_700_000_000.5 })
        try writer.write(step: 3, scalars: [("train/loss", 0.25), ("train/accuracy", 0.875)], wallTime: 1_700_000_001)
        try writer.write(step: 300, scalars: [("test/loss", -1.5)], wallTime: 1_700_000_002)
        #expect(writer.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))

        let records = try readRecords(Data(contentsOf: writer.url))
        #expect(records.count == 3)
        let first = decode(records[0])
        #expect(first[1]?.first == .fixed64(1_700_000_000.5.bitPattern))
        #expect(first[3]?.first == .bytes(Array("brain.Event:2".utf8)))
        let second = decode(records[1])
        #expect(second[2]?.first == .varint(3))
        guard case .bytes(let summary)? = second[5]?.first else { Issue.record("no summary"); return }
        let values = decode(summary)[1] ?? []
        #expect(values.count == 2)
        guard case .bytes(let value)? = values.first else { return }
        let fields = decode(value)
        #expect(fields[1]?.first == .bytes(Array("train/loss".utf8)))
        #expect(fields[2]?.first == .fixed32(Float(0.25).bitPattern))
        #expect(decode(records[2])[2]?.first == .varint(300))
    }

    @Test("a training run logs every step and every epoch; interval 0 writes no event file")
    func trainerWritesEvents() throws {
        let directory = try temporaryDirectory("tensorboard-run")
        defer { try? FileManager.default.removeItem(at: directory) }
        try train(configuration("sam", epochs: 2), output: directory)  // 4 steps per epoch
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(files.count == 1)
        let records = try readRecords(Data(contentsOf: directory.appendingPathComponent(files[0])))
        #expect(records.count == 1 + 8 + 2, "the version record, 8 steps, 2 epochs")
        func tags(_ record: [UInt8]) -> [String] {
            guard case .bytes(let summary)? = decode(record)[5]?.first else { return [] }
            return (decode(summary)[1] ?? []).compactMap { value -> String? in
                guard case .bytes(let entry) = value, case .bytes(let tag)? = decode(entry)[1]?.first else { return nil }
                return String(decoding: tag, as: UTF8.self)
            }
        }
        #expect(tags(records[1]).contains("train/perturbed_loss"))
        #expect(tags(records[5]).contains("epoch/test_accuracy"))
        #expect(decode(records[5])[2]?.first == .varint(4), "the first epoch's scalars sit at its last step + 1")

        let quiet = try temporaryDirectory("tensorboard-off")
        defer { try? FileManager.default.removeItem(at: quiet) }
        var off = configuration("sgd", epochs: 1)
        off.tensorboardInterval = 0
        try train(off, output: quiet)
        #expect(try FileManager.default.contentsOfDirectory(atPath: quiet.path).allSatisfy { !$0.hasPrefix("events.") })
    }

    enum Field: Equatable { case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8]) }

    /// Splits a TFRecord stream, checking both CRCs of every record.
    func readRecords(_ data: Data) throws -> [[UInt8]] {
        let bytes = [UInt8](data)
        var records: [[UInt8]] = [], offset = 0
        func integer<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            (0..<(T.bitWidth / 8)).reduce(T(0)) { $0 | T(bytes[at + $1]) << ($1 * 8) }
        }
        while offset < bytes.count {
            let length = Int(integer(offset, UInt64.self))
            #expect(integer(offset + 8, UInt32.self) == CRC32C.masked(bytes[offset..<(offset + 8)]))
            let payload = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            #expect(integer(offset + 12 + length, UInt32.self) == CRC32C.masked(payload))
            records.append(payload)
            offset += 16 + length
        }
        return records
    }

    /// The fields of a protocol-buffer message by number.
    func decode(_ bytes: [UInt8]) -> [Int: [Field]] {
        var fields: [Int: [Field]] = [:], i = 0
        func varint() -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                let byte = bytes[i]; i += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while i < bytes.count {
            let key = varint()
            let field: Field
            switch key & 7 {
            case 0: field = .varint(varint())
            case 1: field = .fixed64((0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i + $1]) << ($1 * 8) }); i += 8
            case 5: field = .fixed32((0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[i + $1]) << ($1 * 8) }); i += 4
            default:
                let length = Int(varint())
                field = .bytes(Array(bytes[i..<(i + length)])); i += length
            }
            fields[Int(key >> 3), default: []].append(field)
        }
        return fields
    }
}
