import Foundation
import PlateauTensor

extension Dataset {
    /// The embedded default dataset: UCI optical recognition of handwritten digits
    /// (Alpaydin & Kaynak 1998, CC BY 4.0; see `Resources/LICENSE-digits.md`).
    ///
    /// 1,797 samples of 10 classes; each an 8×8 image whose cells count the set pixels of a
    /// 4×4 block (0...16), returned as `[1797, 1, 8, 8]` with values `count / 16 ∈ [0, 1]`.
    /// Nothing is downloaded: the file ships inside the module.
    public static func digits() throws -> Dataset {
        guard let url = Bundle.module.url(forResource: "digits.csv", withExtension: "gz") else {
            throw DataError(
                .unreadable, file: "digits.csv.gz", field: "bundle resource", expected: "the PlateauData resource bundle",
                found: "no such resource")
        }
        let table = try Table.load(url, options: TableOptions(delimiter: ",", labelColumn: .last, hasHeader: false, classCount: 10))
        guard table.count == 1797, table.sampleSize == 64 else {
            throw DataError(
                .invalidSize, file: "digits.csv.gz", field: "table size", expected: "1797 rows of 64 features",
                found: "\(table.count) rows of \(table.sampleSize) features")
        }
        let values = table.images.scalars.map { $0 / 16 }
        return Dataset(
            name: "digits", images: Tensor(shape: [1797, 1, 8, 8], scalars: values), labels: table.labels,
            classCount: 10, classNames: (0..<10).map(String.init))
    }
}

/// The fixed train/test split of ``Dataset/digits()`` used throughout Plateau: 1,437
/// training and 360 test samples (the usual 80/20), drawn by
/// ``Dataset/split(validationCount:seed:)`` with seed ``seed``. Both parts keep the file's
/// order. The split never changes, so results on it are comparable across runs and versions.
public struct DigitsSplit: Sendable {
    public static let seed: UInt64 = 1998
    public static let trainCount = 1437
    public static let testCount = 360

    /// 1,437 samples, named `digits-train`.
    public let train: Dataset
    /// 360 samples, named `digits-test`.
    public let test: Dataset

    public init() throws {
        let all = try Dataset.digits()
        let (train, test) = all.split(validationCount: Self.testCount, seed: Self.seed)
        var renamedTest = test
        renamedTest.name = "digits-test"
        self.train = train
        self.test = renamedTest
    }
}
