import Testing
import PlateauTensor
import PlateauNN
import PlateauOptim

/// Plain full-batch training: `steps` gradient steps of `optimizer` on `loss`, keeping the
/// BatchNorm statistics of each pass. Returns the loss before each step.
@discardableResult
func train<M: Module>(_ model: inout M, steps: Int, optimizer: inout SGD, loss: (inout M) -> Tensor) -> [Float] {
    var history: [Float] = []
    for _ in 0..<steps {
        let result = valueWithGradient(at: model, of: loss)
        history.append(result.loss.item)
        model = result.model
        var parameters = model.parameters
        optimizer.update(&parameters, along: result.gradient)
        model.update(parameters)
    }
    return history
}

/// Random labels in 0..<classes.
func randomLabels(_ count: Int, classes: Int, seed: UInt64) -> [Int] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Int.random(in: 0..<classes, using: &g) }
}

/// Per-pixel cross-entropy of `[N, K, H, W]` logits.
func pixelCrossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
    let k = logits.shape[1]
    return crossEntropy(logits: logits.permuted([0, 2, 3, 1]).reshaped(to: [-1, k]), labels: labels)
}

@Suite("Models")
struct ModelTests {
    // MARK: Shapes and parameter counts

    @Test func wideResNetShapeAndCount() {
        // Independent count: conv 3→16; per block 2 BNs (on input and output channels),
        // two 3×3 convs and, when channels change, a 1×1 projection; final BN and fc.
        func count(depth: Int, k: Int, classes: Int = 10) -> Int {
            let n = (depth - 4) / 6, widths = [16, 16 * k, 32 * k, 64 * k]
            var total = 3 * 16 * 9
            for group in 0..<3 {
                for i in 0..<n {
                    let c = i == 0 ? widths[group] : widths[group + 1], w = widths[group + 1]
                    total += 2 * c + c * w * 9 + 2 * w + w * w * 9 + (c != w ? c * w : 0)
                }
            }
            return total + 2 * widths[3] + widths[3] * classes + classes
        }
        #expect(count(depth: 28, k: 10) == 36_479_194, "WRN-28-10: the 36.5 M of Zagoruyko & Komodakis, Table 1")
        var g = SeededGenerator(seed: 110)
        var model = WideResNet(depth: 10, widenFactor: 2, classCount: 5, using: &g)
        #expect(model.parameterCount == count(depth: 10, k: 2, classes: 5))
        var model16 = WideResNet(depth: 16, widenFactor: 1, using: &g)
        #expect(model16.parameterCount == count(depth: 16, k: 1))
        #expect(model16.block1.count == 2 && model16.block3[1].convShortcut == nil)
        #expect(model(random([2, 3, 8, 8], seed: 111)).shape == [2, 5])
        #expect(model16(random([1, 3, 8, 8], seed: 112)).shape == [1, 10])
    }

