import Foundation

/// A single-channel image with pixels in `[0, 1]`, row-major: `pixels[y·width + x]`.
///
/// The shifted-data generators (``ShiftedMNIST``, ``Corruption``) work on these one image at a
/// time as small pure functions, so each one can be checked on a hand-sized image.
///
/// Coordinates: `x` is the column (to the right), `y` the row (downwards); a pixel's value
/// sits at its centre `(x, y)`. Everything outside the image is 0 (MNIST's background), so
/// rotations, shifts and blurs fill with black.
public struct GrayImage: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var pixels: [Float]

    /// An image of `height × width` pixels; `pixels.count` must be their product.
    public init(height: Int, width: Int, pixels: [Float]) {
        precondition(height > 0 && width > 0 && pixels.count == height * width, "GrayImage: \(pixels.count) pixels for \(height)×\(width)")
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// A black (all-zero) image.
    public init(height: Int, width: Int) {
        self.init(height: height, width: width, pixels: [Float](repeating: 0, count: height * width))
    }

    /// The pixel at column `x`, row `y`; 0 outside the image.
    public subscript(x: Int, y: Int) -> Float {
        get { x >= 0 && x < width && y >= 0 && y < height ? pixels[y * width + x] : 0 }
        set { pixels[y * width + x] = newValue }
    }

    /// Bilinear interpolation at a real position (pixel centres at integers), zero outside:
    /// `(1−a)(1−b)·I[x₀,y₀] + a(1−b)·I[x₀+1,y₀] + (1−a)b·I[x₀,y₀+1] + ab·I[x₀+1,y₀+1]`
    /// with `x₀ = ⌊x⌋, a = x − x₀` and likewise for `y`.
    public func bilinear(x: Double, y: Double) -> Float {
        let x0 = Int(floor(x)), y0 = Int(floor(y))
        // Far outside: every neighbour is background.
        if x0 < -1 || y0 < -1 || x0 >= width || y0 >= height { return 0 }
        let a = Float(x - Double(x0)), b = Float(y - Double(y0))
        let top = (1 - a) * self[x0, y0] + a * self[x0 + 1, y0]
        let bottom = (1 - a) * self[x0, y0 + 1] + a * self[x0 + 1, y0 + 1]
        return (1 - b) * top + b * bottom
    }

    /// Every pixel clamped to `[0, 1]`.
    public var clamped: GrayImage {
        GrayImage(height: height, width: width, pixels: pixels.map { min(1, max(0, $0)) })
    }
}

