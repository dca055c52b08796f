import CZlib

/// gzip files (RFC 1952) through zlib: ``inflate(_:file:limit:)`` and ``compress(_:level:)``.
///
/// Concatenated members (as `cat a.gz b.gz` makes) are inflated one after another, as
/// `gunzip` does. Every zlib error, a stream that ends early, and output beyond `limit`
/// bytes (a guard against decompression bombs) throw a ``DataError`` of kind
/// ``DataError/Kind/decompression`` naming the file.
public enum Gzip {
    /// The default cap on decompressed size: 4 GiB.
    public static let defaultLimit = 4 << 30

    /// Whether `bytes` starts with the gzip signature `1f 8b`.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Inflates a complete gzip file held in memory.
    public static func inflate(_ input: [UInt8], file: String = "<memory>", limit: Int = defaultLimit) throws -> [UInt8] {
        func failure(_ what: String) -> DataError {
            DataError(.decompression, file: file, field: "gzip stream", expected: "a valid gzip stream", found: what)
        }
        guard isGzip(input) else { throw failure("no gzip signature (1f 8b)") }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(input.count * 4, 1 << 16)))
        var stream = z_stream()
        // 15 + 16: a gzip wrapper with the largest window.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw failure("a zlib initialization failure")
        }
        defer { inflateEnd(&stream) }

        let chunkSize = 1 << 18
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var consumed = 0
        try input.withUnsafeBufferPointer { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress!)
            stream.avail_in = UInt32(source.count)
            while true {
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress!
                    stream.avail_out = UInt32(chunkSize)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunkSize - Int(stream.avail_out)
                guard output.count + produced <= limit else {
                    throw failure("more than \(limit) decompressed bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_OK:
                    if stream.avail_in == 0 && produced < chunkSize {
                        throw failure("a stream that ends early (truncated file)")
                    }
                case Z_STREAM_END:
                    consumed = source.count - Int(stream.avail_in)
                    // Another member follows only if it starts with the signature; trailing
                    // zero padding (as some tools write) is ignored.
                    let rest = source[consumed...]
                    if rest.count >= 2 && rest[rest.startIndex] == 0x1F && rest[rest.startIndex + 1] == 0x8B {
                        guard inflateReset(&stream) == Z_OK else { throw failure("a zlib reset failure") }
                        continue
                    }
                    guard rest.allSatisfy({ $0 == 0 }) else {
                        throw failure("\(rest.count) bytes of garbage after the gzip stream")
                    }
                    return
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { throw failure("a stream that ends early (truncated file)") }
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw failure(message)
                }
            }
        }
        return output
    }

    /// A single-member gzip file holding `input`, deflated at `level` (0...9; 6 is gzip's
    /// default). The header carries no file name and modification time 0, so equal input
    /// gives equal bytes.
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        let status = deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "Gzip.compress: deflateInit2 failed (\(status))")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        let written: Int = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                // zlib never reads next_in when avail_in is 0, so nil is fine for empty input.
                stream.next_in = source.baseAddress.map { UnsafeMutablePointer(mutating: $0) }
                stream.avail_in = UInt32(source.count)
                stream.next_out = out.baseAddress!
                stream.avail_out = UInt32(out.count)
                let result = deflate(&stream, Z_FINISH)
                precondition(result == Z_STREAM_END, "Gzip.compress: deflate returned \(result)")
                return out.count - Int(stream.avail_out)
            }
        }
        return Array(output[..<written])
    }
}
