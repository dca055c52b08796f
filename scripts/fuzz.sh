#!/usr/bin/env bash
# Mutation fuzzing of every file reader (safetensors, IDX raw and gzip, CIFAR, CSV/TSV, checkpoints, run
# configuration JSON and YAML): builds plateau-fuzz in release and runs ITERATIONS mutated inputs per
# reader (default 100000) from the seeds in Tests/Fuzz/Seeds/<reader>/. Fails on a crash, a
# hang (--timeout seconds per input), an allocation beyond the input's bound, or an
# undocumented error type; failing inputs are written to .build/fuzz/.
#
#     scripts/fuzz.sh [ITERATIONS] [plateau-fuzz options, e.g. --reader csv --seed 3]
#     .build/release/plateau-fuzz --replay .build/fuzz/crash-csv.bin --reader csv
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${1:-100000}"
shift || true
swift build -c release --product plateau-fuzz
exec .build/release/plateau-fuzz --iterations "$iterations" "$@"
