#!/usr/bin/env bash
# Reruns the SAF/SAM generalization and flatness experiments (issue 4) on real MNIST.
#
#   scripts/experiments.sh [noise10|noise30|lenet|all]   (default: all)
#   SEEDS="0 1" scripts/experiments.sh noise30            (default seeds: 0 1 2)
#   scripts/experiments.sh safsweep                        (SAF's λ, E and E_start, seed 0)
#   PLATEAU=/path/to/plateau THREADS=1 scripts/experiments.sh ...   (a frozen binary, 1 thread)
#
# Needs MNIST in data/mnist (`plateau data fetch mnist`). Each run writes runs/<experiment>/
# <method>-seed<k>/ (config, metrics, checkpoints); a finished run is skipped, so the script
# can be interrupted and restarted. Summaries: scripts/summarize.py runs/<experiment>.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PLATEAU:-}" ]; then swift build -c release >/dev/null; fi
P=${PLATEAU:-.build/release/plateau}
threads=(--threads "${THREADS:-2}")
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
        "$P" train --output "$dir" "${threads[@]}" "$@"
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

# SAF's hyperparameters one at a time around λ 1, E 3, E_start 5 (the 30-epoch setting, seed 0):
# λ 0.1 / 0.3 / 1 / 3, lag E 1 / 3 / 5, start E_start 3 / 5 / 10.
if [ "$which" = safsweep ] || [ "$which" = all ]; then
    sweep=("--saf-lambda 0.1" "--saf-lambda 3" "--saf-lambda 1 --saf-lag 1" "--saf-lambda 1 --saf-lag 5"
           "--saf-lambda 1 --saf-start 3" "--saf-lambda 1 --saf-start 10")
    labels=("lambda0.1" "lambda3" "lambda1-lag1" "lambda1-lag5" "lambda1-start3" "lambda1-start10")
    for i in "${!sweep[@]}"; do
        # shellcheck disable=SC2086
        run "runs/noise40-30ep/saf-${labels[$i]}-seed0" "${common[@]}" --epochs 30 --schedule cosine --seed 0 --optimizer saf ${sweep[$i]}
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
