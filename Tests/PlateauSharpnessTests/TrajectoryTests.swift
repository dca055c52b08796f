import Foundation
import PlateauNN
import PlateauTensor
import Testing
@testable import PlateauOptim

// SAF's trajectory memory and loss, and MESA's EMA teacher.

@Test func trajectoryMemoryRotatesSlotsByEpoch() {
    var memory = TrajectoryMemory(sampleCount: 4, classCount: 2, lag: 3)
    // Epoch e writes slot e mod 3; the value written at e is read at e + 3 only.
    for epoch in 0..<7 {
        // Reads happen before the epoch's write, as in the training loop.
        let (logits, available) = memory.pastLogits(for: [0, 2], epoch: epoch)
        if epoch >= 3 {
            #expect(available == [true, true], "epoch \(epoch)")
            #expect(logits.scalars == [Float(epoch - 3), 10, Float(epoch - 3) + 0.5, 20], "epoch \(epoch)")
        } else {
            #expect(available == [false, false], "epoch \(epoch): nothing was written \(3) epochs before")
            #expect(logits.scalars.allSatisfy { $0 == 0 })
        }
        memory.record(Tensor([[Float(epoch), 10], [Float(epoch) + 0.5, 20]]), for: [0, 2], epoch: epoch)
    }
    // The value of epoch 2 sits in slot 2 and is visible at epoch 5 only — not at 4 or 6
    // (reading at 4 or 6 after the fact would hit slots 1 and 0, tagged 4 and 6).
    var fresh = TrajectoryMemory(sampleCount: 1, classCount: 2, lag: 3)
    fresh.record(Tensor([[Float(7), -7]]), for: [0], epoch: 2)
    #expect(fresh.pastLogits(for: [0], epoch: 5).available == [true])
    #expect(fresh.pastLogits(for: [0], epoch: 5).logits.scalars == [7, -7])
    #expect(fresh.pastLogits(for: [0], epoch: 4).available == [false])
    #expect(fresh.pastLogits(for: [0], epoch: 6).available == [false])
    #expect(fresh.pastLogits(for: [0], epoch: 8).available == [false])  // same slot, but tag 2 ≠ 5
    #expect(fresh.pastLogits(for: [0], epoch: 2).available == [false])
}

@Test func trajectoryTermIsMaskedForSamplesWithoutAPast() {
    var saf = SAF(sampleCount: 3, classCount: 3, lambda: 0.5, temperature: 2, lag: 2, startEpoch: 2)
    // Sample 0 was seen at epoch 0; sample 1 only at epoch 1 (a different slot), sample 2 never.
    saf.memory.record(Tensor([[1, 2, 3]]), for: [0], epoch: 0)
    saf.memory.record(Tensor([[3, 2, 1]]), for: [1], epoch: 1)
    let past = saf.memory.pastLogits(for: [0, 1, 2], epoch: 2)
    #expect(past.available == [true, false, false])
    #expect(Array(past.logits.scalars[3...]) == [0, 0, 0, 0, 0, 0])
    let current = Tensor([[0.5, -1, 2], [4, -3, 1], [2, 2, -2]])
    let term = saf.trajectoryLoss(logits: current, pastLogits: past.logits, available: past.available)
    #expect(term.shape == [3])
    #expect(term.scalars[0] > 0)
    #expect(term.scalars[1] == 0 && term.scalars[2] == 0)  // exactly zero, not KL against zeros
    // And the masked rows pass no gradient.
    let tracked = current.trackingGradients()
    let g = gradients(of: withGradients { saf.trajectoryLoss(logits: tracked, pastLogits: past.logits, available: past.available).sum() },
                      withRespectTo: [tracked])[0]
    #expect(Array(g.scalars[3...]).allSatisfy { $0 == 0 })
    #expect(g.scalars[0..<3].contains { $0 != 0 })
}

@Test func halfPrecisionMemoryRoundTripsWithinFloat16Precision() throws {
    var full = TrajectoryMemory(sampleCount: 5, classCount: 4, lag: 3)
    var half = TrajectoryMemory(sampleCount: 5, classCount: 4, lag: 3, halfPrecision: true)
    #expect(half.byteCount * 2 == full.byteCount)
    #expect(full.byteCount == 5 * 3 * 4 * 4)
    let values: [Float] = [1.2345678, -3.14159265, 1000.123, 1e-3, 0.1, -0.333333, 65000, 7]
    let logits = Tensor(shape: [2, 4], scalars: values)
    full.record(logits, for: [1, 3], epoch: 4)
    half.record(logits, for: [1, 3], epoch: 4)
    let exact = full.pastLogits(for: [1, 3], epoch: 7).logits.scalars
    let rounded = half.pastLogits(for: [1, 3], epoch: 7).logits.scalars
    #expect(exact == values)
    for (r, v) in zip(rounded, values) {
        #expect(abs(r - v) <= abs(v) * Float(Float16.ulpOfOne), "\(v) stored as \(r)")
    }
    #expect(rounded != values)  // it really is stored at half precision
    // The checkpoint form restores the bank exactly.
    var restored = TrajectoryMemory(sampleCount: 5, classCount: 4, lag: 3, halfPrecision: true)
    try restored.restore(half.state)
    #expect(restored.pastLogits(for: [1, 3], epoch: 7).logits.scalars == rounded)
    #expect(restored.pastLogits(for: [0, 1], epoch: 7).available == [false, true])
    var wrongShape = TrajectoryMemory(sampleCount: 6, classCount: 4, lag: 3)
    #expect(throws: OptimizerStateError.self) { try wrongShape.restore(full.state) }
}

