import Foundation

/// An elementwise function whose cost is the function itself, computed by a library's
/// vector kernels when a ``ElementwiseBackend`` is bound.
public enum ElementwiseFunction: String, Sendable, Hashable, CaseIterable {
    /// The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)); derivative Φ(x) + x·φ(x).
    case gelu
    /// eˣ; derivative eˣ.
    case exp
    /// The logistic σ(x) = 1/(1 + e⁻ˣ); derivative σ(x)(1 − σ(x)).
    case sigmoid

    /// Tensors with fewer elements stay on Plateau's own loops for `exp` and `sigmoid`: a
    /// library call's fixed cost is not worth it there, and a loss over a batch's logits (a few
    /// thousand values) keeps the bits it had before this seam existed. GELU always goes to the
    /// backend when one is bound.
    public var minimumCount: Int { self == .gelu ? 0 : 1 << 14 }
}

/// Elementwise kernels from a library with run-time instruction-set dispatch.
///
/// Why a seam of its own: Swift compiles Plateau's own loops for the baseline of the target
/// (SSE2 on x86-64: 4 lanes, no FMA), and a function like GELU's erf is then
/// instruction-bound — 6 ns per element here, a quarter of a ViT step. oneDNN's JIT
/// kernels pick AVX2 or AVX-512 at run time (measured 10x faster), which Swift cannot do for
/// one function without compiling the whole package for one CPU.
///
/// Plateau's `VectorMath` loops stay the reference (``Backends/elementwise`` = `nil`).
/// A backend computes every element independently of where its chunk starts, so results do
/// not depend on the thread count. Calls may come from several tasks at once.
public protocol ElementwiseBackend: Sendable {
    /// A short name for reports (`"onednn"`).
    var name: String { get }

    /// `output[i] ← f(input[i])` for `count` elements.
    func forward(_ function: ElementwiseFunction, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int)

    /// `inputGradient[i] ← outputGradient[i]·f′(input[i])` for `count` elements.
    func backward(
        _ function: ElementwiseFunction, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, count: Int)
}

extension Backends {
    /// The environment variable that chooses the elementwise kernels of a process: `onednn`
    /// (the default, ``OneDNNElementwise``) or `swift` (Plateau's own loops, the reference).
    public static let elementwiseVariable = "PLATEAU_ELEMENTWISE"

    /// The elementwise kernels used in this task (oneDNN by default, see
    /// ``elementwiseVariable``); `nil` computes with Plateau's own loops. Bind another for a
    /// scope with `Backends.$elementwise.withValue(nil) { … }`.
    @TaskLocal public static var elementwise: (any ElementwiseBackend)? = Backends.elementwiseFromEnvironment()

    /// The elementwise backend ``elementwiseVariable`` names (`nil` for `swift`; unset or
    /// empty is `onednn`).
    ///
    /// - Throws: ``BackendError`` for an unknown value, or when oneDNN cannot start.
    public static func elementwise(named value: String?) throws -> (any ElementwiseBackend)? {
        switch value ?? "" {
        case "swift": return nil
        case "", "onednn": return try OneDNNElementwise()
        case let other:
            throw BackendError("\(elementwiseVariable): expected onednn or swift, found '\(other)'")
        }
    }

    /// The default of ``elementwise``: a bad value is reported once on standard error and
    /// Plateau's own loops used, as when oneDNN cannot start.
    private static func elementwiseFromEnvironment() -> (any ElementwiseBackend)? {
        do {
            return try elementwise(named: ProcessInfo.processInfo.environment[elementwiseVariable])
        } catch {
            FileHandle.standardError.write(Data("warning: \(error); using Plateau's own elementwise loops\n".utf8))
            return nil
        }
    }
}
