import PlateauNN
import PlateauTensor

/// The per-sample memory of past outputs that SAF regularizes against: for every training
/// sample, its logits from each of the last `lag` epochs (N × E × C values), filled from
/// the training forward pass at no extra cost.
///
/// Slot `epoch mod lag` of a sample holds the logits written at some epoch, with that
/// epoch kept as a tag. Reading "the logits of E epochs ago" returns them only if the tag
/// says exactly `epoch − lag`; otherwise the sample is reported unavailable and must be
/// masked — never compared against zeros, the reference code's failure mode when samples
/// are skipped or shuffled across workers. Reads for a batch happen before its write, so
/// E slots suffice.
///
/// With `halfPrecision`, values are stored as Float16, halving the bank.
///
/// Reference: Du et al. 2022, *Sharpness-Aware Training for Free*, arXiv:2205.14083 (Alg. 1).
public struct TrajectoryMemory: Sendable {
    /// N, the number of samples.
    public let sampleCount: Int
    /// C, the number of logits per sample.
    public let classCount: Int
    /// E, the number of epochs kept (and the lag of a read).
    public let lag: Int
    /// Whether the logits are stored as Float16.
    public let halfPrecision: Bool
    private var values: [Float]
    private var halfValues: [Float16]
    private var tags: [Int32]

    /// An empty bank of N × E × C logits, every slot untagged (unavailable).
    ///
    /// - Precondition: `sampleCount`, `classCount` and `lag` are positive.
    public init(sampleCount: Int, classCount: Int, lag: Int, halfPrecision: Bool = false) {
        precondition(sampleCount > 0 && classCount > 0, "TrajectoryMemory: needs samples and classes, got \(sampleCount) x \(classCount)")
        precondition(lag >= 1, "TrajectoryMemory: lag must be at least 1 epoch, got \(lag)")
        self.sampleCount = sampleCount
        self.classCount = classCount
        self.lag = lag
        self.halfPrecision = halfPrecision
        let count = sampleCount * lag * classCount
        values = halfPrecision ? [] : [Float](repeating: 0, count: count)
        halfValues = halfPrecision ? [Float16](repeating: 0, count: count) : []
        tags = [Int32](repeating: -1, count: sampleCount * lag)
    }

    /// Bytes held by the stored logits (tags excluded).
    public var byteCount: Int { sampleCount * lag * classCount * (halfPrecision ? 2 : 4) }

    /// The logits each sample produced `lag` epochs before `epoch`, as `[n, C]`, and which
    /// samples have them.
    public func pastLogits(for indices: [Int], epoch: Int) -> (logits: Tensor, available: [Bool]) {
        let slot = epoch % lag
        var out = [Float](repeating: 0, count: indices.count * classCount)
        var available = [Bool](repeating: false, count: indices.count)
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < sampleCount, "TrajectoryMemory: sample index \(index) out of range 0..<\(sampleCount)")
            // Before epoch `lag` nothing can be `lag` epochs old (and −1 is the empty tag).
            guard epoch >= lag, tags[index * lag + slot] == Int32(epoch - lag) else { continue }
            available[row] = true
            let base = (index * lag + slot) * classCount
            for c in 0..<classCount {
                out[row * classCount + c] = halfPrecision ? Float(halfValues[base + c]) : values[base + c]
            }
        }
        return (Tensor(shape: [indices.count, classCount], scalars: out), available)
    }

    /// Stores `logits` (`[n, C]`, detached) as the samples' outputs at `epoch`.
    public mutating func record(_ logits: Tensor, for indices: [Int], epoch: Int) {
        precondition(logits.shape == [indices.count, classCount], "TrajectoryMemory.record: expected logits [\(indices.count), \(classCount)], got \(logits.shape)")
        let slot = epoch % lag
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < sampleCount, "TrajectoryMemory: sample index \(index) out of range 0..<\(sampleCount)")
            tags[index * lag + slot] = Int32(epoch)
            let base = (index * lag + slot) * classCount
            for c in 0..<classCount {
                let v = logits.scalars[row * classCount + c]
                if halfPrecision { halfValues[base + c] = Float16(v) } else { values[base + c] = v }
            }
        }
    }

    /// The bank as named tensors for a checkpoint (values as Float32, tags as floats).
    public var state: ParameterSet {
        let stored = halfPrecision ? halfValues.map { Float($0) } : values
        return ParameterSet([
            ("values", Tensor(shape: [sampleCount, lag, classCount], scalars: stored)),
            ("tags", Tensor(shape: [sampleCount, lag], scalars: tags.map { Float($0) })),
        ])
    }

    /// Restores a bank saved by ``state``.
    public mutating func restore(_ state: ParameterSet) throws {
        guard let stored = state["values"], stored.shape == [sampleCount, lag, classCount] else {
            throw OptimizerStateError.shapeMismatch(key: "values", expected: [sampleCount, lag, classCount], actual: state["values"]?.shape ?? [])
        }
        guard let savedTags = state["tags"], savedTags.shape == [sampleCount, lag] else {
            throw OptimizerStateError.shapeMismatch(key: "tags", expected: [sampleCount, lag], actual: state["tags"]?.shape ?? [])
        }
        if halfPrecision { halfValues = stored.scalars.map { Float16($0) } } else { values = stored.scalars }
        tags = savedTags.scalars.map { Int32($0) }
    }
}
