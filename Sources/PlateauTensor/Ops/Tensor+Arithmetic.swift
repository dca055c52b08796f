import Foundation

// Elementwise arithmetic with numpy broadcasting. Each primitive states its derivative
// in its pullback; `reduced(toShape:)` undoes broadcasting on the way back.

extension Tensor {
    @inline(__always)
    static func binary<F: BinaryScalarFunction>(
        _ name: String, _ a: Tensor, _ b: Tensor, _ f: F,
        pullback: @escaping Node.Pullback
    ) -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let scalars = broadcastScalars(a.scalars, a.shape, b.scalars, b.shape, outShape: shape, f)
        return recorded(name, shape: shape, scalars: scalars, inputs: [a, b], pullback: pullback)
    }

    @inline(__always)
    func unary<F: UnaryScalarFunction>(_ name: String, _ f: F, pullback: @escaping Node.Pullback) -> Tensor {
        Tensor.recorded(name, shape: shape, scalars: mapScalars(scalars, f), inputs: [self], pullback: pullback)
    }

    @inline(__always)
    func unary(_ name: String, _ f: @escaping (Float) -> Float, pullback: @escaping Node.Pullback) -> Tensor {
        unary(name, UnaryClosure(body: f), pullback: pullback)
    }

    /// Elementwise sum `a + b` with broadcasting; the gradient is reduced back to each shape.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (sa, sb) = (a.shape, b.shape)
        return binary("add", a, b, Adding()) { g, _ in [g.reduced(toShape: sa), g.reduced(toShape: sb)] }
    }

    /// Elementwise difference `a − b` with broadcasting; ∂/∂b = −g.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (sa, sb) = (a.shape, b.shape)
        return binary("sub", a, b, Subtracting()) { g, _ in [g.reduced(toShape: sa), (-g).reduced(toShape: sb)] }
    }

    /// Elementwise (Hadamard) product `a ⊙ b` with broadcasting; ∂/∂a = g ⊙ b, ∂/∂b = g ⊙ a.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let needsA = a.node != nil, needsB = b.node != nil
        return binary("mul", a, b, Multiplying()) { g, _ in
            [needsA ? (g * b).reduced(toShape: a.shape) : nil, needsB ? (g * a).reduced(toShape: b.shape) : nil]
        }
    }

    /// Elementwise quotient `a / b` with broadcasting; ∂/∂a = g / b, ∂/∂b = −g·a / b².
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let needsA = a.node != nil, needsB = b.node != nil
        return binary("div", a, b, Dividing()) { g, _ in
            [needsA ? (g / b).reduced(toShape: a.shape) : nil, needsB ? (-(g * a) / (b * b)).reduced(toShape: b.shape) : nil]
        }
    }

    /// Elementwise negation `−x`.
    public static prefix func - (x: Tensor) -> Tensor {
        x.unary("neg", { -$0 }) { g, _ in [-g] }
    }

    /// Adds the scalar `b` to every element.
    public static func + (a: Tensor, b: Float) -> Tensor { a + Tensor(b) }
    /// Adds the scalar `a` to every element.
    public static func + (a: Float, b: Tensor) -> Tensor { Tensor(a) + b }
    /// Subtracts the scalar `b` from every element.
    public static func - (a: Tensor, b: Float) -> Tensor { a - Tensor(b) }
    /// `a − bᵢ` for every element.
    public static func - (a: Float, b: Tensor) -> Tensor { Tensor(a) - b }
    /// Scales every element by `b` (one pass, no broadcast); ∂/∂a = b·g.
    public static func * (a: Tensor, b: Float) -> Tensor {
        a.unary("scale", Scaling(factor: b)) { g, _ in [g * b] }
    }
    /// Scales every element by `a`.
    public static func * (a: Float, b: Tensor) -> Tensor { b * a }
    /// Divides every element by `b`, computed as a scaling by `1 / b`.
    public static func / (a: Tensor, b: Float) -> Tensor { a * (1 / b) }
    /// `a / bᵢ` for every element.
    public static func / (a: Float, b: Tensor) -> Tensor { Tensor(a) / b }

    /// Elementwise maximum; where the two are equal the gradient goes to `self`.
    public func maximum(_ other: Tensor) -> Tensor {
        let (a, b) = (self, other)
        return Tensor.binary("maximum", a, b, ClosureFunction { Swift.max($0, $1) }) { g, _ in
            let takesA = Tensor(shape: g.shape, scalars: broadcastScalars(a.scalars, a.shape, b.scalars, b.shape, outShape: g.shape) { $0 >= $1 ? 1 : 0 })
            return [(g * takesA).reduced(toShape: a.shape), (g * (1 - takesA)).reduced(toShape: b.shape)]
        }
    }

    /// Elementwise minimum; where the two are equal the gradient goes to `self`.
    public func minimum(_ other: Tensor) -> Tensor {
        let (a, b) = (self, other)
        return Tensor.binary("minimum", a, b, ClosureFunction { Swift.min($0, $1) }) { g, _ in
            let takesA = Tensor(shape: g.shape, scalars: broadcastScalars(a.scalars, a.shape, b.scalars, b.shape, outShape: g.shape) { $0 <= $1 ? 1 : 0 })
            return [(g * takesA).reduced(toShape: a.shape), (g * (1 - takesA)).reduced(toShape: b.shape)]
        }
    }

    /// Elementwise `max(self, value)`; where equal the gradient goes to `self`.
    public func maximum(_ value: Float) -> Tensor { maximum(Tensor(value)) }
    /// Elementwise `min(self, value)`; where equal the gradient goes to `self`.
    public func minimum(_ value: Float) -> Tensor { minimum(Tensor(value)) }

    /// Elements limited to `[lower, upper]`; the gradient is zero outside.
    public func clamped(to range: ClosedRange<Float>) -> Tensor {
        maximum(range.lowerBound).minimum(range.upperBound)
    }

    /// `condition ? self : other`, elementwise with broadcasting; `condition` is a constant
    /// mask (nonzero means true).
    public func replacing(where condition: Tensor, with other: Tensor) -> Tensor {
        let mask = Tensor(shape: condition.shape, scalars: mapScalars(condition.scalars) { $0 != 0 ? 1 : 0 })
        return other * mask + self * (1 - mask)
    }

    /// Elementwise eˣ; d/dx = eˣ.
    public func exp() -> Tensor {
        if case let (values, _)? = Tensor.elementwise(.exp, scalars) {
            return Tensor.recorded("exp", shape: shape, scalars: values, inputs: [self]) { g, y in [g * y] }
        }
        return unary("exp", Foundation.exp) { g, y in [g * y] }
    }

    /// Elementwise natural logarithm; d/dx = 1/x.
    public func log() -> Tensor {
        unary("log", Foundation.log) { g, _ in [g / self] }
    }

    /// Elementwise √x; d/dx = 1/(2√x).
    public func sqrt() -> Tensor {
        unary("sqrt", Foundation.sqrt) { g, y in [g * 0.5 / y] }
    }

    /// Elementwise x²; d/dx = 2x.
    public func square() -> Tensor {
        unary("square", { $0 * $0 }) { g, _ in [g * self * 2] }
    }

    /// `self` raised to a constant power.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 { return square() }
        return unary("pow", { Foundation.pow($0, exponent) }) { g, _ in [g * self.pow(exponent - 1) * exponent] }
    }

    /// Elementwise |x|; d/dx = sign(x) (0 at 0).
    public func abs() -> Tensor {
        unary("abs", Swift.abs) { g, _ in [g * self.sign()] }
    }

    /// -1, 0 or 1 per element; a constant (its derivative is zero almost everywhere).
    public func sign() -> Tensor {
        Tensor(shape: shape, scalars: mapScalars(scalars) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }

    /// The error function; d erf(x) = 2/√π · exp(-x²) dx.
    public func erf() -> Tensor {
        unary("erf", Foundation.erf) { g, _ in [g * (-self.square()).exp() * Float(2 / Double.pi.squareRoot())] }
    }
}

extension Tensor {
    /// `function` over `values` on the bound ``ElementwiseBackend`` (oneDNN by default), with
    /// that backend (for a backward pass on it); `nil` when none is bound or the tensor is
    /// empty or below the function's ``ElementwiseFunction/minimumCount``: the caller then
    /// uses Plateau's own loop.
    static func elementwise(_ function: ElementwiseFunction, _ values: [Float]) -> (values: [Float], backend: any ElementwiseBackend)? {
        guard let backend = Backends.elementwise, values.count >= function.minimumCount, !values.isEmpty else { return nil }
        let results = values.withUnsafeBufferPointer { x in
            makeScalars(count: x.count) { backend.forward(function, input: x.baseAddress!, output: $0, count: x.count) }
        }
        return (results, backend)
    }
}
