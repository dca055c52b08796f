import Testing
@testable import PlateauTensor

private func u(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed) }

/// ⟨∇f, v⟩ from the gradients, in Double: what ``directionalDerivative(of:withRespectTo:along:)`` must equal.
private func contractedGradient(at arguments: [Tensor], along directions: [Tensor], _ f: ([Tensor]) -> Tensor) -> Float {
    let grads = valueWithGradient(at: arguments, of: f).gradients
    return Float(zip(grads, directions).reduce(0.0) { total, pair in
        total + zip(pair.0.scalars, pair.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    })
}

/// ⟨∇f, v⟩ by the directional sweep, with `directed` saying which arguments are leaves with a
/// direction (the others stay tracked and get none, as a network's inner activations).
private func directional(at arguments: [Tensor], along directions: [Tensor], _ f: ([Tensor]) -> Tensor) -> Tensor {
    let tracked = arguments.map { $0.trackingGradients() }
    return withGradients { directionalDerivative(of: f(tracked), withRespectTo: tracked, along: directions) }
}

/// The shapes of the values a recorded scalar's graph computed, by operation name.
private func recordedShapes(_ root: Tensor) -> [(name: String, shape: [Int])] {
    var seen: Set<ObjectIdentifier> = [], pending = [root.node].compactMap { $0 }, found: [(String, [Int])] = []
    while let node = pending.popLast() {
        guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
        found.append((node.name, node.shape))
        pending.append(contentsOf: node.inputs.compactMap(\.node))
    }
    return found
}

@Suite struct DirectionalDerivativeTests {
    /// Every operation with a tangent rule, directions on each subset of its linear inputs:
    /// the sweep's ⟨∇f, v⟩ equals the contracted gradient.
    @Test func equalsTheContractedGradient() throws {
        let x = u([5, 4], 900), w = u([3, 4], 901), b = u([3], 902)
        let a3 = u([2, 5, 4], 903), m = u([4, 3], 904)
        let images = u([3, 2, 6, 6], 905), filters = u([4, 2, 3, 3], 906) * 0.5, channelBias = u([4], 907)
        let cases: [(String, [Tensor], ([Tensor]) -> Tensor)] = [
            ("linear", [x, w, b], { p in p[0].linear(weight: p[1], bias: p[2]).tanh().sum() }),
            ("matmul", [x, m], { p in p[0].matmul(p[1]).square().sum() }),
            ("matmul aᵀ·b", [x.transposed, m], { p in p[0].matmul(p[1], transposingSelf: true).sigmoid().sum() }),
            ("matmul a·bᵀ", [x, m.transposed], { p in p[0].matmul(p[1], transposingOther: true).sigmoid().sum() }),
            ("matmul aᵀ·bᵀ", [x.transposed, m.transposed], { p in p[0].matmul(p[1], transposingSelf: true, transposingOther: true).exp().sum() }),
            ("batched matmul, broadcast weight", [a3, m], { p in p[0].matmul(p[1]).square().mean() }),
            ("convolution", [images, filters, channelBias], { p in
                p[0].conv2d(weight: p[1], bias: p[2], stride: (1, 1), padding: (1, 1)).tanh().sum()
            }),
            ("strided convolution", [images, filters], { p in p[0].conv2d(weight: p[1], stride: (2, 2), padding: (1, 1)).square().sum() }),
            ("weight used twice", [x, w], { p in p[0].linear(weight: p[1], bias: nil).tanh().linear(weight: p[1].matmul(p[1].transposed), bias: nil).sum() }),
        ]
        for backend in [nil, try OneDNNConvolutions(selection: .always)] as [OneDNNConvolutions?] {
            Backends.$convolutions.withValue(backend) {
                for (name, arguments, f) in cases {
                    let v = arguments.enumerated().map { u($0.element.shape, 950 + UInt64($0.offset)) }
                    // Directions on every subset of the arguments (the others get zero).
                    for mask in 1..<(1 << arguments.count) {
                        let along = v.enumerated().map { mask & (1 << $0.offset) != 0 ? $0.element : Tensor.zeros($0.element.shape) }
                        let expected = contractedGradient(at: arguments, along: along, f)
                        let got = directional(at: arguments, along: along, f)
                        #expect(got.shape == [], "\(name)")
                        expectClose(Tensor(got.item), Tensor(expected), relative: 1e-5, absolute: 1e-5, "\(name), directions \(mask), \(backend?.name ?? "lowering")")
                    }
                }
            }
        }
    }

    /// The point of the sweep: for a layer linear in its weights, the weight gradient gᵀx is
    /// never formed (its tangent x·vᵀ stands in), while the activations' gradients still are.
    @Test func doesNotFormTheWeightGradients() {
        let images = u([6, 4], 960)
        let w1 = u([5, 4], 961), b1 = u([5], 962), w2 = u([3, 5], 963)
        func loss(_ p: [Tensor]) -> Tensor { images.linear(weight: p[0], bias: p[1]).relu().matmul(p[2], transposingOther: true).square().sum() }
        let arguments = [w1, b1, w2], directions = arguments.enumerated().map { u($0.element.shape, 970 + UInt64($0.offset)) }
        let inner = directional(at: arguments, along: directions, loss)
        let shapes = recordedShapes(inner)
        for weight in [w1, w2] {
            #expect(!shapes.contains { $0.name == "matmul" && $0.shape == weight.shape }, "a \(weight.shape) gradient was formed")
        }
        // The hidden layer's gradient g·W₂ ([6, 5]) is still needed and recorded.
        #expect(shapes.contains { $0.name == "matmul" && $0.shape == [6, 5] })
        // And the derivative is the contracted gradient; its gradient, the Hessian-vector product, matches the one through ∇f.
        expectClose(Tensor(inner.item), Tensor(contractedGradient(at: arguments, along: directions, loss)), relative: 1e-5, absolute: 1e-5)
        let hv = hessianVectorProduct(at: arguments, along: directions, of: loss)
        let reference = HessianLinearization(at: arguments, of: loss).product(along: directions)
        for (a, e) in zip(hv, reference) { expectClose(a, e, relative: 1e-5, absolute: 1e-6) }
    }

    /// ⟨a, b⟩ is (a·b).sum() (over 1,000 elements: several blocks), its first and second
    /// derivatives match finite differences, and at the seed u = 1 its gradients are the
    /// operands themselves.
    @Test func innerProductIsTheSumOfProducts() {
        let a = u([10, 100], 990), b = u([10, 100], 991)
        expectClose(a.innerProduct(with: b), (a * b).sum(), relative: 1e-6, absolute: 1e-5)
        checkGradients(at: [u([3, 4], 992), u([3, 4], 993)]) { p in p[0].innerProduct(with: p[1]) * 1.5 }
        checkSecondOrderGradients(at: [u([3, 4], 994), u([3, 4], 995)]) { p in p[0].innerProduct(with: p[1].square()) }
        let (x, y) = (a.trackingGradients(), b.trackingGradients())
        let grads = gradients(of: withGradients { x.innerProduct(with: y) }, withRespectTo: [x, y])
        #expect(grads[0] == b && grads[1] == a)
        #expect(grads.allSatisfy { !$0.isTracked })
    }

    /// An input without a graph (a constant) contributes nothing, and a scalar that does not
    /// depend on the inputs has derivative zero.
    @Test func constantsHaveZeroDerivative() {
        let c = u([3], 980)
        let zero = directionalDerivative(of: (c * 2).sum(), withRespectTo: [c], along: [u([3], 981)])
        #expect(zero.item == 0)
    }
}
