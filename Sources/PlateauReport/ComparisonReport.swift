import Foundation
import PlateauComparison
import PlateauTraining

/// Mean and sample standard deviation (n − 1; 0 for one value).
public struct MeanStd: Sendable, Equatable {
    public var mean: Double
    public var std: Double
    public var count: Int

    public init(_ values: [Double]) {
        let v = values.filter(\.isFinite)
        let m = v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count)
        count = v.count
        mean = m
        std = v.count > 1 ? (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot() : 0
    }

    /// `mean ± std` with `digits` decimals (`digits` < 0: three significant digits).
    public func formatted(_ digits: Int = 2, scale: Double = 1) -> String {
        guard count > 0 else { return "–" }
        if digits < 0 { return "\(short(mean * scale)) ± \(short(std * scale))" }
        return String(format: "%.\(digits)f ± %.\(digits)f", mean * scale, std * scale)
    }
}

/// The report of a comparison: a self-contained HTML page (inline SVG only — no scripts,
/// fonts, images or style sheets from elsewhere) and a Markdown summary.
///
/// Contents: the summary table (final and best test accuracy, final training loss, time
/// per step, passes per step, top Hessian eigenvalue and ρ-sharpness, each mean ± std over
/// seeds); training loss, test accuracy and test loss per epoch with ±1 std bands over
/// seeds; bar charts of accuracy, time per step, λ_max and ρ-sharpness with one dot per
/// seed; the 1-D filter-normalized loss landscape of each method overlaid; and a table of
/// every run.
public struct ComparisonReport {
    public var result: ComparisonSummary
    /// Free text shown under the title (the command line, the machine).
    public var note: String

    public init(_ result: ComparisonSummary, note: String = "") {
        self.result = result
        self.note = note
    }

    /// One method's runs, aggregated over seeds.
    public struct MethodSummary: Sendable {
        public var optimizer: String
        public var runs: [ComparisonRun]
        public var finalTestAccuracy: MeanStd { MeanStd(runs.compactMap { $0.metrics.last.map { Double($0.testAccuracy) } }) }
        public var bestTestAccuracy: MeanStd { MeanStd(runs.map { Double($0.metrics.map(\.testAccuracy).max() ?? .nan) }) }
        public var finalTrainLoss: MeanStd { MeanStd(runs.compactMap { $0.metrics.last.map { Double($0.trainLoss) } }) }
        public var millisecondsPerStep: MeanStd {
            MeanStd(runs.map { run in
                let sorted = run.metrics.map(\.millisecondsPerStep).sorted()
                return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
            })
        }
        public var passesPerStep: MeanStd { MeanStd(runs.compactMap { $0.metrics.last.map { Double($0.passesPerStep) } }) }
        public var topEigenvalue: MeanStd { MeanStd(runs.compactMap { $0.sharpness?.eigenvalues.first.map(Double.init) }) }
        public var rhoSharpness: MeanStd { MeanStd(runs.compactMap { $0.sharpness?.rhoSharpness.map(Double.init) }) }
        public var worstCaseSharpness: MeanStd { MeanStd(runs.compactMap { $0.sharpness?.worstCaseSharpness.map(Double.init) }) }
        public var weightNorm: MeanStd { MeanStd(runs.compactMap { $0.sharpness?.weightNorm.map(Double.init) }) }

        /// Per-epoch mean and band of a metric over seeds.
        func curve(_ value: (EpochMetrics) -> Double) -> [(epoch: Double, mean: Double, std: Double)] {
            let epochs = runs.map(\.metrics.count).min() ?? 0
            return (0..<epochs).map { e in
                let stats = MeanStd(runs.map { value($0.metrics[e]) })
                return (Double(e + 1), stats.mean, stats.std)
            }
        }
    }

    public var methods: [MethodSummary] {
        experiment.optimizers.map { optimizer in MethodSummary(optimizer: optimizer, runs: result.runs.filter { $0.optimizer == optimizer }) }
    }

