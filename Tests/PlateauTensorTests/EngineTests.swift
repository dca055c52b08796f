import Foundation
import Testing
@testable import PlateauTensor

@Suite struct EngineTests {
    @Test func fanOutAccumulates() {
        // f = x·x + 3x (x used three times): f' = 2x + 3.
        let x = Tensor([1, -2, 0.5]).trackingGradients()
        let g = gradients(of: (x * x + x * 3).sum(), withRespectTo: [x])[0]
        #expect(g.scalars == [5, -1, 4])
        // Diamond: y = 2x feeds both branches of z = y·y + y³.
        let y = x * 2
        let h = gradients(of: (y * y + y.pow(3)).sum(), withRespectTo: [x])[0]
        expectClose(h, Tensor(x.scalars.map { let y = 2 * $0; return 2 * (2 * y + 3 * y * y) }))
        // Same tensor as both operands of a binary op.
        #expect(gradients(of: (x * x).sum(), withRespectTo: [x])[0].scalars == [2, -4, 1])
        #expect(gradients(of: (x + x).sum(), withRespectTo: [x])[0].scalars == [2, 2, 2])
    }

    /// Contributions are summed in place when their storage is the sweep's own; a shared one
    /// (here the seed, which `x + x` passes to both operands) is copied first and left intact.
    @Test func accumulatingInPlaceLeavesSharedGradientsIntact() {
        let x = Tensor([1, -2, 0.5, 4]).trackingGradients()
        let seed = Tensor([0.25, 1, -3, 2])
        let g = gradients(of: x + x, withRespectTo: [x], seed: seed)[0]
        #expect(g.scalars == [0.5, 2, -6, 4])
        #expect(seed.scalars == [0.25, 1, -3, 2])
        // Large enough for the parallel loop; three contributions, the same sums as `+`.
        let big = TestData.uniform([3, 70_000], seed: 41).trackingGradients()
        let probe = TestData.uniform([3, 70_000], seed: 42)
        let sum = gradients(of: big * 2 + big.relu() + big, withRespectTo: [big], seed: probe)[0]
        let expected = probe * 2 + probe.gated(by: big.relu()) + probe
        #expect(sum.scalars == expected.scalars)
    }

    @Test func gradientsWithRespectToInputsParametersAndIntermediates() {
        let input = Tensor([[1, 2], [3, 4]]).trackingGradients()
        let weight = Tensor([[0.5], [-1]]).trackingGradients()
        let hidden = input.matmul(weight)  // [[-1.5], [-2.5]]
        let loss = hidden.square().sum()
        let g = gradients(of: loss, withRespectTo: [input, weight, hidden])
        #expect(g[2].scalars == [-3, -5])  // 2·hidden
        let expectedWeightGradient: [Float] = [-18, -26]  // inputᵀ·(2·hidden) = [-3·1 − 5·3, −3·2 − 5·4]
        #expect(g[1].scalars == expectedWeightGradient)
        #expect(g[0].scalars == [-1.5, 3, -2.5, 5])  // (2·hidden)·weightᵀ
        // valueWithGradient agrees and returns a detached value.
        let (value, vg) = valueWithGradient(at: [Tensor([[1, 2], [3, 4]]), Tensor([[0.5], [-1]])]) { p in p[0].matmul(p[1]).square().sum() }
        #expect(value.item == 8.5 && !value.isTracked)
        #expect(vg[0] == g[0] && vg[1] == g[1])
    }

    @Test func unusedArgumentsGetZeroGradients() {
        let (_, g) = valueWithGradient(at: [Tensor([1, 2]), Tensor.ones([2, 3]), Tensor(5)]) { p in (p[0] * 3).sum() }
        #expect(g[0].scalars == [3, 3])
        #expect(g[1] == Tensor.zeros([2, 3]) && g[2] == Tensor.zeros([]))
        // A constant output (no tracked input at all) gives zeros too.
        let x = Tensor([1, 2]).trackingGradients()
        #expect(gradients(of: Tensor(3), withRespectTo: [x])[0] == Tensor.zeros([2]))
        // The output itself: d x / d x is the seed.
        #expect(gradients(of: x, withRespectTo: [x], seed: Tensor([4, 5]))[0].scalars == [4, 5])
    }

    @Test func seedWeightsNonScalarOutputs() {
        let x = Tensor([1, 2, 3]).trackingGradients()
        let g = gradients(of: x.square(), withRespectTo: [x], seed: Tensor([1, 0, -2]))[0]
        #expect(g.scalars == [2, 0, -12])
        #expect(gradients(of: x.square(), withRespectTo: [x])[0].scalars == [2, 4, 6])  // default seed: ones
    }

    @Test func withoutGradientsRecordsNothing() {
        let x = Tensor([1, 2]).trackingGradients()
        #expect(x.isTracked && GradientRecording.isRecording)
        let y = withoutGradients { () -> Tensor in
            #expect(!GradientRecording.isRecording)
            return (x * 2).exp().sum()
        }
        #expect(!y.isTracked)
        #expect(GradientRecording.isRecording)
        #expect(gradients(of: y, withRespectTo: [x])[0] == Tensor.zeros([2]))
        // Constants never record, even with recording on.
        #expect(!(Tensor([1, 2]) * 2).isTracked && (x * 2).isTracked)
    }

