import ArgumentParser
import Foundation
import Plateau

#if canImport(Glibc)
import Glibc
#endif

/// The progress options of `train`, `demo` and `compare`.
struct ProgressOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Seconds between progress lines when the output is not a terminal (a log file, a pipe, CI); 0: none.",
        valueName: "seconds"))
    var progressInterval: Double = 10

    func validate() throws {
        guard progressInterval.isFinite, progressInterval >= 0 else {
            throw ValidationError("--progress-interval: expected a number of seconds, 0 or more, got \(progressInterval)")
        }
    }
}

/// Live progress of a run: on a terminal a bar that fits its width, redrawn at most ten times
/// a second, with the epoch, loss, accuracy, throughput and the time left for the whole run;
/// elsewhere (logs, CI, pipes) the same fields as a plain line every `interval` seconds, so a
/// long epoch is not silent. Each epoch ends with its summary line.
struct ConsoleProgress: TrainingObserver {
    let isTerminal = isatty(STDOUT_FILENO) != 0
    var quiet = false
    /// The run's epochs (steps do not say; the time left depends on them).
    var epochs: Int
    /// Seconds between plain lines when stdout is not a terminal (0: none).
    var interval: Double
    /// Shown first on each line, e.g. "sam 2/3" for the second of three methods.
    var label = ""
    /// Whether each epoch prints its summary line (`demo` prints its own per run).
    var epochLines = true
    private let start = ContinuousClock.now
    private var estimator = RunTimeEstimator()
    private var redraw: ProgressSchedule
    private var plainLines: ProgressSchedule
    private var drawn = false

    init(epochs: Int = 1, quiet: Bool = false, interval: Double = 10, label: String = "", epochLines: Bool = true) {
        self.epochs = epochs
        self.quiet = quiet
        self.interval = interval
        self.label = label
        self.epochLines = epochLines
        redraw = ProgressSchedule(interval: 0.1, start: 0)
        plainLines = ProgressSchedule(interval: interval, start: 0)
    }

    private func now() -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {
        let time = now()
        estimator.stepFinished(epoch: epoch, step: step, at: time)
        guard !quiet else { return }
        let due = isTerminal ? redraw.isDue(at: time) || step == steps : plainLines.isDue(at: time)
        guard due else { return }
        let total = max(epochs, epoch + 1)
        let line = ProgressLine(label: label, epoch: epoch + 1, epochs: total, step: step, steps: steps, loss: loss,
                                accuracy: accuracy, samplesPerSecond: samplesPerSecond, elapsed: time,
                                remaining: estimator.remaining(epoch: epoch, step: step, of: steps, epochs: total))
        if isTerminal {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line.rendered(width: terminalWidth() - 1)).utf8))
            drawn = true
        } else {
            print(line.plain)
            fflush(nil)
        }
    }

    mutating func epochFinished(_ m: EpochMetrics, of epochs: Int) {
        estimator.epochFinished(at: now())
        self.epochs = epochs
        guard !quiet else { return }
        clearLine()
        guard epochLines else { return }
        print(String(format: "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.4g  %.1fs  %.0f samples/s  %.2f ms/step",
                     m.epoch, epochs, m.trainLoss, m.trainAccuracy * 100, m.testLoss, m.testAccuracy * 100, m.learningRate,
                     m.seconds, m.samplesPerSecond, m.millisecondsPerStep))
        fflush(nil)
    }

    mutating func message(_ text: String) {
        guard !quiet else { return }
        clearLine()
        print(text)
        fflush(nil)
    }

    /// Removes the bar, so that a line printed next starts at the left edge.
    private mutating func clearLine() {
        guard isTerminal, drawn else { return }
        FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}

/// Columns of the terminal on stdout: its window size, else `$COLUMNS`, else 80.
func terminalWidth() -> Int {
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
    return 80
}

/// How `--json` outputs write numbers that would otherwise carry float noise.
enum JSONNumbers {
    /// An accuracy (a fraction in [0, 1]) rounded to 4 decimal places, 0.9722 rather than
    /// 0.9722222089767456: within half a sample of the largest test set (10,000).
    static func fraction(_ value: Float) -> Double {
        guard value.isFinite else { return Double(value) }
        return (Double(value) * 10_000).rounded() / 10_000
    }
}

/// Prints a failure without a stack trace and exits non-zero.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

/// A warning on standard error (the run goes on).
func printWarning(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
