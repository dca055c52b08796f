import Foundation
import PlateauTensor

/// The corruptions of `plateau data make mnist-c`, after MNIST-C (Mu & Gilmer 2019) and
/// ImageNet-C (Hendrycks & Dietterich 2019), each a formula on `[0, 1]` pixels with one
/// parameter per severity 1…5; the result is clamped to `[0, 1]`, then stored as bytes
/// `round(255·x)`. Random draws come from the caller's generator, so a seed fixes every byte.
///
/// | corruption       | formula (x: input, clamp to [0, 1] after)                                  | parameter    | 1    | 2    | 3    | 4    | 5    |
/// |------------------|------------------------------------------------------------------------------|--------------|------|------|------|------|------|
/// | gaussian_noise   | x + σ·z, z ~ N(0, 1) per pixel                                              | σ            | 0.08 | 0.12 | 0.18 | 0.26 | 0.38 |
/// | shot_noise       | Poisson(λ·x) / λ per pixel                                                  | λ            | 60   | 25   | 12   | 5    | 3    |
/// | impulse_noise    | with probability p the pixel becomes 0 or 1 (even odds), else x             | p            | 0.03 | 0.06 | 0.09 | 0.17 | 0.27 |
/// | defocus_blur     | mean of x over the disk i² + j² ≤ r² around the pixel (zero outside)        | r (px)       | 1    | 1.5  | 2    | 2.5  | 3    |
/// | motion_blur      | mean of x at p + t·(cos α, −sin α), t from −(L−1)/2 to (L−1)/2 in ¼-px steps; α ~ U(−45°, 45°) | L (px) | 3    | 5    | 7    | 9    | 11   |
/// | brightness       | x + c                                                                        | c            | 0.1  | 0.2  | 0.3  | 0.4  | 0.5  |
/// | contrast         | (x − m)·c + m, m = the image's mean                                          | c            | 0.4  | 0.3  | 0.2  | 0.1  | 0.05 |
/// | fog              | (x + a·F)·M / (M + a), M = max x, F a smooth random field in [0, 1]          | a            | 0.3  | 0.5  | 0.7  | 0.9  | 1.2  |
/// | pixelate         | area-average to n×n, n = round(c·28), then nearest back to 28×28             | c            | 0.9  | 0.75 | 0.6  | 0.45 | 0.3  |
/// | elastic          | x(p + α·(G₄ * U)), U ~ U(−1, 1)² per pixel, G₄ a Gaussian blur with σ = 4 px | α (px)       | 8    | 14   | 20   | 27   | 34   |
/// | affine           | x(c + M⁻¹(p − c − t)), M = R(θ)·shear(h)·s, θ, h, s, t uniform within ±bound | θ° / h / s−1 / t px | 6/0.06/0.06/0.6 | 12/0.12/0.12/1.2 | 18/0.18/0.18/1.8 | 24/0.24/0.24/2.4 | 30/0.3/0.3/3 |
///
/// The fog field `F` is value noise: uniform draws on a 5×5 grid spanning the image,
/// bilinearly interpolated to every pixel, then rescaled to span `[0, 1]` exactly.
/// Elastic follows Simard, Steinkraus & Platt (2003), whose MNIST setting is α = 34, σ = 4.
public enum Corruption: String, CaseIterable, Sendable, Codable {
    case gaussianNoise = "gaussian_noise"
    case shotNoise = "shot_noise"
    case impulseNoise = "impulse_noise"
    case defocusBlur = "defocus_blur"
    case motionBlur = "motion_blur"
    case brightness
    case contrast
    case fog
    case pixelate
    case elastic
    case affine

    /// The severities, mildest first.
    public static let severities = 1...5

