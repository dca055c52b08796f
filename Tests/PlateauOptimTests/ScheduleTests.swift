import Foundation
import Testing
@testable import PlateauOptim

@Test func constantSchedule() throws {
    let schedule = try ConstantLearningRate(0.1)
    #expect(schedule.learningRate(atStep: 0) == 0.1)
    #expect(schedule.learningRate(atStep: 1_000_000) == 0.1)
    #expect(schedule.totalSteps == nil)
}

@Test func stepDecayChangesAtEpochBoundaries() throws {
    // η₀ = 1, γ = 0.5 every 2 epochs, 3 steps per epoch: epochs 0–1 are steps 0…5,
    // epochs 2–3 are steps 6…11, epoch 4 starts at step 12.
    let schedule = try StepDecay(learningRate: 1, gamma: 0.5, everyEpochs: 2, stepsPerEpoch: 3)
    #expect((0...5).allSatisfy { schedule.learningRate(atStep: $0) == 1 })
    #expect((6...11).allSatisfy { schedule.learningRate(atStep: $0) == 0.5 })
    #expect(schedule.learningRate(atStep: 12) == 0.25)
    #expect(schedule.learningRate(atStep: 60) == 1.0 / 1024)  // epoch 20: γ^10
    // η₀ = 0.1, γ = 0.1 (not exact in binary): 0.1 · 0.1² at epoch 4.
    let tenfold = try StepDecay(learningRate: 0.1, everyEpochs: 2, stepsPerEpoch: 1)
    #expect(close(tenfold.learningRate(atStep: 4), 1e-3))
}

@Test func multiStepDecayCountsPassedMilestones() throws {
    // η₀ = 1, γ = 0.5 at epochs 2 and 5, 10 steps per epoch.
    let schedule = try MultiStepDecay(learningRate: 1, milestones: [2, 5], gamma: 0.5, stepsPerEpoch: 10)
    #expect(schedule.learningRate(atStep: 0) == 1)
    #expect(schedule.learningRate(atStep: 19) == 1)     // epoch 1
    #expect(schedule.learningRate(atStep: 20) == 0.5)   // epoch 2: one milestone passed
    #expect(schedule.learningRate(atStep: 49) == 0.5)   // epoch 4
    #expect(schedule.learningRate(atStep: 50) == 0.25)  // epoch 5: two
    #expect(schedule.learningRate(atStep: 10_000) == 0.25)
    // The SAM CIFAR recipe: ×0.2 at 60, 120, 160.
    let sam = try MultiStepDecay(learningRate: 0.1, milestones: [60, 120, 160], gamma: 0.2, stepsPerEpoch: 1)
    #expect(close(sam.learningRate(atStep: 130), 0.1 * 0.2 * 0.2))
}

@Test func cosineAnnealingValues() throws {
    // η₀ = 1, η_min = 0.1, T = 2 epochs × 5 steps = 10.
    //   t = 0:  0.1 + 0.9·(1 + cos 0)/2 = 1
    //   t = 2:  0.1 + 0.9·(1 + cos 0.2π)/2 = 0.1 + 0.9·(1 + 0.80901699)/2 = 0.91405765
    //   t = 5:  0.1 + 0.9·(1 + cos 0.5π)/2 = 0.1 + 0.45 = 0.55
    //   t = 10: 0.1 + 0.9·(1 + cos π)/2 = 0.1, and it stays there.
    let schedule = try CosineAnnealing(learningRate: 1, minimumLearningRate: 0.1, epochs: 2, stepsPerEpoch: 5)
    #expect(schedule.totalSteps == 10)
    #expect(schedule.learningRate(atStep: 0) == 1)
    #expect(close(schedule.learningRate(atStep: 2), 0.91405765))
    #expect(close(schedule.learningRate(atStep: 5), 0.55))
    #expect(close(schedule.learningRate(atStep: 10), 0.1))
    #expect(close(schedule.learningRate(atStep: 25), 0.1))
    let values = (0...10).map { schedule.learningRate(atStep: $0) }
    #expect(zip(values, values.dropFirst()).allSatisfy { $0 > $1 })  // strictly decreasing
}

