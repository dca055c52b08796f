import Foundation

/// Small, dependency-free SVG charts for reports: line charts with shaded bands, bar charts
/// with error bars, and contour plots. Every chart is a standalone, well-formed SVG document
/// (it parses as XML and can be written to a `.svg` file or inlined into HTML), with
/// labelled axes, tick values and a legend.
public enum SVGChart {
    /// The colour of series `index` (a colour-blind-friendly palette, Okabe & Ito 2008).
    public static func color(_ index: Int) -> String {
        let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
        return palette[index % palette.count]
    }

    /// One line of a ``lineChart(title:xLabel:yLabel:series:width:height:)``.
    public struct Series: Sendable {
        public var name: String
        public var color: String
        /// (x, y) points in order.
        public var points: [(x: Double, y: Double)]
        /// An optional shaded band (x, low, high), e.g. mean ± std over seeds.
        public var band: [(x: Double, low: Double, high: Double)]
        public var dashed: Bool

        public init(name: String, color: String, points: [(x: Double, y: Double)], band: [(x: Double, low: Double, high: Double)] = [], dashed: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.band = band
            self.dashed = dashed
        }
    }

    /// One bar of a ``barChart(title:yLabel:bars:width:height:)``.
    public struct Bar: Sendable {
        public var label: String
        public var color: String
        public var value: Double
        /// Half-width of the error bar (e.g. the standard deviation over seeds).
        public var error: Double
        /// Individual observations drawn as dots (e.g. one per seed).
        public var samples: [Double]

        public init(label: String, color: String, value: Double, error: Double = 0, samples: [Double] = []) {
            self.label = label
            self.color = color
            self.value = value
            self.error = error
            self.samples = samples
        }
    }

    // MARK: - Line chart

    /// A line chart: axes with ticks and labels, optional bands, a legend at the top right.
    /// `integerX` puts x ticks at whole numbers (epochs).
    public static func lineChart(
        title: String, xLabel: String, yLabel: String, series: [Series], integerX: Bool = false, width: Int = 560, height: Int = 340
    ) -> String {
        let frame = Frame(width: width, height: height)
        let xs = series.flatMap { $0.points.map(\.x) + $0.band.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) + $0.band.flatMap { [$0.low, $0.high] } }.filter(\.isFinite)
        var xScale = Scale(values: xs, range: (frame.left, frame.right), padFraction: 0)
        xScale.integer = integerX
        let yScale = Scale(values: ys, range: (frame.bottom, frame.top), padFraction: 0.05)
        var body = frame.axes(title: title, xLabel: xLabel, yLabel: yLabel, xScale: xScale, yScale: yScale)
        for s in series where !s.band.isEmpty {
            let upper = s.band.map { "\(fmt(xScale($0.x))),\(fmt(yScale($0.high)))" }
            let lower = s.band.reversed().map { "\(fmt(xScale($0.x))),\(fmt(yScale($0.low)))" }
            body += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(s.color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
        }
        for s in series where !s.points.isEmpty {
            let path = s.points.filter { $0.y.isFinite }.map { "\(fmt(xScale($0.x))),\(fmt(yScale($0.y)))" }.joined(separator: " ")
            body += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
        }
        // The legend goes in the corner with the fewest data points under it.
        let pixels = series.flatMap { $0.points.map { (xScale($0.x), yScale($0.y)) } }
        body += frame.legend(series.map { ($0.name, $0.color, $0.dashed) }, avoiding: pixels)
        return frame.document(body, title: title)
    }

    // MARK: - Bar chart

