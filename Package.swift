// swift-tools-version:6.0
import PackageDescription

// The module graph. Dependencies flow one way (down); each target declares exactly the
// modules it imports. PlateauTraining and PlateauAnalysis do not know each other: only
// PlateauComparison, which trains runs and then measures them, needs both.
//
//   PlateauCommand      the `plateau` executable (+ ArgumentParser)
//   Plateau             umbrella: @_exported imports of the modules below
//   PlateauReport       renders a comparison (HTML, Markdown, SVG)   -> Comparison, Training
//   PlateauComparison   `compare`: runs, then their sharpness        -> Training, Analysis, Tensor
//   PlateauTraining     trainer, loops, method table, experiment     -> Optim, Data, NN, Tensor, Yams
//                       runner, checkpoints, dataset catalog
//   PlateauAnalysis     Hessian, ρ-sharpness, landscapes             -> Data, NN, Tensor
//   PlateauOptim        optimizers, sharpness-aware rules, objective -> NN, Tensor
//                       terms (SAF, MESA)
//   PlateauData         datasets, batches, augmentation, safetensors -> Tensor, CZlib
//   PlateauNN           modules, layers, models, losses              -> Tensor
//   PlateauTensor       tensors, autodiff, ops, backend              -> COpenBLAS, CDNNL
//   PlateauDistributed  the Communicator seam (ranks, collectives), the one-rank
//                       LocalCommunicator                            -> (nothing)
//   PlateauMPI          Communicator over Open MPI                   -> Distributed, CMPI
//
// Only the backend files in PlateauTensor import COpenBLAS and CDNNL; only Gzip.swift imports CZlib.
// Only PlateauMPI imports CMPI, and only the `plateau` executable links PlateauMPI: the library
// product (the Plateau umbrella) trains data-parallel through any Communicator without MPI.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Plateau",
    // macOS 15 for the standard library's `Synchronization.Atomic` (PlateauTensor's worker pool).
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Plateau", targets: ["Plateau"]),
        .executable(name: "plateau", targets: ["PlateauCommand"]),
        // Mutation fuzzing of every file reader (scripts/fuzz.sh).
        .executable(name: "plateau-fuzz", targets: ["PlateauFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML configuration files (`plateau train --config run.yaml`); PlateauTraining only.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // `swift package generate-documentation` (make docs); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Implementation details
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN's convolution primitives (Debian: libdnnl-dev, which ships no pkg-config file).
        // Only the oneDNN backend file in PlateauTensor imports it.
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // zlib's inflate, for .gz datasets (Debian: zlib1g-dev). Only PlateauData imports it.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // Open MPI's C API (Debian: libopenmpi-dev; mpirun from openmpi-bin). Only PlateauMPI imports it.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),

        // MARK: - Public API
        .target(name: "PlateauDistributed", swiftSettings: strict),
        .target(name: "PlateauMPI", dependencies: ["PlateauDistributed", "CMPI"], swiftSettings: strict),
        .target(name: "PlateauTensor", dependencies: ["COpenBLAS", "CDNNL"], swiftSettings: strict),
        .target(name: "PlateauNN", dependencies: ["PlateauTensor"], swiftSettings: strict),
        .target(name: "PlateauOptim", dependencies: ["PlateauTensor", "PlateauNN", "PlateauDistributed"], swiftSettings: strict),
        .target(name: "PlateauAnalysis", dependencies: ["PlateauTensor", "PlateauNN", "PlateauData"], swiftSettings: strict),
        .target(
            name: "PlateauTraining",
            dependencies: [
                "PlateauTensor", "PlateauNN", "PlateauOptim", "PlateauData", "PlateauDistributed",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        .target(
            name: "PlateauData",
            dependencies: ["PlateauTensor", "CZlib"],
            resources: [
                .copy("Resources/digits.csv.gz"),
                .copy("Resources/LICENSE-digits.md"),
            ],
            swiftSettings: strict
        ),
        // `plateau compare`: the runs (PlateauTraining) and then their sharpness (PlateauAnalysis).
        .target(
            name: "PlateauComparison",
            dependencies: ["PlateauTensor", "PlateauAnalysis", "PlateauTraining"],
            swiftSettings: strict),
        // Renders a comparison: SVG charts, the HTML and Markdown report.
        .target(
            name: "PlateauReport",
            dependencies: ["PlateauTraining", "PlateauComparison"],
            swiftSettings: strict),
        .target(
            name: "Plateau",
            dependencies: ["PlateauTensor", "PlateauNN", "PlateauOptim", "PlateauData", "PlateauAnalysis", "PlateauTraining", "PlateauComparison", "PlateauReport", "PlateauDistributed"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "PlateauCommand",
            dependencies: [
                "Plateau", "PlateauMPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // plateau-fuzz: an in-process mutator over every reader; CFuzzSupport counts its
        // allocations and reports crashing or hanging inputs (that executable only).
        .target(name: "CFuzzSupport"),
        .executableTarget(
            name: "PlateauFuzz", dependencies: ["PlateauData", "PlateauTraining", "PlateauTensor", "CFuzzSupport"],
            swiftSettings: strict),

        // MARK: - Tests
        .testTarget(name: "PlateauTensorTests", dependencies: ["PlateauTensor"], swiftSettings: strict),
        .testTarget(name: "PlateauOptimTests", dependencies: ["PlateauOptim", "PlateauTensor"], swiftSettings: strict),
        .testTarget(name: "PlateauDataTests", dependencies: ["PlateauData", "PlateauTensor"], swiftSettings: strict),
        .testTarget(name: "PlateauNNTests", dependencies: ["PlateauNN", "PlateauOptim", "PlateauTensor"], swiftSettings: strict),
        // Runs the built `plateau` binary (imports none of its modules; the dependency builds it).
        .testTarget(name: "PlateauCLITests", dependencies: ["PlateauCommand"], swiftSettings: strict),
        .testTarget(name: "PlateauTests", dependencies: ["Plateau"], swiftSettings: strict),
        .testTarget(
            name: "PlateauSharpnessTests", dependencies: ["PlateauOptim", "PlateauNN", "PlateauTensor"], swiftSettings: strict),
        .testTarget(
            name: "PlateauTrainingTests",
            dependencies: ["PlateauTraining", "PlateauData", "PlateauOptim", "PlateauNN", "PlateauTensor", "PlateauDistributed"],
            swiftSettings: strict),
        .testTarget(
            name: "PlateauAnalysisTests", dependencies: ["PlateauAnalysis", "PlateauData", "PlateauNN", "PlateauTensor"], swiftSettings: strict),
        .testTarget(
            name: "PlateauReportTests",
            dependencies: ["PlateauReport", "PlateauComparison", "PlateauAnalysis", "PlateauTraining"],
            swiftSettings: strict),
    ]
)