    @Test func detachedStopsGradients() {
        let x = Tensor([1, 2]).trackingGradients()
        let d = x.detached
        #expect(!d.isTracked && d == x)
        let g = gradients(of: (x * x.detached).sum(), withRespectTo: [x])[0]
        #expect(g.scalars == [1, 2])  // only the tracked factor contributes
        #expect(Tensor([1]).detached == Tensor([1]))
    }

    @Test func deepChainGradient() {
        // 5,000 alternating two-input ops: y ← y·a + b, so dy/dx = a^2500 exactly-ish.
        let x = Tensor([0.5, -1]).trackingGradients()
        let a = Tensor([0.9995, 1.0002]).trackingGradients(), b = Tensor([0.001, 0.002])
        var y = x
        for _ in 0..<2_500 { y = y * a + b }
        let g = gradients(of: y.sum(), withRespectTo: [x, a])
        expectClose(g[0], Tensor([Float(Foundation.pow(0.9995, 2500.0)), Float(Foundation.pow(1.0002, 2500.0))]), relative: 1e-3)
        // And through createGraph (second order) on a shorter but still long chain.
        var z = x
        for _ in 0..<1_000 { z = (z * 0.999).tanh() + z * 0.001 }
        let h = hessianVectorProduct(at: [Tensor([0.3])], along: [Tensor([1])]) { p in
            var t = p[0]
            for _ in 0..<1_000 { t = t * 1.0005 }
            return t.square().sum()
        }
        expectClose(h[0], Tensor([Float(2 * Foundation.pow(1.0005, 2000.0))]), relative: 1e-3)
        #expect(!z.hasNonFinite)
    }

    /// Building and freeing a 200,000-op graph: freeing used to recurse once per node and
    /// overflowed the stack (SIGSEGV) before `Node.deinit` became iterative.
    @Test func veryDeepGraphIsFreedWithoutStackOverflow() {
        let x = Tensor([1]).trackingGradients()
        var y = x
        for _ in 0..<200_000 { y = y * 1.0 }
        #expect(y.isTracked)
    }

    @Test func gradientsAreIndependentAcrossConcurrentTasks() async {
        // Recording is task-local: a withoutGradients scope in one task does not leak into another.
        await withTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let scale = Float(i + 1)
                    if i % 2 == 0 {
                        return withoutGradients { !(Tensor([1]).trackingGradients() * scale).isTracked }
                    }
                    let (_, g) = valueWithGradient(at: [Tensor([1, 2])]) { ($0[0] * scale).square().sum() }
                    return g[0].scalars == [2 * scale * scale, 4 * scale * scale]
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    @Test func tensorBasics() {
        let t = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        #expect(t.rank == 2 && t.count == 4 && Tensor(7).item == 7 && Tensor(7).shape == [])
        #expect(Tensor([[1, 2], [3, 4]]) == t && Tensor([1, 2]).shape == [2])
        #expect(Tensor.zeros([0, 3]).count == 0 && Tensor.ones([2]).scalars == [1, 1])
        #expect(t.isClose(to: t + 1e-7) && !t.isClose(to: t + 1e-3) && !t.isClose(to: t.reshaped(to: [4])))
        #expect(t.trackingGradients() == t)  // equality ignores graph history
        #expect(t.description == "Tensor(shape: [2, 2], [1.0, 2.0, 3.0, 4.0])")
    }
}

@Suite struct ParameterSetTests {
    @Test func arithmeticAndNorms() {
        let a = ParameterSet([("w", Tensor([3, 0])), ("b", Tensor(4))])
        let b = ParameterSet([("b", Tensor(1)), ("w", Tensor([1, 2]))])
        #expect(a.keys == ["w", "b"] && a.count == 2 && a.scalarCount == 3)
        #expect(a.norm() == 5 && a.dot(b) == 7)
        #expect((a + b)["w"]?.scalars == [4, 2] && (a - b)["b"]?.item == 3 && (a * b)["w"]?.scalars == [3, 0])
        #expect(a.scaled(by: 2)["b"]?.item == 8 && a.zeros()["w"] == Tensor.zeros([2]))
        #expect(a.filter { $0 == "b" }.keys == ["b"])
        var c = a
        c["w"] = nil
        c["z"] = Tensor(1)
        #expect(c.keys == ["b", "z"])
        let tracked = a.map { $0.trackingGradients() }
        #expect(tracked.values.allSatisfy(\.isTracked) && !tracked.detached.values.contains(where: \.isTracked))
        let updated = tracked + a
        #expect(updated.values.allSatisfy { !$0.isTracked })  // updates record nothing
        #expect(a == a.mapWithKeys { _, t in t } && a != b)
    }
}
