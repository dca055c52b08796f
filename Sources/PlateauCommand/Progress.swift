import Foundation
import Plateau

#if canImport(Glibc)
import Glibc
#endif

/// Live progress: an updating line on a terminal, plain lines otherwise (logs, CI, pipes).
struct ConsoleProgress: TrainingObserver {
    let isTerminal = isatty(STDOUT_FILENO) != 0
    var quiet = false
    private var lastDraw = ContinuousClock.now
    private var epochStart = ContinuousClock.now

    init(quiet: Bool = false) { self.quiet = quiet }

    mutating func stepFinished(epoch: Int, step: Int, of steps: Int, loss: Float, accuracy: Float, samplesPerSecond: Double) {
        if step == 1 { epochStart = ContinuousClock.now }
        guard isTerminal, !quiet else { return }
        let now = ContinuousClock.now
        guard now - lastDraw > .milliseconds(150) || step == steps else { return }
        lastDraw = now
        let elapsed = Double((now - epochStart).components.seconds) + Double((now - epochStart).components.attoseconds) * 1e-18
        let eta = step > 0 ? elapsed / Double(step) * Double(steps - step) : 0
        let line = String(format: "epoch %d  step %d/%d  loss %.4f  acc %.2f%%  %.0f samples/s  ETA %.0fs",
                          epoch + 1, step, steps, loss, accuracy * 100, samplesPerSecond, eta)
        FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    mutating func epochFinished(_ m: EpochMetrics, of epochs: Int) {
        guard !quiet else { return }
        if isTerminal { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        print(String(format: "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.4g  %.1fs  %.0f samples/s  %.2f ms/step",
                     m.epoch, epochs, m.trainLoss, m.trainAccuracy * 100, m.testLoss, m.testAccuracy * 100, m.learningRate,
                     m.seconds, m.samplesPerSecond, m.millisecondsPerStep))
        fflush(nil)
    }

    mutating func message(_ text: String) {
        guard !quiet else { return }
        print(text)
        fflush(nil)
    }
}

/// How `--json` outputs write numbers that would otherwise carry float noise.
enum JSONNumbers {
    /// An accuracy (a fraction in [0, 1]) rounded to 4 decimal places, 0.9722 rather than
    /// 0.9722222089767456: finer than one sample in the largest test set (10,000).
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
