import Foundation
import PlateauTensor

/// The LSQ quantizers of one ``Linear`` or ``Conv2d`` layer in quantized mode: its weight
/// and its input are fake-quantized with learned step sizes (Esser et al. 2020, LSQ).
///
/// Tensors, under the layer's path: `quantizer.weight_scale` and `quantizer.input_scale`
/// (parameters, shape `[1]`: the optimizer trains them and checkpoints keep them) and
/// `quantizer.input_signed` (a buffer, 1 when the layer's input can be negative, 0 when it
/// is unsigned, as after a ReLU — decided once from a calibration batch). Weights are always
/// signed. The bias stays in floating point.
public struct LayerQuantization: Module {
    /// Bits of the weight codes (2…8).
    public let weightBits: Int
    /// Bits of the input codes (2…8).
    public let activationBits: Int
    /// s_w, the weight step size.
    public var weightScale: Tensor
    /// s_a, the input step size.
    public var inputScale: Tensor
    /// 1: signed input codes; 0: unsigned.
    public var inputSigned: Tensor
    /// Integer weight codes (a value per weight, as `Float`) when the layer evaluates with
    /// integer weights (``Module/usingIntegerWeights()``); `nil` for fake quantization.
    public var integerWeight: Tensor?
    /// Set only while ``Module/calibrateQuantizers(_:)`` runs a calibration batch.
    var recorder: CalibrationRecorder?

    /// Quantizers at `weightBits`/`activationBits` for `weight`, the weight step size at LSQ's
    /// initialization 2·mean|w|/√Q_P; the input step size waits for a calibration batch.
    public init(weightBits: Int, activationBits: Int, weight: Tensor) {
        precondition((2...8).contains(weightBits) && (2...8).contains(activationBits),
                     "LayerQuantization: expected 2 to 8 bits, got w\(weightBits)a\(activationBits)")
        self.weightBits = weightBits
        self.activationBits = activationBits
        let range = QuantizationRange(bits: weightBits, signed: true)
        weightScale = Tensor([Self.initialScale(meanMagnitude: weight.meanMagnitude, positiveLevels: range.positiveLevels)])
        inputScale = Tensor([1])
        inputSigned = Tensor([1])
    }

    public mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("weight_scale", &weightScale)
        visitor.parameter("input_scale", &inputScale)
        visitor.buffer("input_signed", &inputSigned)
    }

    /// LSQ's initial step size 2·mean|v|/√Q_P (a small positive floor keeps an all-zero tensor valid).
    public static func initialScale(meanMagnitude: Float, positiveLevels: Int) -> Float {
        Swift.max(2 * meanMagnitude / Float(positiveLevels).squareRoot(), 1e-8)
    }

    /// The weight codes' range (signed).
    public var weightRange: QuantizationRange { QuantizationRange(bits: weightBits, signed: true) }
    /// The input codes' range: signed or unsigned as calibrated.
    public var inputRange: QuantizationRange { QuantizationRange(bits: activationBits, signed: inputSigned.scalars[0] != 0) }

    /// The fake-quantized weight; gradient scale g = 1/√(N·Q_P), N the number of weights.
    public func quantizedWeight(_ weight: Tensor) -> Tensor {
        let range = weightRange
        return weight.lsqQuantized(scale: weightScale, range: range, gradientScale: 1 / (Float(weight.count) * Float(range.positiveLevels)).squareRoot())
    }

    /// The fake-quantized input; g = 1/√(N·Q_P), N the number of features per sample. During
    /// calibration the input passes through unchanged and its statistics are recorded.
    public func quantizedInput(_ input: Tensor) -> Tensor {
        if let recorder {
            recorder.record(input)
            return input
        }
        let range = inputRange
        let features = input.count / Swift.max(input.shape.first ?? 1, 1)
        return input.lsqQuantized(scale: inputScale, range: range, gradientScale: 1 / (Float(Swift.max(features, 1)) * Float(range.positiveLevels)).squareRoot())
    }

    /// The input's integer codes round(clip(x/s_a, −Q_N, Q_P)), as `Float`.
    public func inputCodes(_ input: Tensor) -> Tensor {
        let range = inputRange, s = inputStep
        return Tensor(shape: input.shape, scalars: input.scalars.map { range.code($0, scale: s) })
    }

    /// The weight's integer codes round(clip(w/s_w, −Q_N, Q_P)), as `Float`.
    public func weightCodes(_ weight: Tensor) -> Tensor {
        let range = weightRange, s = weightStep
        return Tensor(shape: weight.shape, scalars: weight.scalars.map { range.code($0, scale: s) })
    }

    /// Integer evaluation: `product` maps (input codes, weight codes) to their integer
    /// product (a matrix product or a convolution, exact in `Float` while every sum stays
    /// below 2^24), rescaled once by s_w·s_a; the bias is added by the caller.
    func integerOutput(_ input: Tensor, _ product: (Tensor, Tensor) -> Tensor) -> Tensor? {
        guard let integerWeight else { return nil }
        let accumulated = product(inputCodes(input), integerWeight)
        return accumulated * (weightStep * inputStep)
    }

    /// s_w and s_a as the quantizers use them (at least ``/PlateauTensor/Tensor/minimumStepSize``).
    var weightStep: Float { Swift.max(weightScale.scalars[0], Tensor.minimumStepSize) }
    var inputStep: Float { Swift.max(inputScale.scalars[0], Tensor.minimumStepSize) }
}

