import Foundation

/// The geometry of one 2-D convolution, NCHW, float32, one group: the key under which a
/// ``ConvolutionBackend`` prepares (and caches) its kernels.
public struct ConvolutionShape: Hashable, Sendable, CustomStringConvertible {
    /// Input `[N, C, H, W]`.
    public var batch: Int, channels: Int, height: Int, width: Int
    /// Output channels (filters), and the filters' size.
    public var outputChannels: Int, kernelHeight: Int, kernelWidth: Int
    /// Window step, zero padding on each side, and tap spacing (1 is dense).
    public var strideHeight: Int, strideWidth: Int, paddingHeight: Int, paddingWidth: Int
    public var dilationHeight: Int, dilationWidth: Int

    /// The shape of `input.conv2d(weight:…)` with window geometry `g` (one group).
    public init(input: [Int], weight: [Int], _ g: WindowGeometry) {
        (batch, channels, height, width) = (input[0], input[1], input[2], input[3])
        (outputChannels, kernelHeight, kernelWidth) = (weight[0], weight[2], weight[3])
        (strideHeight, strideWidth) = g.stride
        (paddingHeight, paddingWidth) = g.padding
        (dilationHeight, dilationWidth) = g.dilation
    }

    /// The window geometry.
    public var geometry: WindowGeometry {
        WindowGeometry(
            kernel: (kernelHeight, kernelWidth), stride: (strideHeight, strideWidth),
            padding: (paddingHeight, paddingWidth), dilation: (dilationHeight, dilationWidth))
    }

    /// The output's height and width.
    public var outputSize: (height: Int, width: Int) { geometry.outputSize(height: height, width: width) }

    /// Multiply–adds of the forward pass.
    public var multiplyAdds: Int {
        let (oh, ow) = outputSize
        return batch * outputChannels * oh * ow * channels * kernelHeight * kernelWidth
    }

    public var description: String {
        "\(batch)x\(channels)x\(height)x\(width) * \(outputChannels)x\(channels)x\(kernelHeight)x\(kernelWidth)"
            + " stride \(strideHeight),\(strideWidth) pad \(paddingHeight),\(paddingWidth)"
            + (dilationHeight == 1 && dilationWidth == 1 ? "" : " dilation \(dilationHeight),\(dilationWidth)")
    }
}

/// Convolutions computed by a library's own kernels instead of Plateau's lowering to
/// ``Backend/gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` (im2col or
/// row shifts, then products).
///
/// The lowering stays the reference implementation: it runs every shape a backend declines
/// (``prepare(_:hasBias:)`` returns `false`), grouped convolutions, and transposed
/// convolutions with several groups or an output padding of at least the stride. A backend's
/// three passes serve everything else: the forward pass and first-order gradients of
/// ``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:)``, transposed convolutions
/// (the backward-data pass of their adjoint), and recorded backward passes of any order,
/// since each pass's pullback is made of the other two (see `Tensor.convolvedNatively`).
///
/// All buffers are dense, row-major: input `[N, C, H, W]`, weight `[OC, C, kh, kw]`, output
/// `[N, OC, oh, ow]`. Calls may come from several tasks at once.
public protocol ConvolutionBackend: Sendable {
    /// A short name for reports (`"onednn"`).
    var name: String { get }

    /// Whether this backend computes `shape` (preparing its kernels if not done yet); `false`
    /// sends the shape to the lowering. `hasBias` says whether the forward pass adds a bias.
    func prepare(_ shape: ConvolutionShape, hasBias: Bool) -> Bool

    /// `output ← conv(input, weight) + bias` for a shape ``prepare(_:hasBias:)`` accepted.
    func forward(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>)

    /// `inputGradient ← ∂(⟨outputGradient, conv(x, weight)⟩)/∂x` (overwritten).
    func backwardData(
        _ shape: ConvolutionShape, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>)

    /// `weightGradient ← ∂(⟨outputGradient, conv(input, w)⟩)/∂w` (overwritten).
    func backwardWeights(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>)

    /// Both gradients of one backward pass (each only when its buffer is given), with the
    /// values ``backwardData(_:outputGradient:weight:inputGradient:)`` and
    /// ``backwardWeights(_:input:outputGradient:weightGradient:)`` give, bit for bit: a
    /// backend may share the work of reading `outputGradient` between them.
    func backward(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?)
}

extension ConvolutionBackend {
    /// The two passes one after the other.
    public func backward(
        _ shape: ConvolutionShape, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>?
    ) {
        if let inputGradient { backwardData(shape, outputGradient: outputGradient, weight: weight, inputGradient: inputGradient) }
        if let weightGradient { backwardWeights(shape, input: input, outputGradient: outputGradient, weightGradient: weightGradient) }
    }
}

extension Backends {
    /// The environment variable that chooses the default convolution path of a process:
    /// `auto` (the default: oneDNN where it measured faster, see
    /// ``OneDNNConvolutions/Selection-swift.enum/measured``), `onednn` (every shape oneDNN
    /// accepts), `onednn-direct` (every shape oneDNN accepts, Winograd kernels off: see
    /// ``OneDNNConvolutions/usesWinograd(_:pass:)``) or `lowering` (im2col / row shifts and the
    /// gemm backend, the reference).
    public static let convolutionsVariable = "PLATEAU_CONVOLUTIONS"

    /// The convolution kernels used in this task (by default oneDNN where it measured faster,
    /// see ``convolutionsVariable``): `nil` lowers every convolution to products on ``current``. Bind another for a scope with
    /// `Backends.$convolutions.withValue(try OneDNNConvolutions()) { … }`.
    ///
    /// A task-local of its own rather than a property of the gemm backend, because the two are
    /// chosen independently: `plateau bench` binds its own ``OpenBLASBackend`` while the
    /// convolution path comes from ``convolutionsVariable``, so one binary compares both.
    @TaskLocal public static var convolutions: (any ConvolutionBackend)? = Backends.convolutionsFromEnvironment()

    /// The convolution backend ``convolutionsVariable`` names (`nil` for `lowering`; unset or
    /// empty is `auto`).
    ///
    /// - Throws: ``BackendError`` for an unknown value, or when oneDNN cannot start.
    public static func convolutions(named value: String?) throws -> (any ConvolutionBackend)? {
        switch value ?? "" {
        case "lowering": return nil
        case "onednn": return try OneDNNConvolutions(selection: .always)
        case "onednn-direct": return try OneDNNConvolutions(selection: .always, winograd: .never)
        case "", "auto": return try OneDNNConvolutions(selection: .measured)
        case let other:
            throw BackendError(
                "\(convolutionsVariable): expected lowering, onednn, onednn-direct or auto, found '\(other)'")
        }
    }

    /// The default of ``convolutions``: a bad value is reported once on standard error and
    /// the lowering used (a default value cannot throw, and a typo must not stop a run), as
    /// when oneDNN cannot start.
    private static func convolutionsFromEnvironment() -> (any ConvolutionBackend)? {
        do {
            return try convolutions(named: ProcessInfo.processInfo.environment[convolutionsVariable])
        } catch {
            FileHandle.standardError.write(Data("warning: \(error); using the lowering\n".utf8))
            return nil
        }
    }
}

/// A backend that cannot be set up as asked, with the reason.
public struct BackendError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// What went wrong, naming the setting or call and the values involved.
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
