import Testing
@testable import PlateauData
import PlateauTensor

@Suite struct DigitsTests {
    @Test func loadsEmbeddedDigits() throws {
        let digits = try Dataset.digits()
        #expect(digits.count == 1797)
        #expect(digits.images.shape == [1797, 1, 8, 8])
        #expect(digits.classCount == 10)
        #expect(digits.images.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(digits.images.scalars.max() == 1)
        #expect(Set(digits.labels) == Set(0..<10))
        // The file's first rows (sklearn's load_digits order).
        #expect(Array(digits.labels.prefix(4)) == [0, 1, 2, 3])
        #expect(digits.images.scalars[2] == 5.0 / 16)
        #expect(digits.classHistogram.reduce(0, +) == 1797)
        #expect(digits.description == "digits: 1797 samples of [1, 8, 8], 10 classes")
    }

    @Test func fixedSplit() throws {
        let split = try DigitsSplit()
        #expect(split.train.count == 1437 && split.test.count == 360)
        #expect(split.train.name == "digits-train" && split.test.name == "digits-test")
        let again = try DigitsSplit()
        #expect(again.test.labels == split.test.labels && again.test.images == split.test.images)
        // Every class appears in both parts.
        #expect(split.test.classHistogram.allSatisfy { $0 > 0 })
    }
}