    private var experiment: ExperimentPlan { result.plan.experiment }
    private var rho: Float { result.plan.sharpness.rho }
    private var configurationLine: String {
        let c = experiment.base
        var parts = ["model \(c.model)", "dataset \(c.dataset)", "\(c.epochs) epochs", "\(experiment.seeds) seed\(experiment.seeds == 1 ? "" : "s")",
                     "batch \(c.batchSize)", "lr \(c.learningRate)", "\(c.schedule) schedule", "weight decay \(c.weightDecay)"]
        if c.labelNoise > 0 { parts.append("\(Int((c.labelNoise * 100).rounded()))% \(c.labelNoiseKind) label noise") }
        return parts.joined(separator: " · ")
    }

    // MARK: - Figures

    /// The named SVG figures of the report, in display order.
    public func figures() -> [(name: String, caption: String, svg: String)] {
        let methods = self.methods
        func curveChart(_ title: String, _ yLabel: String, scale: Double = 1, _ value: @escaping (EpochMetrics) -> Double) -> String {
            let series = methods.enumerated().map { i, m in
                let curve = m.curve(value)
                return SVGChart.Series(
                    name: m.optimizer, color: SVGChart.color(i),
                    points: curve.map { ($0.epoch, $0.mean * scale) },
                    band: m.runs.count > 1 ? curve.map { ($0.epoch, ($0.mean - $0.std) * scale, ($0.mean + $0.std) * scale) } : [])
            }
            return SVGChart.lineChart(title: title, xLabel: "epoch", yLabel: yLabel, series: series, integerX: true)
        }
        func bars(_ title: String, _ yLabel: String, scale: Double = 1, _ pick: (MethodSummary) -> MeanStd, _ perRun: (ComparisonRun) -> Double?) -> String {
            SVGChart.barChart(title: title, yLabel: yLabel, bars: methods.enumerated().map { i, m in
                let stats = pick(m)
                return SVGChart.Bar(label: m.optimizer, color: SVGChart.color(i), value: stats.mean * scale, error: stats.std * scale,
                                    samples: m.runs.compactMap(perRun).map { $0 * scale })
            })
        }
        var list: [(String, String, String)] = [
            ("train-loss", "Training loss per epoch (mean over seeds, band ±1 std).", curveChart("Training loss", "cross-entropy") { Double($0.trainLoss) }),
            ("test-accuracy", "Test accuracy per epoch (mean over seeds, band ±1 std).", curveChart("Test accuracy", "accuracy (%)", scale: 100) { Double($0.testAccuracy) }),
            ("test-loss", "Test loss per epoch (mean over seeds, band ±1 std).", curveChart("Test loss", "cross-entropy") { Double($0.testLoss) }),
            ("train-accuracy", "Training accuracy per epoch on the labels trained on (mean, band ±1 std).", curveChart("Training accuracy", "accuracy (%)", scale: 100) { Double($0.trainAccuracy) }),
            ("final-accuracy", "Final test accuracy: bar = mean, whisker = ±1 std, dots = seeds.",
             bars("Final test accuracy", "accuracy (%)", scale: 100, { $0.finalTestAccuracy }) { $0.metrics.last.map { Double($0.testAccuracy) } }),
            ("time-per-step", "Median time per optimizer step over epochs.",
             bars("Time per step", "ms / step", { $0.millisecondsPerStep }) { run in
                 let sorted = run.metrics.map(\.millisecondsPerStep).sorted()
                 return sorted.isEmpty ? nil : sorted[sorted.count / 2]
             }),
        ]
        if result.runs.contains(where: { $0.sharpness?.eigenvalues.isEmpty == false }) {
            list.append(("top-eigenvalue", "Top Hessian eigenvalue λ_max of the training loss at the end (lower is flatter).",
                         bars("Top Hessian eigenvalue", "λ_max", { $0.topEigenvalue }) { $0.sharpness?.eigenvalues.first.map(Double.init) }))
        }
        if result.runs.contains(where: { $0.sharpness?.rhoSharpness != nil }) {
            list.append(("rho-sharpness", "One-step ρ-sharpness L(w + ρg/‖g‖) − L(w), ρ = \(rho).",
                         bars("ρ-sharpness (ρ = \(rho))", "L(w+ε) − L(w)", { $0.rhoSharpness }) { $0.sharpness?.rhoSharpness.map(Double.init) }))
        }
        if result.runs.contains(where: { $0.sharpness?.weightNorm != nil }) {
            // Chen et al. (ICLR 2022): SAM's flatter minima are not smaller weights.
            list.append(("weight-norm", "Weight norm ‖θ‖ at the end (SAM flattens without shrinking it).",
                         bars("Weight norm", "‖θ‖", { $0.weightNorm }) { $0.sharpness?.weightNorm.map(Double.init) }))
        }
        if result.runs.contains(where: { $0.sharpness?.landscapeAlphas.isEmpty == false }) {
            let series = methods.enumerated().compactMap { i, m -> SVGChart.Series? in
                let lines = m.runs.compactMap(\.sharpness).filter { !$0.landscapeAlphas.isEmpty }
                guard let alphas = lines.first?.landscapeAlphas else { return nil }
                let stats = alphas.indices.map { j in MeanStd(lines.map { Double($0.landscapeLosses[j]) }) }
                return SVGChart.Series(
                    name: m.optimizer, color: SVGChart.color(i), points: zip(alphas, stats).map { (Double($0), $1.mean) },
                    band: lines.count > 1 ? zip(alphas, stats).map { (Double($0), $1.mean - $1.std, $1.mean + $1.std) } : [])
            }
            list.append(("landscape-1d", "Training loss along a random filter-normalized direction δ, L(w + αδ) (Li et al. 2018); mean over seeds, band ±1 std.",
                         SVGChart.lineChart(title: "1-D loss landscape", xLabel: "α (filter-normalized step)", yLabel: "training loss", series: series)))
        }
        return list.map { (name: $0.0, caption: $0.1, svg: $0.2) }
    }

