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
    ///
    /// zlib is never asked for more than `limit + 1` bytes in all: a stream that would
    /// inflate beyond `limit` throws as soon as its first byte past the limit appears.
    public static func inflate(_ input: [UInt8], file: String = "<memory>", limit: Int = defaultLimit) throws -> [UInt8] {
        try inflate(input, file: file, limit: limit, prefix: nil)
    }

    /// The first `count` inflated bytes of a gzip file (fewer when the whole stream is
    /// shorter): zlib inflates no more than that, so a reader can look at a header before
    /// deciding how much the file may hold. The rest of the stream is not checked.
    public static func inflatePrefix(_ input: [UInt8], count: Int, file: String = "<memory>") throws -> [UInt8] {
        try inflate(input, file: file, limit: defaultLimit, prefix: max(count, 0))
    }

    /// Inflates exactly `expected` bytes: a stream holding more (trailing data) or fewer
    /// (a short stream) throws a ``DataError`` naming `field`, with `expected` and what was
    /// found; zlib never produces more than `expected + 1` bytes.
    public static func inflate(
        _ input: [UInt8], file: String, exactly expected: Int, field: String, describing what: String
    ) throws -> [UInt8] {
        let output: [UInt8]
        do {
            output = try inflate(input, file: file, limit: expected, prefix: nil)
        } catch let error as DataError where error.kind == .decompression && error.found.hasPrefix("more than") {
            throw DataError(
                .invalidSize, file: file, field: field, expected: "\(expected) decompressed bytes (\(what))",
                found: "more than \(expected) bytes (trailing data)")
        }
        guard output.count == expected else {
            throw DataError(
                .truncated, file: file, field: field, expected: "\(expected) decompressed bytes (\(what))",
                found: "\(output.count) bytes")
        }
        return output
    }

    private static func inflate(_ input: [UInt8], file: String, limit: Int, prefix: Int?) throws -> [UInt8] {
        func failure(_ what: String) -> DataError {
            DataError(.decompression, file: file, field: "gzip stream", expected: "a valid gzip stream", found: what)
        }
        guard isGzip(input) else { throw failure("no gzip signature (1f 8b)") }
        let limit = max(limit, 0)
        var output: [UInt8] = []
        output.reserveCapacity(min(prefix ?? limit, limit, max(input.count * 4, 1 << 16)))
        // zlib's pointer work is in CZlib's shim (plateau_inflate): each call lends it the
        // arrays for that call only.
        guard let inflater = plateau_inflater_create() else { throw failure("a zlib initialization failure") }
        defer { plateau_inflater_destroy(inflater) }

        // Chunks of 256 kB, or less when that is all the caller may get.
        let bound = prefix.map { min($0, limit) } ?? limit
        let fullChunk = bound < 1 << 18 ? bound + 1 : 1 << 18
        var chunk = [UInt8](repeating: 0, count: fullChunk)
        var consumed = 0
        while true {
            // Never ask zlib for more than one byte past the limit (or past the prefix).
            let wanted = bound - output.count
            if let prefix, output.count >= prefix { return Array(output.prefix(prefix)) }
            let chunkSize = wanted < fullChunk ? wanted + 1 : fullChunk
            var produced = 0
            let status = plateau_inflate(inflater, input, input.count, &consumed, &chunk, chunkSize, &produced)
            guard output.count + produced <= limit else {
                throw failure("more than \(limit) decompressed bytes")
            }
            output.append(contentsOf: chunk[0..<produced])
            if let prefix, output.count >= prefix { return Array(output.prefix(prefix)) }
            switch status {
            case Z_OK:
                if consumed == input.count && produced < chunkSize {
                    throw failure("a stream that ends early (truncated file)")
                }
            case Z_STREAM_END:
                // Another member follows only if it starts with the signature; trailing
                // zero padding (as some tools write) is ignored.
                let rest = input[consumed...]
                if rest.count >= 2 && rest[rest.startIndex] == 0x1F && rest[rest.startIndex + 1] == 0x8B {
                    guard plateau_inflate_reset(inflater) == Z_OK else { throw failure("a zlib reset failure") }
                    continue
                }
                guard rest.allSatisfy({ $0 == 0 }) else {
                    throw failure("\(rest.count) bytes of garbage after the gzip stream")
                }
                return output
            case Z_BUF_ERROR:
                if consumed == input.count { throw failure("a stream that ends early (truncated file)") }
            default:
                let message = plateau_inflate_message(inflater).map { String(cString: $0) } ?? "zlib error \(status)"
                throw failure(message)
            }
        }
    }

    /// A single-member gzip file holding `input`, deflated at `level` (0...9; 6 is gzip's
    /// default). The header carries no file name and modification time 0, so equal input
    /// gives equal bytes.
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        let bound = plateau_gzip_compress_bound(input.count, level)
        precondition(bound > 0, "Gzip.compress: deflateInit2 failed")
        var output = [UInt8](repeating: 0, count: bound)
        var written = 0
        let result = plateau_gzip_compress(input, input.count, level, &output, bound, &written)
        precondition(result == Z_STREAM_END, "Gzip.compress: deflate returned \(result)")
        return Array(output[..<written])
    }
}