    /// Bars with error bars and per-sample dots; values are printed above the bars.
    public static func barChart(title: String, yLabel: String, bars: [Bar], width: Int = 360, height: Int = 300) -> String {
        let frame = Frame(width: width, height: height)
        let tops: [Double] = bars.flatMap { (bar: Bar) -> [Double] in [bar.value + bar.error, bar.value - bar.error] + bar.samples } + [0]
        let yScale = Scale(values: tops.filter(\.isFinite), range: (frame.bottom, frame.top), padFraction: 0.12)
        let slot = (frame.right - frame.left) / Double(max(bars.count, 1))
        var body = frame.axes(title: title, xLabel: nil, yLabel: yLabel, xScale: nil, yScale: yScale)
        let zero = yScale(max(yScale.low, min(0, yScale.high)))
        for (i, bar) in bars.enumerated() {
            let center = frame.left + slot * (Double(i) + 0.5)
            let barWidth = slot * 0.55
            let y = yScale(bar.value)
            body += "<rect x=\"\(fmt(center - barWidth / 2))\" y=\"\(fmt(min(y, zero)))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(Swift.abs(zero - y)))\" fill=\"\(bar.color)\" fill-opacity=\"0.75\"/>\n"
            if bar.error > 0 {
                let (a, b) = (yScale(bar.value - bar.error), yScale(bar.value + bar.error))
                body += "<path d=\"M\(fmt(center)),\(fmt(a))V\(fmt(b))M\(fmt(center - 6)),\(fmt(a))H\(fmt(center + 6))M\(fmt(center - 6)),\(fmt(b))H\(fmt(center + 6))\" stroke=\"#222\" stroke-width=\"1.5\" fill=\"none\"/>\n"
            }
            for (k, sample) in bar.samples.enumerated() {
                let dx = (Double(k) - Double(bar.samples.count - 1) / 2) * 7
                body += "<circle cx=\"\(fmt(center + dx))\" cy=\"\(fmt(yScale(sample)))\" r=\"3\" fill=\"#fff\" stroke=\"#222\" stroke-width=\"1\"/>\n"
            }
            let labelY = min(y, yScale(bar.value + bar.error)) - 6
            body += "<text x=\"\(fmt(center))\" y=\"\(fmt(labelY))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#222\">\(escape(short(bar.value)))</text>\n"
            body += "<text x=\"\(fmt(center))\" y=\"\(fmt(frame.bottom + 16))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#222\">\(escape(bar.label))</text>\n"
        }
        return frame.document(body, title: title)
    }

    // MARK: - Contour plot

