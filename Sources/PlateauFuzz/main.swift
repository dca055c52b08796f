// plateau-fuzz: mutation fuzzing of every file reader, in process.
//
//     plateau-fuzz [--iterations N] [--seed S] [--seeds DIR] [--reader NAME]... [--timeout SECONDS]
//                  [--reports DIR]
//     plateau-fuzz --replay FILE --reader NAME
//
// For each reader, the committed seed inputs (Tests/Fuzz/Seeds/<reader>/) are mutated with a
// seeded generator — bit flips, byte inserts and deletes, truncation, chunk duplication,
// splices of two inputs, interesting integers (0, 1, 2³¹−1, 2³²−1, 2⁶³−1, …) written over
// 1/2/4/8-byte fields in either byte order (biased to the header), and decimal numbers in
// text replaced by interesting ones — and every mutated input is fed to the reader. Inputs
// that the reader accepts join the pool that is mutated further.
//
// A failure is:
//   - a crash: a Swift trap or any fatal signal (the input is written to
//     <reports>/crash-<reader>.bin and the process dies);
//   - a hang: one input taking longer than --timeout seconds (same report; exit code 3);
//   - an allocation beyond the bound: bytes in use during the call above
//     16 MiB + 64 × (input size × 1032 when it is gzip — deflate's largest ratio), the
//     reader's declared sizes being checked against the input before they are allocated;
//   - a reader throwing something else than its documented error type.
// Counts per reader are printed; the exit code is 0 only when no input failed.
import CFuzzSupport
import Foundation
import PlateauData
import PlateauTensor
import PlateauTraining

struct Reader {
    let name: String
    /// Whether inputs are gzip: half the mutations then act on the inflated bytes, recompressed.
    let gzip: Bool
    let read: ([UInt8]) throws -> Void
    /// The error types this reader may throw.
    let accepts: (any Error) -> Bool
}

func isDataError(_ error: any Error) -> Bool { error is DataError }

/// Runs every attempt; succeeds when one accepts the input, else throws the last DataError.
/// Any other error propagates (it is a failure).
func anyOf(_ attempts: [() throws -> Void]) throws {
    var last: DataError?
    for attempt in attempts {
        do {
            try attempt()
            last = nil
            for rest in attempts.dropFirst() { _ = try? rest() }
            return
        } catch let error as DataError {
            last = error
        }
    }
    if let last { throw last }
}

func idx(_ bytes: [UInt8]) throws {
    try anyOf([{ _ = try MNIST.parseImagesFile(bytes, file: "fuzz") }, { _ = try MNIST.parseLabelsFile(bytes, file: "fuzz") }])
}

let readers: [Reader] = [
    Reader(name: "safetensors", gzip: false, read: { _ = try Safetensors.decode($0, file: "fuzz") }, accepts: isDataError),
    Reader(name: "idx", gzip: false, read: idx, accepts: isDataError),
    Reader(name: "idx-gz", gzip: true, read: idx, accepts: isDataError),
    Reader(name: "cifar", gzip: false, read: { bytes in
        try anyOf([
            { _ = try CIFAR.parseCIFAR10(bytes, file: "fuzz") }, { _ = try CIFAR.parseCIFAR100(bytes, file: "fuzz", labels: .fine) },
            { _ = try CIFAR.parseCIFAR100(bytes, file: "fuzz", labels: .coarse) },
        ])
    }, accepts: isDataError),
    Reader(name: "csv", gzip: false, read: { bytes in
        try anyOf([
            { _ = try Table.parse(bytes, file: "fuzz", options: TableOptions(delimiter: ","), name: "t") },
            { _ = try Table.parse(bytes, file: "fuzz", options: TableOptions(delimiter: "\t", labels: .strings), name: "t") },
            { _ = try Table.parse(bytes, file: "fuzz", options: TableOptions(delimiter: ",", labelColumn: .first, hasHeader: true, classCount: 20), name: "t") },
        ])
    }, accepts: isDataError),
    Reader(name: "checkpoint", gzip: false, read: { bytes in
        let checkpoint = try Checkpoint.decode(bytes, file: "fuzz")
        let data = Dataset(name: "d", images: Tensor.zeros([1, 2]), labels: [0], classCount: 1)
        try checkpoint.normalization?.check(for: data, file: "fuzz", field: "normalization")
    }, accepts: isDataError),
    Reader(name: "config", gzip: false, read: { bytes in
        let c = try RunConfiguration.decode(Data(bytes), source: "fuzz")
        try c.validate()
    }, accepts: { $0 is ConfigurationError }),
]

// MARK: - Arguments

