import Foundation
import Testing
@testable import PlateauTensor

// MARK: - Test data

/// Deterministic inputs for tests. Every helper takes an explicit seed so that a failing
/// case can be reproduced exactly.
enum TestData {
    /// Uniform values in `range`.
    static func uniform(_ shape: [Int], in range: Range<Float> = -1..<1, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.randomUniform(shape, in: range, using: &g)
    }

    /// Pairwise distinct values at least `spacing` apart (a shuffled arithmetic sequence
    /// centred on 0): no ties for max/min/maxPool, so finite differences with a step
    /// below `spacing / 2` never cross a kink.
    static func distinct(_ shape: [Int], spacing: Float = 0.1, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let n = shape.reduce(1, *)
        let values = (0..<n).map { (Float($0) - Float(n - 1) / 2) * spacing }.shuffled(using: &g)
        return Tensor(shape: shape, scalars: values)
    }

    /// Values with `margin <= |x| < 1.5`, random sign: safe for relu, abs, leakyRelu
    /// (kink at 0) with finite-difference steps below `margin`.
    static func awayFromZero(_ shape: [Int], margin: Float = 0.2, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let n = shape.reduce(1, *)
        let values = (0..<n).map { _ -> Float in
            let magnitude = Float.random(in: margin..<1.5, using: &g)
            return Bool.random(using: &g) ? magnitude : -magnitude
        }
        return Tensor(shape: shape, scalars: values)
    }
}

// MARK: - Comparison

/// Expects `actual` to match `expected` in shape and, elementwise, within
/// `absolute + relative * |expected|`.
func expectClose(
    _ actual: Tensor, _ expected: Tensor, relative: Float = 1e-5, absolute: Float = 1e-5,
    _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, "shape \(actual.shape) != expected \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    var worst: (index: Int, a: Float, e: Float)?
    var worstExcess: Float = 0
    for (i, (a, e)) in zip(actual.scalars, expected.scalars).enumerated() {
        let excess = Swift.abs(a - e) - (absolute + relative * Swift.abs(e))
        if !(excess <= 0), worst == nil || excess > worstExcess || excess.isNaN {
            worst = (i, a, e)
            worstExcess = excess
        }
    }
    #expect(worst == nil, "\(comment.map { "\($0): " } ?? "")element \(worst?.index ?? -1): got \(worst?.a ?? 0), expected \(worst?.e ?? 0) (shape \(expected.shape))", sourceLocation: sourceLocation)
}

// MARK: - Gradient checking

/// Compares reverse-mode gradients with central finite differences.
///
/// The function may return a tensor of any shape. It is reduced to a scalar by a fixed
/// random projection `L(x) = Σ_j c_j f(x)_j` with cotangent entries `|c_j| ∈ [0.5, 1.5)` of
/// random sign. A random projection, unlike a plain sum, exposes pullbacks that permute or
/// transpose the incoming gradient. The autodiff side is `gradients(of: f(x), seed: c)`,
/// which also exercises the `seed` argument.
///
/// Float32 choices:
/// - Step `h = 1e-2` by default. Central differences have truncation error
///   `h²/6·|f'''| ≈ 2e-5·|f'''|`; the rounding error of one Float32 evaluation
///   (relative ~6e-8, times a few dozen accumulated terms) divided by `2h` stays
///   around 1e-5·|L|. `h = 1e-2` balances the two for inputs of magnitude ~1.
/// - The perturbed inputs are rounded to Float32, so the actual step is measured as
///   `Double(x + h) - Double(x - h)` rather than assumed to be `2h`.
/// - `L` is accumulated in Double from the Float32 outputs, so the projection itself adds
///   no rounding.
/// - Agreement means `|ad - fd| <= atol + rtol·max(|ad|, |fd|)` with `rtol = 1e-2` and
///   `atol = 1e-3` (gradient entries in these tests are O(0.1..10)). A wrong derivative
///   rule is typically off by O(1), i.e. orders of magnitude outside this band.
/// - Inputs must stay more than `h` away from kinks (relu/abs at 0, ties in max/min/pool);
///   see ``TestData/distinct(_:spacing:seed:)`` and ``TestData/awayFromZero(_:margin:seed:)``.
struct GradientChecker {
    var step: Float = 1e-2
    var relativeTolerance: Double = 1e-2
    var absoluteTolerance: Double = 1e-3
    var cotangentSeed: UInt64 = 0xC0_7A_46

