import PlateauData
import PlateauNN
import PlateauTensor

/// How BatchNorm (and Dropout) layers behave while sharpness is measured.
///
/// PyHessian puts the model in `.eval()`: BatchNorm normalizes with its running statistics,
/// so the loss is a fixed function of the weights and the same batch gives the same number
/// twice. `.training` normalizes with each batch's own statistics instead (the loss the
/// optimizer saw); the running statistics a pass would update are discarded either way.
public enum BatchNormMode: String, Sendable, CaseIterable {
    case evaluation
    case training
}

/// A fixed empirical loss as a function of a set of parameters: the object every sharpness
/// measure in this module differentiates.
///
///     L(w) = Σ_b (n_b / N) · ℓ_b(w),    ∇L = Σ_b (n_b/N) ∇ℓ_b,    H v = Σ_b (n_b/N) H_b v
///
/// Each *piece* `ℓ_b` is the mean loss over one fixed batch of `n_b` samples; a loss over a
/// whole dataset is the average of its batches weighted by batch size, which is how
/// PyHessian averages Hessian-vector products over a dataloader (Yao et al. 2020,
/// *PyHessian: Neural Networks Through the Lens of the Hessian*, arXiv:1912.07145).
/// One batch is the special case of one piece.
///
/// ``parameters`` is the point w and fixes which tensors are differentiated: a loss
/// ``restricted(to:)`` a parameter subset (one layer, one block) has the Hessian block
/// H_SS of that subset, with all other parameters held constant.
///
/// ```swift
/// let loss = LossFunction.crossEntropy(model, batches: Batches(dataset: train, batchSize: 500, shuffle: false))
/// let lambda = HessianEigenvalues.top(1, of: loss, using: &generator)[0].value
/// ```
public struct LossFunction {
    /// One term ℓ_b with its weight n_b/N.
    public struct Piece {
        /// The weight of this piece in the average (weights sum to 1).
        public var weight: Double
        /// The number of samples behind this piece (1 for an analytic function).
        public var sampleCount: Int
        /// ℓ_b as a function of the full parameter set (same keys as ``LossFunction/parameters``).
        public var evaluate: (ParameterSet) -> Tensor

        public init(weight: Double, sampleCount: Int = 1, evaluate: @escaping (ParameterSet) -> Tensor) {
            self.weight = weight
            self.sampleCount = sampleCount
            self.evaluate = evaluate
        }
    }

    /// The point w at which values and derivatives are taken; its keys are the
    /// differentiated parameters.
    public var parameters: ParameterSet
    /// The weighted terms of the average.
    public private(set) var pieces: [Piece]
    /// How many bytes of recorded passes a ``HessianOperator`` of this loss may keep
    /// (``HessianOperator/defaultMemoryBudget`` unless set): the estimators that take many
    /// Hessian-vector products build theirs with it.
    public var hessianMemoryBudget = HessianOperator.defaultMemoryBudget

    /// A loss made of weighted pieces; the weights are normalized to sum to 1.
    public init(at parameters: ParameterSet, pieces: [Piece]) {
        precondition(!pieces.isEmpty, "LossFunction: at least one piece is needed")
        let total = pieces.reduce(0) { $0 + $1.weight }
        precondition(total > 0, "LossFunction: piece weights must sum to a positive number")
        self.parameters = parameters
        self.pieces = pieces.map { Piece(weight: $0.weight / total, sampleCount: $0.sampleCount, evaluate: $0.evaluate) }
    }

    /// A loss given directly as a function of the parameters (an analytic test function).
    public init(at parameters: ParameterSet, _ loss: @escaping (ParameterSet) -> Tensor) {
        self.init(at: parameters, pieces: [Piece(weight: 1, evaluate: loss)])
    }

    /// The loss `loss(model)` as a function of the model's parameters, with the model's
    /// buffers held fixed (BatchNorm updates made by a pass are discarded).
    public init<Model: Module>(model: Model, loss: @escaping (inout Model) -> Tensor) {
        self.init(at: model.parameters) { w in
            var copy = model
            copy.update(w)
            return loss(&copy)
        }
    }

    /// The mean cross-entropy of `model` over fixed batches, each weighted by its size.
    ///
    /// - Parameters:
    ///   - mode: BatchNorm/Dropout behaviour during the measurement (evaluation by default,
    ///     as PyHessian).
    public static func crossEntropy<Model: Layer>(
        _ model: Model, batches: some Sequence<Batch>, mode: BatchNormMode = .evaluation
    ) -> LossFunction {
        let configured = model.training(mode == .training)
        let pieces = batches.map { batch in
            Piece(weight: Double(batch.count), sampleCount: batch.count) { w in
                var copy = configured
                copy.update(w)
                return PlateauNN.crossEntropy(logits: copy(batch.images), labels: batch.labels)
            }
        }
        return LossFunction(at: model.parameters, pieces: pieces)
    }

