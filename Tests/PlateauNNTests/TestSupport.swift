import Testing
import PlateauTensor
import PlateauNN

/// A layer together with its input as one module, so that one `valueWithGradient` call
/// yields ∂loss/∂input (under `"input"`) as well as every parameter gradient (under
/// `"layer.…"`).
struct WithInput<L: Layer>: Module {
    var layer: L
    var input: Tensor

    mutating func visit(_ visitor: ModuleVisitor) {
        visitor.parameter("input", &input)
        visitor.child("layer", &layer)
    }
}

/// A fixed random tensor with a fixed seed.
func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape, standardDeviation: scale, using: &g)
}

/// The result of comparing analytic with numerical gradients, one entry per tensor.
struct GradientMismatch: CustomStringConvertible {
    var key: String
    var index: Int
    var analytic: Double
    var numeric: Double
    var description: String { "\(key)[\(index)]: analytic \(analytic), finite difference \(numeric)" }
}

/// Compares the engine's gradient of L = Σ y ⊙ R (y = `layer(input)`, R a fixed random
/// projection, so every output element matters with a different weight) with central
/// finite differences, for every parameter element and, unless `includeInput` is false,
/// every input element.
///
/// Why these numbers: the forward pass is Float32, so a loss of size O(1–10) carries a
/// rounding error of ~1e-6; with a step h = 1e-2 the central difference (L(w+h) − L(w−h))/2h
/// has a rounding error of ~1e-4 and a truncation error h²·L‴/6 ~ 1e-5·L‴, while smaller
/// steps would trade truncation for rounding. The loss is summed in Double so that the
/// reduction adds no error of its own. A component passes when
/// |analytic − numeric| ≤ rtol·max(|analytic|, |numeric|) + atol, rtol = 2e-2, with the
/// absolute floor atol = 2e-3 for components that are themselves at the noise level.
/// Blocks with ReLUs after BatchNorm use h = 1e-3: batch statistics make every
/// pre-activation depend on every weight, so a step of 1e-2 pushes a few of them across the
/// kink (on the BasicBlock test the mismatch count goes 38 → 6 → 0 → 0 for h = 3e-2, 1e-2,
/// 3e-3, 1e-3, the signature of non-smoothness rather than of a wrong gradient).
func gradientMismatches<L: Layer>(
    _ layer: L, input: Tensor, includeInput: Bool = true, projectionSeed: UInt64 = 99,
    step: Float = 1e-2, relativeTolerance: Double = 2e-2, absoluteTolerance: Double = 2e-3
) -> (mismatches: [GradientMismatch], checked: Int) {
    let wrapped = WithInput(layer: layer, input: input)
    var probe = layer
    let outputShape = withoutGradients { probe(input).shape }
    let projection = random(outputShape, seed: projectionSeed)

    let analytic = valueWithGradient(at: wrapped) { (m: inout WithInput<L>) in
        (m.layer.callAsFunction(m.input) * projection).sum()
    }.gradient

    func loss(_ m: WithInput<L>) -> Double {
        var copy = m
        let output = withoutGradients { copy.layer.callAsFunction(copy.input) }
        var total: Double = 0
        for (y, r) in zip(output.scalars, projection.scalars) { total += Double(y) * Double(r) }
        return total
    }

    var mismatches: [GradientMismatch] = []
    var checked = 0
    for (key, value) in wrapped.parameters.entries where includeInput || key != "input" {
        let gradient = analytic[key]!
        precondition(gradient.shape == value.shape, "gradient of \(key) has shape \(gradient.shape), expected \(value.shape)")
        for i in 0..<value.count {
            var plus = value.scalars, minus = value.scalars
            plus[i] += step
            minus[i] -= step
            var up = wrapped, down = wrapped
            up.update(ParameterSet([(key, Tensor(shape: value.shape, scalars: plus))]))
            down.update(ParameterSet([(key, Tensor(shape: value.shape, scalars: minus))]))
            // The actual step after rounding to Float, so the quotient is exact.
            let h = Double(plus[i]) - Double(minus[i])
            let numeric = (loss(up) - loss(down)) / h
            let a = Double(gradient.scalars[i])
            checked += 1
            if abs(a - numeric) > relativeTolerance * max(abs(a), abs(numeric)) + absoluteTolerance {
                mismatches.append(GradientMismatch(key: key, index: i, analytic: a, numeric: numeric))
            }
        }
    }
    return (mismatches, checked)
}

/// Expects every gradient component of `layer` at `input` to match finite differences.
func expectGradientsMatch<L: Layer>(
    _ layer: L, input: Tensor, includeInput: Bool = true, minimumChecked: Int = 1, step: Float = 1e-2,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let (mismatches, checked) = gradientMismatches(layer, input: input, includeInput: includeInput, step: step)
    #expect(checked >= minimumChecked, "only \(checked) components checked", sourceLocation: sourceLocation)
    #expect(mismatches.isEmpty, "\(mismatches.count) of \(checked) gradient components differ: \(mismatches.prefix(5))",
            sourceLocation: sourceLocation)
}

/// Whether `a` and `b` agree elementwise within `tolerance` (absolute).
func close(_ a: [Float], _ b: [Double], tolerance: Double = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tolerance }
}

/// Mean and (biased) variance of `values`, in Double.
func moments(_ values: [Float]) -> (mean: Double, variance: Double) {
    let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
    let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)
    return (mean, variance)
}
