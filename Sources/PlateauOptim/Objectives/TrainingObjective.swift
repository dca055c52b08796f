import PlateauNN
import PlateauTensor

/// The batch of one optimizer step, as the terms of a ``TrainingObjective`` see it.
///
/// `indices` are the samples' positions in their dataset — the key for per-sample state
/// (SAF's stored outputs). `labels` may hold `-1` for unlabeled samples (test-time
/// adaptation), and `groups` tags each sample with a small integer that terms may use to
/// pick their samples (forget/retain sets in unlearning, domains in domain
/// generalization, tasks in multi-task learning); `nil` means one group.
public struct StepBatch: Sendable {
    /// The batch's inputs, `[n, …]`.
    public var inputs: Tensor
    /// One label per sample; `-1` for an unlabeled sample.
    public var labels: [Int]
    /// Each sample's position in its dataset, the key of per-sample state.
    public var indices: [Int]
    /// Each sample's group (forget/retain set, domain, task); `nil` means one group.
    public var groups: [Int]?
    /// The 0-based epoch (or round) of the step.
    public var epoch: Int

    /// A batch of `labels.count` samples at `epoch`.
    ///
    /// - Precondition: `inputs`' first dimension, `labels`, `indices` (and `groups`, if given) all
    ///   have one entry per sample.
    public init(inputs: Tensor, labels: [Int], indices: [Int], groups: [Int]? = nil, epoch: Int) {
        precondition(inputs.shape.first == labels.count && labels.count == indices.count, "StepBatch: sizes disagree")
        precondition(groups.map { $0.count == labels.count } ?? true, "StepBatch: one group per sample")
        self.inputs = inputs
        self.labels = labels
        self.indices = indices
        self.groups = groups
        self.epoch = epoch
    }

    /// The number of samples.
    public var count: Int { labels.count }
}

/// One evaluation of the objective: the model's outputs for some rows of the batch, at
/// the point (w or w + ε) the optimizer asked for.
public struct TermInput {
    /// The model's outputs for `rows`, `[r, C]`, with gradient history.
    public var outputs: Tensor
    /// Positions within the batch, in the order of `outputs`' rows (`nil`: the whole batch
    /// in order).
    public var rows: [Int]?
    /// The labels of those rows.
    public var labels: [Int]
    /// Where the weights are (a term may want to act at w only).
    public var point: LossRequest.Point
    /// The model as it stands in this evaluation, run on other inputs, returning its
    /// last layer's input features beside the outputs; `nil` unless the model is
    /// ``/PlateauNN/LinearHeaded``. For terms that need per-sample last-layer gradients in
    /// closed form (UDIM's inconsistency).
    public var featuresAndOutputs: ((Tensor) -> (features: Tensor, outputs: Tensor))?
    /// The model's parameters as this evaluation tracks them (gradients reach them), by
    /// path; `nil` when the caller does not offer them. For terms whose loss has learnable
    /// parameters of its own that live in the model, so that every optimizer and
    /// sharpness-aware rule treats them as weights (the segmentation loss's σ).
    public var parameters: (() -> ParameterSet)?

    /// An evaluation of `rows` (`nil`: the whole batch) at `point`, with those rows' `outputs` and `labels`.
    public init(
        outputs: Tensor, rows: [Int]?, labels: [Int], point: LossRequest.Point,
        featuresAndOutputs: ((Tensor) -> (features: Tensor, outputs: Tensor))? = nil
    ) {
        self.outputs = outputs
        self.rows = rows
        self.labels = labels
        self.point = point
        self.featuresAndOutputs = featuresAndOutputs
    }

    /// `values` (one per batch position) restricted to this evaluation's rows.
    public func selecting<T>(_ values: [T]) -> [T] {
        rows.map { $0.map { values[$0] } } ?? values
    }

    /// `tensor`'s rows (one per batch position) restricted to this evaluation's rows.
    public func selecting(_ tensor: Tensor) -> Tensor {
        rows.map { tensor.gathering($0, alongAxis: 0) } ?? tensor
    }
}