    /// The named parameters of `severity` (1…5), as recorded in the manifest.
    public func parameters(severity: Int) -> [String: Double] {
        precondition(Self.severities.contains(severity), "Corruption: severity \(severity) outside 1...5")
        let i = severity - 1
        switch self {
        case .gaussianNoise: return ["sigma": [0.08, 0.12, 0.18, 0.26, 0.38][i]]
        case .shotNoise: return ["lambda": [60, 25, 12, 5, 3][i]]
        case .impulseNoise: return ["probability": [0.03, 0.06, 0.09, 0.17, 0.27][i]]
        case .defocusBlur: return ["radius": [1, 1.5, 2, 2.5, 3][i]]
        case .motionBlur: return ["length": [3, 5, 7, 9, 11][i], "max_angle_degrees": 45]
        case .brightness: return ["c": [0.1, 0.2, 0.3, 0.4, 0.5][i]]
        case .contrast: return ["c": [0.4, 0.3, 0.2, 0.1, 0.05][i]]
        case .fog: return ["a": [0.3, 0.5, 0.7, 0.9, 1.2][i], "grid": 5]
        case .pixelate: return ["c": [0.9, 0.75, 0.6, 0.45, 0.3][i]]
        case .elastic: return ["alpha": [8, 14, 20, 27, 34][i], "sigma": 4]
        case .affine:
            return [
                "max_rotation_degrees": [6, 12, 18, 24, 30][i], "max_shear": [0.06, 0.12, 0.18, 0.24, 0.3][i],
                "max_scale_change": [0.06, 0.12, 0.18, 0.24, 0.3][i], "max_translation": [0.6, 1.2, 1.8, 2.4, 3][i],
            ]
        }
    }

    /// The formula, in words, for the manifest and docs.
    public var formula: String {
        switch self {
        case .gaussianNoise: return "clamp(x + sigma*z), z ~ N(0,1) per pixel"
        case .shotNoise: return "clamp(Poisson(lambda*x)/lambda) per pixel"
        case .impulseNoise: return "with probability p the pixel becomes 0 or 1 (even odds), else x"
        case .defocusBlur: return "mean of x over the disk i^2+j^2 <= radius^2 around the pixel, zero outside the image"
        case .motionBlur:
            return "mean of bilinear x at p + t*(cos a, -sin a), t from -(length-1)/2 to (length-1)/2 in steps of 1/4, a ~ U(-45,45) degrees per image"
        case .brightness: return "clamp(x + c)"
        case .contrast: return "clamp((x - m)*c + m), m = mean of the image"
        case .fog:
            return "clamp((x + a*F)*M/(M + a)), M = max of the image, F = value noise (uniform on a grid x grid lattice, bilinear, rescaled to [0,1])"
        case .pixelate: return "area-average to n x n with n = round(c*28), then nearest-neighbour back to 28 x 28"
        case .elastic: return "bilinear x at p + alpha*(G_sigma * U), U ~ U(-1,1)^2 per pixel, G_sigma a Gaussian blur"
        case .affine:
            return "bilinear x at c + M^-1 (p - c - t), M = R(theta)*[[1,h],[0,1]]*s, theta, h, s-1, t uniform in +-max per image"
        }
    }

