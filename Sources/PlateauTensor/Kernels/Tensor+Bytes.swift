/// How scalars are laid out as bytes in a file: the element types of safetensors, IDX and
/// CIFAR, all little-endian (a single byte has no byte order).
public enum ScalarEncoding: Sendable, CaseIterable {
    /// IEEE 754 binary64, binary32, binary16, and bfloat16 (the top half of a binary32).
    case float64, float32, float16, bfloat16
    /// Two's-complement signed integers of 8, 4, 2 and 1 bytes, and an unsigned byte.
    case int64, int32, int16, int8, uint8
    /// One byte, 0 is false and anything else true (decoded as 0 or 1).
    case bool

    /// Bytes per scalar.
    public var byteCount: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }
}

extension Tensor {
    /// A constant tensor decoded from little-endian bytes.
    ///
    /// The elements are read as `shape[0]` records of `count / shape[0]` consecutive scalars
    /// (one record for a scalar shape); record `r` starts at byte `offset + r · recordStride`,
    /// so a file whose records carry other fields (CIFAR's label bytes) decodes in one pass.
    /// Each scalar is converted to `Float` as Swift's initializers do (`Float(Double)`,
    /// `Float(Int64)`, …; half precision exactly, subnormals, infinities and NaN included;
    /// bfloat16 is the upper half of a float32) and then, with `divisor`, divided by it:
    /// `Float(byte) / 255` is how IDX and CIFAR pixels become `[0, 1]`.
    ///
    /// - Parameters:
    ///   - bytes: the encoded data.
    ///   - encoding: the element type of each scalar.
    ///   - shape: the tensor's shape; `shape[0]` is the number of records.
    ///   - offset: the byte at which the first record starts; default 0.
    ///   - recordStride: bytes from one record's start to the next; by default the records
    ///     are contiguous.
    ///   - divisor: when given, every decoded value is divided by it (255 for pixel bytes).
    /// - Precondition: every record lies within `bytes`, and a stride is at least a record's size.
    public init(
        decoding bytes: [UInt8], as encoding: ScalarEncoding, shape: [Int], offset: Int = 0,
        recordStride: Int? = nil, dividingBy divisor: Float? = nil
    ) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor(decoding:): negative extent in shape \(shape)")
        let count = shape.product
        let records = shape.isEmpty ? 1 : shape[0]
        let perRecord = records == 0 ? 0 : count / records
        let recordBytes = perRecord * encoding.byteCount
        let stride = recordStride ?? recordBytes
        precondition(stride >= recordBytes, "Tensor(decoding:): record stride \(stride) is shorter than a record (\(recordBytes) bytes)")
        precondition(
            offset >= 0 && (records == 0 || offset + (records - 1) * stride + recordBytes <= bytes.count),
            "Tensor(decoding:): \(records) records of \(recordBytes) bytes every \(stride) from byte \(offset) do not fit in \(bytes.count) bytes")
        let values = bytes.withUnsafeBufferPointer { source in
            makeScalars(count: count) { out in
                for record in 0..<records {
                    decodeScalars(
                        source.baseAddress! + offset + record * stride, encoding, count: perRecord,
                        into: out + record * perRecord, dividingBy: divisor)
                }
            }
        }
        self.init(shape: shape, scalars: values, node: nil)
    }

    /// The elements as little-endian float32 bytes (safetensors' `F32`), in row-major order.
    public var float32LittleEndianBytes: [UInt8] {
        scalars.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: source.count * 4) { out, initialized in
                for i in 0..<source.count {
                    let bits = source[i].bitPattern
                    out[4 * i] = UInt8(truncatingIfNeeded: bits)
                    out[4 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                    out[4 * i + 2] = UInt8(truncatingIfNeeded: bits >> 16)
                    out[4 * i + 3] = UInt8(truncatingIfNeeded: bits >> 24)
                }
                initialized = source.count * 4
            }
        }
    }
}

/// Decodes `count` scalars starting at `source` into `out`, each divided by `divisor` if given.
private func decodeScalars(
    _ source: UnsafePointer<UInt8>, _ encoding: ScalarEncoding, count: Int, into out: UnsafeMutablePointer<Float>,
    dividingBy divisor: Float?
) {
    @inline(__always) func word(_ i: Int, _ width: Int) -> UInt64 {
        var value: UInt64 = 0
        for k in stride(from: width - 1, through: 0, by: -1) { value = value << 8 | UInt64(source[i * width + k]) }
        return value
    }
    switch encoding {
    case .uint8:
        // The pixel path of IDX and CIFAR, kept branch-free.
        if let divisor {
            for i in 0..<count { out[i] = Float(source[i]) / divisor }
        } else {
            for i in 0..<count { out[i] = Float(source[i]) }
        }
        return
    case .float32: for i in 0..<count { out[i] = Float(bitPattern: UInt32(word(i, 4))) }
    case .float64: for i in 0..<count { out[i] = Float(Double(bitPattern: word(i, 8))) }
    case .float16: for i in 0..<count { out[i] = floatFromHalf(UInt16(word(i, 2))) }
    case .bfloat16: for i in 0..<count { out[i] = Float(bitPattern: UInt32(word(i, 2)) << 16) }
    case .int64: for i in 0..<count { out[i] = Float(Int64(bitPattern: word(i, 8))) }
    case .int32: for i in 0..<count { out[i] = Float(Int32(bitPattern: UInt32(word(i, 4)))) }
    case .int16: for i in 0..<count { out[i] = Float(Int16(bitPattern: UInt16(word(i, 2)))) }
    case .int8: for i in 0..<count { out[i] = Float(Int8(bitPattern: source[i])) }
    case .bool: for i in 0..<count { out[i] = source[i] == 0 ? 0 : 1 }
    }
    if let divisor {
        for i in 0..<count { out[i] = out[i] / divisor }
    }
}

/// IEEE 754 binary16 to binary32, subnormals, infinities and NaN included.
func floatFromHalf(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = Float(h & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * Float(sign: .plus, exponent: -24, significand: 1)
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}