/// A term's per-sample loss for one step: given the outputs of the rows being evaluated,
/// returns one value per row (shape `[r]`). `forward` runs the model as it stands in this
/// evaluation on other inputs, with gradients flowing to the weights — for terms that
/// need a second forward pass (a penalty on input-perturbed copies, as UDIM's).
public typealias TermLoss = (_ input: TermInput, _ forward: (Tensor) -> Tensor) -> Tensor

/// One additive term of a training objective, with whatever state it keeps across steps.
///
/// The objective of a step is a per-sample sum of terms: Σ_k ℓ_k(x_i). A term takes part
/// in three moments of every step:
///
/// 1. ``loss(for:model:)``, once, before any pass: read what the step needs (SAF's stored
///    past outputs of the batch, MESA's teacher outputs) and return the per-sample loss
///    closure, or `nil` when the term is inactive this step. The closure must capture only
///    what it needs, not the term: a closure holding SAF's memory bank would make the bank
///    shared, and the write in step 3 would copy it.
/// 2. The closure, once per forward pass the optimizer makes (one for SGD, two for SAM, one
///    per micro-batch), on the rows of that pass.
/// 3. ``stepFinished(on:outputs:model:)``, once, after the update of a step whose loss was
///    finite, with the first pass's outputs for the whole batch and the updated model.
///
/// Terms never see the optimizer, and the optimizer never sees terms: any term works with
/// any base optimizer or sharpness-aware rule.
public protocol ObjectiveTerm: Sendable {
    /// The term's name: the prefix of its checkpoint tensors (`"saf"` → `saf.values`).
    var name: String { get }

    /// The per-sample loss of this step, or `nil` when the term is off for this step.
    mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss?

    /// Called after each successful step; the default does nothing.
    mutating func stepFinished<Model: Layer>(on batch: StepBatch, outputs: Tensor, model: Model)

    /// A value measured on the batch at the current weights, without gradients, before the
    /// step's first pass, that the method's sharpness-aware rule reads as
    /// `StepContext.measurement` (TRAM's radius); `nil` (the default) for none.
    mutating func measurement<Model: Layer>(for batch: StepBatch, model: Model) -> Float?

    /// Tensors to save in a checkpoint (unprefixed); empty by default.
    var checkpointState: ParameterSet { get }

    /// Restores what ``checkpointState`` saved; `source` names the file for errors.
    mutating func restore(checkpointState: ParameterSet, source: String) throws

    /// Bytes of memory the term keeps across steps (reported in run summaries).
    var memoryByteCount: Int { get }
}

extension ObjectiveTerm {
    /// Does nothing.
    public mutating func stepFinished<Model: Layer>(on batch: StepBatch, outputs: Tensor, model: Model) {}
    public mutating func measurement<Model: Layer>(for batch: StepBatch, model: Model) -> Float? { nil }
    /// Empty: a stateless term.
    public var checkpointState: ParameterSet { ParameterSet() }
    /// Accepts only an empty state; throws ``OptimizerStateError/unexpectedKey(_:)`` (as `"<name>.<key>"`) otherwise.
    public mutating func restore(checkpointState: ParameterSet, source: String) throws {
        if let key = checkpointState.keys.first {
            throw OptimizerStateError.unexpectedKey("\(name).\(key)")
        }
    }
    /// 0: a stateless term keeps nothing.
    public var memoryByteCount: Int { 0 }
}

/// A training objective: the per-sample sum of its terms, in order.
///
/// The first term is usually the data loss (``CrossEntropyTerm``); regularizers follow
/// (``SAF``'s trajectory loss, ``MESA``'s EMA-teacher loss). The step engine only loops over
/// terms and knows none of them by name.
public struct TrainingObjective: Sendable {
    /// The terms, summed in this order; the first is usually the data loss.
    public var terms: [any ObjectiveTerm]

    /// The objective Σ_k ℓ_k over `terms`, in order.
    public init(_ terms: [any ObjectiveTerm]) {
        self.terms = terms
    }

