import Foundation
import Testing
import PlateauTensor
import PlateauNN

@Suite("Mamba block and U-Mamba")
struct MambaTests {
    /// The selective scan written out per sample, channel and time step, in Double:
    /// h ← exp(Δ a) h + Δ x b, y = Σ_s c h + d x.
    static func naiveScan(x: Tensor, delta: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> [Double] {
        let (n, length, inner) = (x.shape[0], x.shape[1], x.shape[2]), state = a.shape[1]
        var y = [Double](repeating: 0, count: x.count)
        for s in 0..<n {
            for i in 0..<inner {
                var h = [Double](repeating: 0, count: state)
                for t in 0..<length {
                    let k = (s * length + t) * inner + i
                    let dt = Double(delta.scalars[k]), xt = Double(x.scalars[k])
                    var out = Double(d.scalars[i]) * xt
                    for j in 0..<state {
                        let bj = Double(b.scalars[(s * length + t) * state + j]), cj = Double(c.scalars[(s * length + t) * state + j])
                        h[j] = Foundation.exp(dt * Double(a.scalars[i * state + j])) * h[j] + dt * bj * xt
                        out += cj * h[j]
                    }
                    y[k] = out
                }
            }
        }
        return y
    }

    @Test func selectiveScanMatchesPerStepRecurrence() {
        let x = random([2, 7, 3], seed: 1), b = random([2, 7, 4], seed: 2), c = random([2, 7, 4], seed: 3)
        let delta = random([2, 7, 3], seed: 4).softplus(), a = -random([3, 4], seed: 5).exp(), d = random([3], seed: 6)
        let y = MambaBlock.selectiveScan(x, delta: delta, a: a, b: b, c: c, d: d)
        #expect(y.shape == [2, 7, 3])
        #expect(close(y.scalars, Self.naiveScan(x: x, delta: delta, a: a, b: b, c: c, d: d), tolerance: 1e-4))
    }

    @Test func initializationFollowsTheReference() {
        var g = SeededGenerator(seed: 7)
        let block = MambaBlock(modelDimension: 4, stateSize: 3, using: &g)
        #expect(block.innerDimension == 8 && block.dtRank == 1)
        // S4D-real: A_n = −(n + 1) in every channel.
        #expect(close((-block.logA.exp()).scalars, (0..<8).flatMap { _ in [-1.0, -2.0, -3.0] }))
        let steps = block.dtProjection.bias!.softplus().scalars
        #expect(steps.allSatisfy { $0 >= 1e-3 * 0.999 && $0 <= 0.1 * 1.001 })
        #expect(block.parameters.keys.contains("A_log") && block.parameters.keys.contains("conv1d.weight"))
    }

    /// Output t must not depend on inputs after t (the convolution is causal and the scan runs forwards).
    @Test func blockIsCausal() {
        var g = SeededGenerator(seed: 8)
        let block = MambaBlock(modelDimension: 4, stateSize: 3, using: &g)
        let x = random([1, 6, 4], seed: 9)
        var changed = x.scalars
        for i in 16..<24 { changed[i] += 1 }   // time step 4
        let y0 = block(x), y1 = block(Tensor(shape: x.shape, scalars: changed))
        #expect(y0.shape == [1, 6, 4])
        #expect(y0.sliced(alongAxis: 1, 0..<4) == y1.sliced(alongAxis: 1, 0..<4))
        #expect(y0.sliced(alongAxis: 1, 4..<6) != y1.sliced(alongAxis: 1, 4..<6))
    }

    @Test func blockGradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 10)
        let block = MambaBlock(modelDimension: 3, stateSize: 2, convolutionWidth: 2, using: &g)
        expectGradientsMatch(block, input: random([2, 4, 3], seed: 11), minimumChecked: 100)
    }

    /// SAM's Hessian analysis differentiates the backward pass: H·v through the scan, the
    /// softplus, the convolution and the gate must match finite differences of gradients.
    @Test func blockHessianVectorProductMatchesFiniteDifferences() {
        var g = SeededGenerator(seed: 12)
        let model = WithInput(layer: MambaBlock(modelDimension: 2, stateSize: 2, convolutionWidth: 2, using: &g),
                              input: random([1, 3, 2], seed: 13))
        let target = random([1, 3, 2], seed: 14)
        expectHessianVectorProductMatches(model, seed: 15) { (m: inout WithInput<MambaBlock>) in
            (m.layer.callAsFunction(m.input) - target).square().sum()
        }
    }

    @Test func mambaLayerKeepsTheFeatureMapShape() {
        var g = SeededGenerator(seed: 16)
        let layer = MambaLayer(channels: 3, stateSize: 2, using: &g)
        let x = random([2, 3, 2, 3], seed: 17)
        #expect(layer(x).shape == [2, 3, 2, 3])
        expectGradientsMatch(layer, input: random([1, 3, 2, 2], seed: 18), minimumChecked: 50)
    }

    @Test func uMambaIsAUNetWithMambaInTheEncoder() {
        var g = SeededGenerator(seed: 19)
        var model = UMamba(inputChannels: 1, classCount: 3, levels: 2, width: 2, stateSize: 2, using: &g)
        let output = model(random([2, 1, 4, 4], seed: 20))
        #expect(output.shape == [2, 3, 4, 4])
        let keys = model.parameters.keys
        #expect(keys.contains("inc.double_conv.0.weight") && keys.contains("mamba1.mamba.A_log"))
        var h = SeededGenerator(seed: 19)
        let unet = UNet(inputChannels: 1, classCount: 3, levels: 2, width: 2, using: &h)
        #expect(model.parameterCount > unet.parameterCount)
        let gradient = valueWithGradient(at: model) { (m: inout UMamba) in m.callAsFunction(random([2, 1, 4, 4], seed: 20)).square().mean() }.gradient
        #expect(gradient["mamba1.mamba.A_log"]!.norm().item > 0)
    }
}
