import Foundation
import PlateauAnalysis
import PlateauComparison
import PlateauReport
import PlateauTraining
import Testing

@Suite("SVG charts and the comparison report")
struct ReportTests {
    @Test("the checker rejects malformed documents")
    func checkerIsStrict() {
        #expect(throws: XMLChecker.Failure.self) { try XMLChecker("<a><b></a>") }
        #expect(throws: XMLChecker.Failure.self) { try XMLChecker("<a x=1></a>") }
        #expect(throws: XMLChecker.Failure.self) { try XMLChecker("<a>1 < 2</a>") }
        #expect(throws: XMLChecker.Failure.self) { try XMLChecker("<a>&nbsp;</a>") }
        #expect(throws: XMLChecker.Failure.self) { try XMLChecker("<a></a><b></b>") }
        #expect(throws: XMLChecker.Failure.self) { try XMLChecker("<a x=\"1\" x=\"2\"></a>") }
        #expect(throws: Never.self) { try XMLChecker("<!DOCTYPE html>\n<a><b/><!-- c --><c d='e &amp; f'>1 &lt; 2</c></a>\n") }
    }

    @Test("line, bar and contour charts are well-formed SVG with labels and legend")
    func charts() throws {
        let line = SVGChart.lineChart(title: "Loss & more", xLabel: "epoch", yLabel: "loss <nats>", series: [
            .init(name: "sgd", color: SVGChart.color(0), points: [(1, 2.5), (2, 1.25), (3, 0.75)], band: [(1, 2, 3), (2, 1, 1.5), (3, 0.5, 1)]),
            .init(name: "sam", color: SVGChart.color(1), points: [(1, 2.4), (2, 1.1), (3, 0.6)], dashed: true),
        ], integerX: true)
        let parsed = try XMLChecker(line)
        #expect(parsed.elements.first == "svg")
        #expect(parsed.text.contains("Loss & more") && parsed.text.contains("loss <nats>") && parsed.text.contains("epoch"))
        #expect(parsed.text.contains("sgd") && parsed.text.contains("sam"))  // legend
        #expect(parsed.elements.contains("polygon"))  // band

        let bars = SVGChart.barChart(title: "λ_max", yLabel: "eigenvalue", bars: [
            .init(label: "sgd", color: SVGChart.color(0), value: 12.5, error: 1.5, samples: [11, 14]),
            .init(label: "sam", color: SVGChart.color(1), value: 4.25, error: 0.5, samples: [3.75, 4.75]),
        ])
        let barText = try XMLChecker(bars).text
        #expect(barText.contains("12.5") && barText.contains("4.25") && barText.contains("sgd"))

        let axis: [Double] = [-1, -0.5, 0, 0.5, 1]
        let values = axis.map { b in axis.map { a in a * a + 2 * b * b } }
        let contour = SVGChart.contourPlot(title: "2-D", xLabel: "α", yLabel: "β", xs: axis, ys: axis, values: values)
        let c = try XMLChecker(contour)
        #expect(c.elements.contains("path") && c.text.contains("α") && c.text.contains("β"))
    }

    @Test("marching squares finds the circle x² + y² = 1 on a grid")
    func marchingSquares() {
        let axis = (0...20).map { -2 + 4 * Double($0) / 20 }
        let values = axis.map { y in axis.map { x in x * x + y * y } }
        let segments = SVGChart.marchingSquaresForTesting(xs: axis, ys: axis, values: values, level: 1)
        #expect(!segments.isEmpty)
        for (a, b) in segments {
            #expect(Swift.abs((a.x * a.x + a.y * a.y).squareRoot() - 1) < 0.05)
            #expect(Swift.abs((b.x * b.x + b.y * b.y).squareRoot() - 1) < 0.05)
        }
    }

