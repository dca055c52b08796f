/// An n-dimensional array of `Float` with value semantics, the unit every Plateau
/// computation works on.
///
/// Storage is a contiguous row-major `[Float]` (copy-on-write, so copies are cheap and
/// a copy is a snapshot — exactly what SAM needs to restore weights). When a tensor takes
/// part in differentiation it also carries a `Node` that records the operation that
/// produced it; see ``gradients(of:withRespectTo:seed:createGraph:)``.
///
/// Shapes are arrays of non-negative extents; a scalar has shape `[]`.
public struct Tensor: Sendable {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    /// The elements in row-major order.
    public let scalars: [Float]
    /// The graph node that produced this tensor, or `nil` for a constant.
    let node: Node?

    init(shape: [Int], scalars: [Float], node: Node?) {
        self.shape = shape
        self.scalars = scalars
        self.node = node
    }

    /// Creates a constant tensor from its elements in row-major order.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor: shape \(shape) holds \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.init(shape: shape, scalars: scalars, node: nil)
    }

    /// Creates a rank-0 tensor.
    public init(_ value: Float) {
        self.init(shape: [], scalars: [value], node: nil)
    }

    /// Creates a rank-1 tensor.
    public init(_ values: [Float]) {
        self.init(shape: [values.count], scalars: values, node: nil)
    }

    /// Creates a rank-2 tensor from rows of equal length.
    public init(_ rows: [[Float]]) {
        let columns = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == columns }, "Tensor: ragged rows")
        self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 }, node: nil)
    }

    /// A tensor of the given shape filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of the given shape filled with 0.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    /// A tensor of the given shape filled with 1.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { scalars.count }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(scalars.count == 1, "item: tensor of shape \(shape) has \(scalars.count) elements")
        return scalars[0]
    }

    /// Whether this tensor is recorded for differentiation.
    public var isTracked: Bool { node != nil }

    /// This tensor's value with its graph history dropped: gradients do not flow through it.
    public var detached: Tensor { node == nil ? self : Tensor(shape: shape, scalars: scalars, node: nil) }

    /// A leaf of the differentiation graph holding this tensor's value: gradients with
    /// respect to it can be asked of ``gradients(of:withRespectTo:seed:createGraph:)``.
    public func trackingGradients() -> Tensor {
        Tensor(shape: shape, scalars: scalars, node: Node(leafWithShape: shape))
    }

    /// Whether any element is NaN or infinite.
    public var hasNonFinite: Bool { scalars.contains { !$0.isFinite } }
}

extension Tensor: CustomStringConvertible {
    /// The shape and the first eight elements.
    public var description: String {
        let preview = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(preview)\(scalars.count > 8 ? ", …" : "")])"
    }
}

/// Compares values only (shape and elements); graph history is ignored.
extension Tensor: Equatable {
    /// Equal when shapes and elements are equal.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

extension Tensor {
    /// Whether every element is within `absoluteTolerance + relativeTolerance * |other|`.
    public func isClose(
        to other: Tensor, relativeTolerance: Float = 1e-5, absoluteTolerance: Float = 1e-6
    ) -> Bool {
        guard shape == other.shape else { return false }
        for (a, b) in zip(scalars, other.scalars)
        where !(Swift.abs(a - b) <= absoluteTolerance + relativeTolerance * Swift.abs(b)) {
            return false
        }
        return true
    }
}