@Test func linearWarmupRamp() throws {
    // W = 2 epochs × 2 steps = 4: η = base · (t + 1)/4 for t < 4.
    let constant = try ConstantLearningRate(0.4)
    let warm = try LinearWarmup(wrapping: constant, warmupEpochs: 2, stepsPerEpoch: 2)
    #expect((0...5).map { warm.learningRate(atStep: $0) }.enumerated().allSatisfy { i, lr in
        close(lr, [0.1, 0.2, 0.3, 0.4, 0.4, 0.4][i])
    })
    // Composed with cosine on the same clock: T = 10, W = 4.
    // t = 1: cosine(1) · 2/4 where cosine(1) = 0.5·(1 + cos 0.1π) = 0.5·(1 + 0.95105652) = 0.97552826
    let cosine = try CosineAnnealing(learningRate: 1, epochs: 10, stepsPerEpoch: 1)
    let warmCosine = try cosine.withLinearWarmup(epochs: 4, stepsPerEpoch: 1)
    #expect(close(warmCosine.learningRate(atStep: 1), 0.97552826 / 2))
    #expect(warmCosine.learningRate(atStep: 4) == cosine.learningRate(atStep: 4))
    #expect(warmCosine.learningRate(atStep: 9) == cosine.learningRate(atStep: 9))
    #expect(warmCosine.totalSteps == 10)
    // No warm-up is the base schedule.
    let none = try LinearWarmup(wrapping: cosine, warmupEpochs: 0, stepsPerEpoch: 1)
    #expect(none.learningRate(atStep: 0) == 1)
}

@Test func oneCycleMatchesPyTorchDefaults() throws {
    // η_max = 1, T = 10 × 10 = 100, pct_start 0.3, div 25, final div 1e4:
    //   η(0) = 1/25 = 0.04; peak at s₁ = 0.3·100 − 1 = 29; η(99) = 0.04/1e4 = 4e-6.
    //   t = 14 (rising): 1 + (0.04 − 1)/2 · (1 + cos(π·14/29)) = 1 − 0.48·(1 + 0.05413891) = 0.49401330
    //   t = 64 (falling, halfway: (64 − 29)/(99 − 29) = 0.5): 4e-6 + (1 − 4e-6)/2 = 0.500002
    let schedule = try OneCycle(maximumLearningRate: 1, epochs: 10, stepsPerEpoch: 10)
    #expect(close(schedule.learningRate(atStep: 0), 0.04))
    #expect(close(schedule.learningRate(atStep: 14), 0.49401330))
    #expect(close(schedule.learningRate(atStep: 29), 1))
    #expect(close(schedule.learningRate(atStep: 64), 0.500002))
    #expect(close(schedule.learningRate(atStep: 99), 4e-6))
    #expect(close(schedule.learningRate(atStep: 500), 4e-6))
    let values = (0..<100).map { schedule.learningRate(atStep: $0) }
    #expect(values.indices.max { values[$0] < values[$1] } == 29)
    #expect(zip(values[..<29], values[1...29]).allSatisfy { $0 < $1 })
    #expect(zip(values[29..<99], values[30...]).allSatisfy { $0 > $1 })
    #expect(schedule.initialLearningRate == 0.04 && close(schedule.finalLearningRate, 4e-6))
    // Linear annealing: halfway up at t = 14.5, so η(14) = 0.04 + 0.96·14/29.
    let linear = try OneCycle(maximumLearningRate: 1, epochs: 10, stepsPerEpoch: 10, annealing: .linear)
    #expect(close(linear.learningRate(atStep: 14), 0.04 + 0.96 * 14 / 29))
}

/// The field named by the error thrown by `body`, or nil if it does not throw.
func rejectedField(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as LearningRateScheduleError {
        return error.field
    } catch {
        return "unexpected error \(error)"
    }
}

