import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

@Suite struct TableTests {
    func parse(_ text: String, _ options: TableOptions = TableOptions()) throws -> Dataset {
        try Table.parse(Array(text.utf8), file: "t.csv", options: options, name: "t")
    }

    @Test func headerlessLastColumnLabels() throws {
        let d = try parse("1,2,0\n3.5,-4e1,2\r\n\n")
        #expect(d.images.shape == [2, 2])
        #expect(d.images.scalars == [1, 2, 3.5, -40])
        #expect(d.labels == [0, 2] && d.classCount == 3 && d.classNames == nil)
    }

    @Test func detectsHeaderAndNamedLabel() throws {
        let text = "label,a,b\n1,0.5,0.25\n0,1,2\n"
        let d = try parse(text, TableOptions(labelColumn: .named("label")))
        #expect(d.labels == [1, 0])
        #expect(d.images.scalars == [0.5, 0.25, 1, 2])
        let first = try parse(text, TableOptions(labelColumn: .first))
        #expect(first.labels == [1, 0] && first.count == 2)
    }

    @Test func stringLabelsBecomeSortedClasses() throws {
        let d = try parse("x,y,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n", TableOptions(labels: .strings))
        #expect(d.classNames == ["setosa", "virginica"])
        #expect(d.labels == [0, 1, 0])
    }

    @Test func quotedCellsAndTSV() throws {
        let d = try parse("\"1\",\"2\",\"a,b\"\n3,4,\"c\"\"d\"\n", TableOptions(labels: .strings))
        #expect(d.classNames == ["a,b", "c\"d"])
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("iris.tsv.gz")
            try write(Gzip.compress(Array("f1\tf2\tclass\n1\t2\t0\n3\t4\t1\n".utf8)), to: url)
            let t = try Table.load(url)
            #expect(t.name == "iris" && t.count == 2 && t.labels == [0, 1])
        }
    }

    @Test func raggedRowNamesRowAndFile() {
        let error = #expect(throws: DataError.self) { try parse("1,2,0\n1,2,3,4\n") }
        #expect(error?.kind == .raggedRow)
        #expect(error?.field == "row 2")
        #expect(error?.description.contains("t.csv") == true)
    }

    @Test func nonNumericCellNamesRowAndColumn() {
        let error = #expect(throws: DataError.self) { try parse("a,b,c\n1,2,0\n1,x,0\n") }
        #expect(error?.kind == .nonNumericCell)
        #expect(error?.field.hasPrefix("row 3, column 2") == true)
        #expect(error?.description.contains("\"x\"") == true)
        // With hasHeader: false a non-numeric first row is an error, not a header.
        let forced = #expect(throws: DataError.self) { try parse("a,b,0\n1,2,0\n", TableOptions(hasHeader: false)) }
        #expect(forced?.kind == .nonNumericCell && forced?.field.hasPrefix("row 1, column 1") == true)
        expectDataError(.nonNumericCell, naming: "t.csv") { _ = try parse("1,2,0\n1,nan,0\n") }
    }

    /// Integer labels are bounded (a label of 1,000,000 used to size a 10⁶-class layer, and
    /// Int.max overflowed `max + 1`), and one non-integer label is an error naming its cell,
    /// not a silent switch of the whole column to string classes.
    @Test func integerLabelsAreBoundedAndExplicit() throws {
        let huge = #expect(throws: DataError.self) { try parse("1,2,0\n3,4,1000000\n") }
        #expect(huge?.kind == .invalidLabel && huge?.field == "row 2, column 3")
        #expect(huge?.expected == "a class index in 0..<10000" && huge?.found == "\"1000000\"")
        let overflow = #expect(throws: DataError.self) { try parse("1,2,\(Int.max)\n") }
        #expect(overflow?.kind == .invalidLabel && overflow?.field == "row 1, column 3")
        let tooBig = #expect(throws: DataError.self) { try parse("1,2,99999999999999999999999\n") }
        #expect(tooBig?.kind == .invalidLabel)
        let negative = #expect(throws: DataError.self) { try parse("1,2,0\n1,2,-1\n") }
        #expect(negative?.kind == .invalidLabel && negative?.field == "row 2, column 3")
        let word = #expect(throws: DataError.self) { try parse("a,b,label\n1,2,0\n3,4,1\n5,6,cat\n7,8,2\n") }
        #expect(word?.kind == .nonNumericCell && word?.field == "row 4, column 3 (\"label\")")
        #expect(word?.expected.contains("labels: .strings") == true && word?.description.contains("t.csv") == true)
        // The largest allowed label, and explicit class counts within the bound.
        #expect(try parse("1,2,9999\n").classCount == 10_000)
        #expect(try parse("1,2,3\n", TableOptions(classCount: 7)).classCount == 7)
        expectDataError(.invalidArgument, naming: "t.csv") { _ = try parse("1,2,3\n", TableOptions(classCount: 10_001)) }
        expectDataError(.invalidArgument, naming: "t.csv") { _ = try parse("1,2,0\n", TableOptions(classCount: 0)) }
        // String mode: numbers are names too, sorted as strings; counts are bounded.
        let strings = try parse("1,2,10\n3,4,9\n", TableOptions(labels: .strings))
        #expect(strings.classNames == ["10", "9"] && strings.labels == [0, 1])
        let padded = try parse("1,2,b\n3,4,a\n", TableOptions(classCount: 3, labels: .strings))
        #expect(padded.classNames == ["a", "b", "class 2"] && padded.classCount == 3)
        expectDataError(.invalidLabel, naming: "t.csv") { _ = try parse("1,2,a\n3,4,b\n", TableOptions(classCount: 1, labels: .strings)) }
    }

    @Test func otherErrors() {
        expectDataError(.empty, naming: "t.csv") { _ = try parse("\n\n") }
        expectDataError(.empty, naming: "t.csv") { _ = try parse("a,b\n") }
        expectDataError(.invalidSize, naming: "t.csv") { _ = try parse("1\n2\n") }
        expectDataError(.invalidArgument, naming: "t.csv") { _ = try parse("1,2\n", TableOptions(labelColumn: .index(5))) }
        expectDataError(.invalidArgument, naming: "t.csv") { _ = try parse("a,b\n1,2\n", TableOptions(labelColumn: .named("z"))) }
        expectDataError(.invalidLabel, naming: "t.csv") { _ = try parse("1,2\n1,5\n", TableOptions(classCount: 3)) }
        expectDataError(.invalidHeader, naming: "t.csv") { _ = try parse("1,\"2\n") }
        expectDataError(.invalidHeader, naming: "t.csv") { _ = try Table.parse([0xFF, 0xFE, 0x31], file: "t.csv", name: "t") }
    }
}
