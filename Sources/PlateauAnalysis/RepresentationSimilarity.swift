import PlateauTensor

/// Linear centered kernel alignment (Kornblith et al. 2019, "Similarity of Neural Network
/// Representations Revisited", arXiv:1905.00414) between two representations of the same n
/// samples, X ∈ ℝ^{n×p} and Y ∈ ℝ^{n×q} (rows are samples):
///
///     CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F),   X, Y with centered columns
///
/// 1 for representations equal up to an orthogonal transform and an isotropic scale, near 0
/// for unrelated ones. Zhou et al. (ICML 2023) average it over the layers of two retrained
/// pruned models to tell their regimes II-A and II-B apart. Accumulated in double precision.
public enum LinearCKA {
    /// CKA of `x` `[n, p]` and `y` `[n, q]`; 0 when either representation is constant.
    public static func similarity(_ x: Tensor, _ y: Tensor) -> Double {
        precondition(x.rank == 2 && y.rank == 2 && x.shape[0] == y.shape[0], "LinearCKA: expected [n, p] and [n, q], got \(x.shape) and \(y.shape)")
        let a = centeredColumns(x), b = centeredColumns(y)
        let cross = frobeniusSquared(product(b, a)), xx = frobeniusSquared(product(a, a)), yy = frobeniusSquared(product(b, b))
        guard xx > 0, yy > 0 else { return 0 }
        return cross / (xx.squareRoot() * yy.squareRoot())
    }

    /// Columns of `[n, p]` minus their means, row-major, as doubles.
    private static func centeredColumns(_ t: Tensor) -> (n: Int, p: Int, values: [Double]) {
        let (n, p) = (t.shape[0], t.shape[1])
        var values = t.scalars.map(Double.init)
        for j in 0..<p {
            var mean = 0.0
            for i in 0..<n { mean += values[i * p + j] }
            mean /= Double(Swift.max(n, 1))
            for i in 0..<n { values[i * p + j] -= mean }
        }
        return (n, p, values)
    }

    /// Uᵀ V for U `[n, p]`, V `[n, q]`, as a `[p, q]` row-major array.
    private static func product(_ u: (n: Int, p: Int, values: [Double]), _ v: (n: Int, p: Int, values: [Double])) -> [Double] {
        var result = [Double](repeating: 0, count: u.p * v.p)
        for i in 0..<u.n {
            for j in 0..<u.p {
                let uij = u.values[i * u.p + j]
                if uij == 0 { continue }
                for k in 0..<v.p { result[j * v.p + k] += uij * v.values[i * v.p + k] }
            }
        }
        return result
    }

    private static func frobeniusSquared(_ m: [Double]) -> Double { m.reduce(0) { $0 + $1 * $1 } }
}

extension ModeConnectivity {
/// The mode-connectivity number of a path θ(t) between two solutions (Zhou et al. ICML 2023,
/// after Frankle et al. 2020): with losses ℓ(t_0 = 0), …, ℓ(t_m = 1) on the path,
///
///     mc = ½(ℓ(0) + ℓ(1)) − ℓ(t*),   t* = argmax_{0<t<1} |½(ℓ(0) + ℓ(1)) − ℓ(t)|
///
/// negative when the path climbs a barrier above the endpoints (poorly connected, regime
/// I), positive or zero when it stays at or below them: a path along which the loss is
/// convex (at or below the chord between its ends) always has mc ≥ 0. Points equally far
/// from the mean, one above and one below (a straight path), count as no barrier. ``path(from:to:alphas:reestimatingOn:evaluate:)``
/// (and `plateau landscape --to`) computes the losses along the straight line.
    /// mc of the losses along a path, the endpoints first and last (at least two values).
    public static func mc(lossesAlongPath losses: [Float]) -> Float {
        precondition(losses.count >= 2, "ModeConnectivity: need the two endpoints at least, got \(losses.count) values")
        // t* over the interior points: at the endpoints the deviation is only half their
        // difference, which says nothing about the path (a straight line would get ±that).
        let mean = (losses.first! + losses.last!) / 2
        let interior = losses.dropFirst().dropLast()
        guard let farthest = interior.map({ Swift.abs(mean - $0) }).max() else { return 0 }
        // Ties go to the lowest loss: on a straight (or convex) path between unequal endpoints
        // the points next to the two ends are equally far from the mean, one above and one
        // below, and the one above would call a path with no barrier a barrier. A relative
        // tolerance makes float rounding of such a tie count as one.
        let tolerance = 1e-5 * Swift.max(Swift.abs(mean), farthest, Float.leastNormalMagnitude)
        let worst = interior.filter { Swift.abs(mean - $0) >= farthest - tolerance }.min()!
        return mean - worst
    }
}
