import Foundation

/// One line of training progress — epoch k of N, step s of S, running loss and accuracy,
/// throughput, the run's elapsed time and the estimated time left — rendered to fit a width.
///
/// Pure: the console observers feed it and print what it returns, so its layout is tested
/// without a terminal. On a terminal the line has a bar that shrinks to fit; fields are
/// dropped least important first (elapsed, samples/s, step count, accuracy, loss, label)
/// when the width is too small even for the smallest bar, and the result never exceeds the width.
public struct ProgressLine: Sendable, Equatable {
    /// Text before everything else, e.g. "sam 2/3" for the second of three methods (may be empty).
    public var label: String
    /// 1-based epoch and the run's number of epochs.
    public var epoch: Int
    public var epochs: Int
    /// Steps done in this epoch and steps per epoch.
    public var step: Int
    public var steps: Int
    public var loss: Float
    public var accuracy: Float
    public var samplesPerSecond: Double
    /// Seconds since the run started.
    public var elapsed: Double
    /// Estimated seconds until the whole run ends (nil until it can be estimated).
    public var remaining: Double?

    public init(label: String = "", epoch: Int, epochs: Int, step: Int, steps: Int, loss: Float, accuracy: Float,
                samplesPerSecond: Double, elapsed: Double, remaining: Double?) {
        self.label = label
        self.epoch = epoch
        self.epochs = epochs
        self.step = step
        self.steps = steps
        self.loss = loss
        self.accuracy = accuracy
        self.samplesPerSecond = samplesPerSecond
        self.elapsed = elapsed
        self.remaining = remaining
    }

    /// The narrowest and widest bar interior; below the narrowest a bar says nothing.
    static let barWidths = 10...40

    /// The line for a terminal `width` columns wide: a bar `[=====>    ]` in the room left,
    /// fields dropped when even the narrowest bar does not fit; never more than `width` characters.
    public func rendered(width: Int) -> String {
        guard width > 0 else { return "" }
        let all = fields
        // Drop fields least important first until the rest fit beside a bar, then without one.
        for withBar in [true, false] {
            var kept = all
            while true {
                let text = kept.map(\.text)
                let length = text.reduce(0) { $0 + $1.count } + max(0, text.count - 1)
                if withBar {
                    let room = width - length - 1 - 2  // a space and the brackets
                    if room >= Self.barWidths.lowerBound {
                        return assemble(kept, bar: bar(interior: min(room, Self.barWidths.upperBound)))
                    }
                } else if length <= width {
                    return assemble(kept, bar: nil)
                }
                guard let drop = kept.indices.filter({ kept[$0].priority > 0 }).max(by: { kept[$0].priority < kept[$1].priority }) else { break }
                kept.remove(at: drop)
            }
        }
        return String(assemble(all.filter { $0.priority == 0 }, bar: nil).prefix(width))
    }

    /// The line for a log file or pipe: every field, no bar.
    public var plain: String { assemble(fields, bar: nil) }

    /// `h:mm:ss` from an hour on, `m:ss` below; `--:--` when unknown.
    public static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "--:--" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    /// A loss readable at any magnitude: 4 decimals, scientific notation when large.
    static func number(_ value: Float) -> String {
        guard value.isFinite else { return "\(value)" }
        return abs(value) < 100_000 ? String(format: "%.4f", value) : String(format: "%.3e", value)
    }

    private struct Field {
        var text: String
        /// 0: always kept; higher: dropped earlier.
        var priority: Int
        /// Where the bar goes: after the field marked so.
        var barAfter = false
    }

    private var fields: [Field] {
        var result: [Field] = []
        if !label.isEmpty { result.append(Field(text: label, priority: 1)) }
        result.append(Field(text: "epoch \(epoch)/\(epochs)", priority: 0, barAfter: true))
        // Padded so that the bar keeps its width as the step count grows.
        let digits = String(steps).count
        result.append(Field(text: String(repeating: " ", count: max(0, digits - String(step).count)) + "\(step)/\(steps)", priority: 4))
        result.append(Field(text: "loss \(Self.number(loss))", priority: 2))
        result.append(Field(text: accuracy.isFinite ? String(format: "acc %.2f%%", accuracy * 100) : "acc \(accuracy)", priority: 3))
        result.append(Field(text: samplesPerSecond.isFinite && samplesPerSecond < 1e12 ? String(format: "%.0f samples/s", samplesPerSecond) : "- samples/s", priority: 5))
        result.append(Field(text: "elapsed \(Self.duration(elapsed))", priority: 6))
        result.append(Field(text: "ETA \(Self.duration(remaining))", priority: 0))
        return result
    }

