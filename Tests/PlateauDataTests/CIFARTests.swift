import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// CIFAR records: label byte(s) then 3,072 pixel bytes.
func cifarRecords(labels: [[UInt8]], pixelSeed: UInt8 = 0) -> [UInt8] {
    var bytes: [UInt8] = []
    for (i, label) in labels.enumerated() {
        bytes += label
        bytes += (0..<3072).map { UInt8(truncatingIfNeeded: $0 &+ i * 7 &+ Int(pixelSeed)) }
    }
    return bytes
}

@Suite struct CIFARTests {
    @Test func parsesCIFAR10Records() throws {
        let bytes = cifarRecords(labels: [[3], [9]])
        let (images, labels) = try CIFAR.parseCIFAR10(bytes, file: "data_batch_1.bin")
        #expect(images.shape == [2, 3, 32, 32])
        #expect(labels == [3, 9])
        // Sample 1, channel 2 (blue), pixel (0, 5) is byte 1 + 2048 + 5 of record 1.
        let expected = Float(bytes[3073 + 1 + 2048 + 5]) / 255
        #expect(images.scalars[3072 + 2048 + 5] == expected)
    }

    @Test func loadsCIFAR10Directory() throws {
        try withTemporaryDirectory { dir in
            let root = dir.appendingPathComponent("cifar-10-batches-bin")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            for k in 1...5 { try write(cifarRecords(labels: [[UInt8(k)]]), to: root.appendingPathComponent("data_batch_\(k).bin")) }
            try write(cifarRecords(labels: [[0], [1], [2]]), to: root.appendingPathComponent("test_batch.bin"))
            let (train, test) = try CIFAR.loadCIFAR10(directory: dir)
            #expect(train.labels == [1, 2, 3, 4, 5])
            #expect(test.count == 3 && test.classNames?.first == "airplane")
        }
    }

    @Test func cifar100CoarseAndFine() throws {
        try withTemporaryDirectory { dir in
            try write(cifarRecords(labels: [[19, 99], [0, 42]]), to: dir.appendingPathComponent("train.bin"))
            try write(cifarRecords(labels: [[5, 7]]), to: dir.appendingPathComponent("test.bin"))
            let fine = try CIFAR.loadCIFAR100(directory: dir)
            #expect(fine.train.labels == [99, 42] && fine.train.classCount == 100)
            let coarse = try CIFAR.loadCIFAR100(directory: dir, labels: .coarse)
            #expect(coarse.train.labels == [19, 0] && coarse.test.classCount == 20)
            #expect(coarse.train.images == fine.train.images)
        }
    }

    @Test func recordSizeAndLabelErrors() {
        expectDataError(.invalidSize, naming: "data_batch_2.bin") {
            _ = try CIFAR.parseCIFAR10(Array(cifarRecords(labels: [[1], [2]]).dropLast()), file: "data_batch_2.bin")
        }
        expectDataError(.empty, naming: "test_batch.bin") { _ = try CIFAR.parseCIFAR10([], file: "test_batch.bin") }
        expectDataError(.invalidLabel, naming: "b.bin") { _ = try CIFAR.parseCIFAR10(cifarRecords(labels: [[1], [10]]), file: "b.bin") }
        // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
        expectDataError(.invalidSize, naming: "train.bin") { _ = try CIFAR.parseCIFAR100(cifarRecords(labels: [[1]]), file: "train.bin") }
        expectDataError(.invalidLabel, naming: "train.bin") { _ = try CIFAR.parseCIFAR100(cifarRecords(labels: [[20, 1]]), file: "train.bin") }
        expectDataError(.invalidLabel, naming: "test.bin") {
            _ = try CIFAR.parseCIFAR100(cifarRecords(labels: [[2, 100]]), file: "test.bin", labels: .coarse)
        }
    }

    @Test func missingBatchFileIsNamed() throws {
        try withTemporaryDirectory { dir in
            try write(cifarRecords(labels: [[1]]), to: dir.appendingPathComponent("data_batch_1.bin"))
            expectDataError(.unreadable, naming: "data_batch_2.bin") { _ = try CIFAR.loadCIFAR10(directory: dir) }
        }
    }
}
