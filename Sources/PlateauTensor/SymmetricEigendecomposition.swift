/// Eigenvalues and eigenvectors of a small dense symmetric matrix (`a[i][j] == a[j][i]`) by
/// cyclic Jacobi rotations, in double precision: a Lanczos tridiagonal, an NTK Gram matrix, a
/// gossip mixing matrix, a dense Hessian block in a test. O(n³) per sweep, so for n up to a
/// few hundred; it stops when the off-diagonal mass falls below 1e-24 of the total (at most
/// 100 sweeps).
public enum SymmetricEigendecomposition {
    /// Eigenvalues ascending, with unit eigenvectors (`vectors[j]` belongs to `values[j]`).
    public static func of(_ matrix: [[Double]]) -> (values: [Double], vectors: [[Double]]) {
        let n = matrix.count
        guard n > 0 else { return ([], []) }
        var a = matrix
        var v = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n { v[i][i] = 1 }
        for _ in 0..<100 {
            var off = 0.0, total = 0.0
            for i in 0..<n { for j in 0..<n { total += a[i][j] * a[i][j]; if i != j { off += a[i][j] * a[i][j] } } }
            if off <= 1e-24 * max(total, 1e-300) { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n where a[p][q] != 0 {
                    let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (Swift.abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k][p], akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p][k], aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k][p], vkq = v[k][q]
                        v[k][p] = c * vkp - s * vkq
                        v[k][q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0][$0] < a[$1][$1] }
        return (order.map { a[$0][$0] }, order.map { j in (0..<n).map { v[$0][j] } })
    }
}
