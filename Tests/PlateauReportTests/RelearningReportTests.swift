import PlateauReport
import PlateauTraining
import Testing

@Suite struct RelearningReportTests {
    private func curve(_ values: [Float]) -> RelearningCurve {
        RelearningCurve(forgetAccuracy: values, attackLoss: Array(repeating: 1, count: values.count - 1), retainAccuracyBefore: 0.9, retainAccuracyAfter: 0.95)
    }

    /// Curves sharing a label are averaged (mean ± sample std) and the page is well-formed.
    @Test func groupsSeedsAndRenders() throws {
        let steps = 12
        let a = curve((0...steps).map { Float($0) / Float(steps) }), b = curve((0...steps).map { Float($0) / Float(2 * steps) })
        let report = RelearningReport(entries: [.init(label: "npo", curves: [a, b]), .init(label: "npo+sam <ρ>", curves: [a])], note: "test")
        #expect(report.milestones == [0, 10, 12])
        // After 10 steps: 10/12 and 10/24, in %: mean 62.5, std √((20.83²·2)/1) = 29.46.
        let ten = report.accuracy(report.entries[0], after: 10)
        #expect(abs(ten.mean - 62.5) < 1e-3 && abs(ten.std - 29.4628) < 1e-3)
        _ = try XMLChecker(report.svg)
        #expect(report.html.contains("<td>62.5 ± 29.5</td>") && report.html.contains("npo+sam &lt;ρ&gt;") && report.html.contains("<td>83.3</td>"))
    }
}
