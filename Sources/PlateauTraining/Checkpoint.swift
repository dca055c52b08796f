import Foundation
import PlateauData
import PlateauNN
import PlateauOptim
import PlateauTensor

/// A training checkpoint in safetensors format.
///
/// The model's state dictionary is stored under its PyTorch names, unprefixed, so
/// `safetensors.torch.load_file` + `load_state_dict` on the equivalent PyTorch model works
/// after dropping the other groups: optimizer state (`optimizer.*`), SAF's memory bank
/// (`saf.*`) and MESA's teacher (`mesa.*`) — any objective term's tensors under its name,
/// listed in `__metadata__.objective_terms` — and a pruned run's masks (`mask.*`). Run information sits in `__metadata__`:
/// format, epoch, step, the run configuration, the input normalization, the
/// optimizer's scalars (as exact bit patterns) and, for a run stopped in the middle of an
/// epoch, how far that epoch went (`partial_epoch`, see ``PartialEpoch``).
public struct Checkpoint: Sendable {
    public static let format = "plateau-checkpoint-v1"
    /// The format of a checkpoint stopped mid-epoch: v1 plus `partial_epoch`. Its own name so
    /// that a Plateau from before stops refuses the file instead of taking it for an epoch
    /// boundary and silently training that epoch's first batches twice.
    public static let midEpochFormat = "plateau-checkpoint-v2-mid-epoch"
    /// The prefix of the mask tensors' names.
    public static let maskPrefix = "mask."

    public var model: ParameterSet
    public var optimizer: OptimizerState
    public var extras: ParameterSet
    /// Epochs completed.
    public var epoch: Int
    /// Optimizer steps taken.
    public var step: Int
    public var bestAccuracy: Float
    public var configuration: RunConfiguration
    public var normalization: Normalization?
    /// The epoch after ``epoch`` as far as it went, when the training was stopped part-way
    /// through it (`nil`: the checkpoint is at an epoch boundary, as every checkpoint
    /// written before stops existed).
    public var partialEpoch: PartialEpoch?
    /// A pruned run's masks by parameter path (``MagnitudePruning``), stored as `mask.<path>`;
    /// empty for a dense run.
    public var masks = ParameterSet()

    public init(
        model: ParameterSet, optimizer: OptimizerState, extras: ParameterSet, epoch: Int, step: Int, bestAccuracy: Float,
        configuration: RunConfiguration, normalization: Normalization?, partialEpoch: PartialEpoch? = nil,
        masks: ParameterSet = ParameterSet()
    ) {
        self.masks = masks
        self.model = model
        self.optimizer = optimizer
        self.extras = extras
        self.epoch = epoch
        self.step = step
        self.bestAccuracy = bestAccuracy
        self.configuration = configuration
        self.normalization = normalization
        self.partialEpoch = partialEpoch
    }

