import Foundation
import PlateauData
import PlateauNN
import PlateauTensor

/// The integer weights of an LSQ-quantized model (`--quantize`) in a safetensors file.
///
/// Per quantized layer `<path>` (a Linear or Conv2d):
/// - `<path>.weight`: the codes round(clip(w/s_w, −Q_N, Q_P)) — `I8`, shaped like the weight,
///   for 5 to 8 bits; for 2 to 4 bits, `U8` of shape `[⌈n/2⌉]`, two 4-bit two's-complement
///   codes per byte, element 2i in the low nibble and 2i + 1 in the high one (an odd count
///   leaves the last high nibble 0);
/// - `<path>.quantizer.weight_scale`, `<path>.quantizer.input_scale` (`F32`, `[1]`) and
///   `<path>.quantizer.input_signed` (1: signed input codes, 0: unsigned).
///
/// Every other tensor of the model (biases, normalization parameters and statistics) is
/// `F32` under its own name. The metadata key `plateau.integer_weights` holds a JSON object
/// mapping each quantized layer's path to `{"bits": b, "shape": [...], "packed": true|false}`;
/// `plateau.configuration` holds the run's configuration. The weight w = s_w·code is
/// recovered exactly from code and scale.
public enum IntegerExport {
    public static let layersKey = "plateau.integer_weights"
    public static let configurationKey = "plateau.configuration"

    /// One quantized layer's integer weight.
    public struct Layer: Sendable, Equatable {
        public var bits: Int
        public var shape: [Int]
        public var codes: [Int8]
        public var weightScale: Float
    }

    /// What a file holds: the integer layers and every other tensor as `Float`.
    public struct Contents: Sendable {
        public var layers: [String: Layer]
        /// Every tensor but the integer weights, by name.
        public var floats: ParameterSet
        public var configuration: RunConfiguration?

        /// The model's state dictionary: each integer weight as s_w·code, in the file's order.
        public var stateDictionary: ParameterSet {
            var result = floats
            for (path, layer) in layers {
                result["\(path).weight"] = Tensor(shape: layer.shape, scalars: layer.codes.map { Float($0) * layer.weightScale })
            }
            return result
        }
    }

    /// Two signed 4-bit codes per byte, low nibble first.
    public static func packInt4(_ codes: [Int8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (codes.count + 1) / 2)
        for (i, code) in codes.enumerated() {
            precondition(code >= -8 && code <= 7, "packInt4: code \(code) is outside −8…7")
            let nibble = UInt8(bitPattern: code) & 0x0F
            bytes[i / 2] |= i % 2 == 0 ? nibble : nibble << 4
        }
        return bytes
    }

    /// The first `count` codes of ``packInt4(_:)``'s bytes.
    public static func unpackInt4(_ bytes: [UInt8], count: Int) -> [Int8] {
        (0..<count).map { i in
            let nibble = i % 2 == 0 ? bytes[i / 2] & 0x0F : bytes[i / 2] >> 4
            return Int8(bitPattern: nibble << 4) >> 4  // sign-extends the nibble
        }
    }

    /// The integer layers of `model` (quantized with ``/PlateauNN/Module/quantize(_:)``) and its
    /// other tensors, as file entries; throws when no layer is quantized.
    public static func entries(of model: some Module, source: String) throws -> (entries: [Safetensors.RawEntry], layers: [String: (bits: Int, shape: [Int], packed: Bool)]) {
        var copy = model
        var layers: [String: (bits: Int, shape: [Int], packed: Bool)] = [:]
        var codes: [String: [Int8]] = [:]
        copy.visit(ModuleVisitor(onQuantizable: { path, quantizer, weight in
            guard let quantizer else { return }
            codes[path] = quantizer.weightCodes(weight).scalars.map { Int8($0) }
            layers[path] = (quantizer.weightBits, weight.shape, quantizer.weightBits <= 4)
        }))
        guard !layers.isEmpty else {
            throw ConfigurationError(field: source, message: "expected a model trained with --quantize (LSQ step sizes under <layer>.quantizer), found no quantized layer")
        }
        var entries: [Safetensors.RawEntry] = []
        for (key, tensor) in model.stateDictionary.entries {
            if key.hasSuffix(".weight"), let layer = layers[String(key.dropLast(7))] {
                let layerCodes = codes[String(key.dropLast(7))]!
                if layer.packed {
                    let packed = packInt4(layerCodes)
                    entries.append(Safetensors.RawEntry(name: key, dtype: .U8, shape: [packed.count], bytes: packed))
                } else {
                    entries.append(Safetensors.RawEntry(name: key, dtype: .I8, shape: layer.shape, bytes: layerCodes.map { UInt8(bitPattern: $0) }))
                }
            } else {
                entries.append(Safetensors.RawEntry(name: key, tensor: tensor))
            }
        }
        return (entries, layers)
    }

