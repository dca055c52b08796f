import Foundation
import PlateauTensor

/// Options for reading a delimited table (CSV, TSV) as a classification dataset.
public struct TableOptions: Sendable {
    /// Which column holds the class.
    public enum LabelColumn: Sendable, Equatable {
        case first
        case last
        /// A 0-based column index.
        case index(Int)
        /// A header name (requires a header row).
        case named(String)
    }

    /// The cell separator; `nil` picks a tab for `.tsv`/`.tab` files (before any `.gz`)
    /// and a comma otherwise.
    public var delimiter: Character?
    public var labelColumn: LabelColumn
    /// Whether the first row is a header; `nil` detects it: the first row is a header when
    /// one of its feature cells is not a number.
    public var hasHeader: Bool?
    /// The number of classes (1...``maximumClassCount``); `nil` uses `max(label) + 1` for
    /// integer labels and the number of distinct names for string labels.
    public var classCount: Int?
    /// How label cells are read: as class indices or as class names.
    public var labels: Labels

    /// How the label column is read.
    public enum Labels: Sendable, Equatable {
        /// Each label is a non-negative integer class index below the class count; any other
        /// cell is an error naming its row and column.
        case integers
        /// Each distinct label string is a class, numbered in sorted order; the names are kept
        /// in ``Dataset/classNames``.
        case strings
    }

    /// The most classes a table may have: 10,000 (a larger count is a typo or a label column
    /// of identifiers, and would size a classifier layer accordingly).
    public static let maximumClassCount = 10_000

    public init(
        delimiter: Character? = nil, labelColumn: LabelColumn = .last, hasHeader: Bool? = nil, classCount: Int? = nil,
        labels: Labels = .integers
    ) {
        self.delimiter = delimiter
        self.labelColumn = labelColumn
        self.hasHeader = hasHeader
        self.classCount = classCount
        self.labels = labels
    }
}

/// A reader for delimited text tables (CSV / TSV, raw or `.gz`): one sample per row,
/// numeric feature columns and one label column.
///
/// Format: rows separated by `\n` (a trailing `\r` is dropped, blank lines are skipped);
/// cells separated by the delimiter; a cell may be wrapped in double quotes, inside which
/// the delimiter is literal and `""` is a quote. Every row must have as many cells as the
/// first. Features must parse as finite decimal numbers. Labels are read as
/// ``TableOptions/labels`` says: class indices in `0..<classCount` (the default; the first
/// other cell is an error naming its row and column), or strings, each distinct one a class
/// numbered in sorted order with the names kept in ``Dataset/classNames``. A table has at
/// most ``TableOptions/maximumClassCount`` classes.
///
/// The result has images `[N, F]`. Errors give 1-based row and column numbers as a
/// spreadsheet shows them (the header, if any, is row 1).
public enum Table {
    /// Reads a table file into a dataset named after the file (without extensions).
    public static func load(_ url: URL, options: TableOptions = TableOptions(), name: String? = nil) throws -> Dataset {
        var options = options
        if options.delimiter == nil {
            let stem = url.pathExtension == "gz" ? url.deletingPathExtension() : url
            options.delimiter = ["tsv", "tab"].contains(stem.pathExtension.lowercased()) ? "\t" : ","
        }
        let bytes = try readBytes(of: url)
        let defaultName = url.deletingPathExtension().lastPathComponent.components(separatedBy: ".")[0]
        return try parse(bytes, file: displayName(url), options: options, name: name ?? defaultName)
    }

