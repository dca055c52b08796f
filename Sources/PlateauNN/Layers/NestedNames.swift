import PlateauTensor

extension ModuleVisitor {
    /// Visits `module` under a multi-component path, e.g. `["maxpool_conv", "1"]`, so a layer
    /// can mirror the wrapper modules of a PyTorch implementation (an `nn.Sequential` around
    /// one layer, an `OrderedDict` of named layers) without holding the wrappers itself.
    ///
    /// `child(path: ["a"], &m)` is `child("a", &m)`.
    public func child<M: Module>(path: [String], _ module: inout M) {
        precondition(!path.isEmpty, "ModuleVisitor.child(path:): the path must not be empty")
        if path.count == 1 {
            child(path[0], &module)
            return
        }
        var nested = NestedModule(rest: Array(path.dropFirst()), module: module)
        child(path[0], &nested)
        module = nested.module
    }
}

/// A module seen one or more levels deeper; see ``ModuleVisitor/child(path:_:)``.
private struct NestedModule<M: Module>: Module {
    let rest: [String]
    var module: M

    mutating func visit(_ visitor: ModuleVisitor) { visitor.child(path: rest, &module) }
}
