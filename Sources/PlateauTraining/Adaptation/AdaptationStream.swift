import Foundation
import PlateauData
import PlateauNN
import PlateauTensor

/// One test set met during adaptation, e.g. one corruption at one severity.
public struct AdaptationStream: Sendable {
    /// Its path relative to the directory it was found under (`gaussian_noise/5`), or the
    /// directory's own name.
    public var name: String
    public var dataset: Dataset

    public init(name: String, dataset: Dataset) {
        self.name = name
        self.dataset = dataset
    }

    /// The test splits in an MNIST-format (IDX) directory: the directory itself when it
    /// holds `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (raw or `.gz`, dotted
    /// names too), else every subdirectory (or symbolic link to one) up to three levels down that does, sorted by path
    /// (`<corruption>/<severity>/` as `plateau data make mnist-c` writes them), leaving out a
    /// top-level `clean` among others (mnist-c's unshifted copy). Training files are not needed.
    ///
    /// - Throws: ``AdaptationError`` when the directory is missing or holds no test split;
    ///   ``DataError`` for a malformed file.
    public static func discover(in directory: URL) throws -> [AdaptationStream] {
        guard isDirectory(directory) else {
            throw AdaptationError("\(directory.path) is not a directory")
        }
        var found: [(String, URL, URL)] = []
        func search(_ url: URL, _ relative: [String], depth: Int) {
            if let files = testFiles(in: url) {
                found.append((relative.isEmpty ? url.lastPathComponent : relative.joined(separator: "/"), files.images, files.labels))
                return
            }
            // Symbolic links are followed, as a subset of corruptions is naturally assembled with
            // `ln -s`: Foundation lists a linked directory only through its resolved path, and
            // fileExists (unlike the isDirectory resource value) follows links. The depth bound
            // keeps a link cycle finite.
            guard depth < 3, let children = try? FileManager.default.contentsOfDirectory(
                at: url.resolvingSymlinksInPath(), includingPropertiesForKeys: nil, options: [.skipsHiddenFiles]) else { return }
            for child in children.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) where Self.isDirectory(child) {
                search(child, relative + [child.lastPathComponent], depth: depth + 1)
            }
        }
        search(directory, [], depth: 0)
        // mnist-c's clean/ copy is the source domain, not a shift: among other streams it is
        // left out (point --data-dir at it to adapt on it).
        if found.count > 1 { found.removeAll { $0.0 == "clean" } }
        guard !found.isEmpty else {
            throw AdaptationError(
                "\(directory.path) holds no MNIST-format test split (t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, "
                    + "optionally .gz), neither itself nor in its subdirectories")
        }
        return try found.map { name, images, labels in
            AdaptationStream(name: name, dataset: try MNIST.load(images: images, labels: labels, name: name))
        }
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
    }

    private static func testFiles(in directory: URL) -> (images: URL, labels: URL)? {
        func first(_ names: [String]) -> URL? {
            for name in names {
                for suffix in ["", ".gz"] {
                    let url = directory.appendingPathComponent(name + suffix)
                    if FileManager.default.fileExists(atPath: url.path) { return url }
                }
            }
            return nil
        }
        guard let images = first([MNIST.testImagesFile, "t10k-images.idx3-ubyte"]),
              let labels = first([MNIST.testLabelsFile, "t10k-labels.idx1-ubyte"]) else { return nil }
        return (images, labels)
    }
}

/// How the test streams are presented to the adapting model, after the wild settings of
/// Niu et al. (2023). In every setting the order within a stream is shuffled with the seed,
/// and with batches of more than one sample a lone last sample joins the batch before it.
///
/// - `mild`: each stream on its own, starting from the source model (one corruption at a
///   time, i.i.d. labels), as Tent's evaluation does.
/// - `label-shift`: like `mild`, but each stream sorted by class (shuffled within a class):
///   the online imbalanced label shift of SAR's paper, in its extreme form.
/// - `mixed`: all streams shuffled together into one, adapted continuously from the
///   source model (SAR's mixed distribution shifts).
public enum AdaptationSetting: String, CaseIterable, Sendable {
    case mild
    case labelShift = "label-shift"
    case mixed

