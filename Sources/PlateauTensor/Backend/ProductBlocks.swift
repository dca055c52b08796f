/// How a backend with `.plateau` threading splits one product over Plateau's threads.
///
/// The blocks depend on the product's shape alone, never on the thread count: a BLAS
/// kernel's result for an element depends on the width of the block it is computed in (its
/// packing and edge handling), so a fixed blocking is what makes runs bit-identical whatever
/// the number of threads. Blocks are then spread over ``Parallelism/threadCount`` threads.
enum ProductBlocks {
    /// Multiply–adds per block below which splitting costs more than it gains.
    static let grain = 1 << 20
    /// The most blocks a product is split into (enough for 4 threads). Part of the
    /// arithmetic: changing it changes results in the last bits.
    static let maximumCount = 4

    /// Calls `body(rows, columns)` once per block of the `m × n` output (with inner dimension
    /// `k`), in parallel when there are several; a product too small to split is one block.
    static func forEach(m: Int, n: Int, k: Int, _ body: (Range<Int>, Range<Int>) -> Void) {
        let count = Swift.min(maximumCount, m * n * Swift.max(k, 1) / grain)
        guard count >= 2 else {
            body(0..<m, 0..<n)
            return
        }
        // Blocks are multiples of 16 columns (rows) so the micro-kernels' tiles stay whole.
        let splitColumns = n >= m || m < 32 * count
        let extent = splitColumns ? n : m
        let blocks = (0..<count).map { p -> Range<Int> in
            let lower = Swift.min(extent, (p * extent / count + 8) / 16 * 16)
            let upper = p == count - 1 ? extent : Swift.min(extent, ((p + 1) * extent / count + 8) / 16 * 16)
            return lower..<Swift.max(lower, upper)
        }
        parallelFor(count, grain: 1) { range in
            for block in blocks[range] where !block.isEmpty {
                if splitColumns { body(0..<m, block) } else { body(block, 0..<n) }
            }
        }
    }
}
