import ArgumentParser
import Plateau

/// `train`'s multi-task options (issue 14): the number of tasks and how their gradients combine.
struct TrainMultiTaskOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Tasks of a multi-task dataset (multi-mnist: 2, the left and right digit), one lenet head each; 1: single-task (default: 1).") var tasks: Int?
    @Option(parsing: .unconditional, help: "How the tasks' gradients of the shared body combine with --tasks ≥ 2: \(GradientAggregators.names.joined(separator: ", ")) (equal-weights sum, PCGrad, MGDA min-norm, CAGrad c=0.4); with --optimizer fmtl, for the loss and the flat parts apart; summed-loss rules (sam, …) take ew (default: ew).") var aggregator: String?

    func apply(to c: inout RunConfiguration) {
        if let tasks { c.tasks = tasks }
        if let aggregator { c.aggregator = aggregator }
    }
}
