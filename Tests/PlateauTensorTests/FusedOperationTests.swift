import Testing
@testable import PlateauTensor

/// One row of the table: an instance of a fused operation.
struct FusedCase: Sendable, CustomTestStringConvertible {
    let operation: FusedOperation
    let instance: FusedInstance
    var testDescription: String { "\(operation.rawValue): \(instance.label)" }
}

/// Every fused operation against its composite definition, from the one table of
/// ``FusedOperation`` (see its documentation for why both paths exist):
///
/// 1. forward: the fused kernel's values match the definition's;
/// 2. first order: the fast backward kernel (an ordinary backward pass) matches the gradient
///    of the definition, and the differentiable backward (taken when the backward pass is
///    recorded) matches the fast one;
/// 3. second order: the Hessian-vector product through the recorded backward matches the
///    definition's, and central finite differences of the fast gradient along the same
///    direction.
///
/// The scalar is L = ⟨c, f⟩ + ½⟨f, f⟩ with a random c: the quadratic term makes the upstream
/// gradient depend on the arguments, so second order also checks how each backward depends
/// on the gradient it receives (which a piecewise-linear op like add-ReLU only shows there).
@Suite struct FusedOperationTests {
    static let table = FusedOperation.allCases.flatMap { op in op.instances.map { FusedCase(operation: op, instance: $0) } }

    @Test func everyOperationHasAnInstance() {
        for op in FusedOperation.allCases { #expect(!op.instances.isEmpty, "\(op) has no instance") }
    }

    @Test(arguments: table)
    func fastPathAgreesWithTheComposite(_ row: FusedCase) {
        // The lowering's fused convolution kernels (oneDNN's have OneDNNConvolutionTests);
        // both elementwise paths (Plateau's loops and oneDNN's kernels, for GELU).
        Backends.$convolutions.withValue(nil) {
            Backends.$elementwise.withValue(nil) { checkFastPath(row) }
            Backends.$elementwise.withValue(try! OneDNNElementwise()) { checkFastPath(row) }
        }
    }

    func checkFastPath(_ row: FusedCase) {
        let instance = row.instance
        let arguments = instance.arguments
        let wanted = arguments.indices.filter { instance.differentiable[$0] }
        func tracked(_ values: [Tensor]) -> [Tensor] {
            values.enumerated().map { instance.differentiable[$0.offset] ? $0.element.trackingGradients() : $0.element }
        }

        // 1. Forward, and the instance really records the operation's node.
        let fusedOutput = withGradients { instance.fused(tracked(arguments)) }
        #expect(fusedOutput.node?.name == row.operation.nodeName, "the instance records '\(fusedOutput.node?.name ?? "no node")'")
        let compositeOutput = instance.composite(arguments)
        expectClose(fusedOutput.detached, compositeOutput, relative: 1e-5, absolute: 1e-5 * magnitude(compositeOutput), "forward")

        var generator = SeededGenerator(seed: 0xF0_5E)
        let cotangent = Tensor.randomUniform(compositeOutput.shape, in: -1..<1, using: &generator)
        let direction = wanted.map { Tensor.randomUniform(arguments[$0].shape, in: -1..<1, using: &generator) }
        func loss(_ f: ([Tensor]) -> Tensor, _ values: [Tensor]) -> Tensor {
            let y = f(values)
            return (y * cotangent).sum() + (y * y).sum() * 0.5
        }
        /// ∇L at `values`, the backward pass recorded or not.
        func gradient(_ f: ([Tensor]) -> Tensor, at values: [Tensor], createGraph: Bool = false) -> [Tensor] {
            let leaves = tracked(values)
            let value = withGradients { loss(f, leaves) }
            return gradients(of: value, withRespectTo: wanted.map { leaves[$0] }, createGraph: createGraph)
        }
        /// H·direction, by differentiating the recorded backward pass.
        func hessianVectorProduct(_ f: ([Tensor]) -> Tensor) -> [Tensor] {
            let leaves = tracked(arguments)
            return withGradients {
                let first = gradients(of: loss(f, leaves), withRespectTo: wanted.map { leaves[$0] }, createGraph: true)
                var inner = Tensor(0)
                for (g, v) in zip(first, direction) { inner = inner + (g * v).sum() }
                return gradients(of: inner, withRespectTo: wanted.map { leaves[$0] })
            }
        }

        // 2. First order: fast backward vs the definition; differentiable backward vs fast.
        let fast = gradient(instance.fused, at: arguments)
        let definition = gradient(instance.composite, at: arguments)
        let recorded = gradient(instance.fused, at: arguments, createGraph: true).map(\.detached)
        for (k, index) in wanted.enumerated() {
            let scale = magnitude(definition[k])
            expectClose(fast[k], definition[k], relative: 1e-4, absolute: 1e-5 * scale, "fast gradient of argument \(index)")
            expectClose(recorded[k], fast[k], relative: 1e-4, absolute: 1e-5 * scale, "recorded gradient of argument \(index)")
        }

        // 3. Second order: through the recorded backward vs the definition's, and vs finite
        // differences of the fast gradient along the same direction.
        let fusedHVP = hessianVectorProduct(instance.fused)
        let definitionHVP = hessianVectorProduct(instance.composite)
        let step: Float = 1e-2
        func shifted(_ sign: Float) -> [Tensor] {
            var values = arguments
            for (k, index) in wanted.enumerated() { values[index] = arguments[index] + direction[k] * (sign * step) }
            return values
        }
        let plus = gradient(instance.fused, at: shifted(1)), minus = gradient(instance.fused, at: shifted(-1))
        for (k, index) in wanted.enumerated() {
            let scale = magnitude(definitionHVP[k])
            expectClose(fusedHVP[k], definitionHVP[k], relative: 1e-3, absolute: 1e-4 * scale, "Hessian-vector product, argument \(index)")
            let finiteDifference = (plus[k] - minus[k]) / (2 * step)
            expectClose(fusedHVP[k], finiteDifference, relative: 2e-2, absolute: 2e-3 * scale, "finite differences, argument \(index)")
        }
    }
}

/// The largest magnitude in `t`, at least 1: the scale of absolute tolerances.
private func magnitude(_ t: Tensor) -> Float {
    Swift.max(1, t.scalars.map { Swift.abs($0) }.max() ?? 0)
}
