extension Tensor {
    /// Bilinear resampling of `[N, C, H, W]` at displaced positions: output pixel (y, x)
    /// reads this tensor at (y + offsets[n, 0, y, x], x + offsets[n, 1, y, x]), in pixels,
    /// with border padding (positions are clamped to the image, as PyTorch's `grid_sample`
    /// with `padding_mode="border"`, `align_corners=True`). Zero offsets return the input.
    ///
    /// Built from differentiable operations: the four corner pixels are gathered with
    /// indices fixed by the forward pass, and their bilinear weights are tensor expressions
    /// of the offsets, so gradients reach both the input and the offsets (to any order).
    /// As every bilinear sampler, it is not differentiable where a position crosses an
    /// integer, and the offset gradient is zero where a position is clamped.
    ///
    /// - Precondition: `offsets` has shape `[N, 2, H, W]`.
    public func gridSampled(offsets: Tensor) -> Tensor {
        precondition(rank == 4, "gridSampled: input must be [N, C, H, W], got \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(offsets.shape == [n, 2, h, w], "gridSampled: offsets must be [\(n), 2, \(h), \(w)], got \(offsets.shape)")
        let plane = h * w
        var rows = [Float](repeating: 0, count: n * plane), columns = rows
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    rows[b * plane + y * w + x] = Float(y)
                    columns[b * plane + y * w + x] = Float(x)
                }
            }
        }
        let base = [n, 1, h, w]
        let py = (offsets.sliced(alongAxis: 1, 0..<1) + Tensor(shape: base, scalars: rows)).clamped(to: 0...Float(h - 1))
        let px = (offsets.sliced(alongAxis: 1, 1..<2) + Tensor(shape: base, scalars: columns)).clamped(to: 0...Float(w - 1))
        // Corner indices are constants of this forward pass; only the weights carry gradients.
        let y0 = py.scalars.map { Swift.min(Int($0.rounded(.down)), h - 1) }
        let x0 = px.scalars.map { Swift.min(Int($0.rounded(.down)), w - 1) }
        let fy = py - Tensor(shape: base, scalars: y0.map(Float.init))
        let fx = px - Tensor(shape: base, scalars: x0.map(Float.init))
        func corner(_ dy: Int, _ dx: Int) -> Tensor {
            var indices = [Int](repeating: 0, count: n * c * plane)
            for b in 0..<n {
                for p in 0..<plane {
                    let yy = Swift.min(y0[b * plane + p] + dy, h - 1), xx = Swift.min(x0[b * plane + p] + dx, w - 1)
                    for channel in 0..<c { indices[(b * c + channel) * plane + p] = (b * c + channel) * plane + yy * w + xx }
                }
            }
            return takingElements(indices, shape: shape)
        }
        let top = corner(0, 0) * (1 - fx) + corner(0, 1) * fx
        let bottom = corner(1, 0) * (1 - fx) + corner(1, 1) * fx
        return top * (1 - fy) + bottom * fy
    }
}
