/// A small strict XML well-formedness checker for the generated SVG and HTML.
///
/// Foundation's `XMLDocument` on Linux (swift-corelibs-foundation over libxml2) logs
/// errors such as mismatched tags but still returns a document, so it cannot be used as the
/// oracle; this checker throws instead. It accepts: one optional `<!DOCTYPE …>`, comments,
/// elements with `name="value"` / `name='value'` attributes (no duplicates), self-closing
/// tags, text without a raw `<`, and only the entities `&amp; &lt; &gt; &quot; &apos;` and
/// numeric references. Tags must balance and there must be exactly one root element.
struct XMLChecker {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Element names in document order (for "contains an <svg>" style checks).
    private(set) var elements: [String] = []
    /// Text content with entities decoded, concatenated with spaces.
    private(set) var text = ""

    init(_ source: String) throws {
        let s = Array(source.unicodeScalars)
        var i = 0
        var stack: [String] = []
        var roots = 0
        func fail(_ message: String) -> Failure {
            let line = s[0..<min(i, s.count)].filter { $0 == "\n" }.count + 1
            return Failure(description: "line \(line): \(message)")
        }
        func starts(_ prefix: String) -> Bool {
            let p = Array(prefix.unicodeScalars)
            return i + p.count <= s.count && Array(s[i..<(i + p.count)]) == p
        }
        func isNameScalar(_ c: Unicode.Scalar) -> Bool {
            c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_" || c == ":" || c == "."
        }
        func readName() throws -> String {
            let start = i
            while i < s.count, isNameScalar(s[i]) { i += 1 }
            guard i > start else { throw fail("expected a name") }
            return String(String.UnicodeScalarView(s[start..<i]))
        }
        func skipSpace() { while i < s.count, s[i] == " " || s[i] == "\n" || s[i] == "\t" || s[i] == "\r" { i += 1 } }
        func decodeEntity() throws -> String {
            // At '&'.
            guard let end = s[i...].firstIndex(of: ";"), end - i <= 10 else { throw fail("unterminated entity") }
            let name = String(String.UnicodeScalarView(s[(i + 1)..<end]))
            i = end + 1
            switch name {
            case "amp": return "&"
            case "lt": return "<"
            case "gt": return ">"
            case "quot": return "\""
            case "apos": return "'"
            default:
                if name.hasPrefix("#x"), let v = UInt32(name.dropFirst(2), radix: 16), let c = Unicode.Scalar(v) { return String(c) }
                if name.hasPrefix("#"), let v = UInt32(name.dropFirst()), let c = Unicode.Scalar(v) { return String(c) }
                throw fail("unknown entity &\(name);")
            }
        }

        skipSpace()
        if starts("<!DOCTYPE") {
            guard let end = s[i...].firstIndex(of: ">") else { throw fail("unterminated DOCTYPE") }
            i = end + 1
        }
        while i < s.count {
            if starts("<!--") {
                var j = i + 4
                while j + 2 < s.count, !(s[j] == "-" && s[j + 1] == "-" && s[j + 2] == ">") { j += 1 }
                guard j + 2 < s.count else { throw fail("unterminated comment") }
                i = j + 3
            } else if starts("</") {
                i += 2
                let name = try readName()
                skipSpace()
                guard i < s.count, s[i] == ">" else { throw fail("expected > after </\(name)") }
                i += 1
                guard let open = stack.popLast() else { throw fail("closing </\(name)> without an open element") }
                guard open == name else { throw fail("</\(name)> closes <\(open)>") }
            } else if s[i] == "<" {
                i += 1
                let name = try readName()
                if stack.isEmpty {
                    roots += 1
                    guard roots == 1 else { throw fail("a second root element <\(name)>") }
                }
                elements.append(name)
                var attributes: Set<String> = []
                while true {
                    skipSpace()
                    guard i < s.count else { throw fail("unterminated tag <\(name)") }
                    if s[i] == ">" { i += 1; stack.append(name); break }
                    if starts("/>") { i += 2; break }
                    let attribute = try readName()
                    guard attributes.insert(attribute).inserted else { throw fail("duplicate attribute \(attribute) on <\(name)>") }
                    skipSpace()
                    guard i < s.count, s[i] == "=" else { throw fail("attribute \(attribute) on <\(name)> has no value") }
                    i += 1
                    skipSpace()
                    guard i < s.count, s[i] == "\"" || s[i] == "'" else { throw fail("attribute \(attribute) on <\(name)> is not quoted") }
                    let quote = s[i]
                    i += 1
                    while i < s.count, s[i] != quote {
                        if s[i] == "<" { throw fail("raw < in attribute \(attribute)") }
                        if s[i] == "&" { _ = try decodeEntity() } else { i += 1 }
                    }
                    guard i < s.count else { throw fail("unterminated attribute \(attribute)") }
                    i += 1
                }
            } else {
                if stack.isEmpty && !(s[i] == " " || s[i] == "\n" || s[i] == "\t" || s[i] == "\r") {
                    throw fail("text outside the root element")
                }
                var chunk = ""
                while i < s.count, s[i] != "<" {
                    if s[i] == "&" { chunk += try decodeEntity() } else { chunk.unicodeScalars.append(s[i]); i += 1 }
                }
                text += chunk + " "
            }
        }
        guard stack.isEmpty else { throw fail("unclosed elements: \(stack.joined(separator: ", "))") }
        guard roots == 1 else { throw fail("no root element") }
    }
}
