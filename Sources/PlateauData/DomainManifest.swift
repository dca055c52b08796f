import Foundation

/// The `manifest.json` of a directory made by `plateau data make`: how it was made (kind,
/// seed, source files with their SHA-256) and its domains — a rotation angle, a corruption
/// and severity, or a Colored-MNIST environment — each with its own IDX directory.
///
/// Training code that needs DomainBed-style environments reads it with ``ShiftedDataset``
/// instead of guessing from directory names. Keys are snake_case and sorted, so the file is
/// byte-for-byte reproducible from the seed.
public struct DomainManifest: Codable, Equatable, Sendable {
    /// The format tag this reader understands.
    public static let currentFormat = "plateau-shifted-mnist/1"
    /// The manifest's file name inside the output directory.
    public static let fileName = "manifest.json"

    /// ``currentFormat`` when written by this version.
    public var format: String
    /// `rotated-mnist`, `mnist-c`, `colored-mnist` or `multi-mnist`.
    public var kind: String
    /// The seed every random draw derives from.
    public var seed: UInt64
    /// The source IDX files as they were read (stored name, size, SHA-256 of the stored bytes).
    public var source: [FileRecord]
    /// Kind-wide settings (the test fraction, the canvas size …).
    public var parameters: [String: Double]
    /// How the data was made, in words: the split rule, the formulas, deviations from the papers.
    public var notes: [String]
    /// The domains, in generation order.
    public var domains: [Domain]

    /// A file: its name (relative to the manifest's directory for outputs), size and SHA-256.
    public struct FileRecord: Codable, Equatable, Sendable {
        public var name: String
        public var bytes: Int
        public var sha256: String
        /// Set when the file is a symbolic link to a shared copy (MNIST-C's clean training set).
        public var linkTo: String?

        public init(name: String, bytes: Int, sha256: String, linkTo: String? = nil) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
            self.linkTo = linkTo
        }

