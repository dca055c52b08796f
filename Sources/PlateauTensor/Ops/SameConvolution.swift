/// The row-shift lowering of a 'same' convolution (stride 1, dilation 1, odd kernel,
/// padding (k − 1)/2), the 3×3 layers of a ResNet.
///
/// im2col writes kh·kw shifted copies of the input. Here only the kw horizontal shifts are
/// written, as rows of the zero-padded plane (row pitch Wp = W + 2p):
///
///     S[(c, j), t] = x_pad[c][t + j]        t over the padded plane, flattened
///
/// and the kh vertical shifts are pointer offsets into S: kernel row i reads the matrix
/// S[·, i·Wp ..< i·Wp + H·Wp]. The output comes out on a "wide" grid of H rows of Wp columns
/// (the last 2p of each row are discarded):
///
///     Y_wide = Σ_i W_i · S_i        W_i[o, (c, j)] = W[o, c, i, j]      (kh gemms, K = C·kw)
///
/// kw/(kh·kw) of im2col's writes — a third for 3×3 — for kh products instead of one.
struct SameConvolution {
    let kh: Int, kw: Int, ph: Int, pw: Int, h: Int, w: Int

    /// `nil` unless `g` is a 'same' convolution this lowering covers, with products deep
    /// enough (C·kw ≥ 16): a first layer on one-channel images (LeNet's 5×5 on MNIST) runs
    /// faster as one im2col product with K = 25 than as five with K = 5.
    init?(_ g: WindowGeometry, height: Int, width: Int, channels: Int) {
        let (kh, kw) = g.kernel
        guard g.stride == (1, 1), g.dilation == (1, 1), kh % 2 == 1, kw % 2 == 1, channels * kw >= 16,
              g.padding == ((kh - 1) / 2, (kw - 1) / 2) else { return nil }
        (self.kh, self.kw, ph, pw, h, w) = (kh, kw, (kh - 1) / 2, (kw - 1) / 2, height, width)
    }

    /// Row pitch of the padded plane.
    var pitch: Int { w + 2 * pw }
    /// Length of one shifted row: the whole padded plane.
    var rowLength: Int { (h + 2 * ph) * pitch }
    /// Columns of the wide output grid.
    var wideCount: Int { h * pitch }

    /// S for `channels` planes `[channels, H, W]`: rows `(c, j)` of ``rowLength``.
    func shiftedRows(of image: UnsafePointer<Float>, channels: Int, into rows: UnsafeMutablePointer<Float>) {
        let (p, length) = (pitch, rowLength)
        for c in 0..<channels {
            let padded = rows + c * kw * length
            padded.initialize(repeating: 0, count: length)
            let plane = image + c * h * w
            for y in 0..<h { copyVector(plane + y * w, to: padded + (y + ph) * p + pw, count: w) }
            for j in 1..<kw {
                let row = padded + j * length
                copyVector(padded + j, to: row, count: length - j)
                (row + length - j).initialize(repeating: 0, count: j)
            }
        }
    }

    /// wide = Σ_i filters_i · S_i, with `filters` laid out `[kh][m, channels·kw]`.
    func multiply(
        _ filters: UnsafePointer<Float>, m: Int, channels: Int, shifted: UnsafePointer<Float>,
        into wide: UnsafeMutablePointer<Float>, backend: any Backend
    ) {
        let k = channels * kw
        for i in 0..<kh {
            backend.gemm(
                transposeA: false, transposeB: false, m: m, n: wideCount, k: k, alpha: 1,
                a: filters + i * m * k, lda: k, b: shifted + i * pitch, ldb: rowLength,
                beta: i == 0 ? 0 : 1, c: wide, ldc: wideCount)
        }
    }

    /// partial_i (+)= dyWide · S_iᵀ for each kernel row i, `partial` laid out `[kh][m, channels·kw]`.
    func accumulateFilterGradient(
        _ dyWide: UnsafePointer<Float>, m: Int, channels: Int, shifted: UnsafePointer<Float>,
        into partial: UnsafeMutablePointer<Float>, accumulate: Bool, backend: any Backend
    ) {
        let k = channels * kw
        for i in 0..<kh {
            backend.gemm(
                transposeA: false, transposeB: true, m: m, n: k, k: wideCount, alpha: 1,
                a: dyWide, lda: wideCount, b: shifted + i * pitch, ldb: rowLength,
                beta: accumulate ? 1 : 0, c: partial + i * m * k, ldc: k)
        }
    }

    /// `[rows, H, W]` from the wide grid, dropping each row's last 2p columns, plus an
    /// optional per-row bias.
    func compact(_ wide: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, bias: [Float]?) {
        for r in 0..<rows {
            for y in 0..<h {
                let from = wide + r * wideCount + y * pitch, to = out + (r * h + y) * w
                if let bias { addScalar(bias[r], from, to: to, count: w) } else { copyVector(from, to: to, count: w) }
            }
        }
    }

    /// The wide grid of `[rows, H, W]`, zero in the discarded columns (so they add nothing
    /// to a filter gradient).
    func widen(_ compact: UnsafePointer<Float>, rows: Int, into wide: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            for y in 0..<h {
                let to = wide + r * wideCount + y * pitch
                copyVector(compact + (r * h + y) * w, to: to, count: w)
                (to + w).initialize(repeating: 0, count: pitch - w)
            }
        }
    }

    /// `[kh][oc, c·kw]` from `[oc, c, kh, kw]`: W_i[o, (c, j)] = W[o, c, i, j].
    static func filtersByRow(_ weight: [Float], oc: Int, c: Int, kh: Int, kw: Int) -> [Float] {
        var result = [Float](repeating: 0, count: weight.count)
        for o in 0..<oc { for ch in 0..<c { for i in 0..<kh { for j in 0..<kw {
            result[(i * oc + o) * c * kw + ch * kw + j] = weight[((o * c + ch) * kh + i) * kw + j]
        } } } }
        return result
    }

    /// `[kh][c, oc·kw]` for the input gradient, a 'same' convolution of ∂y with the flipped,
    /// transposed filters: W'_i[c, (o, j)] = W[o, c, kh − 1 − i, kw − 1 − j].
    static func flippedFiltersByRow(_ weight: [Float], oc: Int, c: Int, kh: Int, kw: Int) -> [Float] {
        var result = [Float](repeating: 0, count: weight.count)
        for o in 0..<oc { for ch in 0..<c { for i in 0..<kh { for j in 0..<kw {
            result[(i * c + ch) * oc * kw + o * kw + j] = weight[((o * c + ch) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]
        } } } }
        return result
    }

    /// `[oc, c, kh, kw]` from a summed `[kh][oc, c·kw]` gradient.
    static func filterGradient(fromRows rows: [Float], oc: Int, c: Int, kh: Int, kw: Int) -> [Float] {
        var result = [Float](repeating: 0, count: rows.count)
        for o in 0..<oc { for ch in 0..<c { for i in 0..<kh { for j in 0..<kw {
            result[((o * c + ch) * kh + i) * kw + j] = rows[(i * oc + o) * c * kw + ch * kw + j]
        } } } }
        return result
    }
}