/// Statistics of a layer's input over a calibration batch: its minimum and mean |x|.
final class CalibrationRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var minimum = Float.infinity
    private var magnitudeSum: Double = 0
    private var count = 0

    func record(_ input: Tensor) {
        lock.lock(); defer { lock.unlock() }
        for x in input.scalars {
            minimum = Swift.min(minimum, x)
            magnitudeSum += Double(Swift.abs(x))
        }
        count += input.count
    }

    /// (the input is non-negative, mean |x|), or `nil` when the layer saw no input.
    var statistics: (unsigned: Bool, meanMagnitude: Float)? {
        lock.lock(); defer { lock.unlock() }
        guard count > 0 else { return nil }
        return (minimum >= 0, Float(magnitudeSum / Double(count)))
    }
}

extension Tensor {
    /// mean |v| over the elements (0 for an empty tensor).
    var meanMagnitude: Float {
        guard count > 0 else { return 0 }
        return Float(scalars.reduce(0.0) { $0 + Double(Swift.abs($1)) } / Double(count))
    }
}

/// Bits per layer for ``Module/quantize(_:)``: `wXaY` for the hidden layers, the first and
/// last quantizable layers (in visiting order) at `boundaryBits` unless `quantizeBoundary`.
public struct QuantizationSpec: Sendable, Equatable {
    public var weightBits: Int
    public var activationBits: Int
    /// Bits of the first and last layer's weights and inputs (8 by default, as LSQ keeps them).
    public var boundaryBits: Int

    public init(weightBits: Int, activationBits: Int, boundaryBits: Int = 8) {
        self.weightBits = weightBits
        self.activationBits = activationBits
        self.boundaryBits = boundaryBits
    }

    /// Parses `w4a4` (first and last layer at 8 bits) or `w4a4-all` (every layer at 4 bits);
    /// `nil` for anything else, including bits outside 2…8.
    public init?(parsing text: String) {
        var body = Substring(text.lowercased())
        var all = false
        if body.hasSuffix("-all") { all = true; body = body.dropLast(4) }
        guard body.first == "w", let a = body.firstIndex(of: "a"),
              let w = Int(body[body.index(after: body.startIndex)..<a]), let x = Int(body[body.index(after: a)...]),
              (2...8).contains(w), (2...8).contains(x)
        else { return nil }
        self.init(weightBits: w, activationBits: x, boundaryBits: all ? w : 8)
        if all { boundaryActivationBits = x }
    }

    /// Bits of the first and last layer's inputs (`boundaryBits` unless `-all`).
    public var boundaryActivationBits: Int? = nil
}

extension ModuleVisitor {
    /// Presents a quantizable layer's quantizer slot (before visiting it as `quantizer`).
    public func quantizable(_ quantizer: inout LayerQuantization?, weight: Tensor) {
        onQuantizable?(currentPath, &quantizer, weight)
        child("quantizer", &quantizer)
    }
}

extension Module {
    /// The paths of the quantizable layers (``Linear``, ``Conv2d``), in visiting order.
    public var quantizableLayerPaths: [String] {
        var copy = self, paths: [String] = []
        copy.visit(ModuleVisitor(onQuantizable: { path, _, _ in paths.append(path) }))
        return paths
    }

    /// Switches every ``Linear`` and ``Conv2d`` into quantized mode at `spec`'s bits (the first
    /// and last in visiting order at the boundary bits), weight step sizes initialized from
    /// the weights. Call ``calibrateQuantizers(_:)`` next to initialize the input step sizes.
    public mutating func quantize(_ spec: QuantizationSpec) {
        let paths = quantizableLayerPaths
        visit(ModuleVisitor(onQuantizable: { path, quantizer, weight in
            let boundary = path == paths.first || path == paths.last
            quantizer = LayerQuantization(
                weightBits: boundary ? spec.boundaryBits : spec.weightBits,
                activationBits: boundary ? (spec.boundaryActivationBits ?? spec.boundaryBits) : spec.activationBits, weight: weight)
        }))
    }

    /// Whether any layer is in quantized mode.
    public var isQuantized: Bool {
        var copy = self, found = false
        copy.visit(ModuleVisitor(onQuantizable: { _, quantizer, _ in if quantizer != nil { found = true } }))
        return found
    }

    /// Initializes every quantized layer's input step size from the inputs `forward` feeds it
    /// (a calibration batch, run without gradients): 2·mean|x|/√Q_P, LSQ's initialization,
    /// with unsigned codes when the layer's input has no negative value (after a ReLU).
    /// Inputs pass through unquantized during the pass.
    public mutating func calibrateQuantizers(_ forward: (inout Self) -> Void) {
        visit(ModuleVisitor(onQuantizable: { _, quantizer, _ in quantizer?.recorder = CalibrationRecorder() }))
        var copy = self
        withoutGradients { forward(&copy) }
        var recorders: [String: CalibrationRecorder] = [:]
        copy.visit(ModuleVisitor(onQuantizable: { path, quantizer, _ in recorders[path] = quantizer?.recorder }))
        visit(ModuleVisitor(onQuantizable: { path, quantizer, _ in
            guard quantizer != nil else { return }
            quantizer!.recorder = nil
            guard let statistics = recorders[path]?.statistics else { return }
            quantizer!.inputSigned = Tensor([statistics.unsigned ? 0 : 1])
            quantizer!.inputScale = Tensor([LayerQuantization.initialScale(
                meanMagnitude: statistics.meanMagnitude, positiveLevels: quantizer!.inputRange.positiveLevels)])
        }))
    }

    /// A copy that evaluates with integer weights: each quantized layer keeps its weight's
    /// codes and computes codes(x)·codes(w) before scaling by s_w·s_a, instead of
    /// fake-quantizing. For evaluation only (it has no gradient).
    public func usingIntegerWeights() -> Self {
        var copy = self
        copy.visit(ModuleVisitor(onQuantizable: { _, quantizer, weight in
            if let q = quantizer { quantizer!.integerWeight = q.weightCodes(weight) }
        }))
        return copy
    }
}
