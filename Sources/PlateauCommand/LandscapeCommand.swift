import ArgumentParser
import Foundation
import Plateau

#if canImport(Glibc)
import Glibc
#endif

/// `plateau landscape`: the loss around a checkpoint along filter-normalized directions, or
/// along the line to another checkpoint.
struct LandscapeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "landscape",
        abstract: "Plot the loss landscape around a checkpoint (1-D or 2-D, filter-normalized directions).",
        discussion: """
            Evaluates L(w + αδ) (--dims 1) or L(w + αδ + βη) (--dims 2) on a grid, with δ, η random \
            Gaussian directions filter-normalized as in Li et al. 2018 (biases and norm parameters \
            ignored). With --to, evaluates the straight line θ(α) = (1−α)θ_A + αθ_B to a second \
            checkpoint instead (linear mode connectivity; BatchNorm statistics re-estimated on \
            training data at every point). Writes <output>.csv and <output>.svg (a line plot, or a \
            contour plot for 2-D).

            Examples:
              plateau landscape runs/mlp/checkpoint-last.safetensors --dims 2 --grid 51 --range -1:1 --split test
              plateau landscape runs/a/checkpoint-last.safetensors --to runs/b/checkpoint-last.safetensors --range 0:1 --grid 21
            """
    )

    @Argument(help: "A checkpoint written by `plateau train`.") var checkpoint: String
    @OptionGroup var data: DatasetOptions
    @OptionGroup var measurement: MeasurementOptions
    @Option(parsing: .unconditional, help: "1 (a line) or 2 (a plane).") var dims: Int = 1
    @Option(parsing: .unconditional, help: "Grid points per axis.") var grid: Int = 51
    @Option(parsing: .unconditional, help: "Range of α (and β) as LOW:HIGH (e.g. -1:1).") var range: String = "-1:1"
    @Option(parsing: .unconditional, help: "Interpolate towards this checkpoint (linear mode connectivity) instead of random directions.") var to: String?
    @Option(parsing: .unconditional, help: "Output path without extension (default: landscape-<dims>d beside the checkpoint).") var output: String?
    @Flag(help: "No progress bar.") var quiet = false

    mutating func validate() throws {
        try OptionCheck.count(dims, "dims", in: 1...2)
        try OptionCheck.count(grid, "grid", in: 2...1001)
        _ = try bounds
        if to != nil && dims != 1 { throw ValidationError("--to draws a 1-D path; use --dims 1") }
    }

    /// `--range` as two finite numbers, low < high.
    private var bounds: [Float] {
        get throws {
            let bounds = range.split(separator: ":", omittingEmptySubsequences: false).compactMap { Float($0) }
            guard bounds.count == 2, bounds.allSatisfy(\.isFinite), bounds[0] < bounds[1] else {
                throw ValidationError("--range: expected LOW:HIGH, two finite numbers with LOW < HIGH (e.g. -1:1), got '\(range)'")
            }
            return bounds
        }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        try Parallelism.withThreads(measurement.threads) {
        let bounds = try self.bounds
        let url = URL(fileURLWithPath: checkpoint)
        let loaded = try LoadedCheckpoint(contentsOf: url, dataset: data.dataset, dataDirectory: data.dataDir)
        let samples = try measurement.data(of: loaded)
        let mode = try measurement.mode
        let base = output ?? url.deletingLastPathComponent().appendingPathComponent(to == nil ? "landscape-\(dims)d" : "interpolation").path
        let axis = LossLandscape.grid(bounds[0]...bounds[1], count: grid)
        var bar = ProgressBar(quiet: quiet)
        print("\(loaded.configuration.model) from \(checkpoint): loss over \(samples.count) \(measurement.split) samples, \(dims == 1 ? "\(grid) points" : "\(grid)x\(grid) grid") on [\(bounds[0]), \(bounds[1])]")
        let start = ContinuousClock.now

        if let to {
            let other = try LoadedCheckpoint(contentsOf: URL(fileURLWithPath: to), dataset: data.dataset, dataDirectory: data.dataDir)
            let trainInputs = Batches(dataset: LoadedCheckpoint.prefix(loaded.train, measurement.samples ?? 5000), batchSize: measurement.batchSize, shuffle: false).map(\.images)
            let losses = try interpolate(loaded.model, other.model, alphas: axis, on: samples, trainInputs: trainInputs, mode: mode, bar: &bar)
            try write1D(base, axis: axis, losses: losses, title: "Loss from \(URL(fileURLWithPath: checkpoint).deletingLastPathComponent().lastPathComponent) (α=0) to \(URL(fileURLWithPath: to).deletingLastPathComponent().lastPathComponent) (α=1)", xLabel: "α (interpolation)")
        } else {
            try landscape(loaded.model, axis: axis, on: samples, mode: mode, base: base, bar: &bar)
        }
        let d = ContinuousClock.now - start
        print(String(format: "wrote %@.csv and %@.svg (%.1f s)", base, base, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18))
        }
    }

    private func landscape(_ model: any Layer, axis: [Float], on samples: Dataset, mode: BatchNormMode, base: String, bar: inout ProgressBar) throws {
        func opened<M: Layer>(_ model: M) throws {
            let loss = LossFunction.crossEntropy(model, on: samples, batchSize: measurement.batchSize, mode: mode)
            var generator = SeededGenerator(seed: measurement.seed)
            let d1 = FilterNormalization.randomDirection(like: loss.parameters, using: &generator)
            if dims == 1 {
                let losses = LossLandscape.line(of: loss, direction: d1, alphas: axis) { bar.update($0, of: $1) }
                try write1D(base, axis: axis, losses: losses, title: "Loss along a filter-normalized direction", xLabel: "α")
            } else {
                let d2 = FilterNormalization.randomDirection(like: loss.parameters, using: &generator)
                let values = LossLandscape.plane(of: loss, directions: (d1, d2), alphas: axis, betas: axis) { bar.update($0, of: $1) }
                var csv = "alpha,beta,loss\n"
                for (j, beta) in axis.enumerated() { for (i, alpha) in axis.enumerated() { csv += "\(alpha),\(beta),\(values[j][i])\n" } }
                try Data(csv.utf8).write(to: URL(fileURLWithPath: base + ".csv"))
                let svg = SVGChart.contourPlot(
                    title: "2-D loss landscape (filter-normalized directions)", xLabel: "α (direction δ)", yLabel: "β (direction η)",
                    xs: axis.map(Double.init), ys: axis.map(Double.init), values: values.map { $0.map(Double.init) })
                try Data(svg.utf8).write(to: URL(fileURLWithPath: base + ".svg"))
            }
        }
        try opened(model)
    }

    private func interpolate(_ a: any Layer, _ b: any Layer, alphas: [Float], on samples: Dataset, trainInputs: [Tensor], mode: BatchNormMode, bar: inout ProgressBar) throws -> [Float] {
        func opened<M: Layer>(_ a: M) throws -> [Float] {
            guard let b = b as? M else { throw ValidationError("--to: the two checkpoints hold different model types") }
            var done = 0
            return ModeConnectivity.path(from: a, to: b, alphas: alphas, reestimatingOn: trainInputs) { model in
                let value = LossFunction.crossEntropy(model, on: samples, batchSize: measurement.batchSize, mode: mode).value()
                done += 1
                bar.update(done, of: alphas.count)
                return value
            }
        }
        return try opened(a)
    }

    private func write1D(_ base: String, axis: [Float], losses: [Float], title: String, xLabel: String) throws {
        var csv = "alpha,loss\n"
        for (alpha, loss) in zip(axis, losses) { csv += "\(alpha),\(loss)\n" }
        try Data(csv.utf8).write(to: URL(fileURLWithPath: base + ".csv"))
        let svg = SVGChart.lineChart(title: title, xLabel: xLabel, yLabel: "loss (\(measurement.split))", series: [
            SVGChart.Series(name: "L(w + αδ)", color: SVGChart.color(0), points: zip(axis, losses).map { (Double($0), Double($1)) }),
        ])
        try Data(svg.utf8).write(to: URL(fileURLWithPath: base + ".svg"))
    }
}

/// A one-line progress bar with rate and ETA on standard error (plain lines when not a terminal).
struct ProgressBar {
    let isTerminal = isatty(STDERR_FILENO) != 0
    var quiet = false
    private let start = ContinuousClock.now
    private var lastDraw = ContinuousClock.now
    private var lastPercent = -10

    init(quiet: Bool = false) { self.quiet = quiet }

    mutating func update(_ done: Int, of total: Int) {
        guard !quiet, total > 0 else { return }
        let now = ContinuousClock.now
        let elapsed = now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let percent = done * 100 / total
        let eta = done > 0 ? seconds / Double(done) * Double(total - done) : 0
        let text = String(format: "%d/%d %3d%%  %.1fs elapsed  ETA %@", done, total, percent, seconds, Self.duration(eta))
        if isTerminal {
            guard now - lastDraw > .milliseconds(100) || done == total else { return }
            lastDraw = now
            let width = 30, filled = width * done / total
            let line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + text
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (done == total ? "\n" : "")).utf8))
        } else if percent / 10 != lastPercent / 10 || done == total {
            lastPercent = percent
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    static func duration(_ s: Double) -> String {
        s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.0fs", s)
    }
}
