import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// A fresh temporary directory, removed when the test's closure returns.
func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

func write(_ bytes: [UInt8], to url: URL) throws {
    try Data(bytes).write(to: url)
}

/// Runs `body`, expecting a DataError of `kind` whose message names `file`.
func expectDataError(
    _ kind: DataError.Kind, naming file: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a DataError of kind \(kind), got success", sourceLocation: sourceLocation)
    } catch let error as DataError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains(file), "message does not name \(file): \(error)", sourceLocation: sourceLocation)
        #expect(error.errorDescription == error.description, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Deterministic small images `[n, c, h, w]` with values k/255.
func sampleImages(_ n: Int, _ c: Int, _ h: Int, _ w: Int, seed: UInt64 = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    let values = (0..<(n * c * h * w)).map { _ in Float(Int.random(in: 0...255, using: &generator)) / 255 }
    return Tensor(shape: [n, c, h, w], scalars: values)
}

/// A tiny dataset whose sample i is filled with the value i and labelled i % classes.
func indexDataset(_ n: Int, classes: Int = 3, shape: [Int] = [2]) -> Dataset {
    let size = shape.reduce(1, *)
    let values = (0..<n).flatMap { [Float](repeating: Float($0), count: size) }
    return Dataset(name: "index", images: Tensor(shape: [n] + shape, scalars: values), labels: (0..<n).map { $0 % classes }, classCount: classes)
}

/// The repository root (for optional real-data tests).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