    /// The corrupted image (clamped to `[0, 1]`); random draws come from `generator`.
    public func apply(_ image: GrayImage, severity: Int, using generator: inout SeededGenerator) -> GrayImage {
        let p = parameters(severity: severity)
        switch self {
        case .gaussianNoise:
            let sigma = Float(p["sigma"]!)
            return Self.map(image) { $0 + sigma * Float(generator.standardNormal()) }
        case .shotNoise:
            let lambda = p["lambda"]!
            return Self.map(image) { Float(Double(generator.poisson(mean: lambda * Double($0))) / lambda) }
        case .impulseNoise:
            let probability = p["probability"]!
            return Self.map(image) { x in
                guard generator.uniform() < probability else { return x }
                return generator.uniform() < 0.5 ? 0 : 1
            }
        case .defocusBlur:
            return Self.defocusBlur(image, radius: p["radius"]!)
        case .motionBlur:
            let angle = (generator.uniform() * 2 - 1) * p["max_angle_degrees"]!
            return Self.motionBlur(image, length: Int(p["length"]!), angleDegrees: angle)
        case .brightness:
            return Self.brightness(image, c: Float(p["c"]!))
        case .contrast:
            return Self.contrast(image, c: Float(p["c"]!))
        case .fog:
            let field = Self.valueNoise(height: image.height, width: image.width, grid: Int(p["grid"]!), using: &generator)
            return Self.fog(image, field: field, a: Float(p["a"]!))
        case .pixelate:
            return Self.pixelate(image, c: p["c"]!)
        case .elastic:
            var dx = GrayImage(height: image.height, width: image.width)
            var dy = dx
            for k in 0..<dx.pixels.count { dx.pixels[k] = Float(generator.uniform() * 2 - 1) }
            for k in 0..<dy.pixels.count { dy.pixels[k] = Float(generator.uniform() * 2 - 1) }
            let sigma = p["sigma"]!, alpha = Float(p["alpha"]!)
            let sx = ImageTransforms.gaussianBlur(dx, sigma: sigma), sy = ImageTransforms.gaussianBlur(dy, sigma: sigma)
            return Self.displace(image, dx: sx.pixels.map { alpha * $0 }, dy: sy.pixels.map { alpha * $0 })
        case .affine:
            func draw(_ bound: Double) -> Double { (generator.uniform() * 2 - 1) * bound }
            let theta = draw(p["max_rotation_degrees"]!) * .pi / 180
            let shear = draw(p["max_shear"]!), scale = 1 + draw(p["max_scale_change"]!)
            let tx = draw(p["max_translation"]!), ty = draw(p["max_translation"]!)
            // Counter-clockwise on screen with y pointing down.
            let c = cos(theta), s = sin(theta)
            let matrix = (c * scale, (c * shear + s) * scale, -s * scale, (-s * shear + c) * scale)
            return ImageTransforms.affine(image, matrix: matrix, translation: (tx, ty)).clamped
        }
    }

    // MARK: - The deterministic parts, one pure function each

    /// `clamp(f(x))` pixel by pixel, in row-major order (the order random draws are taken).
    static func map(_ image: GrayImage, _ f: (Float) -> Float) -> GrayImage {
        var out = image
        for k in 0..<out.pixels.count { out.pixels[k] = min(1, max(0, f(image.pixels[k]))) }
        return out
    }

    /// `clamp(x + c)`.
    public static func brightness(_ image: GrayImage, c: Float) -> GrayImage { map(image) { $0 + c } }

    /// `clamp((x − m)·c + m)` with `m` the image's mean.
    public static func contrast(_ image: GrayImage, c: Float) -> GrayImage {
        let mean = image.pixels.reduce(0, +) / Float(image.pixels.count)
        return map(image) { ($0 - mean) * c + mean }
    }

    /// The normalised disk kernel `K(i, j) ∝ [i² + j² ≤ r²]` applied with zero outside.
    public static func defocusBlur(_ image: GrayImage, radius: Double) -> GrayImage {
        let r = Int(floor(radius))
        let side = 2 * r + 1
        var kernel = [Float](repeating: 0, count: side * side)
        for j in -r...r {
            for i in -r...r where Double(i * i + j * j) <= radius * radius { kernel[(j + r) * side + (i + r)] = 1 }
        }
        let total = kernel.reduce(0, +)
        return ImageTransforms.convolve(image, kernel: kernel.map { $0 / total }, radius: r).clamped
    }