    /// The step's per-sample loss of the active terms, summed in term order; `nil` when no
    /// term is active.
    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        guard let terms = termLosses(for: batch, model: model) else { return nil }
        return { input, forward in terms(input, forward).total }
    }

    /// The step's per-sample losses term by term (name and values, in term order) and their
    /// sum — the same sum as ``loss(for:model:)``, for callers that log each term.
    public mutating func termLosses<Model: Layer>(
        for batch: StepBatch, model: Model
    ) -> ((TermInput, (Tensor) -> Tensor) -> (total: Tensor, terms: [(name: String, values: Tensor)]))? {
        var active: [(String, TermLoss)] = []
        for index in terms.indices {
            if let loss = terms[index].loss(for: batch, model: model) { active.append((terms[index].name, loss)) }
        }
        guard !active.isEmpty else { return nil }
        return { input, forward in
            var values: [(name: String, values: Tensor)] = []
            var total: Tensor? = nil
            for (name, term) in active {
                let value = term(input, forward)
                values.append((name, value))
                total = total.map { $0 + value } ?? value
            }
            return (total!, values)
        }
    }

    /// Lets every term update its state after a successful step.
    public mutating func stepFinished<Model: Layer>(on batch: StepBatch, outputs: Tensor, model: Model) {
        for index in terms.indices { terms[index].stepFinished(on: batch, outputs: outputs, model: model) }
    }

    /// The first term's measurement on `batch` at `model` (see
    /// ``ObjectiveTerm/measurement(for:model:)``), `nil` when no term measures.
    public mutating func measurement<Model: Layer>(for batch: StepBatch, model: Model) -> Float? {
        for index in terms.indices {
            if let value = terms[index].measurement(for: batch, model: model) { return value }
        }
        return nil
    }

    /// Every term's checkpoint tensors, under `"<term name>."`.
    public var checkpointState: ParameterSet {
        var state = ParameterSet()
        for term in terms {
            for (key, value) in term.checkpointState.entries { state[term.name + "." + key] = value }
        }
        return state
    }

    /// Restores each term from the tensors under its prefix.
    public mutating func restore(checkpointState state: ParameterSet, source: String) throws {
        for index in terms.indices {
            let prefix = terms[index].name + "."
            let own = ParameterSet(state.entries.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
            try terms[index].restore(checkpointState: own, source: source)
        }
    }

    /// Bytes kept across steps by all terms.
    public var memoryByteCount: Int { terms.reduce(0) { $0 + $1.memoryByteCount } }

    /// The term named `name`, if any.
    public func term(named name: String) -> (any ObjectiveTerm)? { terms.first { $0.name == name } }
}

/// The data loss: cross-entropy between the outputs (logits) and the labels, with optional
/// label smoothing (Szegedy et al. 2016): ℓᵢ = −Σ_c q_c log softmax(zᵢ)_c with
/// q = (1 − s)·onehot(yᵢ) + s/C.
///
/// Reference: Szegedy, Vanhoucke, Ioffe, Shlens & Wojna 2016, *Rethinking the Inception
/// Architecture for Computer Vision* (label smoothing, §7), arXiv:1512.00567.
public struct CrossEntropyTerm: ObjectiveTerm {
    /// s ∈ [0, 1), the label-smoothing mass spread uniformly over the C classes; default 0 (plain cross-entropy).
    public var labelSmoothing: Float

    /// Cross-entropy with label smoothing s (default 0: none).
    ///
    /// - Precondition: `labelSmoothing` in [0, 1).
    public init(labelSmoothing: Float = 0) {
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "CrossEntropyTerm: label smoothing must be in [0, 1), got \(labelSmoothing)")
        self.labelSmoothing = labelSmoothing
    }

    public var name: String { "cross_entropy" }

    /// Always active: ℓᵢ = −Σ_c q_c log softmax(zᵢ)_c on the evaluated rows.
    public mutating func loss<Model: Layer>(for batch: StepBatch, model: Model) -> TermLoss? {
        let smoothing = labelSmoothing
        return { input, _ in crossEntropy(logits: input.outputs, labels: input.labels, labelSmoothing: smoothing, reduction: .none) }
    }
}
