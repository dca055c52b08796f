import Foundation
import Plateau
import Testing

/// `plateau prune-grid`'s runner (issue 15, three-regime pruning): resumability and the
/// regimes of the phase diagram.
@Suite("pruning grid") struct PruningGridTests {
    static func plan(in directory: URL) -> PruningGridPlan {
        var c = RunConfiguration()
        c.dataset = "digits"
        c.trainLimit = 60
        c.epochs = 1
        c.batchSize = 30
        c.threads = 1
        c.tensorboardInterval = 0
        var plan = PruningGridPlan(base: c, axis: .rho, temperatures: [0, 0.1], densities: [0.5], output: directory)
        plan.retrainEpochs = 1
        plan.connectivity.points = 3
        plan.connectivity.testSamples = 40
        plan.connectivity.batchNormSamples = 30
        plan.connectivity.ckaSamples = 20
        return plan
    }

    static func cell(_ plan: PruningGridPlan, temperature t: Double, density d: Double, mc: Float, cka: Double) -> PruningCell {
        let measure = ConnectivityMeasure(alphas: [0, 0.5, 1], testLoss: [0.3, 0.3 - mc, 0.3], testError: [0.1, 0.1, 0.1], mc: mc, mcError: 0,
                                          layerCKA: [cka], meanCKA: cka)
        return PruningCell(temperature: t, density: d, denseTestError: 0.05, testErrors: [0.123, 0.125], testError: 0.124,
                           connectivity: measure, settings: plan.cellSettings(temperature: t, density: d))
    }

    static func write(_ cell: PruningCell, _ plan: PruningGridPlan) throws {
        let directory = plan.cellDirectory(temperature: cell.temperature, density: cell.density)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONEncoder().encode(cell).write(to: directory.appendingPathComponent("cell.json"))
    }

    @Test func aFinishedCellIsNotRecomputedAndOneWithOtherSettingsIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plateau-prune-grid-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = Self.plan(in: directory)
        // Both cells present: nothing is trained (no dense run directory appears), the stored
        // numbers come back as they are.
        let stored = plan.temperatures.map { Self.cell(plan, temperature: $0, density: 0.5, mc: -0.2, cka: 0.7) }
        for cell in stored { try Self.write(cell, plan) }
        let result = try PruningGrid.run(plan) { _ in }
        #expect(result.computed == 0)
        #expect(result.cells == stored)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("dense").path))
        // The same directory asked with other retraining settings: an error naming the file.
        var other = plan
        other.retrainEpochs = 2
        #expect {
            try PruningGrid.run(other) { _ in }
        } throws: { error in
            "\(error)".contains("cell.json: the cell was computed with other settings")
        }
    }

    @Test func regimesFollowTheSignOfMcAndTheCKAThreshold() throws {
        let plan = Self.plan(in: URL(fileURLWithPath: "/nonexistent"))
        let cells = [Self.cell(plan, temperature: 0, density: 0.5, mc: -0.1, cka: 0.9),
                     Self.cell(plan, temperature: 0.1, density: 0.5, mc: 0.02, cka: 0.6),
                     Self.cell(plan, temperature: 0.2, density: 0.5, mc: 0, cka: 0.8)]
        // The median of the connected cells' CKA (0.6 and 0.8) splits them.
        #expect(PruningRegime.medianThreshold(cells) == 0.7)
        #expect(cells.map { PruningRegime.of(mc: $0.connectivity.mc, cka: $0.connectivity.meanCKA, ckaThreshold: 0.7) }
                == [.poorlyConnected, .connectedDissimilar, .connectedSimilar])
        var grid = plan
        grid.temperatures = [0, 0.1, 0.2]
        let report = PruningGridReport(PruningGridResult(plan: grid, cells: cells, computed: 0, seconds: 0))
        #expect(report.csv().split(separator: "\n").map { $0.split(separator: ",").last! } == ["regime", "I", "II-A", "II-B"])
        // One boundary between every pair of neighbouring cells of different regimes.
        let regimes = try #require(report.figures().first { $0.name == "regimes" })
        let boundary = try #require(regimes.svg.split(separator: "\n").first { $0.contains("stroke-width=\"3.5\"") })
        #expect(boundary.filter { $0 == "V" }.count == 2, "\(boundary)")
    }
}