    /// Writes `model`'s integer weights, scales and other tensors to `url` (see ``IntegerExport``).
    public static func write(_ model: some Module, configuration: RunConfiguration?, to url: URL) throws {
        let (entries, layers) = try Self.entries(of: model, source: url.path)
        var description: [String: Any] = [:]
        for (path, layer) in layers { description[path] = ["bits": layer.bits, "shape": layer.shape, "packed": layer.packed] }
        let json = try JSONSerialization.data(withJSONObject: description, options: [.sortedKeys])
        var metadata = [layersKey: String(decoding: json, as: UTF8.self)]
        if let configuration { metadata[configurationKey] = String(decoding: configuration.json, as: UTF8.self) }
        try Safetensors.write(raw: entries, metadata: metadata, to: url)
    }

    /// Reads a file written by ``write(_:configuration:to:)``; errors name the file and field.
    public static func read(from url: URL) throws -> Contents {
        let file = try Safetensors.read(from: url)
        let field = "__metadata__.\(layersKey)"
        guard let text = file.metadata[layersKey],
              let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw DataError(.invalidHeader, file: url.lastPathComponent, field: field, expected: "a JSON object of quantized layers", found: file.metadata[layersKey] == nil ? "no such key" : "unparseable text")
        }
        var layers: [String: Layer] = [:]
        var floats = ParameterSet()
        for (path, value) in object {
            guard let info = value as? [String: Any], let bits = info["bits"] as? Int, (2...8).contains(bits),
                  let shape = info["shape"] as? [Int], let packed = info["packed"] as? Bool, packed == (bits <= 4) else {
                throw DataError(.invalidHeader, file: url.lastPathComponent, field: "\(field).\(path)", expected: "{bits: 2…8, shape: [Int], packed: bits ≤ 4}", found: "\(value)")
            }
            guard let stored = file["\(path).weight"], let scale = file["\(path).quantizer.weight_scale"], scale.count == 1 else {
                throw DataError(.invalidHeader, file: url.lastPathComponent, field: "\(path).weight", expected: "the layer's codes and its quantizer.weight_scale", found: "missing tensors")
            }
            let count = shape.reduce(1, *)
            let codes: [Int8]
            if packed {
                guard file.dtypes["\(path).weight"] == .U8, stored.count == (count + 1) / 2 else {
                    throw DataError(.invalidHeader, file: url.lastPathComponent, field: "\(path).weight", expected: "U8 of \((count + 1) / 2) bytes", found: "\(file.dtypes["\(path).weight"]?.rawValue ?? "?") of \(stored.count)")
                }
                codes = unpackInt4(stored.scalars.map { UInt8($0) }, count: count)
            } else {
                guard file.dtypes["\(path).weight"] == .I8, stored.shape == shape else {
                    throw DataError(.invalidHeader, file: url.lastPathComponent, field: "\(path).weight", expected: "I8 of shape \(shape)", found: "\(file.dtypes["\(path).weight"]?.rawValue ?? "?") of shape \(stored.shape)")
                }
                codes = stored.scalars.map { Int8($0) }
            }
            layers[path] = Layer(bits: bits, shape: shape, codes: codes, weightScale: scale.scalars[0])
        }
        for (name, tensor) in file.tensors where !(name.hasSuffix(".weight") && layers[String(name.dropLast(7))] != nil) {
            floats[name] = tensor
        }
        let configuration = try file.metadata[configurationKey].map {
            try RunConfiguration.decode(Data($0.utf8), source: "\(url.lastPathComponent) __metadata__.\(configurationKey)", format: .json)
        }
        return Contents(layers: layers, floats: floats, configuration: configuration)
    }
}

extension Evaluation {
    /// The predicted class (argmax of the outputs) of each sample of `dataset`, in order, in evaluation mode.
    public static func predictions<Model: Layer>(_ model: Model, on dataset: Dataset, batchSize: Int = 500) -> [Int] {
        var evaluated = model.training(false)
        var result: [Int] = []
        withoutGradients {
            for batch in Batches(dataset: dataset, batchSize: batchSize, shuffle: false) {
                result += evaluated(batch.images).argmax(alongAxis: 1)
            }
        }
        return result
    }
}