    /// The mean of bilinear samples along a centred line of `length` pixels at `angleDegrees`
    /// (counter-clockwise from the x axis, on screen), taken every quarter pixel:
    /// `t = −(L−1)/2, −(L−1)/2 + ¼, …, (L−1)/2` (4(L−1)+1 samples). Quarter steps approximate
    /// the line integral of a real motion blur; whole-pixel steps leave visible bands.
    public static func motionBlur(_ image: GrayImage, length: Int, angleDegrees: Double) -> GrayImage {
        let a = angleDegrees * .pi / 180
        let ux = cos(a), uy = -sin(a)
        let samples = 4 * (length - 1) + 1
        var out = GrayImage(height: image.height, width: image.width)
        for y in 0..<image.height {
            for x in 0..<image.width {
                var sum: Float = 0
                for k in 0..<samples {
                    let t = Double(k) / 4 - Double(length - 1) / 2
                    sum += image.bilinear(x: Double(x) + t * ux, y: Double(y) + t * uy)
                }
                out[x, y] = sum / Float(samples)
            }
        }
        return out.clamped
    }

    /// `clamp((x + a·F)·M / (M + a))`, `M` the image's maximum;
    /// the factor `M / (M + a)` keeps the brightest pixel from saturating, and a black image stays black.
    public static func fog(_ image: GrayImage, field: GrayImage, a: Float) -> GrayImage {
        let maximum = image.pixels.max() ?? 0
        var out = image
        for k in 0..<out.pixels.count {
            out.pixels[k] = min(1, max(0, (image.pixels[k] + a * field.pixels[k]) * maximum / (maximum + a)))
        }
        return out
    }

    /// Area-average down to `n × n` (`n = round(c·side)`, at least 1), nearest back up.
    public static func pixelate(_ image: GrayImage, c: Double) -> GrayImage {
        let h = max(1, Int((c * Double(image.height)).rounded())), w = max(1, Int((c * Double(image.width)).rounded()))
        let small = ImageTransforms.resizeArea(image, height: h, width: w)
        return ImageTransforms.resizeNearest(small, height: image.height, width: image.width).clamped
    }

    /// Output pixel `p` reads the input (bilinear, zero outside) at `p + (dx[p], dy[p])`.
    public static func displace(_ image: GrayImage, dx: [Float], dy: [Float]) -> GrayImage {
        var out = GrayImage(height: image.height, width: image.width)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let k = y * image.width + x
                out[x, y] = image.bilinear(x: Double(x) + Double(dx[k]), y: Double(y) + Double(dy[k]))
            }
        }
        return out.clamped
    }

    /// Value noise: uniform draws on a `grid × grid` lattice spanning the image, bilinear in
    /// between, rescaled so its minimum is 0 and maximum 1.
    static func valueNoise(height: Int, width: Int, grid: Int, using generator: inout SeededGenerator) -> GrayImage {
        let lattice = GrayImage(height: grid, width: grid, pixels: (0..<(grid * grid)).map { _ in Float(generator.uniform()) })
        var field = GrayImage(height: height, width: width)
        for y in 0..<height {
            for x in 0..<width {
                let gx = Double(x) * Double(grid - 1) / Double(max(1, width - 1))
                let gy = Double(y) * Double(grid - 1) / Double(max(1, height - 1))
                field[x, y] = lattice.bilinear(x: min(gx, Double(grid - 1)), y: min(gy, Double(grid - 1)))
            }
        }
        let low = field.pixels.min() ?? 0, high = field.pixels.max() ?? 0
        let span = high - low
        return GrayImage(height: height, width: width, pixels: field.pixels.map { span > 0 ? ($0 - low) / span : 0 })
    }
}

extension SeededGenerator {
    /// A uniform draw from `[0, 1)` with 53 random bits (one `next()`); spelled out here so
    /// the generated bytes do not depend on the standard library's range sampling.
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal draw (Box–Muller, two uniforms, the cosine branch).
    mutating func standardNormal() -> Double {
        let u1 = 1 - uniform(), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// A Poisson draw with the given mean (Knuth's product of uniforms; means here are ≤ 60).
    mutating func poisson(mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        let limit = exp(-mean)
        var k = 0
        var product = uniform()
        while product > limit {
            k += 1
            product *= uniform()
        }
        return k
    }
}