    /// A 2-D landscape: a heat map of `values[j][i]` at (xs[i], ys[j]) with contour lines
    /// (marching squares) at `levels` (default: 12 levels spread over the value range,
    /// denser near the minimum), a colour bar, and the origin marked.
    public static func contourPlot(
        title: String, xLabel: String, yLabel: String, xs: [Double], ys: [Double], values: [[Double]],
        levels: [Double]? = nil, width: Int = 520, height: Int = 440
    ) -> String {
        var frame = Frame(width: width, height: height)
        frame.right -= 70  // room for the colour bar
        let finite = values.flatMap { $0 }.filter(\.isFinite)
        let low = finite.min() ?? 0, high = finite.max() ?? 1
        let xScale = Scale(values: xs, range: (frame.left, frame.right), padFraction: 0)
        let yScale = Scale(values: ys, range: (frame.bottom, frame.top), padFraction: 0)
        var body = ""
        // Heat map cells, coloured on a log-like scale so the basin is visible.
        func shade(_ v: Double) -> String {
            guard v.isFinite, high > low else { return "#ccc" }
            let t = Foundation.log1p(9 * (v - low) / (high - low)) / Foundation.log(10.0)
            return viridis(t)
        }
        for j in ys.indices {
            for i in xs.indices {
                let x0 = xScale(i == 0 ? xs[0] : (xs[i - 1] + xs[i]) / 2)
                let x1 = xScale(i == xs.count - 1 ? xs[i] : (xs[i] + xs[i + 1]) / 2)
                let y0 = yScale(j == 0 ? ys[0] : (ys[j - 1] + ys[j]) / 2)
                let y1 = yScale(j == ys.count - 1 ? ys[j] : (ys[j] + ys[j + 1]) / 2)
                body += "<rect x=\"\(fmt(min(x0, x1)))\" y=\"\(fmt(min(y0, y1)))\" width=\"\(fmt(Swift.abs(x1 - x0) + 0.4))\" height=\"\(fmt(Swift.abs(y1 - y0) + 0.4))\" fill=\"\(shade(values[j][i]))\"/>\n"
            }
        }
        let chosen = levels ?? (1...12).map { k in low + (high - low) * pow(Double(k) / 13, 2) }
        for level in chosen {
            let segments = marchingSquares(xs: xs, ys: ys, values: values, level: level)
            guard !segments.isEmpty else { continue }
            let d = segments.map { "M\(fmt(xScale($0.0.x))),\(fmt(yScale($0.0.y)))L\(fmt(xScale($0.1.x))),\(fmt(yScale($0.1.y)))" }.joined()
            body += "<path d=\"\(d)\" stroke=\"#fff\" stroke-width=\"0.9\" stroke-opacity=\"0.9\" fill=\"none\"/>\n"
        }
        body += "<circle cx=\"\(fmt(xScale(0)))\" cy=\"\(fmt(yScale(0)))\" r=\"4\" fill=\"#e00\" stroke=\"#fff\"/>\n"
        body += frame.axes(title: title, xLabel: xLabel, yLabel: yLabel, xScale: xScale, yScale: yScale, grid: false)
        // Colour bar.
        let barX = frame.right + 18, steps = 40
        for k in 0..<steps {
            let t0 = Double(k) / Double(steps)
            let y = frame.bottom - (frame.bottom - frame.top) * (Double(k + 1) / Double(steps))
            let v = low + (high - low) * (pow(10, t0) - 1) / 9
            body += "<rect x=\"\(fmt(barX))\" y=\"\(fmt(y))\" width=\"14\" height=\"\(fmt((frame.bottom - frame.top) / Double(steps) + 0.5))\" fill=\"\(shade(v))\"/>\n"
        }
        for t in [0.0, 0.5, 1.0] {
            let v = low + (high - low) * (pow(10, t) - 1) / 9
            let y = frame.bottom - (frame.bottom - frame.top) * t
            body += "<text x=\"\(fmt(barX + 18))\" y=\"\(fmt(y + 4))\" font-size=\"10\" fill=\"#222\">\(escape(short(v)))</text>\n"
        }
        body += "<text x=\"\(fmt(barX + 7))\" y=\"\(fmt(frame.top - 8))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#222\">loss</text>\n"
        return frame.document(body, title: title)
    }