    /// Writes atomically (temporary file, then rename): an interrupted write leaves the
    /// previous checkpoint intact.
    public func write(to url: URL) throws {
        var tensors: [(String, Tensor)] = model.entries.map { ($0.key, $0.value) }
        tensors += optimizer.tensors.entries.map { ("optimizer." + $0.key, $0.value) }
        tensors += extras.entries.map { ($0.key, $0.value) }
        tensors += masks.entries.map { (Self.maskPrefix + $0.key, $0.value) }
        let scalars = optimizer.scalars.mapValues { String($0.bitPattern) }
        // Sorted keys everywhere: the same run gives the same bytes (a dictionary's order
        // changes from process to process).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var metadata = [
            "format": partialEpoch == nil ? Self.format : Self.midEpochFormat,
            "epoch": String(epoch),
            "step": String(step),
            "best_accuracy": String(bestAccuracy),
            "config": String(decoding: configuration.json, as: UTF8.self),
            "optimizer_scalars": String(decoding: (try? encoder.encode(scalars)) ?? Data("{}".utf8), as: UTF8.self),
        ]
        // Which tensors belong to the objective's terms, so a reader can tell them from the
        // model's without knowing the terms (files without the list: SAF's and MESA's).
        let termPrefixes = Set(extras.keys.compactMap { $0.split(separator: ".").first.map(String.init) }).sorted()
        if !termPrefixes.isEmpty { metadata["objective_terms"] = termPrefixes.joined(separator: ",") }
        if let normalization, let data = try? encoder.encode(normalization) {
            metadata["normalization"] = String(decoding: data, as: UTF8.self)
        }
        if let partialEpoch, let data = try? encoder.encode(partialEpoch.metadata) {
            metadata[PartialEpoch.metadataKey] = String(decoding: data, as: UTF8.self)
        }
        try Safetensors.write(tensors, metadata: metadata, to: url)
    }

    /// Reads a checkpoint written by ``write(to:)``, with errors naming the file and field.
    public static func read(from url: URL) throws -> Checkpoint {
        try checkIsSafetensorsFile(url)
        return try decode(Safetensors.read(from: url), file: url.lastPathComponent)
    }

    /// Reads a checkpoint from safetensors bytes held in memory; errors name `file`.
    public static func decode(_ bytes: [UInt8], file: String) throws -> Checkpoint {
        try decode(Safetensors.decode(bytes, file: file), file: file)
    }

    private static func decode(_ contents: Safetensors.Contents, file: String) throws -> Checkpoint {
        func field(_ name: String) throws -> String {
            guard let value = contents.metadata[name] else {
                throw DataError(.invalidHeader, file: file, field: "__metadata__.\(name)", expected: "a value (is this a Plateau checkpoint?)", found: "nothing")
            }
            return value
        }
        let foundFormat = try field("format")
        guard foundFormat == format || foundFormat == midEpochFormat else {
            throw DataError(.invalidHeader, file: file, field: "__metadata__.format", expected: "\(format) or \(midEpochFormat)", found: foundFormat)
        }
        guard (foundFormat == midEpochFormat) == (contents.metadata[PartialEpoch.metadataKey] != nil) else {
            throw DataError(.invalidHeader, file: file, field: "__metadata__.\(PartialEpoch.metadataKey)",
                            expected: foundFormat == midEpochFormat ? "the position of the stopped epoch" : "nothing in a \(format) file",
                            found: contents.metadata[PartialEpoch.metadataKey] ?? "nothing")
        }
        guard let epoch = Int(try field("epoch")), let step = Int(try field("step")), epoch >= 0, step >= 0 else {
            throw DataError(.invalidHeader, file: file, field: "__metadata__.epoch/step", expected: "non-negative integers", found: "\(contents.metadata["epoch"] ?? "") / \(contents.metadata["step"] ?? "")")
        }
        let configuration: RunConfiguration
        do { configuration = try RunConfiguration.decoder.decode(RunConfiguration.self, from: Data(try field("config").utf8)) } catch let error as DataError { throw error } catch {
            throw DataError(.invalidHeader, file: file, field: "__metadata__.config", expected: "a run configuration in JSON", found: "\(error)")
        }
        guard let bits = try? JSONDecoder().decode([String: String].self, from: Data(try field("optimizer_scalars").utf8)) else {
            throw DataError(.invalidHeader, file: file, field: "__metadata__.optimizer_scalars", expected: "a JSON object of bit patterns", found: contents.metadata["optimizer_scalars"] ?? "")
        }
        var scalars: [String: Double] = [:]
        for (key, value) in bits {
            guard let pattern = UInt64(value) else {
                throw DataError(.invalidHeader, file: file, field: "__metadata__.optimizer_scalars.\(key)", expected: "an unsigned integer bit pattern", found: value)
            }
            scalars[key] = Double(bitPattern: pattern)
        }
        // The stored statistics standardize every input: a wrong or corrupt value is an error
        // here, naming the file, rather than a trap when they are applied.
        var normalization: Normalization?
        if let text = contents.metadata["normalization"] {
            do {
                normalization = try JSONDecoder().decode(Normalization.self, from: Data(text.utf8))
            } catch {
                let found: String
                if case DecodingError.dataCorrupted(let context) = error, !context.codingPath.isEmpty || context.underlyingError == nil {
                    found = context.debugDescription
                } else {
                    found = "\"\(text.prefix(80))\""
                }
                throw DataError(
                    .invalidHeader, file: file, field: "__metadata__.normalization",
                    expected: "{\"mean\": [...], \"std\": [...]} with as many finite means as finite stds > 0", found: found)
            }
        }
        var partialEpoch: PartialEpoch?
        if let text = contents.metadata[PartialEpoch.metadataKey] {
            guard let fields = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else {
                throw DataError(.invalidHeader, file: file, field: "__metadata__.\(PartialEpoch.metadataKey)", expected: "a JSON object of strings", found: "\"\(text.prefix(80))\"")
            }
            partialEpoch = try PartialEpoch(metadata: fields, file: file)
        }
        var model = ParameterSet(), optimizer = ParameterSet(), extras = ParameterSet(), masks = ParameterSet()
        let termPrefixes = (contents.metadata["objective_terms"] ?? "saf,mesa").split(separator: ",").map { $0 + "." }
        for (name, tensor) in contents.tensors {
            if name.hasPrefix("optimizer.") { optimizer[String(name.dropFirst(10))] = tensor }
            else if name.hasPrefix(maskPrefix) { masks[String(name.dropFirst(maskPrefix.count))] = tensor }
            else if termPrefixes.contains(where: { name.hasPrefix($0) }) { extras[name] = tensor }
            else { model[name] = tensor }
        }
        return Checkpoint(
            model: model, optimizer: OptimizerState(tensors: optimizer, scalars: scalars), extras: extras, epoch: epoch, step: step,
            bestAccuracy: Float(contents.metadata["best_accuracy"] ?? "") ?? 0, configuration: configuration, normalization: normalization,
            partialEpoch: partialEpoch, masks: masks)
    }

    /// Rejects what is plainly not a checkpoint before the safetensors reader reports a
    /// meaningless header length: a directory (a run directory: which files to pass), or a
    /// file that does not start like safetensors (an 8-byte length, then a JSON object).
    static func checkIsSafetensorsFile(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return }  // the reader names the missing file
        if isDirectory.boolValue {
            let inside = ["checkpoint-last.safetensors", "checkpoint-best.safetensors"].filter {
                FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path)
            }
            throw CheckpointError(
                path: url.path,
                message: "is a directory; expected a checkpoint file (.safetensors) written by plateau train"
                    + (inside.isEmpty ? "" : ", such as \(inside.map { url.appendingPathComponent($0).path }.joined(separator: " or "))"))
        }
        guard let handle = try? FileHandle(forReadingFrom: url) else { return }
        defer { try? handle.close() }
        let start = [UInt8]((try? handle.read(upToCount: 16)) ?? Data())
        // Byte 8 opens the JSON header; leading spaces are allowed by the format.
        let header = start.dropFirst(8).first { $0 != 0x20 }
        guard start.count < 9 || (header != nil && header != UInt8(ascii: "{")) else { return }
        let found: String
        if start.isEmpty { found = "an empty file" }
        else if start.allSatisfy({ (0x20..<0x7F).contains($0) || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }) {
            found = "text starting \"\(String(decoding: start, as: UTF8.self).replacingOccurrences(of: "\n", with: "\\n"))\""
        } else {
            found = "bytes " + start.prefix(12).map { String(format: "%02x", $0) }.joined(separator: " ")
        }
        throw CheckpointError(
            path: url.path,
            message: "not a safetensors file (a checkpoint starts with an 8-byte header length and a JSON header '{'); found \(found)")
    }
}

