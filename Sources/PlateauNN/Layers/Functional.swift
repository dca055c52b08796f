import PlateauTensor

/// A parameter-free layer applying a fixed tensor function (activations, pooling,
/// flattening), so such steps can sit in a ``Sequential``.
public struct Function: Layer {
    public let name: String
    private let body: @Sendable (Tensor) -> Tensor

    public init(_ name: String, _ body: @escaping @Sendable (Tensor) -> Tensor) {
        self.name = name
        self.body = body
    }

    public mutating func visit(_ visitor: ModuleVisitor) {}
    public func callAsFunction(_ input: Tensor) -> Tensor { body(input) }

    public static let relu = Function("relu") { $0.relu() }
    public static let gelu = Function("gelu") { $0.gelu() }
    public static let tanh = Function("tanh") { $0.tanh() }
    public static let sigmoid = Function("sigmoid") { $0.sigmoid() }
    public static let silu = Function("silu") { $0.silu() }
    public static let flatten = Function("flatten") { $0.flattened() }

    public static func maxPool(_ kernel: Int, stride: Int? = nil, padding: Int = 0) -> Function {
        Function("maxpool") { $0.maxPool2d(kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding)) }
    }

    public static func avgPool(_ kernel: Int, stride: Int? = nil, padding: Int = 0) -> Function {
        Function("avgpool") { $0.avgPool2d(kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding)) }
    }

    public static func adaptiveAvgPool(_ size: Int) -> Function {
        Function("adaptive_avgpool") { $0.adaptiveAvgPool2d(outputSize: (size, size)) }
    }
}

/// Layers applied in order; parameters are named by position (`"0.weight"`, `"2.bias"`),
/// as in PyTorch's `nn.Sequential`.
public struct Sequential: Layer {
    public var layers: [any Layer]

    public init(_ layers: [any Layer]) { self.layers = layers }
    public init(@SequentialBuilder _ build: () -> [any Layer]) { self.layers = build() }

    public mutating func visit(_ visitor: ModuleVisitor) {
        for i in layers.indices { visitor.child(String(i), &layers[i]) }
    }

    public mutating func callAsFunction(_ input: Tensor) -> Tensor {
        var x = input
        for i in layers.indices { x = layers[i](x) }
        return x
    }
}

/// Builds a ``Sequential`` from a list of layers written one per line.
@resultBuilder
public enum SequentialBuilder {
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}
