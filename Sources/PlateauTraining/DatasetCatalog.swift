import Foundation
import PlateauData
import PlateauTensor

/// Finds the CLI's named datasets (and tables given by path) in standard formats.
public enum DatasetCatalog {
    /// A named dataset: how to read it and how its training images are augmented when a run
    /// asks for augmentation.
    public struct Entry: Sendable {
        public let name: String
        /// Crop (and flip) under `--augment`.
        public let augmentation: AugmentationRecipe
        /// The tasks of a multi-task dataset, in label order (``/PlateauData/TaskLabels``);
        /// empty for a single-task one.
        public var taskNames: [String] = []
        /// Reads the training and test sets from the data directory (nil: the default one).
        let load: @Sendable (_ dataDirectory: String?) throws -> (train: Dataset, test: Dataset)
    }

    public static let entries: [Entry] = [
        Entry(name: "digits", augmentation: AugmentationRecipe(cropPadding: 1, horizontalFlip: false)) { _ in
            let split = try DigitsSplit()
            return (split.train, split.test)
        },
        Entry(name: "mnist", augmentation: AugmentationRecipe(cropPadding: 3, horizontalFlip: false)) {
            let url = try directory($0 ?? "data/mnist", of: "mnist",
                                    hint: "Get MNIST with `plateau data fetch mnist` (or python3 scripts/fetch_mnist.py), or pass --data-dir.")
            return try MNIST.loadDirectory(url, name: "mnist")
        },
        Entry(name: "fashion-mnist", augmentation: AugmentationRecipe(cropPadding: 3, horizontalFlip: false)) {
            let url = try directory($0 ?? "data/fashion-mnist", of: "fashion-mnist", hint: "Put the four Fashion-MNIST IDX files there, or pass --data-dir.")
            return try MNIST.loadDirectory(url, name: "fashion-mnist", classNames: MNIST.fashionClassNames)
        },
        Entry(name: "multi-mnist", augmentation: AugmentationRecipe(cropPadding: 3, horizontalFlip: false), taskNames: MultiMNIST.taskNames) {
            let url = try directory($0 ?? "data/multi-mnist", of: "multi-mnist",
                                    hint: "Make it with `plateau data make multi-mnist --from data/mnist --output data/multi-mnist`, or pass --data-dir.")
            return try MultiMNIST.loadDirectory(url)
        },
        Entry(name: "cifar10", augmentation: AugmentationRecipe(cropPadding: 4, horizontalFlip: true)) {
            let url = try directory($0 ?? "data/cifar-10-batches-bin", of: "cifar10", hint: "Unpack the CIFAR-10 binary version there, or pass --data-dir.")
            return try CIFAR.loadCIFAR10(directory: url)
        },
        Entry(name: "cifar100", augmentation: AugmentationRecipe(cropPadding: 4, horizontalFlip: true)) {
            let url = try directory($0 ?? "data/cifar-100-binary", of: "cifar100", hint: "Unpack the CIFAR-100 binary version there, or pass --data-dir.")
            return try CIFAR.loadCIFAR100(directory: url)
        },
    ]

    public static var names: [String] { entries.map(\.name) }

    /// The catalog entry called `name`, or nil (a table path, or an unknown name).
    public static func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// What `--augment` does to the training images of dataset `name` with samples of
    /// `sampleShape`: the catalog entry's recipe, or for images the catalog does not know
    /// ``/PlateauData/AugmentationRecipe/standard(imageHeight:)``; nil for data that are not images.
    public static func augmentation(for name: String, sampleShape: [Int]) -> Augmentation? {
        guard sampleShape.count == 3 else { return nil }
        return (entry(named: name)?.augmentation ?? .standard(imageHeight: sampleShape[1])).augmentation
    }

    /// The training and test sets of `name`.
    ///
    /// - Parameters:
    ///   - name: a catalog name or a path to a CSV/TSV table (last column the label; 20% of
    ///     the rows, chosen with `seed`, become the test set).
    ///   - dataDirectory: where the files are; defaults to the dataset's directory under `data/`.
    ///   - tableLabels: how a table's label column is read (``TableOptions/Labels``).
    public static func load(
        _ name: String, dataDirectory: String?, seed: UInt64, tableLabels: TableOptions.Labels = .integers
    ) throws -> (train: Dataset, test: Dataset) {
        if let entry = entry(named: name) {
            guard let dataDirectory, dataDirectory.contains(",") else { return try entry.load(dataDirectory) }
            return try loadDomains(entry, directories: dataDirectory)
        }
        let url = URL(fileURLWithPath: name)
        guard ["csv", "tsv", "txt", "gz"].contains(url.pathExtension.lowercased()) else {
            throw ConfigurationError(field: "dataset", message: "expected one of \(names.joined(separator: ", ")) or a path to a .csv/.tsv table, got '\(name)'")
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigurationError(field: "dataset", message: "no file at \(url.path)")
        }
        let table = try Table.load(url, options: TableOptions(labels: tableLabels))
        let (train, test) = table.split(validationFraction: 0.2, seed: seed)
        return (train, test)
    }

    /// Several domains of one dataset (`--data-dir rot0,rot15,…`) as one training set and
    /// one test set, for domain generalization: each set takes the domains' samples in turn
    /// (the first of every domain, then the second, …), so that a `--train-limit` or a batch
    /// draws from every domain alike. The test set is then the training domains' held-out
    /// split: the data of DomainBed's training-domain validation.
    static func loadDomains(_ entry: Entry, directories list: String) throws -> (train: Dataset, test: Dataset) {
        let directories = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if let empty = directories.firstIndex(where: { $0.isEmpty }) {
            throw ConfigurationError(field: "data-dir", message: "expected comma-separated directories, got an empty entry at position \(empty + 1) in '\(list)'")
        }
        let domains = try directories.map { try entry.load($0) }
        return (try interleaving(domains.map(\.train), directories: directories), try interleaving(domains.map(\.test), directories: directories))
    }

    /// The samples of `domains` taken in turn; every domain must have the first one's classes and sample shape.
    static func interleaving(_ domains: [Dataset], directories: [String]) throws -> Dataset {
        let first = domains[0]
        for (domain, directory) in zip(domains, directories).dropFirst() {
            guard domain.classCount == first.classCount, domain.sampleShape == first.sampleShape else {
                throw ConfigurationError(
                    field: "data-dir",
                    message: "\(directory): expected \(first.classCount) classes of samples shaped \(first.sampleShape) like \(directories[0]), found \(domain.classCount) classes of \(domain.sampleShape)")
            }
        }
        var order: [Int] = []
        var offsets: [Int] = []
        var total = 0
        for domain in domains { offsets.append(total); total += domain.count }
        for position in 0..<(domains.map(\.count).max() ?? 0) {
            for (d, domain) in domains.enumerated() where position < domain.count { order.append(offsets[d] + position) }
        }
        let images = Tensor.concatenating(domains.map(\.images), alongAxis: 0).gathering(order, alongAxis: 0)
        let labels = domains.flatMap(\.labels)
        return Dataset(name: first.name, images: images, labels: order.map { labels[$0] }, classCount: first.classCount, classNames: first.classNames)
    }

    /// `path` as a URL, or an error naming the dataset and how to get it when there is no directory there.
    private static func directory(_ path: String, of name: String, hint: String) throws -> URL {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError(field: "dataset", message: "\(name): no directory at \(url.path). \(hint)")
        }
        return url
    }
}