    /// Parses table text held in memory (UTF-8).
    public static func parse(_ bytes: [UInt8], file: String, options: TableOptions = TableOptions(), name: String) throws -> Dataset {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DataError(.invalidHeader, file: file, field: "encoding", expected: "UTF-8 text", found: "invalid UTF-8")
        }
        let delimiter = options.delimiter ?? ","
        var rows: [(line: Int, cells: [Substring])] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift, so it is matched as a separator of its own.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = rawLine
            if line.last == "\r" { line = line.dropLast() }
            // Blank lines are skipped (in a TSV a line of tabs is a row of empty cells).
            let isBlank = line.allSatisfy { $0 == " " || ($0 == "\t" && delimiter != "\t") }
            if isBlank { continue }
            rows.append((lineNumber, try splitCells(line, delimiter: delimiter, file: file, line: lineNumber)))
        }
        guard let first = rows.first else {
            throw DataError(.empty, file: file, field: "rows", expected: "at least one data row", found: "an empty table")
        }
        let columns = first.cells.count
        guard columns >= 2 else {
            throw DataError(
                .invalidSize, file: file, field: "row \(first.line)",
                expected: "at least 2 columns (features and a label)", found: "\(columns) column")
        }
        for row in rows where row.cells.count != columns {
            throw DataError(
                .raggedRow, file: file, field: "row \(row.line)", expected: "\(columns) cells like row \(first.line)",
                found: "\(row.cells.count) cells")
        }

        // Header detection: a non-numeric cell outside the label column of a named or
        // positional label column. For `.named`, a header is required.
        func isNumber(_ cell: Substring) -> Bool { Double(trimmed(cell)).map { $0.isFinite } ?? false }
        let positional: Int? = {
            switch options.labelColumn {
            case .first: return 0
            case .last: return columns - 1
            case .index(let i): return i
            case .named: return nil
            }
        }()
        let hasHeader: Bool
        if let explicit = options.hasHeader {
            hasHeader = explicit
        } else if case .named = options.labelColumn {
            hasHeader = true
        } else {
            hasHeader = first.cells.enumerated().contains { $0.offset != positional && !isNumber($0.element) }
        }
        let header = hasHeader ? first.cells.map { String(trimmed($0)) } : nil
        let labelIndex: Int
        switch options.labelColumn {
        case .named(let wanted):
            guard let header else {
                throw DataError(
                    .invalidArgument, file: file, field: "label column \"\(wanted)\"",
                    expected: "a header row naming it", found: "no header")
            }
            guard let index = header.firstIndex(of: wanted) else {
                throw DataError(
                    .invalidArgument, file: file, field: "label column \"\(wanted)\"",
                    expected: "one of the header names \(header)", found: "no such column")
            }
            labelIndex = index
        default:
            guard let index = positional, index >= 0, index < columns else {
                throw DataError(
                    .invalidArgument, file: file, field: "label column", expected: "an index in 0..<\(columns)",
                    found: "\(positional ?? -1)")
            }
            labelIndex = index
        }
        let data = hasHeader ? Array(rows.dropFirst()) : rows
        guard !data.isEmpty else {
            throw DataError(.empty, file: file, field: "rows", expected: "at least one data row", found: "only a header")
        }

        let featureCount = columns - 1
        var features = [Float]()
        features.reserveCapacity(data.count * featureCount)
        var labelCells: [Substring] = []
        labelCells.reserveCapacity(data.count)
        for row in data {
            for (column, cell) in row.cells.enumerated() {
                if column == labelIndex {
                    labelCells.append(trimmed(cell))
                    continue
                }
                guard let value = Float(trimmed(cell)), value.isFinite else {
                    throw DataError(
                        .nonNumericCell, file: file,
                        field: "row \(row.line), column \(column + 1)\(header.map { " (\"\($0[column])\")" } ?? "")",
                        expected: "a finite number", found: "\"\(cell.prefix(40))\"")
                }
                features.append(value)
            }
        }

        let maximum = TableOptions.maximumClassCount
        if let wanted = options.classCount, !(1...maximum).contains(wanted) {
            throw DataError(
                .invalidArgument, file: file, field: "class count", expected: "1...\(maximum) classes", found: "\(wanted)")
        }
        func labelField(_ row: (line: Int, cells: [Substring])) -> String {
            "row \(row.line), column \(labelIndex + 1)\(header.map { " (\"\($0[labelIndex])\")" } ?? "")"
        }
        var labels: [Int] = []
        labels.reserveCapacity(data.count)
        var classNames: [String]?
        var classCount: Int
        switch options.labels {
        case .integers:
            // The bound: the given class count, or the largest count a table may have.
            let bound = options.classCount ?? maximum
            for (row, cell) in zip(data, labelCells) {
                guard let label = Int(cell), label >= 0, label < bound else {
                    let digits = cell.first == "-" || cell.first == "+" ? cell.dropFirst() : cell
                    let isInteger = !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
                    throw DataError(
                        isInteger ? .invalidLabel : .nonNumericCell, file: file, field: labelField(row),
                        expected: isInteger || options.classCount != nil
                            ? "a class index in 0..<\(bound)"
                            : "an integer class index in 0..<\(bound) (for class names, read the labels as strings: --table-labels strings, or TableOptions(labels: .strings))",
                        found: "\"\(cell.prefix(40))\"")
                }
                labels.append(label)
            }
            classCount = options.classCount ?? ((labels.max() ?? 0) + 1)
        case .strings:
            let names = Set(labelCells.map(String.init)).sorted()
            let bound = options.classCount ?? maximum
            guard names.count <= bound else {
                throw DataError(
                    .invalidLabel, file: file, field: "column \(labelIndex + 1) (labels)",
                    expected: "at most \(bound) distinct labels", found: "\(names.count)")
            }
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, $0.offset) })
            labels = labelCells.map { index[String($0)]! }
            classCount = options.classCount ?? names.count
            classNames = names + (names.count..<classCount).map { "class \($0)" }
        }
        return Dataset(
            name: name, images: Tensor(shape: [data.count, featureCount], scalars: features), labels: labels,
            classCount: classCount, classNames: classNames)
    }

    private static func trimmed(_ cell: Substring) -> Substring {
        var cell = cell
        while let c = cell.first, c == " " || c == "\t" { cell = cell.dropFirst() }
        while let c = cell.last, c == " " || c == "\t" { cell = cell.dropLast() }
        return cell
    }

    /// Splits one line into cells, honouring double quotes.
    private static func splitCells(_ line: Substring, delimiter: Character, file: String, line number: Int) throws -> [Substring] {
        if !line.contains("\"") { return line.split(separator: delimiter, omittingEmptySubsequences: false) }
        var cells: [Substring] = []
        var current = ""
        var inQuotes = false
        var index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            if inQuotes {
                if c == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex && line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(c)
                }
            } else if c == "\"" {
                inQuotes = true
            } else if c == delimiter {
                cells.append(Substring(current))
                current = ""
            } else {
                current.append(c)
            }
            index = line.index(after: index)
        }
        guard !inQuotes else {
            throw DataError(
                .invalidHeader, file: file, field: "row \(number)", expected: "closed double quotes",
                found: "an unterminated quoted cell")
        }
        cells.append(Substring(current))
        return cells
    }
}