    private func bar(interior: Int) -> String {
        let fraction = steps > 0 ? min(1, max(0, Double(step) / Double(steps))) : 0
        let filled = Int(fraction * Double(interior))
        if filled >= interior { return "[" + String(repeating: "=", count: interior) + "]" }
        return "[" + String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: interior - filled - 1) + "]"
    }

    private func assemble(_ kept: [Field], bar: String?) -> String {
        var parts: [String] = []
        for field in kept {
            parts.append(field.text)
            if field.barAfter, let bar { parts.append(bar) }
        }
        return parts.joined(separator: " ")
    }
}

/// Estimates the time left in a run from what an observer sees: the mean time of a step
/// (between consecutive steps of an epoch) and the mean time spent between epochs
/// (evaluation, checkpoints), extrapolated over the remaining steps and epochs.
///
/// Times are seconds on any monotonic clock; the caller supplies them, so tests use made-up ones.
public struct RunTimeEstimator: Sendable {
    private var last: (epoch: Int, step: Int, time: Double)?
    private var stepSeconds = 0.0, stepCount = 0
    private var betweenSeconds = 0.0, betweenCount = 0
    /// After an epoch ends and before the next starts: when its last step ended.
    private var epochEnd: Double?
    private var evaluationOnly: Double?

    public init() {}

    /// Mean seconds per step so far (nil before two consecutive steps were seen).
    public var secondsPerStep: Double? { stepCount > 0 ? stepSeconds / Double(stepCount) : nil }

    /// Mean seconds between the last step of an epoch and the first of the next, beyond one
    /// step (evaluation and checkpoint); before a next epoch started, the evaluation alone.
    public var secondsBetweenEpochs: Double {
        betweenCount > 0 ? betweenSeconds / Double(betweenCount) : evaluationOnly ?? 0
    }

    /// Records that `step` (1-based) of `epoch` (0-based) ended at `time`.
    public mutating func stepFinished(epoch: Int, step: Int, at time: Double) {
        if let last, last.epoch == epoch, last.step + 1 == step {
            stepSeconds += time - last.time
            stepCount += 1
        } else if let end = epochEnd, let perStep = secondsPerStep {
            betweenSeconds += max(0, time - end - perStep)
            betweenCount += 1
        }
        epochEnd = nil
        last = (epoch, step, time)
    }

    /// Records that the current epoch was evaluated (its metrics are in) at `time`.
    public mutating func epochFinished(at time: Double) {
        guard let last else { return }
        epochEnd = last.time
        if betweenCount == 0 { evaluationOnly = time - last.time }
    }

    /// Seconds left after `step` of `steps` in `epoch` (0-based) of `epochs`: the steps left
    /// in this and the later epochs, and the time between epochs after this one and each later one.
    public func remaining(epoch: Int, step: Int, of steps: Int, epochs: Int) -> Double? {
        guard let perStep = secondsPerStep else { return nil }
        let laterEpochs = max(0, epochs - epoch - 1)
        let stepsLeft = max(0, steps - step) + laterEpochs * steps
        return Double(stepsLeft) * perStep + Double(laterEpochs + 1) * secondsBetweenEpochs
    }
}

/// Whether a progress line is due: at most one per `interval` seconds.
public struct ProgressSchedule: Sendable, Equatable {
    /// Seconds between lines; 0 or less: never due.
    public var interval: Double
    public private(set) var last: Double

    /// `start`: when the run started (the first line is due `interval` seconds after it).
    public init(interval: Double, start: Double) {
        self.interval = interval
        self.last = start
    }

    /// True, and remembers `time`, when at least `interval` seconds passed since the last line.
    public mutating func isDue(at time: Double) -> Bool {
        guard interval > 0, time - last >= interval else { return false }
        last = time
        return true
    }
}