    // MARK: - HTML

    /// The self-contained HTML page.
    public func html() -> String {
        let methods = self.methods
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>Plateau comparison: \(escape(experiment.optimizers.joined(separator: ", ")))</title>
        <style>
        body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px; color: #1a1a1a; padding: 0 16px; }
        h1 { font-size: 24px; margin-bottom: 4px; }
        h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        p.meta { color: #555; margin-top: 0; font-size: 14px; }
        table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
        th, td { border: 1px solid #d4d4d4; padding: 4px 9px; text-align: right; }
        th { background: #f3f3f3; }
        td.name, th.name { text-align: left; font-weight: bold; }
        .swatch { display: inline-block; width: 11px; height: 11px; margin-right: 6px; vertical-align: middle; border-radius: 2px; }
        .grid { display: flex; flex-wrap: wrap; gap: 14px; }
        figure { margin: 0; }
        figcaption { font-size: 12px; color: #555; max-width: 560px; }
        .best { background: #e8f5e9; }
        .notes { font-size: 13px; color: #333; }
        </style>
        </head>
        <body>
        <h1>Plateau comparison: \(escape(experiment.optimizers.joined(separator: " vs ")))</h1>
        <p class="meta">\(escape(configurationLine))</p>

        """
        if !note.isEmpty { page += "<p class=\"meta\">\(escape(note))</p>\n" }
        let epochSeconds = result.runs.flatMap(\.metrics).reduce(0) { $0 + $1.seconds }
        page += "<p class=\"meta\">" + escape(String(format: "%d runs (%d trained now, %d found finished); this invocation trained for %.1f s with %d concurrent run%@ and %d BLAS thread%@ each and measured sharpness for %.1f s; the runs' epochs add up to %.1f s.",
                                                      result.runs.count, result.runs.filter(\.trained).count, result.runs.filter { !$0.trained }.count,
                                                      result.trainingSeconds, experiment.jobs, experiment.jobs == 1 ? "" : "s", experiment.threads,
                                                      experiment.threads == 1 ? "" : "s", result.sharpnessSeconds, epochSeconds)) + "</p>\n"

        // Summary table.
        let bestAccuracy = methods.map(\.finalTestAccuracy.mean).filter(\.isFinite).max()
        page += "<h2>Summary</h2>\n<table>\n<tr><th class=\"name\">method</th><th>runs</th><th>final test acc (%)</th><th>best test acc (%)</th><th>final train loss</th><th>ms / step</th><th>passes / step</th><th>λ_max</th><th>ρ-sharpness (ρ = \(rho))</th>"
        let hasWorst = result.runs.contains { $0.sharpness?.worstCaseSharpness != nil }
        if hasWorst { page += "<th>worst case in ρ-ball</th>" }
        page += "</tr>\n"
        for (i, m) in methods.enumerated() {
            let best = m.finalTestAccuracy.mean == bestAccuracy ? " class=\"best\"" : ""
            page += "<tr><td class=\"name\"><span class=\"swatch\" style=\"background:\(SVGChart.color(i))\"></span>\(escape(m.optimizer))</td>"
            page += "<td>\(m.runs.count)</td><td\(best)>\(m.finalTestAccuracy.formatted(2, scale: 100))</td><td>\(m.bestTestAccuracy.formatted(2, scale: 100))</td>"
            page += "<td>\(m.finalTrainLoss.formatted(4))</td><td>\(m.millisecondsPerStep.formatted(3))</td><td>\(m.passesPerStep.formatted(2))</td>"
            page += "<td>\(escape(m.topEigenvalue.formatted(-1)))</td><td>\(escape(m.rhoSharpness.formatted(-1)))</td>"
            if hasWorst { page += "<td>\(escape(m.worstCaseSharpness.formatted(-1)))</td>" }
            page += "</tr>\n"
        }
        page += "</table>\n"
        let samples = result.runs.compactMap(\.sharpness).first?.samples ?? 0
        page += "<p class=\"notes\">Mean ± sample standard deviation over seeds. λ_max: top eigenvalue of the Hessian of the training loss (power iteration on exact Hessian-vector products, tolerance \(result.plan.sharpness.tolerance), at most \(result.plan.sharpness.maximumIterations) iterations); ρ-sharpness: L(w + ρg/‖g‖) − L(w). Both on the first \(samples) training samples with the labels trained on, BatchNorm in \(result.plan.sharpness.mode.rawValue) mode. Time per step is the median over epochs\(experiment.jobs > 1 ? ", measured while \(experiment.jobs) runs shared the machine" : "").</p>\n"

        // Figures.
        let figures = self.figures()
        func section(_ title: String, _ names: [String]) {
            let chosen = figures.filter { names.contains($0.name) }
            guard !chosen.isEmpty else { return }
            page += "<h2>\(escape(title))</h2>\n<div class=\"grid\">\n"
            for f in chosen { page += "<figure id=\"fig-\(f.name)\">\n\(f.svg)\n<figcaption>\(escape(f.caption))</figcaption>\n</figure>\n" }
            page += "</div>\n"
        }
        section("Training curves", ["train-loss", "test-accuracy", "test-loss", "train-accuracy"])
        section("Accuracy and cost", ["final-accuracy", "time-per-step"])
        section("Sharpness", ["top-eigenvalue", "rho-sharpness", "weight-norm", "landscape-1d"])

        // Every run.
        page += "<h2>Runs</h2>\n<table>\n<tr><th class=\"name\">run</th><th>epochs</th><th>final test acc (%)</th><th>best test acc (%)</th><th>final train loss</th><th>ms / step</th><th>λ_max</th><th>ρ-sharpness</th><th>loss on subset</th><th>status</th></tr>\n"
        for run in result.runs {
            let last = run.metrics.last
            let sorted = run.metrics.map(\.millisecondsPerStep).sorted()
            page += "<tr><td class=\"name\">\(escape(run.name))</td><td>\(run.metrics.count)</td>"
            page += "<td>\(last.map { String(format: "%.2f", $0.testAccuracy * 100) } ?? "–")</td>"
            page += "<td>\(run.metrics.map(\.testAccuracy).max().map { String(format: "%.2f", $0 * 100) } ?? "–")</td>"
            page += "<td>\(last.map { String(format: "%.4f", $0.trainLoss) } ?? "–")</td>"
            page += "<td>\(sorted.isEmpty ? "–" : String(format: "%.3f", sorted[sorted.count / 2]))</td>"
            page += "<td>\(escape(run.sharpness?.eigenvalues.first.map { short(Double($0)) } ?? "–"))</td>"
            page += "<td>\(escape(run.sharpness?.rhoSharpness.map { short(Double($0)) } ?? "–"))</td>"
            page += "<td>\(escape(run.sharpness.map { short(Double($0.loss)) } ?? "–"))</td>"
            page += "<td>\(run.trained ? "trained" : "reused")</td></tr>\n"
        }
        page += "</table>\n"
        page += "<p class=\"notes\">Generated by <code>plateau compare</code>. Run directories: <code>\(escape(experiment.output.path))/&lt;method&gt;-seed&lt;k&gt;</code> (config.json, metrics.jsonl, checkpoints, sharpness.json).</p>\n"
        page += "</body>\n</html>\n"
        return page
    }

    // MARK: - Markdown

    /// The Markdown summary (tables; figures referenced from `figures/`).
    public func markdown(figureDirectory: String = "figures") -> String {
        var md = "# Plateau comparison: \(experiment.optimizers.joined(separator: " vs "))\n\n\(configurationLine)\n\n"
        if !note.isEmpty { md += "\(note)\n\n" }
        md += String(format: "Training took %.1f s (%d concurrent run%@, %d BLAS thread%@ each); sharpness %.1f s.\n\n",
                     result.trainingSeconds, experiment.jobs, experiment.jobs == 1 ? "" : "s", experiment.threads, experiment.threads == 1 ? "" : "s", result.sharpnessSeconds)
        md += "| method | runs | final test acc (%) | best test acc (%) | final train loss | ms/step | passes/step | λ_max | ρ-sharpness (ρ=\(rho)) |\n"
        md += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for m in methods {
            md += "| \(m.optimizer) | \(m.runs.count) | \(m.finalTestAccuracy.formatted(2, scale: 100)) | \(m.bestTestAccuracy.formatted(2, scale: 100)) | \(m.finalTrainLoss.formatted(4)) | \(m.millisecondsPerStep.formatted(3)) | \(m.passesPerStep.formatted(2)) | \(m.topEigenvalue.formatted(-1)) | \(m.rhoSharpness.formatted(-1)) |\n"
        }
        md += "\nMean ± sample std over seeds. λ_max and ρ-sharpness on the first \(result.runs.compactMap(\.sharpness).first?.samples ?? 0) training samples (labels as trained, BatchNorm in \(result.plan.sharpness.mode.rawValue) mode).\n\n"
        md += "## Runs\n\n| run | epochs | final test acc (%) | final train loss | λ_max | ρ-sharpness | status |\n|---|---:|---:|---:|---:|---:|---|\n"
        for run in result.runs {
            md += "| \(run.name) | \(run.metrics.count) | \(run.metrics.last.map { String(format: "%.2f", $0.testAccuracy * 100) } ?? "–") | \(run.metrics.last.map { String(format: "%.4f", $0.trainLoss) } ?? "–") | \(run.sharpness?.eigenvalues.first.map { short(Double($0)) } ?? "–") | \(run.sharpness?.rhoSharpness.map { short(Double($0)) } ?? "–") | \(run.trained ? "trained" : "reused") |\n"
        }
        md += "\n## Figures\n\n"
        for f in figures() { md += "![\(f.caption)](\(figureDirectory)/\(f.name).svg)\n\n" }
        return md
    }

    /// Writes `report.html`, `report.md` and `figures/*.svg` into `directory`.
    public func write(to directory: URL) throws {
        let figureDirectory = directory.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figureDirectory, withIntermediateDirectories: true)
        for f in figures() { try writeAtomically(Data(f.svg.utf8), to: figureDirectory.appendingPathComponent("\(f.name).svg")) }
        try writeAtomically(Data(html().utf8), to: directory.appendingPathComponent("report.html"))
        try writeAtomically(Data(markdown().utf8), to: directory.appendingPathComponent("report.md"))
    }
}
