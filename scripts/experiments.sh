#!/usr/bin/env bash
# Reruns the SAF/SAM generalization and flatness experiments (issue 4) on real MNIST.
#
#   scripts/experiments.sh [noise10|noise30|lenet|all]   (default: all)
#   SEEDS="0 1" scripts/experiments.sh noise30            (default seeds: 0 1 2)
#
# Needs MNIST in data/mnist (`plateau data fetch mnist`). Each run writes runs/<experiment>/
# <method>-seed<k>/ (config, metrics, checkpoints); a finished run is skipped, so the script
# can be interrupted and restarted. Summaries: scripts/summarize.py runs/<experiment>.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
P=.build/release/plateau
which=${1:-all}
read -r -a seeds <<< "${SEEDS:-0 1 2}"

run() {  # run <dir> <args...>: train unless the run already has all its epochs
    local dir=$1; shift
    local epochs
    epochs=$(printf '%s\n' "$@" | awk 'prev=="--epochs"{print; exit} {prev=$0}')
    if [ -f "$dir/metrics.jsonl" ] && [ "$(wc -l < "$dir/metrics.jsonl")" -ge "$epochs" ]; then
        echo "done: $dir"; return
    fi
    if [ -f "$dir/checkpoint-last.safetensors" ]; then
        "$P" train --output "$dir" --resume
    else
        "$P" train --output "$dir" "$@"
    fi
}

# Issue 4, experiment 2: MNIST with 40% symmetric label noise, MLP 784-512-512-10, SGD momentum
# 0.9, lr 0.05, batch 128, weight decay 5e-4, 3 seeds.
methods=("sgd" "sam --rho 0.05" "sam --rho 0.1" "asam --rho 0.5" "saf" "mesa")
names=("sgd" "sam0.05" "sam0.1" "asam0.5" "saf" "mesa")
common=(--model mlp --dataset mnist --label-noise 0.4 --lr 0.05 --momentum 0.9 --batch-size 128 --weight-decay 5e-4)

if [ "$which" = noise10 ] || [ "$which" = all ]; then
    for s in "${seeds[@]}"; do
        for i in "${!methods[@]}"; do
            # shellcheck disable=SC2086
            run "runs/noise40-10ep/${names[$i]}-seed$s" "${common[@]}" --epochs 10 --schedule constant --seed "$s" --optimizer ${methods[$i]}
        done
    done
fi

# The same with 30 epochs and a cosine schedule, where SGD starts memorizing the noise.
if [ "$which" = noise30 ] || [ "$which" = all ]; then
    for s in "${seeds[@]}"; do
        for i in "${!methods[@]}"; do
            # shellcheck disable=SC2086
            run "runs/noise40-30ep/${names[$i]}-seed$s" "${common[@]}" --epochs 30 --schedule cosine --seed "$s" --optimizer ${methods[$i]}
        done
        # SAF's weight λ: the paper's 0.3 against 1.0.
        run "runs/noise40-30ep/saf-lambda1-seed$s" "${common[@]}" --epochs 30 --schedule cosine --seed "$s" --optimizer saf --saf-lambda 1
    done
fi

# Clean MNIST with LeNet-5.
if [ "$which" = lenet ] || [ "$which" = all ]; then
    for s in "${seeds[@]}"; do
        for m in sgd sam saf; do
            run "runs/lenet-clean/$m-seed$s" --model lenet --dataset mnist --epochs 10 --lr 0.01 --momentum 0.9 --batch-size 128 --seed "$s" --optimizer "$m"
        done
    done
fi

# Flatness: top Hessian eigenvalue of the training loss at the end of each run.
python3 scripts/summarize.py runs/noise40-10ep runs/noise40-30ep runs/lenet-clean --plateau "$P"