    /// The batches of each segment (a segment starts from the source model), as
    /// (stream, sample) pairs.
    public func segments(streamSizes: [Int], labels: [[Int]], batchSize: Int, seed: UInt64) -> [[[(stream: Int, sample: Int)]]] {
        precondition(batchSize > 0, "AdaptationSetting: batch size must be positive, got \(batchSize)")
        var generator = SeededGenerator(seed: seed)
        func batches(_ items: [(stream: Int, sample: Int)]) -> [[(stream: Int, sample: Int)]] {
            var result = stride(from: 0, to: items.count, by: batchSize).map { Array(items[$0..<min($0 + batchSize, items.count)]) }
            // A lone last sample joins the batch before it: BatchNorm after a linear layer
            // cannot normalize one value per feature in training mode.
            if batchSize > 1, result.count > 1, result.last!.count == 1 { result[result.count - 2] += result.removeLast() }
            return result
        }
        let shuffled = streamSizes.enumerated().map { stream, size in
            (0..<size).shuffled(using: &generator).map { (stream: stream, sample: $0) }
        }
        switch self {
        case .mild:
            return shuffled.map(batches)
        case .labelShift:
            return shuffled.map { items in
                // A stable sort keeps the shuffled order within each class.
                batches(items.enumerated().sorted { a, b in
                    let (la, lb) = (labels[a.element.stream][a.element.sample], labels[b.element.stream][b.element.sample])
                    return la != lb ? la < lb : a.offset < b.offset
                }.map(\.element))
            }
        case .mixed:
            return [batches(shuffled.flatMap { $0 }.shuffled(using: &generator))]
        }
    }
}

/// The outcome of adapting over a set of streams: overall and per stream.
public struct AdaptationResult: Sendable {
    public var overall: OnlineAccuracy
    /// One per stream, in the streams' order.
    public var streams: [(name: String, accuracy: OnlineAccuracy)]
}

/// Runs online adaptation over `streams` in `setting`: a fresh adapter (from the source
/// model) for each segment, every batch scored before its update.
///
/// - Parameters:
///   - makeAdapter: a new adapter from the source model.
///   - window: predictions the collapse indicator looks back over.
///   - progress: called after each batch with (batches done, batches in all).
public func adaptOnline<Adapter: TestTimeAdapter>(
    streams: [AdaptationStream], setting: AdaptationSetting, batchSize: Int, seed: UInt64, window: Int = 500,
    makeAdapter: () throws -> Adapter, progress: (Int, Int) -> Void = { _, _ in }
) throws -> AdaptationResult {
    let segments = setting.segments(
        streamSizes: streams.map(\.dataset.count), labels: streams.map(\.dataset.labels), batchSize: batchSize, seed: seed)
    let total = segments.reduce(0) { $0 + $1.count }
    var overall = OnlineAccuracy(window: window)
    var perStream = streams.map { _ in OnlineAccuracy(window: window) }
    var done = 0
    for segment in segments {
        var adapter = try makeAdapter()
        for batch in segment {
            // Samples grouped by stream (a mixed batch holds several), in the batch's order otherwise.
            let byStream = Dictionary(grouping: batch, by: \.stream).sorted { $0.key < $1.key }
            let images = Tensor.concatenating(byStream.map { stream, items in
                streams[stream].dataset.images.gathering(items.map(\.sample), alongAxis: 0)
            }, alongAxis: 0)
            let labels = byStream.flatMap { stream, items in items.map { streams[stream].dataset.labels[$0.sample] } }
            let step = adapter.adapt(images)
            overall.record(step, labels: labels)
            let predictions = OnlineAccuracy.predictions(step.logits)
            var offset = 0
            for (stream, items) in byStream {
                let range = offset..<(offset + items.count)
                perStream[stream].record(predictions: Array(predictions[range]), labels: Array(labels[range]),
                                         reset: step.reset && byStream.count == 1)
                offset += items.count
            }
            done += 1
            progress(done, total)
        }
    }
    return AdaptationResult(overall: overall, streams: zip(streams.map(\.name), perStream).map { ($0, $1) })
}