    /// Human-readable descriptions of every disagreement (empty when all agree).
    func mismatches(at inputs: [Tensor], _ f: ([Tensor]) -> Tensor) -> [String] {
        let tracked = inputs.map { $0.trackingGradients() }
        let output = withGradients { f(tracked) }
        var g = SeededGenerator(seed: cotangentSeed)
        let cotangent = Tensor(shape: output.shape, scalars: (0..<output.count).map { _ in
            Float.random(in: 0.5..<1.5, using: &g) * (Bool.random(using: &g) ? 1 : -1)
        })
        let analytic = gradients(of: output, withRespectTo: tracked, seed: cotangent)

        func projected(_ arguments: [Tensor]) -> Double {
            let y = f(arguments)
            precondition(y.shape == cotangent.shape, "gradient check: output shape changed to \(y.shape)")
            var total: Double = 0
            for (v, c) in zip(y.scalars, cotangent.scalars) { total += Double(v) * Double(c) }
            return total
        }

        var problems: [String] = []
        for (k, input) in inputs.enumerated() {
            guard analytic[k].shape == input.shape else {
                problems.append("input \(k): gradient shape \(analytic[k].shape) differs from input shape \(input.shape)")
                continue
            }
            for i in 0..<input.count {
                var plus = input.scalars, minus = input.scalars
                plus[i] += step
                minus[i] -= step
                var argsPlus = inputs, argsMinus = inputs
                argsPlus[k] = Tensor(shape: input.shape, scalars: plus)
                argsMinus[k] = Tensor(shape: input.shape, scalars: minus)
                let numeric = (projected(argsPlus) - projected(argsMinus)) / (Double(plus[i]) - Double(minus[i]))
                let automatic = Double(analytic[k].scalars[i])
                let bound = absoluteTolerance + relativeTolerance * Swift.max(Swift.abs(numeric), Swift.abs(automatic))
                if !(Swift.abs(numeric - automatic) <= bound) {
                    problems.append("input \(k) \(input.shape) element \(i): autodiff \(automatic), finite difference \(numeric)")
                }
            }
        }
        return problems
    }
}

/// Expects autodiff gradients of `f` at `inputs` to match central finite differences.
func checkGradients(
    at inputs: [Tensor], checker: GradientChecker = GradientChecker(),
    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor
) {
    let problems = checker.mismatches(at: inputs, f)
    #expect(problems.isEmpty, "\(problems.count) gradient mismatches:\n\(problems.prefix(8).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}

/// Expects the *backward pass* of `f` to be correctly differentiable: the gradient map
/// `x ↦ ∇_x ⟨c, f(x)⟩` (recorded with `createGraph: true`) is itself gradient-checked.
/// This is what Hessian-vector products rely on.
func checkSecondOrderGradients(
    at inputs: [Tensor], checker: GradientChecker = GradientChecker(),
    sourceLocation: SourceLocation = #_sourceLocation, _ f: @escaping ([Tensor]) -> Tensor
) {
    // A fixed first-order cotangent so that the gradient map is a deterministic function.
    let probe = withoutGradients { f(inputs) }
    var g = SeededGenerator(seed: 0x5EC0)
    let c = Tensor(shape: probe.shape, scalars: (0..<probe.count).map { _ in Float.random(in: -1..<1, using: &g) })
    checkGradients(at: inputs, checker: checker, sourceLocation: sourceLocation) { xs in
        // Constant arguments (finite-difference evaluations) become fresh leaves; tracked
        // ones (the outer autodiff pass) are used as they are so the outer graph connects.
        let args = xs.map { $0.isTracked ? $0 : $0.trackingGradients() }
        let y = withGradients { f(args) }
        let grads = gradients(of: y, withRespectTo: args, seed: c, createGraph: true)
        return Tensor.concatenating(grads.map { $0.reshaped(to: [-1]) }, alongAxis: 0)
    }
}

// MARK: - Naive references (written independently of the library's kernels)

/// Reads element `index` of a row-major tensor.
func element(_ t: Tensor, _ index: [Int]) -> Float {
    var flat = 0
    for (i, extent) in zip(index, t.shape) { flat = flat * extent + i }
    return t.scalars[flat]
}

/// Direct-loop 2-D cross-correlation (PyTorch `conv2d` semantics), accumulated in Double.
func naiveConv2d(
    _ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oc, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    precondition(cg * groups == c)
    let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    let ocg = oc / groups
    var out = [Float]()
    for b in 0..<n {
        for o in 0..<oc {
            let group = o / ocg
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var s = Double(bias?.scalars[o] ?? 0)
                    for ci in 0..<cg {
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let iy = oy * stride.0 - padding.0 + ki * dilation.0
                                let ix = ox * stride.1 - padding.1 + kj * dilation.1
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                s += Double(element(x, [b, group * cg + ci, iy, ix])) * Double(element(w, [o, ci, ki, kj]))
                            }
                        }
                    }
                    out.append(Float(s))
                }
            }
        }
    }
    return Tensor(shape: [n, oc, oh, ow], scalars: out)
}