/// Geometric and filtering operations on ``GrayImage``; each is pure and deterministic.
public enum ImageTransforms {
    /// Resamples through an inverse map: output pixel `(x, y)` takes the bilinear value of the
    /// input at `source(x, y)`.
    public static func warp(_ image: GrayImage, source: (Double, Double) -> (Double, Double)) -> GrayImage {
        var out = GrayImage(height: image.height, width: image.width)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let (sx, sy) = source(Double(x), Double(y))
                out[x, y] = image.bilinear(x: sx, y: sy)
            }
        }
        return out
    }

    /// The image rotated by `degrees` counter-clockwise (as seen on screen; torchvision's
    /// convention, which DomainBed's Rotated MNIST uses) about its centre
    /// `c = ((width−1)/2, (height−1)/2)`, bilinear, zero fill.
    ///
    /// With `u = x − cₓ` and `v = c_y − y` (v upwards), a point at `(u, v)` moves to
    /// `(u cos θ − v sin θ, u sin θ + v cos θ)`; each output pixel reads the input at the
    /// inverse rotation of its own position.
    public static func rotate(_ image: GrayImage, degrees: Double) -> GrayImage {
        let theta = degrees * .pi / 180
        let c = cos(theta), s = sin(theta)
        let cx = Double(image.width - 1) / 2, cy = Double(image.height - 1) / 2
        return warp(image) { x, y in
            let u = x - cx, v = cy - y
            let su = c * u + s * v, sv = -s * u + c * v
            return (cx + su, cy - sv)
        }
    }

    /// The affine map about the centre: output pixel `p` reads the input at
    /// `c + M⁻¹·(p − c − t)`, where `M` is given in image coordinates (`x` right, `y` down)
    /// as `[[m00, m01], [m10, m11]]` and `t` is a translation in pixels.
    public static func affine(
        _ image: GrayImage, matrix m: (Double, Double, Double, Double), translation t: (Double, Double)
    ) -> GrayImage {
        let det = m.0 * m.3 - m.1 * m.2
        precondition(abs(det) > 1e-12, "ImageTransforms.affine: singular matrix")
        let i00 = m.3 / det, i01 = -m.1 / det, i10 = -m.2 / det, i11 = m.0 / det
        let cx = Double(image.width - 1) / 2, cy = Double(image.height - 1) / 2
        return warp(image) { x, y in
            let dx = x - cx - t.0, dy = y - cy - t.1
            return (cx + i00 * dx + i01 * dy, cy + i10 * dx + i11 * dy)
        }
    }

    /// Correlation with a `(2r+1) × (2r+1)` kernel (`kernel[(j+r)·(2r+1) + (i+r)]` weighs the
    /// input at offset `(i, j)`), zero outside the image.
    public static func convolve(_ image: GrayImage, kernel: [Float], radius r: Int) -> GrayImage {
        let side = 2 * r + 1
        precondition(kernel.count == side * side, "ImageTransforms.convolve: \(kernel.count) weights for radius \(r)")
        var out = GrayImage(height: image.height, width: image.width)
        for y in 0..<image.height {
            for x in 0..<image.width {
                var sum: Float = 0
                for j in -r...r {
                    for i in -r...r {
                        let w = kernel[(j + r) * side + (i + r)]
                        if w != 0 { sum += w * image[x + i, y + j] }
                    }
                }
                out[x, y] = sum
            }
        }
        return out
    }

    /// A separable Gaussian blur with standard deviation `sigma` (taps to ⌈3σ⌉, weights
    /// normalised to sum 1), zero outside the image.
    public static func gaussianBlur(_ image: GrayImage, sigma: Double) -> GrayImage {
        let r = max(1, Int(ceil(3 * sigma)))
        var weights = (-r...r).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
        var rows = GrayImage(height: image.height, width: image.width)
        for y in 0..<image.height {
            for x in 0..<image.width {
                var sum: Float = 0
                for k in -r...r { sum += weights[k + r] * image[x + k, y] }
                rows[x, y] = sum
            }
        }
        var out = GrayImage(height: image.height, width: image.width)
        for y in 0..<image.height {
            for x in 0..<image.width {
                var sum: Float = 0
                for k in -r...r { sum += weights[k + r] * rows[x, y + k] }
                out[x, y] = sum
            }
        }
        return out
    }

    /// Area-average resampling to `height × width` ("box" filter): each output pixel is the
    /// mean of the input over the rectangle it covers, partial pixels weighted by their
    /// covered fraction. Used to shrink (pixelation, the 36 → 28 Multi-MNIST crop).
    public static func resizeArea(_ image: GrayImage, height: Int, width: Int) -> GrayImage {
        let rowWeights = areaWeights(from: image.height, to: height)
        let columnWeights = areaWeights(from: image.width, to: width)
        var out = GrayImage(height: height, width: width)
        for oy in 0..<height {
            for ox in 0..<width {
                var sum: Float = 0
                for (iy, wy) in rowWeights[oy] {
                    for (ix, wx) in columnWeights[ox] { sum += wy * wx * image[ix, iy] }
                }
                out[ox, oy] = sum
            }
        }
        return out
    }

    /// Nearest-neighbour resampling: output `(x, y)` copies input `(⌊x·W/w⌋, ⌊y·H/h⌋)`.
    public static func resizeNearest(_ image: GrayImage, height: Int, width: Int) -> GrayImage {
        var out = GrayImage(height: height, width: width)
        for y in 0..<height {
            for x in 0..<width { out[x, y] = image[x * image.width / width, y * image.height / height] }
        }
        return out
    }

    /// For each of `n` output cells, the input cells it covers and their weights (summing to 1).
    static func areaWeights(from m: Int, to n: Int) -> [[(Int, Float)]] {
        let scale = Double(m) / Double(n)
        return (0..<n).map { o in
            let start = Double(o) * scale, end = Double(o + 1) * scale
            var cells: [(Int, Float)] = []
            var i = Int(floor(start))
            while Double(i) < end - 1e-9 && i < m {
                let covered = min(end, Double(i + 1)) - max(start, Double(i))
                if covered > 1e-9 { cells.append((i, Float(covered / scale))) }
                i += 1
            }
            return cells
        }
    }
}