    @Test func visionTransformerShapeAndCount() {
        var g = SeededGenerator(seed: 113)
        let (d, m, depth) = (16, 32, 2)
        var vit = VisionTransformer(imageSize: 8, patchSize: 4, inputChannels: 3, classCount: 5, dimension: d,
                                    depth: depth, headCount: 2, mlpDimension: m, using: &g)
        let tokens = 4 + 1
        let block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d)
        let expected = (3 * 16 * d + d) + d + tokens * d + depth * block + 2 * d + (d * 5 + 5)
        #expect(vit.parameterCount == expected)
        #expect(vit(random([3, 3, 8, 8], seed: 114)).shape == [3, 5])
        // The 28×28 and 32×32 configurations.
        var mnist = VisionTransformer(imageSize: 28, patchSize: 7, inputChannels: 1, dimension: 16, depth: 1, headCount: 2, using: &g)
        #expect(mnist.positionEmbedding.shape == [1, 17, 16])
        #expect(mnist(random([1, 1, 28, 28], seed: 115)).shape == [1, 10])
        let cifar = VisionTransformer(imageSize: 32, patchSize: 4, dimension: 16, depth: 1, headCount: 2, using: &g)
        #expect(cifar.positionEmbedding.shape == [1, 65, 16])
    }

    @Test func visionTransformerInitialization() {
        var g = SeededGenerator(seed: 116)
        let vit = VisionTransformer(imageSize: 8, patchSize: 2, dimension: 32, depth: 2, headCount: 4, using: &g)
        // timm: truncated normal, std 0.02, cut at ±2σ; biases zero.
        for key in ["encoder.pos_embedding", "encoder.layers.encoder_layer_0.self_attention.in_proj_weight",
                    "encoder.layers.encoder_layer_1.mlp.0.weight", "heads.head.weight"] {
            let values = vit.parameters[key]!.scalars
            #expect(values.allSatisfy { abs($0) <= 0.04 }, "\(key) exceeds 2σ")
            let std = moments(values).variance.squareRoot()
            #expect(abs(std - 0.02 * 0.8796) < 0.004, "\(key): std \(std)")  // the ±2σ truncated normal has std 0.8796σ
        }
        #expect(vit.parameters["encoder.layers.encoder_layer_0.mlp.0.bias"]! == .zeros([128]))
        #expect(vit.parameters["encoder.layers.encoder_layer_0.self_attention.in_proj_bias"]! == .zeros([96]))
    }

    @Test func mlpMixerShapeAndCount() {
        var g = SeededGenerator(seed: 117)
        let (d, s, ht, hc, depth) = (16, 4, 8, 64, 2)
        let mixer = MLPMixer(imageSize: 8, patchSize: 4, inputChannels: 3, classCount: 5, dimension: d, depth: depth, using: &g)
        let block = 4 * d + (s * ht + ht + ht * s + s) + (d * hc + hc + hc * d + d)
        #expect(mixer.parameterCount == (3 * 16 * d + d) + depth * block + 2 * d + (d * 5 + 5))
        #expect(mixer(random([2, 3, 8, 8], seed: 118)).shape == [2, 5])
        let mnist = MLPMixer(imageSize: 28, patchSize: 7, inputChannels: 1, dimension: 8, depth: 1, using: &g)
        #expect(mnist(random([1, 1, 28, 28], seed: 119)).shape == [1, 10])
    }

    @Test func uNetShapeAndCount() {
        func doubleConv(_ i: Int, _ o: Int) -> Int { i * o * 9 + o * o * 9 + 4 * o }
        var g = SeededGenerator(seed: 120)
        var unet = UNet(inputChannels: 1, classCount: 3, levels: 3, width: 4, using: &g)
        let expected = doubleConv(1, 4) + doubleConv(4, 8) + doubleConv(8, 16)
            + (16 * 8 * 4 + 8) + doubleConv(16, 8) + (8 * 4 * 4 + 4) + doubleConv(8, 4) + (4 * 3 + 3)
        #expect(unet.parameterCount == expected)
        #expect(unet(random([2, 1, 8, 8], seed: 121)).shape == [2, 3, 8, 8])
        #expect(unet(random([1, 1, 4, 12], seed: 122)).shape == [1, 3, 4, 12])
        var two = UNet(inputChannels: 3, classCount: 2, levels: 2, width: 2, using: &g)
        #expect(two(random([1, 3, 6, 6], seed: 123)).shape == [1, 2, 6, 6])
    }

    @Test func classicModelShapes() {
        var g = SeededGenerator(seed: 124)
        var resnet = ResNet(depth: 8, using: &g)
        #expect(resnet(random([2, 3, 8, 8], seed: 125)).shape == [2, 10])
        var lenet = LeNet5(using: &g)
        #expect(lenet(random([2, 1, 28, 28], seed: 126)).shape == [2, 10])
        #expect(lenet.parameterCount == (1 * 6 * 25 + 6) + (6 * 16 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10))
        var mlp = MLP(sizes: [12, 7, 3], using: &g)
        #expect(mlp(random([5, 3, 2, 2], seed: 127)).shape == [5, 3], "flattens image input")
        #expect(mlp.parameterCount == 12 * 7 + 7 + 7 * 3 + 3)
    }

    // MARK: Training on synthetic tasks

    @Test func mlpMemorizesRandomLabels() {
        var g = SeededGenerator(seed: 130)
        var model = MLP(sizes: [16, 64, 4], using: &g)
        let x = random([64, 16], seed: 131), labels = randomLabels(64, classes: 4, seed: 132)
        var optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        let history = train(&model, steps: 200, optimizer: &optimizer) { (m: inout MLP) in
            crossEntropy(logits: m.callAsFunction(x), labels: labels)
        }
        let accuracy = accuracy(logits: model(x), labels: labels)
        #expect(accuracy > 0.95, "train accuracy \(accuracy), loss \(history.first!) → \(history.last!)")
    }

    @Test func leNetMemorizesRandomLabels() {
        var g = SeededGenerator(seed: 133)
        var model = LeNet5(using: &g)
        let x = random([32, 1, 28, 28], seed: 134), labels = randomLabels(32, classes: 10, seed: 135)
        // The loss sits near log 10 for ~40 steps, then falls quickly (lr 0.05 overshoots).
        var optimizer = SGD(learningRate: 0.03, momentum: 0.9)
        let history = train(&model, steps: 100, optimizer: &optimizer) { (m: inout LeNet5) in
            crossEntropy(logits: m.callAsFunction(x), labels: labels)
        }
        let accuracy = accuracy(logits: model(x), labels: labels)
        #expect(accuracy > 0.95, "train accuracy \(accuracy), loss \(history.first!) → \(history.last!)")
    }

    /// Each of the new architectures, tiny, fits 16 random images with random labels: the
    /// loss falls to a fraction of its start and the model classifies its training set.
    @Test(arguments: ["ResNet-8", "WRN-10-1", "ViT", "Mixer"])
    func tinyClassifierFits(name: String) {
        var g = SeededGenerator(seed: 136)
        let x = random([16, 3, 8, 8], seed: 137), labels = randomLabels(16, classes: 4, seed: 138)
        func fit<M: Layer>(_ model: M, learningRate: Float, steps: Int) -> (first: Float, last: Float, accuracy: Float) {
            var model = model
            var optimizer = SGD(learningRate: learningRate, momentum: 0.9)
            let history = train(&model, steps: steps, optimizer: &optimizer) { (m: inout M) in
                crossEntropy(logits: m.callAsFunction(x), labels: labels)
            }
            let logits = withoutGradients { model(x) }
            return (history.first!, history.last!, accuracy(logits: logits, labels: labels))
        }
        let result = switch name {
        case "ResNet-8": fit(ResNet(depth: 8, classCount: 4, using: &g), learningRate: 0.05, steps: 40)
        case "WRN-10-1": fit(WideResNet(depth: 10, widenFactor: 1, classCount: 4, using: &g), learningRate: 0.05, steps: 40)
        case "ViT": fit(VisionTransformer(imageSize: 8, patchSize: 4, classCount: 4, dimension: 16, depth: 2, headCount: 2,
                                          mlpDimension: 32, using: &g), learningRate: 0.05, steps: 60)
        default: fit(MLPMixer(imageSize: 8, patchSize: 4, classCount: 4, dimension: 16, depth: 2, using: &g),
                     learningRate: 0.05, steps: 60)
        }
        #expect(result.last < 0.25 * result.first, "\(name): loss \(result.first) → \(result.last)")
        #expect(result.accuracy >= 0.9, "\(name): train accuracy \(result.accuracy)")
    }

    /// The U-Net learns a per-pixel rule with spatial context: a pixel is class 1 when it is
    /// brighter than its right-hand neighbour.
    @Test func uNetLearnsPixelRule() {
        var g = SeededGenerator(seed: 139)
        var model = UNet(inputChannels: 1, classCount: 2, levels: 2, width: 4, using: &g)
        let x = random([8, 1, 8, 8], seed: 140)
        let labels = (0..<(8 * 64)).map { i in i % 8 < 7 && x.scalars[i] > x.scalars[i + 1] ? 1 : 0 }
        var optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        let history = train(&model, steps: 60, optimizer: &optimizer) { (m: inout UNet) in
            pixelCrossEntropy(m.callAsFunction(x), labels: labels)
        }
        let logits = withoutGradients { model(x) }.permuted([0, 2, 3, 1]).reshaped(to: [-1, 2])
        let pixelAccuracy = accuracy(logits: logits, labels: labels)
        #expect(history.last! < 0.5 * history.first!, "loss \(history.first!) → \(history.last!)")
        #expect(pixelAccuracy > 0.9, "pixel accuracy \(pixelAccuracy)")
    }
}
