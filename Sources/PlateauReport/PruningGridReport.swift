import Foundation
import PlateauComparison
import PlateauTraining

/// The phase diagram of a pruning grid (``PruningGridResult``): `grid.json`, `grid.csv`,
/// heat maps of test error, mc and mean CKA over temperature × density with the regime
/// boundaries drawn (`figures/*.svg`), and `report.html` holding them inline.
public struct PruningGridReport {
    public var result: PruningGridResult
    /// The CKA separating regimes II-A and II-B (``PruningRegime/medianThreshold(_:)`` when nil).
    public var ckaThreshold: Double
    /// A line shown under the title (e.g. the command).
    public var note: String

    public init(_ result: PruningGridResult, ckaThreshold: Double? = nil, note: String = "") {
        self.result = result
        self.ckaThreshold = ckaThreshold ?? PruningRegime.medianThreshold(result.cells)
        self.note = note
    }

    /// The regime of each cell, in the cells' order.
    public var regimes: [PruningRegime] {
        result.cells.map { PruningRegime.of(mc: $0.connectivity.mc, cka: $0.connectivity.meanCKA, ckaThreshold: ckaThreshold) }
    }

    /// The grid as JSON: the axes, the threshold, and every cell with its regime.
    public func json() throws -> Data {
        struct Row: Encodable {
            var cell: PruningCell
            var regime: String
        }
        struct Grid: Encodable {
            var axis: String
            var temperatures: [Double]
            var densities: [Double]
            var ckaThreshold: Double
            var cells: [Row]
        }
        let plan = result.plan
        let grid = Grid(axis: plan.axis.rawValue, temperatures: plan.temperatures, densities: plan.densities, ckaThreshold: ckaThreshold,
                        cells: zip(result.cells, regimes).map { Row(cell: $0, regime: $1.rawValue) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(grid)
    }

    /// One row per cell: temperature, density, errors, mc, CKA, regime.
    public func csv() -> String {
        var text = "\(result.plan.axis.rawValue),density,test_error,test_error_seeds,dense_test_error,mc_loss,mc_error,mean_cka,layer_cka,regime\n"
        for (cell, regime) in zip(result.cells, regimes) {
            let c = cell.connectivity
            text += "\(cell.temperature),\(cell.density),\(cell.testError),\(cell.testErrors.map { "\($0)" }.joined(separator: ";")),\(cell.denseTestError),"
            text += "\(c.mc),\(c.mcError),\(c.meanCKA),\(c.layerCKA.map { String(format: "%.4f", $0) }.joined(separator: ";")),\(regime.rawValue)\n"
        }
        return text
    }

    /// The heat maps: name, caption, SVG.
    public func figures() -> [(name: String, caption: String, svg: String)] {
        let plan = result.plan
        let regimes = self.regimes
        func grid(_ value: (PruningCell) -> Double) -> [[Double?]] {
            plan.densities.map { d in plan.temperatures.map { t in result.cells.first { $0.temperature == t && $0.density == d }.map(value) } }
        }
        let regimeGrid: [[PruningRegime?]] = plan.densities.map { d in
            plan.temperatures.map { t in result.cells.firstIndex { $0.temperature == t && $0.density == d }.map { regimes[$0] } }
        }
        let xLabel = plan.axis == .rho ? "SAM ρ (temperature)" : plan.axis == .epochs ? "dense epochs (temperature)" : "dense batch size (temperature; smaller is hotter)"
        let xs = plan.temperatures.map(PruningGridPlan.number), ys = plan.densities.map(PruningGridPlan.number)
        func map(_ title: String, _ values: [[Double?]], format: String, lowIsGood: Bool, diverging: Bool = false) -> String {
            Self.heatMap(title: title, xLabel: xLabel, yLabel: "density (kept fraction)", xs: xs, ys: ys, values: values, regimes: regimeGrid,
                         format: format, lowIsGood: lowIsGood, diverging: diverging)
        }
        let boundary = "Thick black lines: regime boundaries (I: mc < 0; II-A: mc ≥ 0 and mean CKA < \(String(format: "%.3f", ckaThreshold)); II-B: mc ≥ 0 and CKA ≥ it)."
        return [
            ("error", "Test error (%) after pruning and retraining, mean of the \(plan.retrainSeeds) retrained copies. " + boundary,
             map("Test error (%)", grid { Double($0.testError) * 100 }, format: "%.2f", lowIsGood: true)),
            ("mc", "Mode connectivity mc of the test loss on the \(plan.connectivity.points)-point line between copies 0 and 1 (BatchNorm re-estimated): ½(L₀+L₁) − L(t*); negative (red) is a barrier. " + boundary,
             map("Mode connectivity mc (loss)", grid { Double($0.connectivity.mc) }, format: "%.3f", lowIsGood: false, diverging: true)),
            ("cka", "Mean linear CKA over layers between copies 0 and 1 on \(plan.connectivity.ckaSamples) test samples. " + boundary,
             map("Mean CKA", grid { $0.connectivity.meanCKA }, format: "%.3f", lowIsGood: false)),
            ("regimes", "The regime of each cell. " + boundary,
             map("Regimes", grid { cell in
                 switch PruningRegime.of(mc: cell.connectivity.mc, cka: cell.connectivity.meanCKA, ckaThreshold: ckaThreshold) {
                 case .poorlyConnected: return 0
                 case .connectedDissimilar: return 1
                 case .connectedSimilar: return 2
                 }
             }, format: "regime", lowIsGood: false)),
        ].map { (name: $0.0, caption: $0.1, svg: $0.2) }
    }

    /// A categorical heat map: columns `xs`, rows `ys` (first row at the top), the value
    /// printed in each cell (`format` "regime" prints I / II-A / II-B), missing cells grey,
    /// and thick lines between neighbouring cells of different regimes.
    static func heatMap(
        title: String, xLabel: String, yLabel: String, xs: [String], ys: [String], values: [[Double?]], regimes: [[PruningRegime?]],
        format: String, lowIsGood: Bool, diverging: Bool
    ) -> String {
        let cellWidth = 74.0, cellHeight = 40.0, left = 86.0, top = 44.0
        let width = left + cellWidth * Double(xs.count) + 20, height = top + cellHeight * Double(ys.count) + 56
        let finite = values.flatMap { $0 }.compactMap { $0 }.filter(\.isFinite)
        let low = finite.min() ?? 0, high = finite.max() ?? 1
        func color(_ v: Double?) -> String {
            guard let v, v.isFinite else { return "#cccccc" }
            if format == "regime" { return ["#E69F00", "#56B4E9", "#009E73"][min(max(Int(v), 0), 2)] }
            if diverging {
                // Red below zero (a barrier), blue above, white at 0.
                let scale = max(Swift.abs(low), Swift.abs(high), 1e-12), s = min(Swift.abs(v) / scale, 1)
                let fade = Int((255 * (1 - 0.75 * s)).rounded())
                return v < 0 ? String(format: "#FF%02X%02X", fade, fade) : String(format: "#%02X%02XFF", fade, fade)
            }
            let t = high > low ? (v - low) / (high - low) : 0.5
            return SVGChart.viridis(lowIsGood ? 1 - t : t)
        }
        func text(_ v: Double?) -> String {
            guard let v else { return "–" }
            if format == "regime" { return ["I", "II-A", "II-B"][min(max(Int(v), 0), 2)] }
            return String(format: format, v)
        }
        var body = "<text x=\"\(fmt(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        for (j, row) in values.enumerated() {
            for (i, v) in row.enumerated() {
                let x = left + cellWidth * Double(i), y = top + cellHeight * Double(j)
                body += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(cellWidth))\" height=\"\(fmt(cellHeight))\" fill=\"\(color(v))\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n"
                let dark = !diverging && format != "regime" && v.map { ((lowIsGood ? 1 - ($0 - low) / max(high - low, 1e-12) : ($0 - low) / max(high - low, 1e-12))) < 0.55 } == true
                body += "<text x=\"\(fmt(x + cellWidth / 2))\" y=\"\(fmt(y + cellHeight / 2 + 4))\" text-anchor=\"middle\" font-size=\"12\" fill=\"\(dark ? "#ffffff" : "#111111")\">\(escape(text(v)))</text>\n"
            }
        }
        // Regime boundaries between horizontal and vertical neighbours.
        var path = ""
        for j in regimes.indices {
            for i in regimes[j].indices {
                guard let r = regimes[j][i] else { continue }
                let x = left + cellWidth * Double(i), y = top + cellHeight * Double(j)
                if i + 1 < regimes[j].count, let s = regimes[j][i + 1], s != r { path += "M\(fmt(x + cellWidth)),\(fmt(y))V\(fmt(y + cellHeight))" }
                if j + 1 < regimes.count, let s = regimes[j + 1][i], s != r { path += "M\(fmt(x)),\(fmt(y + cellHeight))H\(fmt(x + cellWidth))" }
            }
        }
        if !path.isEmpty { body += "<path d=\"\(path)\" stroke=\"#000000\" stroke-width=\"3.5\" fill=\"none\"/>\n" }
        for (i, label) in xs.enumerated() {
            body += "<text x=\"\(fmt(left + cellWidth * (Double(i) + 0.5)))\" y=\"\(fmt(top + cellHeight * Double(ys.count) + 16))\" text-anchor=\"middle\" font-size=\"12\">\(escape(label))</text>\n"
        }
        for (j, label) in ys.enumerated() {
            body += "<text x=\"\(fmt(left - 8))\" y=\"\(fmt(top + cellHeight * (Double(j) + 0.5) + 4))\" text-anchor=\"end\" font-size=\"12\">\(escape(label))</text>\n"
        }
        body += "<text x=\"\(fmt(left + cellWidth * Double(xs.count) / 2))\" y=\"\(fmt(height - 12))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
        let midY = top + cellHeight * Double(ys.count) / 2
        body += "<text x=\"16\" y=\"\(fmt(midY))\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 16 \(fmt(midY)))\">\(escape(yLabel))</text>\n"
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <title>\(escape(title))</title>
        <rect width="100%" height="100%" fill="#ffffff"/>
        \(body)</svg>

        """
    }

    /// The self-contained HTML page.
    public func html() -> String {
        let plan = result.plan
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <title>Plateau pruning grid: \(escape(plan.axis.rawValue)) × density</title>
        <style>
        body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px; color: #1a1a1a; padding: 0 16px; }
        h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        p.meta { color: #555; font-size: 14px; }
        table { border-collapse: collapse; font-size: 13px; }
        th, td { border: 1px solid #d4d4d4; padding: 4px 9px; text-align: right; }
        th { background: #f3f3f3; }
        .grid { display: flex; flex-wrap: wrap; gap: 14px; }
        figure { margin: 0; }
        figcaption { font-size: 12px; color: #555; max-width: 520px; }
        </style>
        </head>
        <body>
        <h1>Pruning phase diagram: \(escape(plan.axis.rawValue)) × density</h1>

        """
        let base = plan.base
        page += "<p class=\"meta\">\(escape("\(base.model) on \(base.dataset)\(base.trainLimit.map { " (first \($0) training samples)" } ?? ""); dense: \(base.epochs) epochs, batch \(base.batchSize), lr \(base.learningRate); global magnitude pruning; retraining: SGD, \(plan.retrainEpochs) epochs, lr \(plan.retrainLearningRate ?? base.learningRate), \(plan.retrainSeeds) copies per cell. \(result.cells.count) cells (\(result.computed) computed now) in \(String(format: "%.0f", result.seconds)) s."))</p>\n"
        if !note.isEmpty { page += "<p class=\"meta\">\(escape(note))</p>\n" }
        page += "<h2>Phase diagram</h2>\n<div class=\"grid\">\n"
        for f in figures() { page += "<figure id=\"fig-\(f.name)\">\n\(f.svg)<figcaption>\(escape(f.caption))</figcaption>\n</figure>\n" }
        page += "</div>\n<h2>Cells</h2>\n<table>\n<tr><th>\(escape(plan.axis.rawValue))</th><th>density</th><th>test error (%)</th><th>per copy (%)</th><th>dense error (%)</th><th>mc (loss)</th><th>mc (error)</th><th>mean CKA</th><th>regime</th></tr>\n"
        for (cell, regime) in zip(result.cells, regimes) {
            page += "<tr><td>\(PruningGridPlan.number(cell.temperature))</td><td>\(PruningGridPlan.number(cell.density))</td>"
            page += String(format: "<td>%.2f</td>", cell.testError * 100)
            page += "<td>\(cell.testErrors.map { String(format: "%.2f", $0 * 100) }.joined(separator: ", "))</td>"
            page += String(format: "<td>%.2f</td><td>%+.4f</td><td>%+.4f</td><td>%.3f</td>", cell.denseTestError * 100, cell.connectivity.mc, cell.connectivity.mcError, cell.connectivity.meanCKA)
            page += "<td>\(regime.rawValue)</td></tr>\n"
        }
        page += "</table>\n<p class=\"meta\">mc = ½(L(θ₀)+L(θ₁)) − L(θ(t*)) with t* the interior point of the \(plan.connectivity.points)-point path farthest from the endpoints' mean; mc &lt; 0 is a barrier. Generated by <code>plateau prune-grid</code>; cells in <code>\(escape(plan.output.path))/cells/</code>.</p>\n</body>\n</html>\n"
        return page
    }

    /// Writes `grid.json`, `grid.csv`, `report.html` and `figures/*.svg` into `directory`.
    public func write(to directory: URL) throws {
        let figureDirectory = directory.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figureDirectory, withIntermediateDirectories: true)
        for f in figures() { try writeAtomically(Data(f.svg.utf8), to: figureDirectory.appendingPathComponent("\(f.name).svg")) }
        try writeAtomically(json(), to: directory.appendingPathComponent("grid.json"))
        try writeAtomically(Data(csv().utf8), to: directory.appendingPathComponent("grid.csv"))
        try writeAtomically(Data(html().utf8), to: directory.appendingPathComponent("report.html"))
    }
}