/// How far a stopped epoch went: what a resume needs to finish it exactly as an
/// uninterrupted run would (the batch order is a function of seed and epoch; the rest is
/// here). Stored in a checkpoint's `__metadata__.partial_epoch`, numbers as exact bit
/// patterns.
public struct PartialEpoch: Sendable, Equatable {
    static let metadataKey = "partial_epoch"

    /// Batches of the epoch done (1 … batches per epoch).
    public var batchesDone: Int
    /// Σ loss × batch size over those batches.
    public var lossSum: Double
    /// Training predictions that matched their labels.
    public var correct: Int
    /// Samples seen.
    public var seen: Int
    /// Forward–backward passes taken.
    public var passes: Float
    /// Optimizer steps taken.
    public var steps: Int
    /// Training seconds so far (wall clock: only the epoch's speed fields use it).
    public var seconds: Double
    /// The augmentation generator's state words, `nil` without augmentation.
    public var augmentationGenerator: [UInt64]?

    public init(batchesDone: Int, lossSum: Double, correct: Int, seen: Int, passes: Float, steps: Int, seconds: Double, augmentationGenerator: [UInt64]?) {
        self.batchesDone = batchesDone
        self.lossSum = lossSum
        self.correct = correct
        self.seen = seen
        self.passes = passes
        self.steps = steps
        self.seconds = seconds
        self.augmentationGenerator = augmentationGenerator
    }