    /// The mean cross-entropy over `dataset` in order, in batches of `batchSize`.
    public static func crossEntropy<Model: Layer>(
        _ model: Model, on dataset: Dataset, batchSize: Int = 1000, mode: BatchNormMode = .evaluation
    ) -> LossFunction {
        crossEntropy(model, batches: Batches(dataset: dataset, batchSize: batchSize, shuffle: false), mode: mode)
    }

    /// The total number of samples behind the pieces.
    public var sampleCount: Int { pieces.reduce(0) { $0 + $1.sampleCount } }

    /// The same function, evaluated at another point (same keys).
    public func at(_ point: ParameterSet) -> LossFunction {
        precondition(Set(point.keys) == Set(parameters.keys), "LossFunction.at: keys differ from the loss's parameters")
        var copy = self
        copy.parameters = point
        return copy
    }

    /// The same function of a parameter subset only; the other parameters stay at their
    /// current values as constants. Its Hessian is the diagonal block H_SS.
    public func restricted(to isIncluded: (String) -> Bool) -> LossFunction {
        let full = parameters
        let subset = parameters.filter(isIncluded)
        precondition(!subset.isEmpty, "LossFunction.restricted: no parameter matches")
        var copy = self
        copy.parameters = subset
        copy.pieces = pieces.map { piece in
            Piece(weight: piece.weight, sampleCount: piece.sampleCount) { w in
                var merged = full
                for (key, value) in w.entries { merged[key] = value }
                return piece.evaluate(merged)
            }
        }
        return copy
    }

    /// Each piece on its own as a loss (m-sharpness averages a measure over these).
    public var separatePieces: [(weight: Double, loss: LossFunction)] {
        pieces.map { piece in
            (piece.weight, LossFunction(at: parameters, pieces: [Piece(weight: 1, sampleCount: piece.sampleCount, evaluate: piece.evaluate)]))
        }
    }

    /// L(w) at ``parameters``.
    public func value() -> Float { value(at: parameters) }

    /// L at another point with the same keys, without recording gradients.
    public func value(at point: ParameterSet) -> Float {
        withoutGradients {
            var total: Double = 0
            for piece in pieces { total += piece.weight * Double(piece.evaluate(point).sum().item) }
            return Float(total)
        }
    }

    /// L and ∇L at ``parameters``.
    public func valueWithGradient() -> (value: Float, gradient: ParameterSet) { valueWithGradient(at: parameters) }

    /// L and ∇L at `point`.
    public func valueWithGradient(at point: ParameterSet) -> (value: Float, gradient: ParameterSet) {
        let keys = point.keys
        var total: Double = 0
        var gradient: [Tensor]? = nil
        for piece in pieces {
            let (value, grads) = PlateauTensor.valueWithGradient(at: point.values, of: function(of: piece, keys: keys))
            total += piece.weight * Double(value.item)
            gradient = accumulate(gradient, grads, weight: piece.weight)
        }
        return (Float(total), ParameterSet(Array(zip(keys, gradient!))))
    }

    /// The exact Hessian-vector product H v = ∇²L(w)·v at ``parameters`` (double backward,
    /// about 2.1–2.2 gradient evaluations per piece on an MLP). For many products at one point
    /// build a ``HessianOperator`` once: it gives the same numbers (up to rounding) at about
    /// 1.5 gradients each.
    public func hessianVectorProduct(along direction: ParameterSet) -> ParameterSet {
        HessianOperator(self, memoryBudget: 0).product(along: direction)
    }

    /// A piece's ℓ_b as a function of the parameter tensors, given in the order of `keys`.
    func function(of piece: Piece, keys: [String]) -> ([Tensor]) -> Tensor {
        { leaves in piece.evaluate(ParameterSet(Array(zip(keys, leaves)))).sum() }
    }

    func accumulate(_ sum: [Tensor]?, _ terms: [Tensor], weight: Double) -> [Tensor] {
        withoutGradients {
            let scaled = weight == 1 ? terms : terms.map { $0 * Float(weight) }
            guard let sum else { return scaled }
            return zip(sum, scaled).map { $0 + $1 }
        }
    }
}
