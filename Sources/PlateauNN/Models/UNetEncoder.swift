import PlateauTensor

/// The contracting path that ``UNet``, ``FusionUNet`` and ``UMamba`` share: a double
/// convolution `inc` at full resolution, then per level a 2×2 max-pool and a double
/// convolution `down<i>`, channels doubling from `width` (milesial/Pytorch-UNet's names).
/// The models differ only in their decoders, so the encoder's checks, construction, names
/// and pass live here once.
enum UNetEncoder {
    /// Channels per level: width, 2·width, 4·width, …
    static func channels(width: Int, levels: Int) -> [Int] { (0..<levels).map { width << $0 } }

    /// Checks a model's constructor arguments (`model` names it in the message).
    static func validate(_ model: String, levels: Int, width: Int, inputChannels: Int, classCount: Int) {
        precondition((2...5).contains(levels), "\(model): levels must be in 2...5, got \(levels)")
        precondition(width > 0 && inputChannels > 0 && classCount > 0,
                     "\(model): width, input channels and class count must be positive, got \(width), \(inputChannels), \(classCount)")
    }

    /// `inc` and the `down` steps, initialized in that order.
    static func make(
        inputChannels: Int, channels: [Int], using generator: inout some RandomNumberGenerator
    ) -> (inc: DoubleConv, down: [DoubleConv]) {
        let inc = DoubleConv(inputChannels: inputChannels, outputChannels: channels[0], using: &generator)
        let down = (1..<channels.count).map { DoubleConv(inputChannels: channels[$0 - 1], outputChannels: channels[$0], using: &generator) }
        return (inc, down)
    }

    /// Visits `inc` and `down<i>.maxpool_conv.1`.
    static func visit(_ visitor: ModuleVisitor, inc: inout DoubleConv, down: inout [DoubleConv]) {
        visitor.child("inc", &inc)
        for i in down.indices { visitor.child(path: ["down\(i + 1)", "maxpool_conv", "1"], &down[i]) }
    }

    /// Each level's feature map, finest first, every one passed through `refine` with its
    /// level (U-Mamba's Mamba layers); checks that `input` is `[N, C, H, W]` with H and W
    /// divisible by 2^(levels − 1).
    static func features(
        of input: Tensor, model: String, inc: inout DoubleConv, down: inout [DoubleConv],
        refine: (Tensor, _ level: Int) -> Tensor = { x, _ in x }
    ) -> [Tensor] {
        let c = inc.conv1.weight.shape[1], factor = 1 << down.count
        precondition(input.rank == 4 && input.shape[1] == c && input.shape[2] % factor == 0 && input.shape[3] % factor == 0
                     && input.shape[2] > 0 && input.shape[3] > 0,
                     "\(model): expected [N, \(c), H, W] images with H and W divisible by \(factor), got \(input.shape)")
        var features = [refine(inc(input), 0)]
        for i in down.indices { features.append(refine(down[i](features[features.count - 1].maxPool2d(kernel: (2, 2))), i + 1)) }
        return features
    }
}