@Test func invalidSchedulesThrowNamingTheField() {
    #expect(rejectedField { _ = try ConstantLearningRate(-0.1) } == "learningRate")
    #expect(rejectedField { _ = try ConstantLearningRate(.nan) } == "learningRate")
    #expect(rejectedField { _ = try StepDecay(learningRate: -1, everyEpochs: 1, stepsPerEpoch: 1) } == "learningRate")
    #expect(rejectedField { _ = try StepDecay(learningRate: 1, everyEpochs: 0, stepsPerEpoch: 1) } == "everyEpochs")
    #expect(rejectedField { _ = try StepDecay(learningRate: 1, gamma: 0, everyEpochs: 1, stepsPerEpoch: 1) } == "gamma")
    #expect(rejectedField { _ = try MultiStepDecay(learningRate: 1, milestones: [], stepsPerEpoch: 1) } == "milestones")
    #expect(rejectedField { _ = try MultiStepDecay(learningRate: 1, milestones: [30, 10], stepsPerEpoch: 1) } == "milestones")
    #expect(rejectedField { _ = try MultiStepDecay(learningRate: 1, milestones: [10, 10], stepsPerEpoch: 1) } == "milestones")
    #expect(rejectedField { _ = try MultiStepDecay(learningRate: 1, milestones: [0, 10], stepsPerEpoch: 1) } == "milestones")
    #expect(rejectedField { _ = try MultiStepDecay(learningRate: 1, milestones: [10], stepsPerEpoch: 0) } == "stepsPerEpoch")
    #expect(rejectedField { _ = try CosineAnnealing(learningRate: 0.1, minimumLearningRate: 0.2, epochs: 1, stepsPerEpoch: 1) } == "minimumLearningRate")
    #expect(rejectedField { _ = try CosineAnnealing(learningRate: 0.1, epochs: 0, stepsPerEpoch: 1) } == "epochs")
    #expect(rejectedField { _ = try OneCycle(maximumLearningRate: -1, epochs: 1, stepsPerEpoch: 100) } == "maximumLearningRate")
    #expect(rejectedField { _ = try OneCycle(maximumLearningRate: 1, epochs: 1, stepsPerEpoch: 100, pctStart: 1) } == "pctStart")
    #expect(rejectedField { _ = try OneCycle(maximumLearningRate: 1, epochs: 1, stepsPerEpoch: 3) } == "pctStart")  // 0.9 steps of rise
    #expect(rejectedField { _ = try OneCycle(maximumLearningRate: 1, epochs: 1, stepsPerEpoch: 100, divFactor: 0) } == "divFactor")
    #expect(rejectedField { _ = try OneCycle(maximumLearningRate: 1, epochs: 1, stepsPerEpoch: 100, finalDivFactor: -1) } == "finalDivFactor")

    // Warm-up longer than the run: known from the base schedule, or from totalEpochs.
    let cosine = try! CosineAnnealing(learningRate: 1, epochs: 5, stepsPerEpoch: 10)
    #expect(rejectedField { _ = try LinearWarmup(wrapping: cosine, warmupEpochs: 6, stepsPerEpoch: 10) } == "warmupEpochs")
    #expect(rejectedField { _ = try LinearWarmup(wrapping: cosine, warmupEpochs: 5, stepsPerEpoch: 10) } == nil)
    let step = try! StepDecay(learningRate: 1, everyEpochs: 30, stepsPerEpoch: 10)
    #expect(rejectedField { _ = try step.withLinearWarmup(epochs: 201, stepsPerEpoch: 10, totalEpochs: 200) } == "warmupEpochs")
    #expect(rejectedField { _ = try LinearWarmup(wrapping: step, warmupEpochs: -1, stepsPerEpoch: 10) } == "warmupEpochs")

    do {
        _ = try CosineAnnealing(learningRate: 0.1, minimumLearningRate: 0.2, epochs: 1, stepsPerEpoch: 1)
    } catch {
        #expect("\(error)".contains("minimumLearningRate"))
    }
}