        enum CodingKeys: String, CodingKey {
            case name, bytes, sha256
            case linkTo = "link_to"
        }
    }

    /// One domain: an IDX directory readable by `--dataset mnist --data-dir`.
    public struct Domain: Codable, Equatable, Sendable {
        /// `rot15`, `gaussian_noise/5`, `+90%`, `clean` …
        public var name: String
        /// Its directory relative to the manifest (`.` for a single-domain kind).
        public var directory: String
        /// Rotated MNIST: the rotation in degrees, counter-clockwise.
        public var angleDegrees: Double?
        /// MNIST-C: the corruption (a ``Corruption`` raw value) and its severity 1…5.
        public var corruption: String?
        public var severity: Int?
        /// Colored MNIST: the probability that the colour disagrees with the (noisy) label.
        public var colorFlipProbability: Double?
        /// The formula applied to this domain's images, in words.
        public var formula: String?
        /// The domain's own parameters (a corruption's σ, the label-noise rate …).
        public var parameters: [String: Double]
        /// Samples in the domain's training and test files.
        public var trainCount: Int
        public var testCount: Int
        /// The files written, with their SHA-256.
        public var files: [FileRecord]

        public init(
            name: String, directory: String, angleDegrees: Double? = nil, corruption: String? = nil, severity: Int? = nil,
            colorFlipProbability: Double? = nil, formula: String? = nil, parameters: [String: Double] = [:],
            trainCount: Int, testCount: Int, files: [FileRecord] = []
        ) {
            self.name = name
            self.directory = directory
            self.angleDegrees = angleDegrees
            self.corruption = corruption
            self.severity = severity
            self.colorFlipProbability = colorFlipProbability
            self.formula = formula
            self.parameters = parameters
            self.trainCount = trainCount
            self.testCount = testCount
            self.files = files
        }

        enum CodingKeys: String, CodingKey {
            case name, directory, corruption, severity, formula, parameters, files
            case angleDegrees = "angle_degrees"
            case colorFlipProbability = "color_flip_probability"
            case trainCount = "train_count"
            case testCount = "test_count"
        }
    }

    public init(
        kind: String, seed: UInt64, source: [FileRecord], parameters: [String: Double] = [:], notes: [String] = [],
        domains: [Domain] = []
    ) {
        self.format = Self.currentFormat
        self.kind = kind
        self.seed = seed
        self.source = source
        self.parameters = parameters
        self.notes = notes
        self.domains = domains
    }

    /// The manifest as JSON: pretty-printed, keys sorted, slashes unescaped, newline-terminated.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Writes `manifest.json` into `directory` atomically: a temporary file beside it, then
    /// `rename(2)`, so a reader never sees half a manifest.
    public func write(to directory: URL) throws {
        let url = directory.appendingPathComponent(Self.fileName)
        let temporary = directory.appendingPathComponent(".\(Self.fileName).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try encoded().write(to: temporary)
        } catch {
            throw DataError(.unwritable, file: Self.fileName, field: "file", expected: "a writable file at \(temporary.path)", found: error.localizedDescription)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw DataError(.unwritable, file: Self.fileName, field: "file", expected: "to rename the temporary file onto \(url.path)", found: reason)
        }
    }

    /// Reads `manifest.json` from `directory`; a missing file, malformed JSON, a missing field
    /// or an unknown format is a ``DataError`` naming the manifest.
    public static func read(from directory: URL) throws -> DomainManifest {
        let url = directory.appendingPathComponent(fileName)
        let bytes = try readStoredBytes(of: url)
        let manifest: DomainManifest
        do {
            manifest = try JSONDecoder().decode(DomainManifest.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(key, context) {
            throw DataError(
                .invalidHeader, file: url.path, field: (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."),
                expected: "a value", found: "nothing (the key is missing)")
        } catch let DecodingError.typeMismatch(type, context) {
            throw DataError(
                .invalidHeader, file: url.path, field: context.codingPath.map(\.stringValue).joined(separator: "."),
                expected: "a value of type \(type)", found: context.debugDescription)
        } catch {
            throw DataError(
                .invalidHeader, file: url.path, field: "JSON", expected: "a manifest written by plateau data make",
                found: "\(error)")
        }
        guard manifest.format == currentFormat else {
            throw DataError(.invalidHeader, file: url.path, field: "format", expected: currentFormat, found: manifest.format)
        }
        return manifest
    }
}

/// A directory made by `plateau data make`, read through its manifest: the list of domains
/// (environments) with their IDX directories, each loadable as a train/test pair.
///
///     let shifted = try ShiftedDataset(directory: URL(fileURLWithPath: "/tmp/rot"))
///     for domain in shifted.domains {
///         let (train, test) = try shifted.load(domain)   // e.g. rot15: 8000 + 2000 images
///     }
public struct ShiftedDataset: Sendable {
    /// The directory holding `manifest.json`.
    public var root: URL
    public var manifest: DomainManifest

    /// Reads the manifest of `directory`.
    public init(directory: URL) throws {
        root = directory
        manifest = try DomainManifest.read(from: directory)
    }

    /// The domains in manifest order.
    public var domains: [DomainManifest.Domain] { manifest.domains }

    /// The domain called `name`; a ``DataError`` listing the known names otherwise.
    public func domain(named name: String) throws -> DomainManifest.Domain {
        guard let domain = domains.first(where: { $0.name == name }) else {
            throw DataError(
                .invalidArgument, file: DomainManifest.fileName, field: "domain",
                expected: "one of \(domains.map(\.name).joined(separator: ", "))", found: name)
        }
        return domain
    }

    /// The domain's IDX directory.
    public func directory(of domain: DomainManifest.Domain) -> URL {
        domain.directory == "." ? root : root.appendingPathComponent(domain.directory)
    }

    /// The domain's training and test sets (named `<kind>-<domain>-train` / `-test`).
    public func load(_ domain: DomainManifest.Domain) throws -> (train: Dataset, test: Dataset) {
        try MNIST.loadDirectory(directory(of: domain), name: "\(manifest.kind)-\(domain.name)")
    }

    /// Every domain's training set (or test set), in manifest order, each paired with its
    /// domain — DomainBed's environments, with the angle, corruption or colour probability
    /// at hand. `names` restricts and orders them (an unknown name is a ``DataError``).
    public func environments(test: Bool = false, names: [String]? = nil) throws -> [(domain: DomainManifest.Domain, data: Dataset)] {
        let chosen = try names.map { try $0.map(domain(named:)) } ?? domains
        return try chosen.map { domain in
            let (train, testSet) = try load(domain)
            return (domain, test ? testSet : train)
        }
    }
}
