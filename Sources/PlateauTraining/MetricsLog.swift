import Foundation

/// A run's per-epoch metrics on disk: `metrics.jsonl` (one JSON object per epoch, keys in
/// snake case) and `metrics.csv`, written atomically, read back by the trainer when it
/// resumes and by `compare` when it reuses or reports a run. One reader for both, so that
/// they agree on every row — including a diverged evaluation's `inf`/`nan`, a result to keep.
public enum MetricsLog {
    /// Writes `history` as `metrics.jsonl` and `metrics.csv` into `directory`.
    public static func write(_ history: [EpochMetrics], to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let lines = try history.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try writeAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: directory.appendingPathComponent("metrics.jsonl"))
        let csv = ([EpochMetrics.csvHeader] + history.map(\.csvLine)).joined(separator: "\n") + "\n"
        try writeAtomically(Data(csv.utf8), to: directory.appendingPathComponent("metrics.csv"))
    }

    /// The rows of `directory/metrics.jsonl` (none when the file is missing).
    public static func read(from directory: URL) -> [EpochMetrics] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else { return [] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return text.split(separator: "\n").compactMap { try? decoder.decode(EpochMetrics.self, from: Data($0.utf8)) }
    }
}
