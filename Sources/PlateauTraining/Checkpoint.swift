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
/// listed in `__metadata__.objective_terms`. Run information sits in `__metadata__`:
/// format, epoch, step, the run configuration, the input normalization and the
/// optimizer's scalars (as exact bit patterns).
public struct Checkpoint: Sendable {
    public static let format = "plateau-checkpoint-v1"

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

    public init(model: ParameterSet, optimizer: OptimizerState, extras: ParameterSet, epoch: Int, step: Int, bestAccuracy: Float, configuration: RunConfiguration, normalization: Normalization?) {
        self.model = model
        self.optimizer = optimizer
        self.extras = extras
        self.epoch = epoch
        self.step = step
        self.bestAccuracy = bestAccuracy
        self.configuration = configuration
        self.normalization = normalization
    }

    /// Writes atomically (temporary file, then rename): an interrupted write leaves the
    /// previous checkpoint intact.
    public func write(to url: URL) throws {
        var tensors: [(String, Tensor)] = model.entries.map { ($0.key, $0.value) }
        tensors += optimizer.tensors.entries.map { ("optimizer." + $0.key, $0.value) }
        tensors += extras.entries.map { ($0.key, $0.value) }
        let scalars = optimizer.scalars.mapValues { String($0.bitPattern) }
        // Sorted keys everywhere: the same run gives the same bytes (a dictionary's order
        // changes from process to process).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var metadata = [
            "format": Self.format,
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
        guard try field("format") == format else {
            throw DataError(.invalidHeader, file: file, field: "__metadata__.format", expected: format, found: contents.metadata["format"] ?? "")
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
        var model = ParameterSet(), optimizer = ParameterSet(), extras = ParameterSet()
        let termPrefixes = (contents.metadata["objective_terms"] ?? "saf,mesa").split(separator: ",").map { $0 + "." }
        for (name, tensor) in contents.tensors {
            if name.hasPrefix("optimizer.") { optimizer[String(name.dropFirst(10))] = tensor }
            else if termPrefixes.contains(where: { name.hasPrefix($0) }) { extras[name] = tensor }
            else { model[name] = tensor }
        }
        return Checkpoint(
            model: model, optimizer: OptimizerState(tensors: optimizer, scalars: scalars), extras: extras, epoch: epoch, step: step,
            bestAccuracy: Float(contents.metadata["best_accuracy"] ?? "") ?? 0, configuration: configuration, normalization: normalization)
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

/// A path that is not a checkpoint at all (a directory, a text file).
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
    public var errorDescription: String? { description }
}
