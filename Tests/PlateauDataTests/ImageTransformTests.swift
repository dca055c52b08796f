import Foundation
import Testing
@testable import PlateauData
import PlateauTensor

/// The single-image operations behind `plateau data make`, checked against hand computation.
@Suite struct ImageTransformTests {
    /// A `side × side` black image with one pixel set to 1.
    func point(_ x: Int, _ y: Int, side: Int = 5) -> GrayImage {
        var image = GrayImage(height: side, width: side)
        image[x, y] = 1
        return image
    }

    func positions(_ image: GrayImage, above threshold: Float = 1e-6) -> [[Int]] {
        (0..<image.height).flatMap { y in (0..<image.width).compactMap { x in image[x, y] > threshold ? [x, y] : nil } }
    }

    @Test func rotationMovesAPointWhereTheRotationMatrixSays() {
        // 5×5, centre (2, 2). The pixel at (4, 2) is u = 2, v = 0 (v upwards). Rotating
        // counter-clockwise by 90° gives (u, v) = (0, 2): x = 2, y = 0.
        let rotated = ImageTransforms.rotate(point(4, 2), degrees: 90)
        #expect(positions(rotated) == [[2, 0]])
        #expect(abs(rotated[2, 0] - 1) < 1e-6)
        // 180°: (4, 2) → (0, 2); −90° (clockwise): → (2, 4).
        #expect(positions(ImageTransforms.rotate(point(4, 2), degrees: 180)) == [[0, 2]])
        #expect(positions(ImageTransforms.rotate(point(4, 2), degrees: -90)) == [[2, 4]])
        // 0° is the identity.
        #expect(ImageTransforms.rotate(point(3, 1), degrees: 0) == point(3, 1))
    }

    @Test func rotationByAnOddAngleSpreadsTheMassBilinearly() {
        // (4, 2) at 45°: u = 2, v = 0 → (√2, √2), i.e. x = 2 + √2 ≈ 3.414, y = 2 − √2 ≈ 0.586.
        // An output pixel p reads the input at R(−45°)·p; the output at (3, 1) has u = 1, v = 1,
        // which reads (u cos + v sin, −u sin + v cos) = (√2, 0): x = 3.414, y = 2, between the
        // input pixels (3, 2) (value 0) and (4, 2) (value 1), weight a = 0.414 on (4, 2).
        let rotated = ImageTransforms.rotate(point(4, 2), degrees: 45)
        #expect(abs(rotated[3, 1] - Float(2.0.squareRoot() - 1)) < 1e-5)
        // The brightest pixel is the one nearest the exact image of the point.
        let brightest = rotated.pixels.indices.max { rotated.pixels[$0] < rotated.pixels[$1] }!
        #expect(brightest == 1 * 5 + 3)
        // Zero fill: on an all-white 5×5 image, the output corner (0, 0) (u = −2, v = 2) reads
        // the input at (0, 2√2): x = 2, y = 2 − 2√2 ≈ −0.83, so only the weight b = 3 − 2√2
        // falls on the image, the rest on the black outside.
        let white = GrayImage(height: 5, width: 5, pixels: [Float](repeating: 1, count: 25))
        #expect(abs(ImageTransforms.rotate(white, degrees: 45)[0, 0] - Float(3 - 2 * 2.0.squareRoot())) < 1e-5)
    }

    @Test func bilinearInterpolatesAndIsZeroOutside() {
        let image = GrayImage(height: 2, width: 2, pixels: [0, 1, 0.5, 0.25])
        // (x, y) = (0.5, 0.5): the mean of the four pixels.
        #expect(abs(image.bilinear(x: 0.5, y: 0.5) - 0.4375) < 1e-6)
        // (0.25, 0): 0.75·0 + 0.25·1.
        #expect(abs(image.bilinear(x: 0.25, y: 0) - 0.25) < 1e-6)
        // Half a pixel beyond the right edge: half of pixel (1, 0) and half of the black outside.
        #expect(abs(image.bilinear(x: 1.5, y: 0) - 0.5) < 1e-6)
        #expect(image.bilinear(x: 5, y: -3) == 0)
    }

