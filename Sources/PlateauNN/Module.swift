import PlateauTensor

/// A piece of a network: a value holding named parameters, buffers and submodules.
///
/// A module has one requirement: present what it holds to a ``ModuleVisitor``. Parameter
/// access, gradients, checkpoints and train/eval switching are all built on that one
/// walk, so a layer is a plain struct with no reflection and no caches:
///
/// ```swift
/// mutating func visit(_ visitor: ModuleVisitor) {
///     visitor.parameter("weight", &weight)
///     visitor.parameter("bias", &bias)
/// }
/// ```
///
/// Names compose into PyTorch `state_dict` paths (`"layer1.0.bn1.running_mean"`), so a
/// checkpoint loads into the equivalent PyTorch model. Because modules are values, a copy
/// is a snapshot: SAM's perturbed pass runs on a copy whose BatchNorm statistics are simply
/// discarded.
public protocol Module: Sendable {
    /// Presents each parameter, buffer, mode flag and submodule to `visitor`, in a fixed order.
    mutating func visit(_ visitor: ModuleVisitor)
}

/// A module mapping one tensor to one tensor.
///
/// The call is `mutating` because some layers change state in training mode (BatchNorm's
/// running statistics, Dropout's generator).
public protocol Layer: Module {
    mutating func callAsFunction(_ input: Tensor) -> Tensor
}

/// Whether a tensor is trained (a parameter) or carried along (a buffer, e.g. running statistics).
public enum TensorRole: Sendable {
    case parameter, buffer
}

/// Walks a module tree, tracking the dotted path; see ``Module``.
public final class ModuleVisitor {
    private var prefix: [String] = []
    private let onTensor: (String, TensorRole, inout Tensor) -> Void
    private let training: Bool?
    /// Called with each quantizable layer's path, quantizer slot and weight (``quantizable(_:weight:)``).
    let onQuantizable: ((String, inout LayerQuantization?, Tensor) -> Void)?

    /// - Parameters:
    ///   - training: when set, every layer with a training mode is switched to it.
    ///   - onTensor: called with the full path, role and the tensor, which it may replace.
    ///   - onQuantizable: called with the path, quantizer slot (which it may fill or change)
    ///     and weight of each ``Linear`` and ``Conv2d``.
    public init(
        training: Bool? = nil, onTensor: @escaping (String, TensorRole, inout Tensor) -> Void = { _, _, _ in },
        onQuantizable: ((String, inout LayerQuantization?, Tensor) -> Void)? = nil
    ) {
        self.training = training
        self.onQuantizable = onQuantizable
        self.onTensor = onTensor
    }

    private func path(_ name: String) -> String { (prefix + [name]).joined(separator: ".") }

    /// The dotted path of the module being visited.
    var currentPath: String { prefix.joined(separator: ".") }

    public func parameter(_ name: String, _ tensor: inout Tensor) { onTensor(path(name), .parameter, &tensor) }

    public func parameter(_ name: String, _ tensor: inout Tensor?) {
        if tensor != nil { onTensor(path(name), .parameter, &tensor!) }
    }

    public func buffer(_ name: String, _ tensor: inout Tensor) { onTensor(path(name), .buffer, &tensor) }

    /// Lets a layer follow train/eval switches.
    public func trainingMode(_ isTraining: inout Bool) {
        if let training { isTraining = training }
    }

    /// Visits a submodule under `name`.
    public func child<M: Module>(_ name: String, _ module: inout M) {
        prefix.append(name)
        module.visit(self)
        prefix.removeLast()
    }

    /// Visits an optional submodule under `name` when present.
    public func child<M: Module>(_ name: String, _ module: inout M?) {
        if module != nil { child(name, &module!) }
    }

    /// Visits a list of submodules as `name.0`, `name.1`, … (or `0`, `1`, … when `name` is empty).
    public func children<M: Module>(_ name: String, _ modules: inout [M]) {
        if !name.isEmpty { prefix.append(name) }
        for i in modules.indices { child(String(i), &modules[i]) }
        if !name.isEmpty { prefix.removeLast() }
    }
}

/// An error loading weights into a module.
public struct ModuleLoadingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Module {
    private func collect(_ role: TensorRole?) -> ParameterSet {
        var copy = self
        var entries: [(String, Tensor)] = []
        copy.visit(ModuleVisitor { path, kind, tensor in
            if role == nil || role == kind { entries.append((path, tensor)) }
        })
        return ParameterSet(entries)
    }

    /// The trainable tensors by path.
    public var parameters: ParameterSet { collect(.parameter) }

    /// The non-trainable state (BatchNorm running statistics) by path.
    public var buffers: ParameterSet { collect(.buffer) }

    /// Parameters and buffers together, in visiting order: what a checkpoint stores.
    public var stateDictionary: ParameterSet { collect(nil) }

    /// The number of trainable scalars.
    public var parameterCount: Int { parameters.scalarCount }

    /// Replaces the tensors named in `values`; other tensors are kept.
    ///
    /// - Precondition: each replacement has the shape of the tensor it replaces.
    public mutating func update(_ values: ParameterSet) {
        visit(ModuleVisitor { path, _, tensor in
            if let replacement = values[path] {
                precondition(replacement.shape == tensor.shape, "update: \(path) expects shape \(tensor.shape), got \(replacement.shape)")
                tensor = replacement
            }
        })
    }

    /// Loads a full state dictionary, checking that every key is present with the right
    /// shape and that nothing is left over.
    public mutating func load(stateDictionary values: ParameterSet, source: String = "state dictionary") throws {
        var problems: [String] = []
        var seen: Set<String> = []
        visit(ModuleVisitor { path, _, tensor in
            seen.insert(path)
            guard let replacement = values[path] else {
                problems.append("missing \(path) (expected shape \(tensor.shape))")
                return
            }
            guard replacement.shape == tensor.shape else {
                problems.append("\(path): expected shape \(tensor.shape), got \(replacement.shape)")
                return
            }
            tensor = replacement
        })
        let unexpected = values.keys.filter { !seen.contains($0) }
        if !unexpected.isEmpty { problems.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
        if !problems.isEmpty {
            throw ModuleLoadingError("\(source): \(problems.joined(separator: "; "))")
        }
    }

    /// Switches every layer with a training mode (BatchNorm, Dropout) to training or evaluation.
    public mutating func setTraining(_ isTraining: Bool) {
        visit(ModuleVisitor(training: isTraining))
    }

    /// A copy in training or evaluation mode.
    public func training(_ isTraining: Bool) -> Self {
        var copy = self
        copy.setTraining(isTraining)
        return copy
    }
}
