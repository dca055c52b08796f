import Foundation
import PlateauTraining

/// Relearning-attack curves side by side: forget accuracy against attack steps, one line
/// per model (or per method, the mean over seeds with a ±1 std band), as an SVG chart and
/// a self-contained HTML page with a table of the accuracy after 0/10/50/100 steps.
public struct RelearningReport {
    /// One model's (or method's) curves: several for seeds.
    public struct Entry: Sendable {
        public var label: String
        public var curves: [RelearningCurve]
        public init(label: String, curves: [RelearningCurve]) {
            self.label = label
            self.curves = curves
        }
    }

    public var entries: [Entry]
    /// What the attack was (samples, steps, lr), shown under the title.
    public var note: String

    public init(entries: [Entry], note: String) {
        self.entries = entries
        self.note = note
    }

    /// The steps the table reports, those the curves reach.
    public var milestones: [Int] {
        let longest = entries.flatMap(\.curves).map { $0.forgetAccuracy.count - 1 }.max() ?? 0
        return [0, 10, 50, 100].filter { $0 <= longest } + (longest > 100 || ![0, 10, 50, 100].contains(longest) ? [longest] : [])
    }

    /// Forget accuracy (in %) after `step` steps over an entry's curves.
    public func accuracy(_ entry: Entry, after step: Int) -> MeanStd {
        MeanStd(entry.curves.compactMap { $0.accuracy(after: step).map { Double($0) * 100 } })
    }

    /// The line chart: mean forget accuracy (%) per step, a band of ±1 std when an entry has several curves.
    public var svg: String {
        let series = entries.enumerated().map { index, entry -> SVGChart.Series in
            let length = entry.curves.map(\.forgetAccuracy.count).min() ?? 0
            let stats = (0..<length).map { step in (Double(step), accuracy(entry, after: step)) }
            let band = entry.curves.count > 1 ? stats.map { (x: $0.0, low: $0.1.mean - $0.1.std, high: $0.1.mean + $0.1.std) } : []
            return SVGChart.Series(name: entry.label, color: SVGChart.color(index), points: stats.map { (x: $0.0, y: $0.1.mean) }, band: band)
        }
        return SVGChart.lineChart(title: "Relearning attack", xLabel: "attack steps", yLabel: "forget accuracy (%)", series: series, integerX: true)
    }

    /// The page: title, note, chart and table.
    public var html: String {
        let steps = milestones
        // One run has no spread to show.
        func cell(_ m: MeanStd) -> String { escapeXML(m.count == 1 ? String(format: "%.1f", m.mean) : m.formatted(1)) }
        var rows = ""
        for entry in entries {
            let cells = steps.map { "<td>\(cell(accuracy(entry, after: $0)))</td>" }.joined()
            let before = MeanStd(entry.curves.compactMap { $0.retainAccuracyBefore.map { Double($0) * 100 } })
            let after = MeanStd(entry.curves.compactMap { $0.retainAccuracyAfter.map { Double($0) * 100 } })
            rows += "<tr><th>\(escapeXML(entry.label))</th><td>\(entry.curves.count)</td>\(cells)<td>\(cell(before))</td><td>\(cell(after))</td></tr>\n"
        }
        let header = steps.map { "<th>after \($0)</th>" }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Relearning attack</title>
            <style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child{text-align:left}</style>
            </head><body>
            <h1>Relearning attack</h1>
            <p>\(escapeXML(note))</p>
            \(svg)
            <h2>Forget accuracy (%) after attack steps, and retain accuracy (%) before and after</h2>
            <table><tr><th>model</th><th>runs</th>\(header)<th>retain before</th><th>retain after</th></tr>
            \(rows)</table>
            </body></html>

            """
    }
}
