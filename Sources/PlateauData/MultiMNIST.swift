import Foundation
import PlateauTensor

/// Labels of several classification tasks on the same samples, kept in a ``Dataset``'s one
/// label per sample as a mixed-radix number: with C classes per task,
/// label = Σ_t y_t·C^t (task 0 is the least significant digit), and the dataset has C^T
/// classes. Everything that handles a dataset (subsets, batches, shuffling, augmentation)
/// carries the tasks' labels unchanged; only multi-task code decodes them.
public struct TaskLabels: Sendable, Equatable {
    /// T, the number of tasks.
    public let tasks: Int
    /// C, the classes of each task.
    public let classesPerTask: Int

    /// - Precondition: tasks ≥ 1, classesPerTask ≥ 1.
    public init(tasks: Int, classesPerTask: Int) {
        precondition(tasks >= 1 && classesPerTask >= 1, "TaskLabels: need at least one task and one class")
        self.tasks = tasks
        self.classesPerTask = classesPerTask
    }

    /// The encoding of a dataset with `classCount` = C^`tasks` classes, or `nil` when
    /// `classCount` is no `tasks`-th power of an integer ≥ 2.
    public init?(tasks: Int, classCount: Int) {
        guard tasks >= 1 else { return nil }
        let root = Int(Foundation.pow(Double(classCount), 1 / Double(tasks)).rounded())
        for c in Swift.max(root - 1, 2)...Swift.max(root + 1, 2) {
            if (0..<tasks).reduce(1, { product, _ in product * c }) == classCount {
                self.init(tasks: tasks, classesPerTask: c)
                return
            }
        }
        return nil
    }

    /// C^T, the classes of the encoded labels.
    public var classCount: Int { (0..<tasks).reduce(1) { product, _ in product * classesPerTask } }

    /// Task `task`'s class in the encoded `label`.
    public func label(_ label: Int, task: Int) -> Int {
        var value = label
        for _ in 0..<task { value /= classesPerTask }
        return value % classesPerTask
    }

    /// The encoded label of one class per task.
    ///
    /// - Precondition: one label per task, each in `0..<classesPerTask`.
    public func encode(_ labels: [Int]) -> Int {
        precondition(labels.count == tasks && labels.allSatisfy { (0..<classesPerTask).contains($0) }, "TaskLabels: expected \(tasks) labels in 0..<\(classesPerTask), got \(labels)")
        return labels.reversed().reduce(0) { $0 * classesPerTask + $1 }
    }
}

/// Reads `plateau data make multi-mnist`'s directory as a two-task dataset: task 0 the left
/// (upper-left) digit, task 1 the right (lower-right) one, their labels encoded by
/// ``TaskLabels`` (100 classes; `left + 10·right`).
public enum MultiMNIST {
    /// The encoding of the two digits' labels.
    public static let taskLabels = TaskLabels(tasks: 2, classesPerTask: 10)
    /// The tasks' names, in task order.
    public static let taskNames = ["left", "right"]

    /// The training and test sets (`multi-mnist-train`, `multi-mnist-test`) in `directory`:
    /// the standard IDX images and left-digit labels plus the right-digit label files
    /// (``ShiftedMNIST/rightLabelsSuffix``), each raw or `.gz`; every count must agree.
    public static func loadDirectory(_ directory: URL, name: String = "multi-mnist") throws -> (train: Dataset, test: Dataset) {
        let (train, test) = try MNIST.loadDirectory(directory, name: name)
        func twoTask(_ dataset: Dataset, split: String) throws -> Dataset {
            let url = try locate([split + ShiftedMNIST.rightLabelsSuffix], in: directory)
            let right = try MNIST.readLabels(at: url)
            guard right.count == dataset.count else {
                throw DataError(
                    .countMismatch, file: displayName(url), field: "label count",
                    expected: "one right-digit label per image (\(dataset.count))", found: "\(right.count) labels")
            }
            let labels = zip(dataset.labels, right).map { taskLabels.encode([$0, $1]) }
            return Dataset(name: dataset.name, images: dataset.images, labels: labels, classCount: taskLabels.classCount)
        }
        return (try twoTask(train, split: "train"), try twoTask(test, split: "t10k"))
    }
}
