import PlateauData
import PlateauNN
import PlateauTensor

extension ModelFactory {
    /// The model a run configuration names: ``make(_:sampleShape:classCount:norm:using:)``
    /// for a single-task run; for `tasks` ≥ 2, a ``/PlateauNN/MultiTaskLeNet`` with one head
    /// per task, `classCount` being the ``/PlateauData/TaskLabels`` encoding's C^T.
    ///
    /// - Throws: ``ConfigurationError`` naming the model when the samples do not fit it, or
    ///   `tasks` when `classCount` is no encoding of that many tasks.
    public static func make(
        for c: RunConfiguration, sampleShape: [Int], classCount: Int, using generator: inout some RandomNumberGenerator
    ) throws -> any Layer {
        var model = try unquantized(for: c, sampleShape: sampleShape, classCount: classCount, using: &generator)
        // LSQ quantizers (`--quantize`): their input step sizes wait for ``Trainer``'s calibration batch.
        if let spec = QuantizationSpec(parsing: c.quantize) { model.quantize(spec) }
        return model
    }

    private static func unquantized(
        for c: RunConfiguration, sampleShape: [Int], classCount: Int, using generator: inout some RandomNumberGenerator
    ) throws -> any Layer {
        guard c.tasks > 1 else { return try make(c.model, sampleShape: sampleShape, classCount: classCount, norm: c.normalizationKind, using: &generator) }
        let labels = try c.taskLabels(classCount: classCount)
        guard c.model == "lenet" else { throw ConfigurationError(field: "model", message: "multi-task runs train lenet's body with one head per task; expected lenet, got '\(c.model)'") }
        guard sampleShape.count == 3, sampleShape[1] == 28, sampleShape[2] == 28 else {
            throw ConfigurationError(field: "model", message: "lenet expects [C, 28, 28] images, the dataset has samples of shape \(sampleShape)")
        }
        return MultiTaskLeNet(inputChannels: sampleShape[0], tasks: c.tasks, classCount: labels.classesPerTask, norm: c.normalizationKind, using: &generator)
    }
}

extension RunConfiguration {
    /// How a dataset of `classCount` classes encodes this run's `tasks` tasks' labels; throws
    /// naming `tasks` when it is no such encoding (a single-task dataset, say).
    public func taskLabels(classCount: Int) throws -> TaskLabels {
        guard let labels = TaskLabels(tasks: tasks, classCount: classCount) else {
            throw ConfigurationError(field: "tasks", message: "--tasks \(tasks) needs labels encoding \(tasks) tasks (C^\(tasks) classes), the dataset has \(classCount) classes")
        }
        return labels
    }
}
