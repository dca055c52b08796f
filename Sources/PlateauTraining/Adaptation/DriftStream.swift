import Foundation
import PlateauData
import PlateauTensor

/// A class-incremental stream under growing concept drift, built from MNIST: the benchmark
/// of generalized incremental learning under concept drift (GILCD; Yu, Lu & Zhang 2025,
/// arXiv 2506.05736) at MNIST scale.
///
/// - Phase 0: the base classes (0…4 by default), clean. Its training images pre-train the
///   backbone and give the base prototypes; its stream is clean test images of those classes.
/// - Phase t = 1…T: one new class (5, 6, …) arrives with `shots` labelled images (from the
///   training split), while the drift grows: every image of the phase — shots and stream — is
///   rotated by t·`rotationStep` degrees counter-clockwise (``ImageTransforms/rotate(_:degrees:)``)
///   and then corrupted by `corruption` at severity min(t, 5) (``Corruption``, e.g. gaussian noise
///   σ = 0.08, 0.12, 0.18, 0.26, 0.38). Its stream is unlabeled test images of every class seen
///   so far, `samplesPerPhase / seen` of each, shuffled; the labels are kept only to score.
///
/// Test images are drawn without replacement across phases (each class's test images are
/// permuted once with the seed and consumed in order), so no image is met twice. Every random
/// draw comes from a ``SeededGenerator`` derived from `seed` and the phase, so one seed gives
/// one stream, byte for byte.
public struct DriftStream: Sendable {
    /// How a stream is laid out.
    public struct Options: Sendable, Equatable {
        /// The classes of phase 0.
        public var baseClasses = 5
        /// Phases after phase 0, one new class each (classes `baseClasses ..< baseClasses + phases`).
        public var phases = 5
        /// Labelled images of each new class.
        public var shots = 5
        /// Unlabeled images per phase (phase 0 included), split evenly over the seen classes.
        public var samplesPerPhase = 1000
        /// Degrees of rotation added per phase.
        public var rotationStep = 15.0
        /// The corruption added from phase 1 on, at severity min(t, 5); `nil`: rotation only.
        public var corruption: Corruption? = .gaussianNoise
        /// Phase-0 training images used to pre-train (`nil`: all of the base classes').
        public var pretrainLimit: Int?
        public var seed: UInt64 = 0

        public init() {}
    }

    /// One phase of the stream.
    public struct Phase: Sendable {
        /// 0 for the base phase.
        public var index: Int
        /// Every class seen up to and including this phase, `0 ..< seenClassCount`.
        public var seenClassCount: Int
        /// The classes that arrive in this phase (empty in phase 0).
        public var newClasses: [Int]
        public var rotationDegrees: Double
        /// The corruption and its severity (`nil` in phase 0 or without a corruption).
        public var corruption: (kind: Corruption, severity: Int)?
        /// The labelled few-shot images of the new classes, drifted like the stream.
        public var shots: Dataset
        /// The unlabeled stream, in presentation order (labels for scoring only).
        public var stream: Dataset
    }

    public var options: Options
    /// Phase 0's training set: training images of the base classes, clean.
    public var pretraining: Dataset
    /// Phases 0…T.
    public var phases: [Phase]

