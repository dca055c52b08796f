import Foundation
import PlateauTraining

/// The report of a segmentation run (`plateau train --task segmentation` writes it as
/// `report.html` in the run directory): the final scores, per-epoch curves of mean Dice, mIoU
/// and Boundary IoU, σᵢ's trajectories under the uncertainty weighting, and a few test images
/// drawn as inline SVG — input, truth and prediction side by side, each pixel class in its
/// own colour (background black). Self-contained: no scripts, fonts or files from elsewhere.
public struct SegmentationReport {
    public var summary: SegmentationSummary
    public var note: String

    public init(_ summary: SegmentationSummary, note: String = "") {
        self.summary = summary
        self.note = note
    }

    /// The colour of pixel class `c` (0, the background, is black).
    static func classColor(_ c: Int32) -> String {
        // Ten distinct colours for the digits (Tableau 10), none of them black.
        let palette = ["#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC"]
        return c == 0 ? "#000000" : palette[Int(c - 1) % palette.count]
    }

    /// An image as SVG: one rect per horizontal run of equal colour, scaled by `scale`.
    static func pixelImage(height: Int, width: Int, scale: Int = 3, title: String, color: (Int) -> String) -> String {
        var body = ""
        for y in 0..<height {
            var x = 0
            while x < width {
                let fill = color(y * width + x)
                var end = x + 1
                while end < width && color(y * width + end) == fill { end += 1 }
                body += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(end - x)\" height=\"1\" fill=\"\(fill)\"/>"
                x = end
            }
            body += "\n"
        }
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width * scale)" height="\(height * scale)" viewBox="0 0 \(width) \(height)" shape-rendering="crispEdges" role="img" aria-label="\(escapeXML(title))"><title>\(escapeXML(title))</title>
        \(body)</svg>
        """
    }

    /// Input (grey levels), truth and prediction of one sample, as three SVG images.
    public static func sampleFigures(_ sample: SegmentationSample) -> (input: String, truth: String, prediction: String) {
        let input = pixelImage(height: sample.height, width: sample.width, title: "input") { i in
            let v = Int((min(max(sample.input[i], 0), 1) * 255).rounded())
            return String(format: "#%02x%02x%02x", v, v, v)
        }
        let truth = pixelImage(height: sample.height, width: sample.width, title: "truth") { classColor(sample.truth[$0]) }
        let prediction = pixelImage(height: sample.height, width: sample.width, title: "prediction") { classColor(sample.prediction[$0]) }
        return (input, truth, prediction)
    }

    public func html() -> String {
        let s = summary, o = s.options, c = s.configuration
        let rule = (try? MethodRegistry.standard.entry(named: c.optimizer).kind) == .sharpnessAware
        let method = rule ? "\(c.optimizer) over \(c.baseOptimizer)" : c.optimizer
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <title>Plateau segmentation: \(escapeXML(o.model)), \(escapeXML(o.loss.rawValue)), \(escapeXML(c.optimizer))</title>
        <style>
        body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px; color: #1a1a1a; padding: 0 16px; }
        h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
        th, td { border: 1px solid #d4d4d4; padding: 4px 9px; text-align: right; }
        th { background: #f3f3f3; }
        .grid { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
        figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
        p.meta { color: #555; font-size: 14px; }
        </style>
        </head>
        <body>
        <h1>Segmentation: \(escapeXML(o.model)) (width \(o.width), \(o.levels) levels), loss \(escapeXML(o.loss.rawValue)), \(escapeXML(method))</h1>
        <p class="meta">\(escapeXML("\(c.dataset) \(c.dataDirectory ?? ""), \(c.epochs) epochs, batch \(c.batchSize), lr \(c.learningRate), seed \(c.seed)"))</p>

        """
        if !note.isEmpty { page += "<p class=\"meta\">\(escapeXML(note))</p>\n" }
        page += "<h2>Scores per epoch (test set)</h2>\n<table>\n<tr><th>epoch</th><th>train loss</th><th>test CE</th><th>pixel acc (%)</th><th>mean Dice</th><th>mIoU</th><th>Boundary IoU (2 px)</th><th>σ</th></tr>\n"
        for m in s.metrics {
            let g = m.segmentation
            let sigma = g?.sigma.map { zip(g!.losses, $0).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: ", ") } ?? "–"
            page += String(format: "<tr><td>%d</td><td>%.4f</td><td>%.4f</td><td>%.2f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td>", m.epoch, m.trainLoss, m.testLoss, m.testAccuracy * 100, g?.meanDice ?? .nan, g?.meanIoU ?? .nan, g?.boundaryIoU ?? .nan)
                + "<td>\(escapeXML(sigma))</td></tr>\n"
        }
        page += "</table>\n"
        let epochs = s.metrics.compactMap { m in m.segmentation.map { (Double(m.epoch), $0) } }
        if !epochs.isEmpty {
            page += "<div class=\"grid\">\n"
            let scores: [(String, (SegmentationEpochMetrics) -> Float)] = [("mean Dice", \.meanDice), ("mIoU", \.meanIoU), ("Boundary IoU", \.boundaryIoU)]
            page += "<figure>" + SVGChart.lineChart(
                title: "Test scores", xLabel: "epoch", yLabel: "score",
                series: scores.enumerated().map { i, score in
                    SVGChart.Series(name: score.0, color: SVGChart.color(i), points: epochs.map { ($0.0, Double(score.1($0.1))) })
                }, integerX: true, width: 480, height: 300) + "</figure>\n"
            if let first = epochs.first?.1, first.sigma != nil {
                page += "<figure>" + SVGChart.lineChart(
                    title: "σᵢ of the uncertainty weighting", xLabel: "epoch", yLabel: "σ",
                    series: first.losses.enumerated().map { i, name in
                        SVGChart.Series(name: "σ " + name, color: SVGChart.color(i), points: epochs.compactMap { e in e.1.sigma.map { (e.0, Double($0[i])) } })
                    }, integerX: true, width: 480, height: 300) + "</figure>\n"
            }
            page += "</div>\n"
        }
        if !s.samples.isEmpty {
            page += "<h2>Test images: input, truth, prediction</h2>\n<p class=\"meta\">Pixel classes: "
            page += (0..<Int32(s.classCount)).map { k in
                "<span style=\"display:inline-block;width:11px;height:11px;background:\(Self.classColor(k));margin:0 4px 0 8px\"></span>" + (k == 0 ? "background" : "\(k - 1)")
            }.joined() + "</p>\n"
            for (i, sample) in s.samples.enumerated() {
                let f = Self.sampleFigures(sample)
                page += "<div class=\"grid\">\n<figure>\(f.input)<figcaption>test image \(i): input</figcaption></figure>\n<figure>\(f.truth)<figcaption>truth</figcaption></figure>\n<figure>\(f.prediction)<figcaption>prediction</figcaption></figure>\n</div>\n"
            }
        }
        page += "</body>\n</html>\n"
        return page
    }
}
