import Foundation
import PlateauTensor

/// Weight initializers with PyTorch's defaults, so a fresh Plateau model is distributed
/// like a fresh PyTorch one (He et al. 2015; Glorot & Bengio 2010).
public enum Initializer {
    /// PyTorch's default for `Linear`/`Conv` weights: `kaiming_uniform_(a=√5)`, i.e.
    /// U(−b, b) with b = gain·√(3/fan_in), gain = √(2/(1+5)) — which is b = 1/√fan_in.
    public static func defaultWeight(_ shape: [Int], fanIn: Int, using generator: inout some RandomNumberGenerator) -> Tensor {
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        return Tensor.randomUniform(shape, in: -bound..<bound, using: &generator)
    }

    /// PyTorch's default bias: U(−1/√fan_in, 1/√fan_in).
    public static func defaultBias(_ count: Int, fanIn: Int, using generator: inout some RandomNumberGenerator) -> Tensor {
        defaultWeight([count], fanIn: fanIn, using: &generator)
    }

    /// He normal (`kaiming_normal_`, fan_out, ReLU gain): N(0, 2/fan_out), the ResNet convention.
    public static func kaimingNormal(_ shape: [Int], fanOut: Int, using generator: inout some RandomNumberGenerator) -> Tensor {
        Tensor.randomNormal(shape, standardDeviation: (2 / Float(max(fanOut, 1))).squareRoot(), using: &generator)
    }

    /// Glorot/Xavier uniform: U(−b, b), b = √(6/(fan_in + fan_out)).
    public static func xavierUniform(_ shape: [Int], fanIn: Int, fanOut: Int, using generator: inout some RandomNumberGenerator) -> Tensor {
        let bound = (6 / Float(max(fanIn + fanOut, 1))).squareRoot()
        return Tensor.randomUniform(shape, in: -bound..<bound, using: &generator)
    }

    /// Truncated normal N(0, std²) cut at ±2 std (the ViT convention).
    public static func truncatedNormal(_ shape: [Int], standardDeviation: Float, using generator: inout some RandomNumberGenerator) -> Tensor {
        var values: [Float] = []
        values.reserveCapacity(shape.reduce(1, *))
        while values.count < shape.reduce(1, *) {
            let sample = Tensor.randomNormal([1], using: &generator).item
            if abs(sample) <= 2 { values.append(sample * standardDeviation) }
        }
        return Tensor(shape: shape, scalars: values)
    }
}