@Test func safTrajectoryLossMatchesTheHandFormula() {
    // L_tra,i = λ τ² Σ_c p_past,c (log p_past,c − log p_cur,c), p = softmax(z/τ).
    let lambda: Float = 0.3, tau: Float = 5
    let saf = SAF(sampleCount: 2, classCount: 3, lambda: lambda, temperature: tau, lag: 3, startEpoch: 5)
    let past: [[Double]] = [[2, -1, 0.5], [0, 0, 3]]
    let current: [[Double]] = [[1, 1, -2], [4, -2, 0]]
    func softmax(_ z: [Double]) -> [Double] {
        let e = z.map { Foundation.exp($0 / Double(tau)) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
    let expected = zip(past, current).map { zp, zc -> Double in
        let p = softmax(zp), q = softmax(zc)
        return Double(lambda * tau * tau) * zip(p, q).map { $0 * (Foundation.log($0) - Foundation.log($1)) }.reduce(0, +)
    }
    let term = saf.trajectoryLoss(
        logits: Tensor(current.map { $0.map(Float.init) }), pastLogits: Tensor(past.map { $0.map(Float.init) }), available: [true, true])
    for (t, e) in zip(term.scalars, expected) {
        #expect(abs(Double(t) - e) <= 1e-5 * max(e, 1e-3), "\(t) vs \(e)")
    }
    #expect(expected.allSatisfy { $0 > 0 })
    // KL(p ‖ p) = 0.
    let same = saf.trajectoryLoss(logits: Tensor([[1, 2, 3]]), pastLogits: Tensor([[1, 2, 3]]), available: [true])
    #expect(abs(same.item) < 1e-6)
}

@Test func safGradientFlowsToTheCurrentLogitsOnly() {
    let saf = SAF(sampleCount: 2, classCount: 3, lambda: 0.3, temperature: 2, lag: 1, startEpoch: 1)
    let current = Tensor([[1, 1, -2], [4, -2, 0]]).trackingGradients()
    let past = Tensor([[2, -1, 0.5], [0, 0, 3]]).trackingGradients()
    let loss = withGradients { saf.trajectoryLoss(logits: current, pastLogits: past, available: [true, true]).sum() }
    let g = gradients(of: loss, withRespectTo: [current, past])
    #expect(g[0].scalars.contains { $0 != 0 })
    #expect(g[1].scalars.allSatisfy { $0 == 0 })
    // ∂/∂z_cur of λτ²KL = λτ·(p_cur − p_past): each row sums to zero.
    for row in 0..<2 {
        #expect(abs(g[0].scalars[(row * 3)..<(row * 3 + 3)].reduce(0, +)) < 1e-6)
    }
}

@Test func safIsActiveAfterItsStartEpoch() {
    // Algorithm 1's e > E_start and the reference code's `epoch > kl_start_epoch`.
    let saf = SAF(sampleCount: 1, classCount: 2, lambda: 0.3, lag: 3, startEpoch: 5)
    #expect(!saf.isActive(atEpoch: 4))
    #expect(!saf.isActive(atEpoch: 5))
    #expect(saf.isActive(atEpoch: 6))
    let off = SAF(sampleCount: 1, classCount: 2, lambda: 0, lag: 3, startEpoch: 5)
    #expect(!off.isActive(atEpoch: 10))
}

@Test func mesaTeacherIsAnEMAOfParametersAndBuffers() {
    // v₀ = θ₀; after updates with θ₁, θ₂: v₂ = β²θ₀ + β(1 − β)θ₁ + (1 − β)θ₂.
    let beta: Float = 0.9
    let model0 = smallConvBN()
    var mesa = MESA(model: model0, decay: beta)
    let batches = (0..<2).map { ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 50 + UInt64($0)) }
    var model = model0
    var sgd = SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.5))
    var snapshots: [ParameterSet] = [model0.stateDictionary]
    for batch in batches {
        classificationStep(&sgd, &model, batch)
        mesa.updateTeacher(from: model)
        snapshots.append(model.stateDictionary)
    }
    let teacher = mesa.teacher.stateDictionary
    for key in ["0.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight"] {
        let (t0, t1, t2) = (snapshots[0][key]!.scalars[0], snapshots[1][key]!.scalars[0], snapshots[2][key]!.scalars[0])
        let expected = beta * beta * t0 + beta * (1 - beta) * t1 + (1 - beta) * t2
        #expect(abs(teacher[key]!.scalars[0] - expected) <= 1e-6 * max(1, abs(expected)), "\(key)")
        #expect(t0 != t2, "\(key) did not change, the check would be vacuous")
    }
}

@Test func mesaTeacherRunsInEvaluationModeWithoutChangingItself() {
    var trained = smallConvBN()
    var sgd = SharpnessAwareMinimizer(rule: NoPerturbation(), base: SGD(learningRate: 0.5))
    for seed in 0..<3 { classificationStep(&sgd, &trained, ClassificationBatch(n: 6, shape: [2, 4, 4], classes: 3, seed: 60 + UInt64(seed))) }
    let mesa = MESA(model: trained, decay: 0.99)
    let images = ClassificationBatch(n: 5, shape: [2, 4, 4], classes: 3, seed: 70).images
    let logits = mesa.teacherLogits(images)
    var evaluation = trained.training(false)
    var training = trained.training(true)
    #expect(logits == withoutGradients { evaluation(images) })
    #expect(logits != withoutGradients { training(images) })  // batch statistics would differ
    #expect(!logits.isTracked)
    #expect(mesa.teacher.buffers == trained.buffers)  // the forward did not touch its statistics
    // KL(teacher ‖ student) against itself is zero; the term is λ-scaled.
    let term = mesa.trajectoryLoss(logits: logits, teacherLogits: logits)
    #expect(term.scalars.allSatisfy { abs($0) < 1e-6 })
}
