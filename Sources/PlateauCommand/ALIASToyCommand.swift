import ArgumentParser
import Foundation
import Plateau

/// `plateau alias-toy`: VITON-HD's ALIAS normalization against SPADE on the digit toy.
struct ALIASToyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias-toy",
        abstract: "ALIAS vs SPADE normalization: reconstruct MNIST digits from a misaligned copy.",
        discussion: """
            Each example is an MNIST digit, a copy shifted by 1 to --shift pixels along each axis \
            (the "warped" input), the digit's true foreground (ink > 0.3) and the misalignment \
            mask M = foreground XOR shifted foreground. A small generator (3x3 conv, two residual \
            blocks of norm -> LeakyReLU -> conv, 3x3 conv) reconstructs the digit, trained with L1 \
            by Adam. Variants: spade (instance norm, modulated by the foreground), spade+mask \
            (modulated by foreground and M), alias (region-wise MaskNorm over M, modulated by \
            foreground and M). Prints the test L1 inside M (where the generator must fill or \
            erase ink), over all pixels, and the L1 inside M of copying the shifted input.
            """
    )

    @Option(parsing: .unconditional, help: "Directory with the MNIST IDX files.") var dataDir: String = "data/mnist"
    @Option(parsing: .unconditional, help: "Training digits (the first of the training set).") var trainSamples: Int = 2000
    @Option(parsing: .unconditional, help: "Test digits (the first of the test set).") var testSamples: Int = 500
    @Option(parsing: .unconditional, help: "Adam steps per run.") var steps: Int = 300
    @Option(parsing: .unconditional, help: "Samples per step.") var batchSize: Int = 32
    @Option(parsing: .unconditional, help: "Adam learning rate.") var lr: Float = 2e-3
    @Option(parsing: .unconditional, help: "Generator channels.") var width: Int = 16
    @Option(parsing: .unconditional, help: "Largest shift of the misaligned copy, in pixels.") var shift: Int = 3
    @Option(parsing: .unconditional, help: "Comma-separated seeds.") var seeds: String = "0"
    @Option(parsing: .unconditional, help: "Comma-separated variants: \(ALIASToyVariant.allCases.map(\.rawValue).joined(separator: ", ")).")
    var variants: String = ALIASToyVariant.allCases.map(\.rawValue).joined(separator: ",")
    @Option(parsing: .unconditional, help: "Threads.") var threads: Int = 1

    mutating func validate() throws {
        try OptionCheck.count(trainSamples, "train-samples", in: 1...60_000)
        try OptionCheck.count(testSamples, "test-samples", in: 1...10_000)
        try OptionCheck.count(steps, "steps", in: 0...1_000_000)
        try OptionCheck.count(batchSize, "batch-size", in: 1...4096)
        try OptionCheck.count(width, "width", in: 1...1024)
        try OptionCheck.count(shift, "shift", in: 1...8)
        try OptionCheck.number(lr, "lr", atLeast: 0, strictly: true)
        try OptionCheck.threads(threads)
        _ = try parsedSeeds()
        _ = try parsedVariants()
    }

    private func parsedSeeds() throws -> [UInt64] {
        try seeds.split(separator: ",").map { part in
            guard let seed = UInt64(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--seeds: expected comma-separated non-negative integers, got '\(part)'")
            }
            return seed
        }
    }

    private func parsedVariants() throws -> [ALIASToyVariant] {
        try variants.split(separator: ",").map { part in
            guard let variant = ALIASToyVariant(rawValue: String(part)) else {
                throw ValidationError("--variants: expected any of \(ALIASToyVariant.allCases.map(\.rawValue).joined(separator: ", ")), got '\(part)'")
            }
            return variant
        }
    }

    func run() throws {
        PlateauCommand.configureRuntime()
        let (train, test) = try MNIST.loadDirectory(URL(fileURLWithPath: dataDir))
        guard train.count >= trainSamples, test.count >= testSamples else {
            throw RuntimeError("\(dataDir): has \(train.count) training and \(test.count) test digits, asked for \(trainSamples) and \(testSamples)")
        }
        func examples(_ images: Tensor, _ count: Int, seed: UInt64) -> ALIASToyExamples {
            var generator = SeededGenerator(seed: seed)
            return ALIASToyExamples(images: images.sliced(alongAxis: 0, 0..<count), maximumShift: shift, using: &generator)
        }
        let trainSet = examples(train.images, trainSamples, seed: 1), testSet = examples(test.images, testSamples, seed: 2)
        print("variant     seed  masked L1  overall L1  copy masked L1")
        try Parallelism.withThreads(threads) {
            for variant in try parsedVariants() {
                for seed in try parsedSeeds() {
                    let r = ALIASToy.run(variant: variant, train: trainSet, test: testSet, steps: steps, batchSize: batchSize,
                                         learningRate: lr, width: width, seed: seed)
                    let name = variant.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                    print(name + String(format: "  %4d  %9.4f  %10.4f  %14.4f", Int(seed), r.maskedL1, r.overallL1, r.copyMaskedL1))
                }
            }
        }
    }
}