    @Test("the HTML and Markdown reports are well-formed, self-contained and carry the runs' numbers")
    func report() throws {
        let result = Self.syntheticResult()
        let report = ComparisonReport(result, note: "plateau compare --optimizers sgd,sam")
        let html = report.html()
        let parsed = try XMLChecker(html)
        #expect(parsed.elements.first == "html")
        #expect(parsed.elements.filter { $0 == "svg" }.count == report.figures().count)
        // Self-contained: no scripts, links or external references.
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("<img"))
        #expect(!html.contains("https://") && !html.contains("src="))
        // sgd final accuracies 0.91 and 0.93 → 92.00 ± 1.41; sam 0.94, 0.96 → 95.00 ± 1.41.
        #expect(parsed.text.contains("92.00 ± 1.41"))
        #expect(parsed.text.contains("95.00 ± 1.41"))
        // λ_max 12 and 14 → 13.0 ± 1.41; ρ-sharpness of sam 0.02, 0.04 → 0.03 ± 0.0141 (3 significant digits).
        #expect(parsed.text.contains("13.0 ± 1.41"))
        #expect(parsed.text.contains("0.03 ± 0.0141"))
        for run in result.runs { #expect(parsed.text.contains(run.name)) }
        #expect(parsed.text.contains("Training loss") && parsed.text.contains("1-D loss landscape") && parsed.text.contains("Top Hessian eigenvalue"))

        let md = report.markdown()
        #expect(md.contains("| sgd | 2 | 92.00 ± 1.41 |"))
        #expect(md.contains("sam-seed1"))
        for figure in report.figures() { _ = try XMLChecker(figure.svg) }
    }

    @Test("a weight-norm figure appears when the runs' sharpness records ‖θ‖, and not for older caches")
    func weightNormFigure() throws {
        var result = Self.syntheticResult()
        #expect(!ComparisonReport(result, note: "").figures().map(\.name).contains("weight-norm"))
        for i in result.runs.indices { result.runs[i].sharpness?.weightNorm = Float(10 + i) }
        let report = ComparisonReport(result, note: "")
        let figure = try #require(report.figures().first { $0.name == "weight-norm" })
        _ = try XMLChecker(figure.svg)
        #expect(report.html().contains("Weight norm"))
    }

    /// Two methods × two seeds with hand-picked numbers.
    static func syntheticResult() -> ComparisonSummary {
        func run(_ optimizer: String, _ k: Int, accuracy: Float, eigenvalue: Float, rho: Float) -> ComparisonRun {
            let passes: Float = optimizer == "sam" ? 2 : 1
            let metrics = (1...3).map { (e: Int) -> EpochMetrics in
                let x = Float(e)
                let testAccuracy: Float = e == 3 ? accuracy : accuracy - 0.1 * (3 - x)
                return EpochMetrics(epoch: e, trainLoss: 2 / x, trainAccuracy: 0.3 * x, testLoss: 1.5 / x, testAccuracy: testAccuracy,
                                    learningRate: 0.05, seconds: 1, samplesPerSecond: 1000, passesPerStep: passes, millisecondsPerStep: Double(passes))
            }
            let alphas: [Float] = [-1, 0, 1]
            let sharpness = SharpnessSummary(samples: 100, loss: 0.5, eigenvalues: [eigenvalue], trace: nil, rho: 0.05, rhoSharpness: rho,
                                             worstCaseSharpness: nil, landscapeAlphas: alphas, landscapeLosses: alphas.map { 0.5 + eigenvalue * $0 * $0 / 10 }, seconds: 1)
            return ComparisonRun(optimizer: optimizer, seedIndex: k, name: "\(optimizer)-seed\(k)", metrics: metrics, sharpness: sharpness, trained: k == 0)
        }
        var base = RunConfiguration()
        base.epochs = 3
        let plan = ComparisonPlan(optimizers: ["sgd", "sam"], seeds: 2, base: base, output: URL(fileURLWithPath: "/tmp/x"), jobs: 2, threads: 1,
                                  sharpness: SharpnessSettings(), sharpnessSamples: 100)
        return ComparisonSummary(plan: plan, runs: [
            run("sgd", 0, accuracy: 0.91, eigenvalue: 12, rho: 0.05), run("sgd", 1, accuracy: 0.93, eigenvalue: 14, rho: 0.07),
            run("sam", 0, accuracy: 0.94, eigenvalue: 5, rho: 0.02), run("sam", 1, accuracy: 0.96, eigenvalue: 6, rho: 0.04),
        ], trainingSeconds: 10, sharpnessSeconds: 2)
    }
}
