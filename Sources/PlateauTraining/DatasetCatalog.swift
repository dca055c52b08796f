import Foundation
import PlateauData

/// Finds the CLI's named datasets (and tables given by path) in standard formats.
public enum DatasetCatalog {
    public static let names = ["digits", "mnist", "fashion-mnist", "cifar10", "cifar100"]

    /// The random augmentation each dataset declares for `--augment`: a random crop with
    /// zero padding of an eighth of the height (4 pixels for 32×32 images), and for natural
    /// images (CIFAR) a horizontal flip — digits must not be mirrored. Tables and other
    /// non-image data have none.
    public static func augmentation(for name: String, sampleShape: [Int]) -> Augmentation? {
        guard sampleShape.count == 3 else { return nil }
        var steps: [Augmentation.Step] = [.randomCrop(padding: max(1, sampleShape[1] / 8))]
        if ["cifar10", "cifar100"].contains(name) { steps.append(.horizontalFlip()) }
        return Augmentation(steps)
    }

    /// The training and test sets of `name`.
    ///
    /// - Parameters:
    ///   - name: a catalog name or a path to a CSV/TSV table (last column the label; 20% of
    ///     the rows, chosen with `seed`, become the test set).
    ///   - dataDirectory: where the files are; defaults to `data/<name>`.
    public static func load(_ name: String, dataDirectory: String?, seed: UInt64) throws -> (train: Dataset, test: Dataset) {
        func directory(_ defaultName: String) -> URL { URL(fileURLWithPath: dataDirectory ?? "data/\(defaultName)") }
        func requireDirectory(_ url: URL, hint: String) throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError(field: "dataset", message: "\(name): no directory at \(url.path). \(hint)")
            }
        }
        switch name {
        case "digits":
            let split = try DigitsSplit()
            return (split.train, split.test)
        case "mnist":
            let url = directory("mnist")
            try requireDirectory(url, hint: "Get MNIST with `plateau data fetch mnist` (or python3 scripts/fetch_mnist.py), or pass --data-dir.")
            return try MNIST.loadDirectory(url, name: "mnist")
        case "fashion-mnist":
            let url = directory("fashion-mnist")
            try requireDirectory(url, hint: "Put the four Fashion-MNIST IDX files there, or pass --data-dir.")
            return try MNIST.loadDirectory(url, name: "fashion-mnist", classNames: MNIST.fashionClassNames)
        case "cifar10":
            let url = directory("cifar-10-batches-bin")
            try requireDirectory(url, hint: "Unpack the CIFAR-10 binary version there, or pass --data-dir.")
            return try CIFAR.loadCIFAR10(directory: url)
        case "cifar100":
            let url = directory("cifar-100-binary")
            try requireDirectory(url, hint: "Unpack the CIFAR-100 binary version there, or pass --data-dir.")
            return try CIFAR.loadCIFAR100(directory: url)
        default:
            let url = URL(fileURLWithPath: name)
            guard ["csv", "tsv", "txt", "gz"].contains(url.pathExtension.lowercased()) else {
                throw ConfigurationError(field: "dataset", message: "expected one of \(names.joined(separator: ", ")) or a path to a .csv/.tsv table, got '\(name)'")
            }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ConfigurationError(field: "dataset", message: "no file at \(url.path)")
            }
            let table = try Table.load(url)
            let (train, test) = table.split(validationFraction: 0.2, seed: seed)
            return (train, test)
        }
    }
}