    var metadata: [String: String] {
        var fields = [
            "batches_done": String(batchesDone), "loss_sum": String(lossSum.bitPattern), "correct": String(correct),
            "seen": String(seen), "passes": String(passes.bitPattern), "steps": String(steps), "seconds": String(seconds.bitPattern),
        ]
        if let augmentationGenerator { fields["augmentation_generator"] = augmentationGenerator.map(String.init).joined(separator: ",") }
        return fields
    }

    init(metadata fields: [String: String], file: String) throws {
        func value<T: FixedWidthInteger>(_ key: String, _ type: T.Type, minimum: T = 0) throws -> T {
            guard let text = fields[key], let value = T(text), value >= minimum else {
                throw DataError(
                    .invalidHeader, file: file, field: "__metadata__.\(Self.metadataKey).\(key)",
                    expected: T.isSigned ? "an integer ≥ \(minimum)" : "an unsigned integer bit pattern", found: fields[key] ?? "nothing")
            }
            return value
        }
        batchesDone = try value("batches_done", Int.self, minimum: 1)
        lossSum = Double(bitPattern: try value("loss_sum", UInt64.self))
        correct = try value("correct", Int.self)
        seen = try value("seen", Int.self, minimum: 1)
        passes = Float(bitPattern: try value("passes", UInt32.self))
        steps = try value("steps", Int.self, minimum: 1)
        seconds = Double(bitPattern: try value("seconds", UInt64.self))
        if let text = fields["augmentation_generator"] {
            let words = text.split(separator: ",").compactMap { UInt64($0) }
            guard words.count == 4, words != [0, 0, 0, 0] else {
                throw DataError(
                    .invalidHeader, file: file, field: "__metadata__.\(Self.metadataKey).augmentation_generator",
                    expected: "four comma-separated unsigned integers, not all 0", found: text)
            }
            augmentationGenerator = words
        }
    }
}

extension Checkpoint {
    /// The model the stored configuration names (model and `norm`), built for samples of
    /// `sampleShape` and `classCount` classes, holding this checkpoint's weights; errors name
    /// `source`. The one way every command turns a checkpoint back into a network.
    public func loadedModel(sampleShape: [Int], classCount: Int, source: String) throws -> any Layer {
        var generator = SeededGenerator(seed: 0)  // every parameter is then replaced by the checkpoint's
        var network = try ModelFactory.make(for: configuration, sampleShape: sampleShape, classCount: classCount, using: &generator)
        try network.load(stateDictionary: model, source: source)
        if !masks.isEmpty {
            // The stored weights are already masked; checking the masks catches a damaged file.
            try MagnitudePruning.check(masks, against: network.parameters, source: source)
            network.applyMasks(masks)
        }
        return network
    }
}

/// A path that is not a checkpoint at all (a directory, a text file).
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
    public var errorDescription: String? { description }
}
