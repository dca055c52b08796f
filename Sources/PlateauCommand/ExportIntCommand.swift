import ArgumentParser
import Foundation
import Plateau

/// `plateau export-int`: a quantized checkpoint's integer weights and step sizes in safetensors.
struct ExportIntCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-int",
        abstract: "Write a --quantize checkpoint's integer weights (int8, or int4 packed two per byte) and step sizes to safetensors.",
        discussion: """
            Each quantized Linear/Conv2d's weight is stored as its LSQ codes round(clip(w/s_w, −Q_N, Q_P)): I8 for 5 to 8 \
            bits, U8 with two 4-bit two's-complement codes per byte (low nibble first) for 2 to 4 bits, beside \
            <layer>.quantizer.weight_scale, input_scale and input_signed (F32); every other tensor is F32. The metadata \
            key plateau.integer_weights lists each layer's bits, shape and packing. The command then reads the file back \
            and checks, on the dataset's test split, that the model rebuilt from it evaluates with integer weights \
            (codes(x)·codes(w), rescaled by s_w·s_a) to the same predictions as the checkpoint's fake quantization.
            Example: plateau export-int runs/lenet-w4a4/checkpoint-last.safetensors --output lenet-w4a4-int.safetensors
            """
    )

    @Argument(help: "A checkpoint written by `plateau train --quantize …`.") var checkpoint: String
    @Option(parsing: .unconditional, help: "The safetensors file to write.") var output: String
    @OptionGroup var data: DatasetOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        PlateauCommand.configureRuntime()
        let url = URL(fileURLWithPath: checkpoint)
        let saved = try Checkpoint.read(from: url)
        var c = saved.configuration
        guard c.quantize != "none" else {
            throw RuntimeError("\(url.lastPathComponent): the run was not quantized (quantize: none); train with --quantize w4a4 (or another wXaY) to export integer weights")
        }
        if let dataset = data.dataset { c.dataset = dataset }
        if let directory = data.dataDir { c.dataDirectory = directory }
        let (train, test) = try c.loadDatasets()
        let classCount = max(train.classCount, test.classCount)
        let model = try saved.loadedModel(sampleShape: test.sampleShape, classCount: classCount, source: url.path)
        let destination = URL(fileURLWithPath: output)
        try IntegerExport.write(model, configuration: saved.configuration, to: destination)

        // Round trip: the model rebuilt from the file, evaluated with integer weights.
        let contents = try IntegerExport.read(from: destination)
        var rebuilt = try saved.loadedModel(sampleShape: test.sampleShape, classCount: classCount, source: url.path)
        try rebuilt.load(stateDictionary: contents.stateDictionary, source: destination.path)
        let testSet = (saved.normalization ?? Normalization.fit(train)).apply(to: test)
        let fake = Evaluation.run(model, on: testSet)
        let integer = Evaluation.run(rebuilt.usingIntegerWeights(), on: testSet)
        let fakePredictions = Evaluation.predictions(model, on: testSet)
        let integerPredictions = Evaluation.predictions(rebuilt.usingIntegerWeights(), on: testSet)
        let agreement = Float(zip(fakePredictions, integerPredictions).filter { $0 == $1 }.count) / Float(max(testSet.count, 1))
        let bytes = (try? FileManager.default.attributesOfItem(atPath: destination.path)[.size] as? Int) ?? 0
        let layers = contents.layers.keys.sorted().map { "\($0) \(contents.layers[$0]!.bits)-bit" }
        if json {
            let object: [String: Any] = [
                "output": destination.path, "bytes": bytes, "layers": contents.layers.mapValues { $0.bits },
                "fake_quant_accuracy": fake.accuracy, "integer_accuracy": integer.accuracy, "prediction_agreement": agreement,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("wrote \(destination.path) (\(bytes) bytes): \(layers.joined(separator: ", "))")
            print("test accuracy: fake quantization \(fake.accuracy), integer weights from the file \(integer.accuracy); predictions agree on \(agreement * 100)% of \(testSet.count) samples")
        }
        // The two differ only by float rounding (s_a·x_q·s_w·w_q summed against Σ x_q·w_q rescaled
        // once), which can tip a near-tie; more than one sample in a thousand is a real mismatch.
        guard agreement >= 0.999 else {
            throw RuntimeError("the integer model disagrees with fake quantization on \(Int(((1 - agreement) * Float(testSet.count)).rounded())) test samples")
        }
    }
}