    /// Contour segments of `values` at `level` (marching squares, linear interpolation).
    static func marchingSquares(xs: [Double], ys: [Double], values: [[Double]], level: Double) -> [((x: Double, y: Double), (x: Double, y: Double))] {
        var segments: [((x: Double, y: Double), (x: Double, y: Double))] = []
        guard xs.count > 1, ys.count > 1 else { return [] }
        for j in 0..<(ys.count - 1) {
            for i in 0..<(xs.count - 1) {
                // Corners counter-clockwise from bottom-left.
                let corners = [(xs[i], ys[j], values[j][i]), (xs[i + 1], ys[j], values[j][i + 1]),
                               (xs[i + 1], ys[j + 1], values[j + 1][i + 1]), (xs[i], ys[j + 1], values[j + 1][i])]
                guard corners.allSatisfy({ $0.2.isFinite }) else { continue }
                var crossings: [(x: Double, y: Double)] = []
                for e in 0..<4 {
                    let a = corners[e], b = corners[(e + 1) % 4]
                    if (a.2 < level) != (b.2 < level) {
                        let t = (level - a.2) / (b.2 - a.2)
                        crossings.append((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)))
                    }
                }
                if crossings.count == 2 { segments.append((crossings[0], crossings[1])) }
                if crossings.count == 4 { segments.append((crossings[0], crossings[1])); segments.append((crossings[2], crossings[3])) }
            }
        }
        return segments
    }

    // MARK: - Pieces

    /// Plot area and document frame.
    struct Frame {
        var width: Int, height: Int
        var left: Double, right: Double, top: Double, bottom: Double

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            left = 64; right = Double(width) - 16; top = 34; bottom = Double(height) - 46
        }

        func document(_ body: String, title: String) -> String {
            """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(width) \(height)" width="\(width)" height="\(height)" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img">
            <title>\(escape(title))</title>
            <rect x="0" y="0" width="\(width)" height="\(height)" fill="#fff"/>
            \(body)</svg>
            """
        }

        func axes(title: String, xLabel: String?, yLabel: String, xScale: Scale?, yScale: Scale, grid: Bool = true) -> String {
            var s = ""
            for tick in yScale.ticks() {
                let y = yScale(tick)
                if grid { s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y))\" x2=\"\(fmt(right))\" y2=\"\(fmt(y))\" stroke=\"#e4e4e4\"/>\n" }
                s += "<line x1=\"\(fmt(left - 4))\" y1=\"\(fmt(y))\" x2=\"\(fmt(left))\" y2=\"\(fmt(y))\" stroke=\"#444\"/>\n"
                s += "<text x=\"\(fmt(left - 7))\" y=\"\(fmt(y + 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"#333\">\(escape(yScale.label(tick)))</text>\n"
            }
            if let xScale {
                for tick in xScale.ticks() {
                    let x = xScale(tick)
                    if grid { s += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(top))\" x2=\"\(fmt(x))\" y2=\"\(fmt(bottom))\" stroke=\"#efefef\"/>\n" }
                    s += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(bottom))\" x2=\"\(fmt(x))\" y2=\"\(fmt(bottom + 4))\" stroke=\"#444\"/>\n"
                    s += "<text x=\"\(fmt(x))\" y=\"\(fmt(bottom + 17))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">\(escape(xScale.label(tick)))</text>\n"
                }
            }
            s += "<path d=\"M\(fmt(left)),\(fmt(top))V\(fmt(bottom))H\(fmt(right))\" stroke=\"#444\" fill=\"none\"/>\n"
            s += "<text x=\"\(fmt((left + right) / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\" fill=\"#111\">\(escape(title))</text>\n"
            if let xLabel {
                s += "<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(Double(height) - 10))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#222\">\(escape(xLabel))</text>\n"
            }
            let yMid = (top + bottom) / 2
            s += "<text x=\"16\" y=\"\(fmt(yMid))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#222\" transform=\"rotate(-90 16 \(fmt(yMid)))\">\(escape(yLabel))</text>\n"
            return s
        }

        func legend(_ entries: [(name: String, color: String, dashed: Bool)], avoiding points: [(Double, Double)] = []) -> String {
            guard !entries.isEmpty else { return "" }
            let rowHeight = 17.0
            let boxWidth = Double(entries.map(\.name.count).max() ?? 4) * 7 + 40
            let boxHeight = rowHeight * Double(entries.count) + 8
            let corners = [(right - boxWidth - 6, top + 6), (left + 6, top + 6), (right - boxWidth - 6, bottom - boxHeight - 6), (left + 6, bottom - boxHeight - 6)]
            func covered(_ corner: (Double, Double)) -> Int {
                points.filter { $0.0 >= corner.0 - 4 && $0.0 <= corner.0 + boxWidth + 4 && $0.1 >= corner.1 - 4 && $0.1 <= corner.1 + boxHeight + 4 }.count
            }
            let (x, y) = corners.min { covered($0) < covered($1) } ?? corners[0]
            var s = "<g class=\"legend\"><rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(boxWidth))\" height=\"\(fmt(rowHeight * Double(entries.count) + 8))\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n"
            for (k, e) in entries.enumerated() {
                let row = y + 4 + rowHeight * (Double(k) + 0.5)
                s += "<line x1=\"\(fmt(x + 8))\" y1=\"\(fmt(row))\" x2=\"\(fmt(x + 30))\" y2=\"\(fmt(row))\" stroke=\"\(e.color)\" stroke-width=\"3\"\(e.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
                s += "<text x=\"\(fmt(x + 36))\" y=\"\(fmt(row + 4))\" font-size=\"12\" fill=\"#222\">\(escape(e.name))</text>\n"
            }
            return s + "</g>\n"
        }
    }

    /// A linear map from data values to pixels, with "nice" ticks.
    struct Scale {
        var low: Double, high: Double
        var range: (Double, Double)
        /// Ticks at whole numbers only (epochs).
        var integer = false

        init(values: [Double], range: (Double, Double), padFraction: Double) {
            // A diverged run's NaN or infinite values are left out of the axis (they are drawn
            // nowhere); an axis over them would have no ticks to place.
            let finite = values.filter(\.isFinite)
            var low = finite.min() ?? 0, high = finite.max() ?? 1
            if !(high > low) { low -= 0.5; high += 0.5 }
            if !(high - low).isFinite { low = -Double.greatestFiniteMagnitude / 4; high = Double.greatestFiniteMagnitude / 4 }
            let pad = (high - low) * padFraction
            self.low = low - pad
            self.high = high + pad
            self.range = range
        }

        func callAsFunction(_ value: Double) -> Double {
            range.0 + (value - low) / (high - low) * (range.1 - range.0)
        }

        /// The spacing of ``ticks(target:)``.
        func tickStep(target: Int = 6) -> Double {
            let raw = (high - low) / Double(target)
            let magnitude = pow(10, floor(log10(raw)))
            let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
            return integer ? max(1, step.rounded(.up)) : step
        }

        /// A tick value with just the decimals its spacing needs ("0.25", "2", "1e-04").
        func label(_ tick: Double) -> String {
            let step = tickStep()
            if tick == 0 { return "0" }
            if Swift.abs(tick) >= 1e5 || step < 1e-4 { return String(format: "%.1e", tick) }
            var decimals = max(0, Int(-floor(log10(step) + 1e-9)))
            if (step * pow(10, Double(decimals))).rounded() != step * pow(10, Double(decimals)) { decimals += 1 }
            return String(format: "%.\(decimals)f", tick)
        }

        func ticks(target: Int = 6) -> [Double] {
            let step = tickStep(target: target)
            // A span too narrow for its magnitude (or not finite) has no tick spacing: stride
            // would trap on a zero or NaN step, and a few ticks at the ends say as much.
            guard step.isFinite, step > 0, (high - low) / step < 1000, low + step != low else {
                return low.isFinite && high.isFinite ? [low, high] : []
            }
            let first = ceil(low / step - 1e-9) * step
            return stride(from: first, through: high + step * 1e-9, by: step).map { Swift.abs($0) < step * 1e-9 ? 0 : $0 }
        }
    }

    /// The viridis colour map at t ∈ [0, 1] (piecewise-linear through 6 anchors).
    static func viridis(_ t: Double) -> String {
        let anchors: [(Double, Double, Double)] = [(68, 1, 84), (65, 68, 135), (42, 120, 142), (34, 168, 132), (122, 209, 81), (253, 231, 37)]
        let x = min(max(t, 0), 1) * Double(anchors.count - 1)
        let i = min(Int(x), anchors.count - 2), f = x - Double(i)
        let a = anchors[i], b = anchors[i + 1]
        func channel(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02X%02X%02X", channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
    }
}

/// Pixel coordinates with two decimals.
func fmt(_ x: Double) -> String { String(format: "%.2f", x.isFinite ? x : 0) }

/// A compact human number: 3 significant digits, scientific when very small or large.
func short(_ x: Double) -> String {
    guard x.isFinite else { return "–" }
    if x == 0 { return "0" }
    let a = Swift.abs(x)
    if a >= 1e5 || a < 1e-3 { return String(format: "%.2e", x) }
    if a >= 100 { return String(format: "%.0f", x) }
    if a >= 10 { return String(format: "%.1f", x) }
    if a >= 1 { return String(format: "%.2f", x) }
    return String(format: "%.3g", x)
}

/// Text escaped for XML content and attribute values.
public func escapeXML(_ text: String) -> String { escape(text) }

func escape(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}

extension SVGChart {
    /// Contour segments of `values[j][i]` at `level` (exposed for tests).
    public static func marchingSquaresForTesting(xs: [Double], ys: [Double], values: [[Double]], level: Double) -> [((x: Double, y: Double), (x: Double, y: Double))] {
        marchingSquares(xs: xs, ys: ys, values: values, level: level)
    }
}