var iterations = 10_000
var seed: UInt64 = 1
var seedsDirectory = "Tests/Fuzz/Seeds"
var selected: [String] = []
var timeout: UInt32 = 10
var reportsDirectory = ".build/fuzz"
var replay: String?
var arguments = Array(CommandLine.arguments.dropFirst())
func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("plateau-fuzz: \(message)\n".utf8))
    exit(2)
}
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    guard let value = arguments.first else { usage("\(flag) needs a value") }
    arguments.removeFirst()
    switch flag {
    case "--iterations":
        guard let n = Int(value), n >= 0 else { usage("--iterations: expected a number, got \(value)") }
        iterations = n
    case "--seed":
        guard let n = UInt64(value) else { usage("--seed: expected a number, got \(value)") }
        seed = n
    case "--seeds": seedsDirectory = value
    case "--reader": selected.append(value)
    case "--timeout":
        guard let n = UInt32(value), n > 0 else { usage("--timeout: expected seconds, got \(value)") }
        timeout = n
    case "--reports": reportsDirectory = value
    case "--replay": replay = value
    default: usage("unknown option \(flag)")
    }
}
for name in selected where !readers.contains(where: { $0.name == name }) {
    usage("unknown reader \(name) (readers: \(readers.map(\.name).joined(separator: ", ")))")
}
let active = selected.isEmpty ? readers : readers.filter { selected.contains($0.name) }
try? FileManager.default.createDirectory(atPath: reportsDirectory, withIntermediateDirectories: true)
fuzz_install_handlers()
// The allocation bound is only as good as the accounting: check that it sees a megabyte.
do {
    fuzz_alloc_reset_peak()
    let before = fuzz_alloc_current()
    let probe = [UInt8](repeating: 1, count: 1 << 20)
    guard fuzz_alloc_peak() >= before + probe.count, probe.last == 1 else { usage("allocation accounting is not active") }
}

// MARK: - Mutations

let interestingIntegers: [UInt64] = [
    0, 1, 2, 3, 4, 7, 8, 16, 28, 32, 64, 100, 127, 128, 255, 256, 1023, 1024, 3072, 3073, 4096, 32767, 32768, 65535, 65536,
    1 << 20, 1 << 24, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, 1 << 40, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
    0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE,
]
let interestingNumbers = [
    "0", "1", "-1", "2", "9", "10", "255", "256", "9999", "10000", "1000000", "-0", "2147483647", "2147483648", "4294967295",
    "4294967296", "9007199254740993", "9223372036854775807", "9223372036854775808", "18446744073709551616",
    "99999999999999999999999", "1e308", "1e309", "-1e309", "0.5", "1e-45", "nan", "inf", "-inf", "\"\"", "null", "[]", "{}", "true",
]