    /// The stream made from an MNIST training and test split (single-channel images in [0, 1],
    /// labels 0…9).
    ///
    /// - Throws: ``AdaptationError`` when the options ask for more classes or images than the
    ///   splits hold, naming the option and the counts.
    public static func make(train: Dataset, test: Dataset, options: Options) throws -> DriftStream {
        let total = options.baseClasses + options.phases
        guard options.baseClasses >= 2 else { throw AdaptationError("--base-classes: expected at least 2, got \(options.baseClasses)") }
        guard options.phases >= 0 else { throw AdaptationError("--phases: expected at least 0, got \(options.phases)") }
        guard options.shots >= 1 else { throw AdaptationError("--shots: expected at least 1, got \(options.shots)") }
        guard total <= min(train.classCount, test.classCount) else {
            throw AdaptationError("--base-classes \(options.baseClasses) + --phases \(options.phases) need \(total) classes, but the data has \(min(train.classCount, test.classCount))")
        }
        for dataset in [train, test] where dataset.sampleShape.count != 3 || dataset.sampleShape[0] != 1 {
            throw AdaptationError("\(dataset.name): expected single-channel images [1, H, W], got \(dataset.sampleShape)")
        }
        let trainByClass = byClass(train.labels, classes: total), testByClass = byClass(test.labels, classes: total)
        // Test images per class consumed by the streams: phase t takes samplesPerPhase / seen(t).
        var needed = [Int](repeating: 0, count: total)
        for t in 0...options.phases {
            let seen = options.baseClasses + t
            for c in 0..<seen { needed[c] += options.samplesPerPhase / seen }
        }
        for c in 0..<total where needed[c] > testByClass[c].count {
            throw AdaptationError(
                "--phase-samples \(options.samplesPerPhase): class \(c) needs \(needed[c]) test images over the phases, but \(test.name) has \(testByClass[c].count)")
        }
        for c in options.baseClasses..<total where trainByClass[c].count < options.shots {
            throw AdaptationError("--shots \(options.shots): class \(c) has only \(trainByClass[c].count) training images")
        }
        guard options.samplesPerPhase >= options.baseClasses + options.phases else {
            throw AdaptationError("--phase-samples \(options.samplesPerPhase): expected at least one image per seen class (\(total))")
        }

        // Pre-training: the base classes' training images, in a seeded order, optionally a prefix.
        var baseIndices = permuted(trainByClass[0..<options.baseClasses].flatMap { $0 }.sorted(), seed: derived(options.seed, 0))
        if let limit = options.pretrainLimit { baseIndices = Array(baseIndices.prefix(limit)) }
        let pretraining = train.subset(baseIndices, name: "drift-phase0-train")

        // Each class's test images, permuted once; phases take from the front.
        var testQueues = testByClass.enumerated().map { c, indices in permuted(indices, seed: derived(options.seed, 1000 + c)) }
        var phases: [Phase] = []
        for t in 0...options.phases {
            let seen = options.baseClasses + t
            var generator = SeededGenerator(seed: derived(options.seed, 1 + t))
            var picked: [Int] = []
            for c in 0..<seen {
                let count = options.samplesPerPhase / seen
                picked += testQueues[c].prefix(count)
                testQueues[c].removeFirst(count)
            }
            picked = shuffled(picked, using: &generator)
            let newClasses = t == 0 ? [] : [seen - 1]
            let shotIndices = newClasses.flatMap { c in permuted(trainByClass[c], seed: derived(options.seed, 2000 + c)).prefix(options.shots) }
            let rotation = Double(t) * options.rotationStep
            let corruption = t == 0 ? nil : options.corruption.map { ($0, min(t, Corruption.severities.upperBound)) }
            // Shots first, then the stream, from the phase's one generator.
            let shots = drifted(train.subset(shotIndices, name: "drift-phase\(t)-shots"), rotation: rotation, corruption: corruption, using: &generator)
            let stream = drifted(test.subset(picked, name: "drift-phase\(t)"), rotation: rotation, corruption: corruption, using: &generator)
            phases.append(Phase(index: t, seenClassCount: seen, newClasses: newClasses, rotationDegrees: rotation,
                                corruption: corruption, shots: shots, stream: stream))
        }
        return DriftStream(options: options, pretraining: pretraining, phases: phases)
    }

    /// Rotated, then corrupted (clamped to [0, 1]); the identity for 0° and no corruption.
    static func drifted(
        _ dataset: Dataset, rotation: Double, corruption: (kind: Corruption, severity: Int)?, using generator: inout SeededGenerator
    ) -> Dataset {
        guard rotation != 0 || corruption != nil else { return dataset }
        let h = dataset.sampleShape[1], w = dataset.sampleShape[2], size = h * w
        let scalars = dataset.images.scalars
        var out = [Float]()
        out.reserveCapacity(scalars.count)
        for i in 0..<dataset.count {
            var image = GrayImage(height: h, width: w, pixels: Array(scalars[(i * size)..<((i + 1) * size)]))
            if rotation != 0 { image = ImageTransforms.rotate(image, degrees: rotation) }
            if let corruption { image = corruption.kind.apply(image, severity: corruption.severity, using: &generator) }
            out += image.pixels
        }
        var result = dataset
        result.images = Tensor(shape: dataset.images.shape, scalars: out)
        return result
    }

    /// The positions of each class's samples, in order.
    static func byClass(_ labels: [Int], classes: Int) -> [[Int]] {
        var result = [[Int]](repeating: [], count: classes)
        for (i, label) in labels.enumerated() where label < classes { result[label].append(i) }
        return result
    }

    /// A seed for one part of the stream, so that changing one part's draws leaves the others alone.
    static func derived(_ seed: UInt64, _ part: Int) -> UInt64 {
        var generator = SeededGenerator(seed: seed ^ (UInt64(part) &* 0x9E37_79B9_7F4A_7C15))
        return generator.next()
    }

    static func permuted(_ values: [Int], seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        return shuffled(values, using: &generator)
    }

    /// Fisher–Yates with explicit draws (the standard library's shuffle algorithm is not
    /// specified, and the stream must not change with the toolchain).
    static func shuffled(_ values: [Int], using generator: inout SeededGenerator) -> [Int] {
        var result = values
        guard result.count > 1 else { return result }
        for i in stride(from: result.count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            result.swapAt(i, j)
        }
        return result
    }
}
