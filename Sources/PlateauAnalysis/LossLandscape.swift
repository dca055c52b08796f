import PlateauNN
import PlateauTensor

/// Filter-normalized random directions for loss-landscape plots (Li, Xu, Taylor, Studer &
/// Goldstein 2018, *Visualizing the Loss Landscape of Neural Nets*, arXiv:1712.09913, §4;
/// `net_plotter.py` with `--xnorm filter --xignore biasbn`):
///
///     d ~ N(0, I) shaped like w;  for every tensor of rank > 1 and every filter i
///     (row i of the first axis: one output channel, or one neuron of a linear layer)
///     d_i ← d_i · ‖w_i‖ / (‖d_i‖ + 1e-10);   tensors of rank ≤ 1 (biases, norm scales) → 0
///
/// so that a step along d moves each filter by an amount proportional to its own scale,
/// making plots of scale-invariant networks comparable.
public enum FilterNormalization {
    /// A Gaussian direction, filter-normalized to `weights`.
    public static func randomDirection(like weights: ParameterSet, using generator: inout some RandomNumberGenerator) -> ParameterSet {
        normalized(weights.map { Tensor.randomNormal($0.shape, using: &generator) }, to: weights)
    }

    /// `direction` with each filter rescaled to the norm of the matching weight filter, and
    /// rank ≤ 1 entries zeroed (`ignore = 'biasbn'`).
    public static func normalized(_ direction: ParameterSet, to weights: ParameterSet) -> ParameterSet {
        direction.mapWithKeys { key, d in
            guard let w = weights[key] else { preconditionFailure("FilterNormalization: weights lack \(key)") }
            precondition(w.shape == d.shape, "FilterNormalization: \(key) has shapes \(w.shape) and \(d.shape)")
            if d.rank <= 1 { return Tensor.zeros(d.shape) }
            let weightNorms = w.rowSumsOfSquares(), directionNorms = d.rowSumsOfSquares()
            let factors = zip(weightNorms, directionNorms).map { wn, dn in Float(wn.squareRoot() / (dn.squareRoot() + 1e-10)) }
            return d.scalingRows(by: factors)
        }
    }
}

/// Loss along lines and planes through parameter space: L(w + αδ) and L(w + αδ + βη)
/// on grids (Li et al. 2018; Goodfellow, Vinyals & Saxe 2015 for the 1-D line). The
/// defaults of the reference code are 51 points on [−1, 1] per axis.
public enum LossLandscape {
    /// `count` evenly spaced values from `range.lowerBound` to `range.upperBound`.
    public static func grid(_ range: ClosedRange<Float>, count: Int) -> [Float] {
        precondition(count >= 1, "LossLandscape.grid: count must be positive")
        if count == 1 { return [range.lowerBound] }
        return (0..<count).map { range.lowerBound + (range.upperBound - range.lowerBound) * Float($0) / Float(count - 1) }
    }

    /// L(w + α δ) for each α, in order. `progress(done, total)` is called after each point.
    public static func line(
        of loss: LossFunction, direction: ParameterSet, alphas: [Float], progress: (Int, Int) -> Void = { _, _ in }
    ) -> [Float] {
        let w = loss.parameters
        return alphas.enumerated().map { i, alpha in
            let value = loss.value(at: w + direction.scaled(by: alpha))
            progress(i + 1, alphas.count)
            return value
        }
    }

    /// L(w + α δ + β η) with `values[j][i]` at (alphas[i], betas[j]).
    public static func plane(
        of loss: LossFunction, directions: (ParameterSet, ParameterSet), alphas: [Float], betas: [Float],
        progress: (Int, Int) -> Void = { _, _ in }
    ) -> [[Float]] {
        let w = loss.parameters
        let total = alphas.count * betas.count
        var done = 0
        return betas.map { beta in
            let shifted = w + directions.1.scaled(by: beta)
            return alphas.map { alpha in
                let value = loss.value(at: shifted + directions.0.scaled(by: alpha))
                done += 1
                progress(done, total)
                return value
            }
        }
    }
}

/// The straight line between two trained networks, θ(α) = (1 − α) θ_A + α θ_B — linear
/// mode connectivity (Frankle, Dziugaite, Roy & Carbin 2020, arXiv:1912.05671). The
/// interpolated network's BatchNorm statistics are not an interpolation of the endpoints';
/// they are re-estimated on training inputs (`reestimatingBatchNorm`), as in Frankle et al.
/// and `torch.optim.swa_utils.update_bn`.
public enum ModeConnectivity {
    /// θ(α): parameters interpolated, buffers interpolated too (re-estimate them after).
    public static func interpolated<Model: Module>(from a: Model, to b: Model, alpha: Float) -> Model {
        var result = a
        let pa = a.stateDictionary, pb = b.stateDictionary
        result.update(withoutGradients { pa.zip(pb) { x, y in x * (1 - alpha) + y * alpha } })
        return result
    }

    /// `model` with every BatchNorm's running mean and variance replaced by the average of
    /// the batch statistics over `inputs` (weighted by batch size — PyTorch's cumulative
    /// `momentum=None`), computed in training mode; parameters are unchanged.
    ///
    /// Works for any layer with buffers named `running_mean`/`running_var` updated as
    /// r ← (1 − m) r + m s: starting each batch from r = 0 gives m·s, and one more pass from
    /// r = 1 recovers m.
    public static func reestimatingBatchNorm<Model: Layer>(_ model: Model, on inputs: [Tensor]) -> Model {
        let keys = model.buffers.keys.filter { $0.hasSuffix("running_mean") || $0.hasSuffix("running_var") }
        guard !keys.isEmpty, !inputs.isEmpty else { return model }
        let base = model.training(true)
        func pass(_ input: Tensor, start: Float) -> ParameterSet {
            var m = base
            m.update(ParameterSet(keys.map { ($0, Tensor(repeating: start, shape: model.buffers[$0]!.shape)) }))
            withoutGradients { _ = m(input) }
            return m.buffers.filter { keys.contains($0) }
        }
        var sums: ParameterSet? = nil
        var count = 0
        for input in inputs {
            let n = input.shape[0]
            let r = pass(input, start: 0).scaled(by: Float(n))
            sums = sums.map { $0 + r } ?? r
            count += n
        }
        // m per buffer: from r = 1, r' = (1 − m) + m s, and from r = 0, r = m s.
        let fromZero = pass(inputs[0], start: 0), fromOne = pass(inputs[0], start: 1)
        let averaged = sums!.mapWithKeys { key, sum in
            let m = 1 - (fromOne[key]!.scalars[0] - fromZero[key]!.scalars[0])
            return withoutGradients { sum * (1 / (Float(count) * max(m, 1e-12))) }
        }
        var result = model
        result.update(averaged)
        return result
    }

    /// `evaluate(θ(α))` for each α, re-estimating BatchNorm statistics on `trainingInputs`
    /// first when given (and when the model has BatchNorm layers).
    public static func path<Model: Layer>(
        from a: Model, to b: Model, alphas: [Float], reestimatingOn trainingInputs: [Tensor]? = nil,
        evaluate: (Model) -> Float
    ) -> [Float] {
        alphas.map { alpha in
            var model = interpolated(from: a, to: b, alpha: alpha)
            if let trainingInputs { model = reestimatingBatchNorm(model, on: trainingInputs) }
            return evaluate(model)
        }
    }
}
