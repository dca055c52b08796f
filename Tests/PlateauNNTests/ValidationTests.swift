import Testing
import PlateauTensor
import PlateauNN

/// Wrong input shapes stop with a message naming the expected shape (exit tests: the
/// precondition runs in a child process whose standard error is inspected).
@Suite("Input validation")
struct ValidationTests {
    @Test func visionTransformerNamesExpectedShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var g = SeededGenerator(seed: 1)
            var vit = VisionTransformer(imageSize: 8, patchSize: 4, dimension: 8, depth: 1, headCount: 2, using: &g)
            _ = vit(Tensor.zeros([1, 3, 16, 16]))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("VisionTransformer: expected [N, 3, 8, 8] images, got [1, 3, 16, 16]"), "\(message)")
    }

    @Test func uNetNamesDivisibility() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var g = SeededGenerator(seed: 1)
            var unet = UNet(levels: 3, width: 2, using: &g)
            _ = unet(Tensor.zeros([1, 1, 6, 6]))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("UNet: expected [N, 1, H, W] images with H and W divisible by 4, got [1, 1, 6, 6]"), "\(message)")
    }

    @Test func wideResNetRejectsBadDepth() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var g = SeededGenerator(seed: 1)
            _ = WideResNet(depth: 20, widenFactor: 1, using: &g)
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("WideResNet: depth must be 6n + 4"), "\(message)")
    }

    @Test func attentionNamesExpectedShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var g = SeededGenerator(seed: 1)
            let attention = MultiHeadSelfAttention(dimension: 4, headCount: 2, using: &g)
            _ = attention(Tensor.zeros([2, 4]))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("expected batch-first input [N, T, 4], got [2, 4]"), "\(message)")
    }
}
