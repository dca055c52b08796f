import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// A safetensors file from a literal header and data section.
func safetensorsBytes(_ header: String, _ data: [UInt8]) -> [UInt8] {
    let h = Array(header.utf8)
    var length = UInt64(h.count)
    var bytes: [UInt8] = []
    for _ in 0..<8 { bytes.append(UInt8(length & 0xFF)); length >>= 8 }
    return bytes + h + data
}

func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

@Suite struct SafetensorsTests {
    let tensors: [(String, Tensor)] = [
        ("layer.weight", Tensor(shape: [2, 3], scalars: [1, -2.5, 3e-8, .infinity, 0, -0])),
        ("layer.bias", Tensor([0.5, 1.5])),
        ("scalar", Tensor(7)),
        ("empty", Tensor.zeros([0, 4])),
        ("naïve \"quoted\"\n", Tensor([42])),
    ]

    @Test func writeReadRoundTrip() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("model.safetensors")
            try Safetensors.write(tensors, metadata: ["format": "pt", "seed": "42", "note": "ü\\\""], to: url)
            let contents = try Safetensors.read(from: url)
            #expect(contents.tensors.map(\.name) == tensors.map(\.0))
            for ((_, a), (_, b)) in zip(contents.tensors, tensors) {
                #expect(a.shape == b.shape)
                #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
            }
            #expect(contents.metadata == ["format": "pt", "seed": "42", "note": "ü\\\""])
            #expect(contents.dtypes["layer.bias"] == .F32)
            #expect(contents["scalar"]?.item == 7)
            let bytes = [UInt8](try Data(contentsOf: url))
            let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
            #expect(headerLength % 8 == 0)
            // Overwriting goes through a temporary file that does not remain.
            try Safetensors.write(ParameterSet([("w", Tensor([1, 2]))]), to: url)
            #expect(try Safetensors.read(from: url).parameterSet == ParameterSet([("w", Tensor([1, 2]))]))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.safetensors"])
        }
    }

    @Test func readsOtherDTypes() throws {
        var data: [UInt8] = []
        data += littleEndian([Double(1.5).bitPattern, Double(-2).bitPattern])  // F64 [0, 16)
        data += littleEndian([UInt16(0x3C00), 0xC000, 0x0001, 0x7C00])  // F16 [16, 24): 1, -2, 2^-24, inf
        data += littleEndian([Int64(-3), 1 << 40])  // I64 [24, 40)
        data += littleEndian([Int32(-7)])  // I32 [40, 44)
        data += [0, 255]  // U8 [44, 46)
        data += littleEndian([UInt16(0x3F80)])  // BF16 [46, 48): 1
        let header = """
            {"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]},\
            "i":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},"j":{"dtype":"I32","shape":[],"data_offsets":[40,44]},\
            "u":{"dtype":"U8","shape":[1,2],"data_offsets":[44,46]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[46,48]}}
            """
        let c = try Safetensors.decode(safetensorsBytes(header, data), file: "mixed.safetensors")
        #expect(c.tensors.map(\.name) == ["a", "h", "i", "j", "u", "b"])
        #expect(c["a"]!.scalars == [1.5, -2])
        #expect(c["h"]!.scalars == [1, -2, Float(sign: .plus, exponent: -24, significand: 1), .infinity])
        #expect(c["i"]!.scalars == [-3, 1_099_511_627_776])
        #expect(c["j"]!.shape == [] && c["j"]!.item == -7)
        #expect(c["u"]!.scalars == [0, 255] && c["u"]!.shape == [1, 2])
        #expect(c["b"]!.scalars == [1])
        #expect(c.dtypes["h"] == .F16 && c.metadata.isEmpty)
    }

    @Test func validationErrorsNameFileAndTensor() {
        let f = "bad.safetensors"
        let four = [UInt8](repeating: 0, count: 4)
        func decode(_ header: String, _ data: [UInt8] = [0, 0, 0, 0]) throws { _ = try Safetensors.decode(safetensorsBytes(header, data), file: f) }
        expectDataError(.truncated, naming: f) { _ = try Safetensors.decode([1, 2, 3], file: f) }
        expectDataError(.invalidHeader, naming: f) { _ = try Safetensors.decode([200, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], file: f) }
        expectDataError(.invalidHeader, naming: f) { _ = try Safetensors.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], file: f) }
        expectDataError(.invalidHeader, naming: f) { try decode("{\"w\":", four) }
        expectDataError(.invalidHeader, naming: f) { try decode("[1,2]", []) }
        expectDataError(.invalidHeader, naming: f) { try decode(#"{"__metadata__":{"k":1}}"#, []) }
        expectDataError(.unsupportedDType, naming: "tensor \"w\"") { try decode(#"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,4]}}"#) }
        expectDataError(.invalidHeader, naming: "tensor \"w\" shape") { try decode(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#) }
        expectDataError(.invalidHeader, naming: "tensor \"w\" shape") { try decode(#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#) }
        expectDataError(.invalidHeader, naming: "tensor \"w\" shape") { try decode(#"{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#) }
        expectDataError(.invalidHeader, naming: "tensor \"w\" dtype") { try decode(#"{"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}"#) }
        expectDataError(.invalidHeader, naming: "tensor \"w\" data_offsets") { try decode(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#) }
        expectDataError(.offsetsOutOfRange, naming: "tensor \"w\"") { try decode(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#) }
        expectDataError(.offsetsOutOfRange, naming: "tensor \"w\"") { try decode(#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#) }
        expectDataError(.invalidSize, naming: "tensor \"w\" byte range") { try decode(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#) }
        expectDataError(.invalidSize, naming: "tensor \"w\"") {
            try decode(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#)
        }
        expectDataError(.overlappingOffsets, naming: "tensor \"b\"") {
            try decode(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#)
        }
        expectDataError(.offsetsOutOfRange, naming: "tensor \"w\"") { try decode(#"{"w":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#) }
        expectDataError(.offsetsOutOfRange, naming: "data section") { try decode(#"{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#) }
        expectDataError(.invalidArgument, naming: "x.safetensors") { _ = try Safetensors.encode([("a", Tensor(1)), ("a", Tensor(2))], file: "x.safetensors") }
        expectDataError(.unreadable, naming: "missing.safetensors") {
            _ = try Safetensors.read(from: URL(fileURLWithPath: "/nonexistent/missing.safetensors"))
        }
    }

    @Test func unwritableDirectory() {
        expectDataError(.unwritable, naming: "out.safetensors") {
            try Safetensors.write([("w", Tensor(1))], to: URL(fileURLWithPath: "/nonexistent/dir/out.safetensors"))
        }
    }
}