    @Test func areaResizeAveragesBlocks() {
        // 4×4 → 2×2: each output pixel is the mean of a 2×2 block.
        let image = GrayImage(height: 4, width: 4, pixels: (0..<16).map { Float($0) / 16 })
        let small = ImageTransforms.resizeArea(image, height: 2, width: 2)
        let expected: [Float] = [(0 + 1 + 4 + 5) / 64, (2 + 3 + 6 + 7) / 64, (8 + 9 + 12 + 13) / 64, (10 + 11 + 14 + 15) / 64]
        for (a, b) in zip(small.pixels, expected) { #expect(abs(a - b) < 1e-6) }
        // 3 → 2 covers 1.5 input pixels per output: weights 2/3, 1/3.
        let row = GrayImage(height: 1, width: 3, pixels: [0.3, 0.6, 0.9])
        let two = ImageTransforms.resizeArea(row, height: 1, width: 2)
        #expect(abs(two.pixels[0] - (0.3 * 2 / 3 + 0.6 / 3)) < 1e-6)
        #expect(abs(two.pixels[1] - (0.6 / 3 + 0.9 * 2 / 3)) < 1e-6)
    }

    @Test func affineWithTheIdentityIsTheIdentityAndTranslationShifts() {
        let image = point(1, 1)
        #expect(ImageTransforms.affine(image, matrix: (1, 0, 0, 1), translation: (0, 0)) == image)
        #expect(positions(ImageTransforms.affine(image, matrix: (1, 0, 0, 1), translation: (2, 1))) == [[3, 2]])
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hexDigest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Two blocks (56 bytes: the padding spills into a second block).
        #expect(
            SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}

/// MNIST-C's corruption formulas on 4×4 images, by hand.
@Suite struct CorruptionTests {
    let image = GrayImage(height: 4, width: 4, pixels: [
        0, 0, 0, 0,
        0, 1, 0.5, 0,
        0, 0.5, 1, 0,
        0, 0, 0, 0,
    ])

    func close(_ a: GrayImage, _ b: [Float], tolerance: Float = 1e-5) -> Bool {
        a.pixels.count == b.count && zip(a.pixels, b).allSatisfy { abs($0 - $1) <= tolerance }
    }

    @Test func brightnessAddsAndClamps() {
        let out = Corruption.brightness(image, c: 0.3)
        #expect(close(out, image.pixels.map { min(1, $0 + 0.3) }))
        var generator = SeededGenerator(seed: 1)
        #expect(Corruption.brightness.apply(image, severity: 5, using: &generator) == Corruption.brightness(image, c: 0.5))
    }

    @Test func contrastPullsTowardsTheMean() {
        // Mean = 3/16 = 0.1875; c = 0.1: x' = (x − 0.1875)·0.1 + 0.1875.
        let out = Corruption.contrast(image, c: 0.1)
        #expect(close(out, image.pixels.map { ($0 - 0.1875) * 0.1 + 0.1875 }))
        #expect(abs(out[1, 1] - 0.26875) < 1e-6)
        #expect(abs(out[0, 0] - 0.16875) < 1e-6)
    }

    @Test func defocusWithRadiusOneIsTheFivePointMean() {
        // Disk r = 1: the pixel and its four neighbours, each 1/5, zero outside.
        let out = Corruption.defocusBlur(image, radius: 1)
        #expect(abs(out[1, 1] - (1 + 0.5 + 0.5 + 0 + 0) / 5) < 1e-6)
        #expect(abs(out[2, 1] - (0.5 + 1 + 1 + 0 + 0) / 5) < 1e-6)
        #expect(abs(out[0, 0] - 0) < 1e-6)
        #expect(abs(out[1, 0] - 1.0 / 5) < 1e-6)
    }

    @Test func motionBlurAveragesQuarterPixelSamplesAlongTheLine() {
        // L = 3 at 0°: 9 samples at x − 1, x − ¾, …, x + 1 on the same row. Row 1 is
        // 0, 1, 0.5, 0, so around x = 1 the bilinear values are
        // 0, .25, .5, .75, 1, .875, .75, .625, .5 — mean 5.25 / 9.
        let out = Corruption.motionBlur(image, length: 3, angleDegrees: 0)
        #expect(abs(out[1, 1] - 5.25 / 9) < 1e-6)
        // (3, 2): row 2 is 0, 0.5, 1, 0 and black beyond: 1, .75, .5, .25, 0, 0, 0, 0, 0.
        #expect(abs(out[3, 2] - 2.5 / 9) < 1e-6)
        // At 90° the line runs along the column (towards −y on screen): the same numbers.
        let vertical = Corruption.motionBlur(image, length: 3, angleDegrees: 90)
        #expect(abs(vertical[1, 1] - 5.25 / 9) < 1e-5)
        // L = 1 is the identity.
        #expect(Corruption.motionBlur(image, length: 1, angleDegrees: 30) == image)
    }

    @Test func pixelateAveragesBlocksAndRepeatsThem() {
        // c = 0.5: 4×4 → 2×2 → 4×4. The top-left block {0, 0, 0, 1} averages to 0.25.
        let out = Corruption.pixelate(image, c: 0.5)
        #expect(close(out, [
            0.25, 0.25, 0.125, 0.125,
            0.25, 0.25, 0.125, 0.125,
            0.125, 0.125, 0.25, 0.25,
            0.125, 0.125, 0.25, 0.25,
        ]))
    }

    @Test func fogAddsTheFieldAndRescales() {
        // M = 1, a = 0.5: x' = (x + 0.5·F)/1.5.
        let field = GrayImage(height: 4, width: 4, pixels: (0..<16).map { Float($0) / 15 })
        let out = Corruption.fog(image, field: field, a: 0.5)
        #expect(close(out, zip(image.pixels, field.pixels).map { min(1, ($0 + 0.5 * $1) / 1.5) }))
        // A black image stays black.
        #expect(Corruption.fog(GrayImage(height: 4, width: 4), field: field, a: 0.5).pixels.allSatisfy { $0 == 0 })
    }

    @Test func gaussianNoiseAddsSigmaTimesTheGeneratorsNormals() {
        var generator = SeededGenerator(seed: 7)
        var replay = generator
        let out = Corruption.gaussianNoise.apply(image, severity: 3, using: &generator)
        let expected = image.pixels.map { min(1, max(0, $0 + 0.18 * Float(replay.standardNormal()))) }
        #expect(close(out, expected))
        #expect(generator == replay)
    }

    @Test func shotNoiseGivesMultiplesOfOneOverLambdaAndKeepsBlack() {
        var generator = SeededGenerator(seed: 3)
        let out = Corruption.shotNoise.apply(image, severity: 4, using: &generator)  // λ = 5
        for (x, y) in zip(image.pixels, out.pixels) {
            if x == 0 { #expect(y == 0) }
            let k = y * 5
            #expect(abs(k - k.rounded()) < 1e-5)
        }
    }

    @Test func impulseNoiseOnlyReplacesWithBlackOrWhite() {
        var generator = SeededGenerator(seed: 5)
        let large = GrayImage(height: 40, width: 40, pixels: [Float](repeating: 0.5, count: 1600))
        let out = Corruption.impulseNoise.apply(large, severity: 5, using: &generator)  // p = 0.27
        #expect(out.pixels.allSatisfy { $0 == 0 || $0 == 0.5 || $0 == 1 })
        let replaced = out.pixels.filter { $0 != 0.5 }.count
        // 1600·0.27 = 432, binomial sd ≈ 18: well within ±90.
        #expect(abs(replaced - 432) < 90)
    }

    @Test func poissonDrawsHaveTheRightMean() {
        var generator = SeededGenerator(seed: 11)
        let draws = (0..<4000).map { _ in generator.poisson(mean: 3) }
        let mean = Double(draws.reduce(0, +)) / 4000
        #expect(abs(mean - 3) < 0.15)
        #expect(generator.poisson(mean: 0) == 0)
    }

    @Test func everyCorruptionIsDeterministicAndStaysInRange() {
        for corruption in Corruption.allCases {
            for severity in Corruption.severities {
                var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
                let first = corruption.apply(image, severity: severity, using: &a)
                #expect(first == corruption.apply(image, severity: severity, using: &b), "\(corruption) \(severity)")
                #expect(first.pixels.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(corruption) \(severity)")
                #expect(!corruption.parameters(severity: severity).isEmpty)
            }
        }
    }

    @Test func severityRaisesTheDamage() {
        // The mean squared change from the clean image grows from severity 1 to 5.
        var digit = GrayImage(height: 28, width: 28)
        for y in 6..<22 { for x in 10..<18 { digit[x, y] = 1 } }
        for corruption in Corruption.allCases {
            func damage(_ severity: Int) -> Float {
                var generator = SeededGenerator(seed: 9)
                let out = corruption.apply(digit, severity: severity, using: &generator)
                return zip(out.pixels, digit.pixels).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            }
            #expect(damage(5) > damage(1), "\(corruption)")
        }
    }
}
