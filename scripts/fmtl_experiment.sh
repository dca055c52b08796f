#!/usr/bin/env bash
# F-MTL on MultiMNIST (issue 14): LeNet body + 2 heads (left and right digit), six methods x
# seeds, then a table of mean ± std test accuracies and the task-gradient cosine per epoch.
#
#   scripts/fmtl_experiment.sh [OUT]       # OUT defaults to runs/fmtl-experiment
#
# Methods (all over Adam, lr 1e-3, batch 256, the F-MTL code's MultiMNIST optimizer):
#   ew, pcgrad, mgda       --optimizer adam --aggregator ew|pcgrad|mgda
#   sam                    --optimizer sam --base-optimizer adam (SAM on the summed loss, rho 0.05)
#   fmtl-ew, fmtl-pcgrad   --optimizer fmtl --base-optimizer adam --aggregator ew|pcgrad (rho 0.05)
# Environment: DATA (multi-mnist directory; made from MNIST=/work/main/data/mnist when absent,
# default data/multi-mnist), PLATEAU (default .build/release/plateau), SEEDS (default "0 1 2"),
# EPOCHS (default 5), LIMIT (training images, default 8000), JOBS (parallel runs, default 2),
# METHODS (a subset of the six names below, space-separated; default all).
# Each run uses --threads 1; finished runs (metrics for every epoch) are skipped, so the script
# can be re-run to continue. The summary is scripts/fmtl_summary.py's.
set -euo pipefail
out=${1:-runs/fmtl-experiment}
plateau=${PLATEAU:-.build/release/plateau}
data=${DATA:-data/multi-mnist}
seeds=${SEEDS:-0 1 2}
epochs=${EPOCHS:-5}
limit=${LIMIT:-8000}
jobs=${JOBS:-2}
[ -x "$plateau" ] || { echo "build first: swift build -c release (or set PLATEAU)" >&2; exit 2; }

declare -A flags=(
    [ew]="--optimizer adam --aggregator ew"
    [pcgrad]="--optimizer adam --aggregator pcgrad"
    [mgda]="--optimizer adam --aggregator mgda"
    [sam]="--optimizer sam --base-optimizer adam --rho 0.05"
    [fmtl-ew]="--optimizer fmtl --base-optimizer adam --rho 0.05 --aggregator ew"
    [fmtl-pcgrad]="--optimizer fmtl --base-optimizer adam --rho 0.05 --aggregator pcgrad"
)
methods=${METHODS:-ew pcgrad mgda sam fmtl-ew fmtl-pcgrad}
for method in $methods; do [ -n "${flags[$method]:-}" ] || { echo "METHODS: unknown method '$method'" >&2; exit 2; }; done
if [ ! -f "$data/train-labels-right-idx1-ubyte" ]; then
    "$plateau" data make multi-mnist --from "${MNIST:-/work/main/data/mnist}" --output "$data"
fi
mkdir -p "$out"

# One line per run (seed-major, so that early seeds complete first): directory and flags.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
for seed in $seeds; do
    for method in $methods; do
        dir="$out/$method-seed$seed"
        if [ -f "$dir/metrics.csv" ] && [ "$(($(wc -l < "$dir/metrics.csv") - 1))" -ge "$epochs" ]; then continue; fi
        echo "$dir ${flags[$method]} --seed $seed" >> "$list"
    done
done
run() {
    dir=$1; shift
    "$plateau" train --model lenet --dataset multi-mnist --data-dir "$data" --tasks 2 --lr 0.001 --batch-size 256 \
        --epochs "$epochs" --train-limit "$limit" --threads 1 --tensorboard-interval 0 --progress-interval 0 \
        --output "$dir" --overwrite "$@" > "$dir.log" 2>&1 && echo "done $dir" || { echo "FAILED $dir (see $dir.log)"; return 1; }
}
export -f run
export plateau data epochs limit
[ -s "$list" ] && xargs -P "$jobs" -L 1 bash -c 'run "$@"' _ < "$list"
python3 "$(dirname "$0")/fmtl_summary.py" "$out"
