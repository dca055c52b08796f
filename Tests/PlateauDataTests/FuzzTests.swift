import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// Feeds random and mutated bytes to every reader: each must return or throw a DataError,
/// never trap or hang. Sizes stay small so a debug build runs this in seconds.
@Suite struct FuzzTests {
    /// Valid inputs for every reader, to be mutated.
    static func seeds() throws -> [(String, [UInt8], ([UInt8]) throws -> Void)] {
        let images = sampleImages(3, 1, 4, 4)
        let idxImages = MNIST.encodeImages(images)
        let idxLabels = MNIST.encodeLabels([1, 2, 3])
        let cifar10 = cifarRecords(labels: [[1], [2]])
        let cifar100 = cifarRecords(labels: [[1, 2]])
        let csv = Array("a,b,label\n1,2,0\n3.5,4,1\n\"5\",6,2\n".utf8)
        let st = try Safetensors.encode([("w", Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])), ("b", Tensor([5]))], metadata: ["k": "v"])
        return [
            ("idx images", idxImages, { _ = try MNIST.parseImages($0, file: "f") }),
            ("idx labels", idxLabels, { _ = try MNIST.parseLabels($0, file: "f") }),
            ("idx images gz", Gzip.compress(idxImages), { _ = try MNIST.parseImages(Gzip.inflate($0, file: "f"), file: "f") }),
            ("cifar10", cifar10, { _ = try CIFAR.parseCIFAR10($0, file: "f") }),
            ("cifar100", cifar100, { _ = try CIFAR.parseCIFAR100($0, file: "f") }),
            ("csv", csv, { _ = try Table.parse($0, file: "f", name: "t") }),
            ("csv gz", Gzip.compress(csv), { _ = try Table.parse(Gzip.inflate($0, file: "f"), file: "f", name: "t") }),
            ("safetensors", st, { _ = try Safetensors.decode($0, file: "f") }),
        ]
    }

    static func mutate(_ bytes: [UInt8], using g: inout SeededGenerator) -> [UInt8] {
        var out = bytes
        switch Int.random(in: 0..<5, using: &g) {
        case 0:  // bit flips
            for _ in 0..<Int.random(in: 1...4, using: &g) where !out.isEmpty {
                let i = Int.random(in: 0..<out.count, using: &g)
                out[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &g)
            }
        case 1:  // truncation
            out = Array(out.prefix(Int.random(in: 0...out.count, using: &g)))
        case 2:  // random byte overwrite near the start (headers)
            for _ in 0..<Int.random(in: 1...8, using: &g) where !out.isEmpty {
                out[Int.random(in: 0..<min(out.count, 64), using: &g)] = UInt8.random(in: 0...255, using: &g)
            }
        case 3:  // appended garbage
            out += (0..<Int.random(in: 1...16, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
        default:  // pure noise
            out = (0..<Int.random(in: 0...256, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
        }
        return out
    }

    @Test func readersNeverCrash() throws {
        var g = SeededGenerator(seed: 2024)
        var outcomes = [String: (ok: Int, thrown: Int)]()
        for (name, valid, read) in try Self.seeds() {
            try read(valid)  // the unmutated seed parses
            for _ in 0..<300 {
                let input = Self.mutate(valid, using: &g)
                do {
                    try read(input)
                    outcomes[name, default: (0, 0)].ok += 1
                } catch is DataError {
                    outcomes[name, default: (0, 0)].thrown += 1
                } catch {
                    Issue.record("\(name): non-DataError \(error)")
                }
            }
        }
        // Each reader rejected something (the mutations reach its checks).
        for (name, outcome) in outcomes { #expect(outcome.thrown > 0, "\(name) never threw") }
    }

    @Test func fileReadersOnRandomFiles() throws {
        var g = SeededGenerator(seed: 7)
        try withTemporaryDirectory { dir in
            for k in 0..<20 {
                var bytes = (0..<Int.random(in: 0...64, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
                if k % 2 == 0 { bytes = [0x1F, 0x8B] + bytes }  // pretend to be gzip
                let url = dir.appendingPathComponent("f\(k).gz")
                try write(bytes, to: url)
                for read in [
                    { _ = try MNIST.readImages(at: url) }, { _ = try MNIST.readLabels(at: url) },
                    { _ = try Table.load(url) }, { _ = try Safetensors.read(from: url) },
                    { _ = try CIFAR.readCIFAR10(files: [url], name: "c") },
                ] as [() throws -> Void] {
                    do { try read() } catch let error as DataError {
                        #expect(error.description.contains("f\(k).gz"))
                    }
                }
            }
        }
    }
}