/// Transposed convolution by its definition: every input pixel scatters `x · kernel` into
/// the output at `iy·stride − padding + ki·dilation` (PyTorch `conv_transpose2d`).
func naiveTransposedConv2d(
    _ x: Tensor, _ w: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    let (n, ic, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (ocg, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
    let oc = ocg * groups, icg = ic / groups
    let outH = (h - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
    let outW = (wd - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
    var out = [Double](repeating: 0, count: n * oc * outH * outW)
    for b in 0..<n {
        for ci in 0..<ic {
            let group = ci / icg
            for iy in 0..<h {
                for ix in 0..<wd {
                    let v = Double(element(x, [b, ci, iy, ix]))
                    for o in 0..<ocg {
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let oy = iy * stride.0 - padding.0 + ki * dilation.0
                                let ox = ix * stride.1 - padding.1 + kj * dilation.1
                                guard oy >= 0, oy < outH, ox >= 0, ox < outW else { continue }
                                let channel = group * ocg + o
                                out[((b * oc + channel) * outH + oy) * outW + ox] += v * Double(element(w, [ci, o, ki, kj]))
                            }
                        }
                    }
                }
            }
        }
    }
    if let bias {
        for i in out.indices { out[i] += Double(bias.scalars[(i / (outH * outW)) % oc]) }
    }
    return Tensor(shape: [n, oc, outH, outW], scalars: out.map { Float($0) })
}

/// Direct-loop pooling; `reduce` sees the in-bounds window values and the window size
/// (padding positions excluded from the values but counted in the size).
func naivePool2d(
    _ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
    _ reduce: (_ values: [Float], _ windowSize: Int) -> Float
) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = (h + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
    let ow = (w + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
    var out = [Float]()
    for b in 0..<n {
        for ch in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var values: [Float] = []
                    for ki in 0..<kernel.0 {
                        for kj in 0..<kernel.1 {
                            let iy = oy * stride.0 - padding.0 + ki * dilation.0
                            let ix = ox * stride.1 - padding.1 + kj * dilation.1
                            if iy >= 0, iy < h, ix >= 0, ix < w { values.append(element(x, [b, ch, iy, ix])) }
                        }
                    }
                    out.append(reduce(values, kernel.0 * kernel.1))
                }
            }
        }
    }
    return Tensor(shape: [n, c, oh, ow], scalars: out)
}

/// Naive batched matrix product with numpy broadcasting of the batch axes, in Double.
func naiveMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let ra = a.rank, rb = b.rank
    let m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2]
    let k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1]
    let n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1]
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    let rank = Swift.max(batchA.count, batchB.count)
    let pa = [Int](repeating: 1, count: rank - batchA.count) + batchA
    let pb = [Int](repeating: 1, count: rank - batchB.count) + batchB
    let batch = zip(pa, pb).map { Swift.max($0, $1) }
    var out = [Float]()
    let total = batch.reduce(1, *)
    for flat in 0..<total {
        var index = [Int](repeating: 0, count: rank), rest = flat
        for d in stride(from: rank - 1, through: 0, by: -1) { index[d] = rest % batch[d]; rest /= batch[d] }
        let ia = Array(zip(index, pa).map { $1 == 1 ? 0 : $0 }.suffix(batchA.count))
        let ib = Array(zip(index, pb).map { $1 == 1 ? 0 : $0 }.suffix(batchB.count))
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k {
                    let x = element(a, ia + (transposeA ? [p, i] : [i, p]))
                    let y = element(b, ib + (transposeB ? [j, p] : [p, j]))
                    s += Double(x) * Double(y)
                }
                out.append(Float(s))
            }
        }
    }
    return Tensor(shape: batch + [m, n], scalars: out)
}