func mutate(_ input: [UInt8], pool: [[UInt8]], using g: inout SeededGenerator) -> [UInt8] {
    var out = input
    for _ in 0..<Int.random(in: 1...4, using: &g) {
        let position = { (g: inout SeededGenerator, count: Int) -> Int in
            // Headers hold the sizes: half the positions fall in the first 64 bytes.
            count == 0 ? 0 : (Bool.random(using: &g) ? Int.random(in: 0..<min(count, 64), using: &g) : Int.random(in: 0..<count, using: &g))
        }
        switch Int.random(in: 0..<9, using: &g) {
        case 0:  // bit flips
            for _ in 0..<Int.random(in: 1...4, using: &g) where !out.isEmpty {
                out[position(&g, out.count)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &g)
            }
        case 1:  // insert random bytes
            let at = out.isEmpty ? 0 : Int.random(in: 0...out.count, using: &g)
            out.insert(contentsOf: (0..<Int.random(in: 1...16, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }, at: at)
        case 2:  // delete a range
            guard !out.isEmpty else { continue }
            let at = position(&g, out.count)
            out.removeSubrange(at..<min(out.count, at + Int.random(in: 1...32, using: &g)))
        case 3:  // truncate
            out = Array(out.prefix(Int.random(in: 0...out.count, using: &g)))
        case 4:  // duplicate a chunk
            guard !out.isEmpty else { continue }
            let at = Int.random(in: 0..<out.count, using: &g)
            let chunk = out[at..<min(out.count, at + Int.random(in: 1...256, using: &g))]
            out.insert(contentsOf: Array(chunk), at: Int.random(in: 0...out.count, using: &g))
        case 5:  // splice with another input
            let other = pool.randomElement(using: &g) ?? []
            let a = Int.random(in: 0...out.count, using: &g), b = Int.random(in: 0...other.count, using: &g)
            out = Array(out[..<a]) + Array(other[b...])
        case 6, 7:  // an interesting integer over a 1/2/4/8-byte field, either byte order
            let width = [1, 2, 4, 8].randomElement(using: &g)!
            guard out.count >= width else { continue }
            var value = interestingIntegers.randomElement(using: &g)!
            if Int.random(in: 0..<4, using: &g) == 0 { value = UInt64(out.count) &+ UInt64(bitPattern: Int64.random(in: -2...2, using: &g)) }
            let at = min(position(&g, out.count), out.count - width)
            let bigEndian = Bool.random(using: &g)
            for k in 0..<width {
                let shift = UInt64(8 * (bigEndian ? width - 1 - k : k))
                out[at + k] = UInt8(truncatingIfNeeded: value >> shift)
            }
        default:  // a decimal number in text replaced by an interesting one
            let digits = out.indices.filter { (0x30...0x39).contains(out[$0]) }
            guard let start = digits.randomElement(using: &g) else { continue }
            var begin = start, end = start + 1
            while begin > 0, (0x30...0x39).contains(out[begin - 1]) || out[begin - 1] == 0x2E || out[begin - 1] == 0x2D { begin -= 1 }
            while end < out.count, (0x30...0x39).contains(out[end]) || out[end] == 0x2E || out[end] == 0x65 { end += 1 }
            out.replaceSubrange(begin..<end, with: Array(interestingNumbers.randomElement(using: &g)!.utf8))
        }
    }
    return out
}

// MARK: - Running

@MainActor func loadSeeds(_ reader: Reader) -> [[UInt8]] {
    let directory = URL(fileURLWithPath: seedsDirectory).appendingPathComponent(reader.name)
    let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    let seeds = files.compactMap { try? [UInt8](Data(contentsOf: directory.appendingPathComponent($0))) }
    if seeds.isEmpty { usage("no seed inputs in \(directory.path)") }
    return seeds
}

/// Runs one input; returns whether it was accepted, or a failure message.
@MainActor func run(_ reader: Reader, _ input: [UInt8], report: String) -> Result<Bool, FuzzFailure> {
    fuzz_set_current(input, input.count, report)  // the C side copies the bytes
    let bound = (16 << 20) + 64 * input.count * (Gzip.isGzip(input) ? 1032 : 1)
    let before = fuzz_alloc_current()
    fuzz_alloc_reset_peak()
    fuzz_alarm(timeout)
    var outcome: Result<Bool, FuzzFailure>
    do {
        try reader.read(input)
        outcome = .success(true)
    } catch {
        outcome = reader.accepts(error) ? .success(false) : .failure(FuzzFailure(message: "unexpected error type \(type(of: error)): \(error)"))
    }
    fuzz_alarm(0)
    let used = fuzz_alloc_peak() - min(before, fuzz_alloc_peak())
    lastPeak = used
    if used > bound {
        outcome = .failure(FuzzFailure(message: "allocated \(used) bytes for a \(input.count)-byte input (bound \(bound))"))
    }
    return outcome
}

struct FuzzFailure: Error { var message: String }

/// Bytes allocated (at the peak) during the last input's read.
var lastPeak = 0

if let replay {
    guard active.count == 1, let reader = active.first else { usage("--replay needs exactly one --reader") }
    guard let data = FileManager.default.contents(atPath: replay) else { usage("cannot read \(replay)") }
    switch run(reader, [UInt8](data), report: reportsDirectory + "/replay.bin") {
    case .success(let accepted):
        print("\(reader.name): \(accepted ? "accepted" : "rejected") \(replay) (\(data.count) bytes; peak allocation during the read \(lastPeak) bytes)")
    case .failure(let failure): print("\(reader.name): FAILURE \(failure.message)"); exit(1)
    }
    exit(0)
}

var failures = 0
let started = Date()
for (index, reader) in active.enumerated() {
    let seeds = loadSeeds(reader)
    var g = SeededGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
    var pool = seeds
    var accepted = 0, rejected = 0, largest = 0
    let report = "\(reportsDirectory)/crash-\(reader.name).bin"
    let clock = Date()
    // Every seed must be accepted as it is.
    for input in seeds {
        switch run(reader, input, report: report) {
        case .success(true): break
        case .success(false): print("\(reader.name): a seed input is rejected"); failures += 1
        case .failure(let failure): print("\(reader.name): FAILURE on a seed input: \(failure.message)"); failures += 1
        }
    }
    for _ in 0..<iterations {
        var input: [UInt8]
        let base = pool.randomElement(using: &g)!
        if reader.gzip, Bool.random(using: &g), let plain = try? Gzip.inflate(base, limit: 1 << 20) {
            input = Gzip.compress(mutate(plain, pool: [], using: &g), level: Int32.random(in: 1...9, using: &g))
        } else {
            input = mutate(base, pool: pool, using: &g)
        }
        if input.count > 1 << 20 { input = Array(input.prefix(1 << 20)) }
        largest = max(largest, input.count)
        switch run(reader, input, report: report) {
        case .success(true):
            accepted += 1
            if pool.count < 512 { pool.append(input) }
        case .success(false):
            rejected += 1
        case .failure(let failure):
            failures += 1
            let path = "\(reportsDirectory)/failure-\(reader.name)-\(failures).bin"
            _ = FileManager.default.createFile(atPath: path, contents: Data(input))
            print("\(reader.name): FAILURE \(failure.message); input written to \(path)")
        }
    }
    let seconds = Date().timeIntervalSince(clock)
    print(String(
        format: "%@: %d inputs (%d accepted, %d rejected), largest %d bytes, %.1f s, %.0f inputs/s",
        reader.name, iterations, accepted, rejected, largest, seconds, Double(iterations) / max(seconds, 1e-9)))
}
print(String(format: "plateau-fuzz: %d failure(s) in %.1f s", failures, Date().timeIntervalSince(started)))
exit(failures == 0 ? 0 : 1)
