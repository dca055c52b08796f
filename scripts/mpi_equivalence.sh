#!/usr/bin/env bash
# Data-parallel training over Open MPI against one process (issue 18; CI runs it).
#
#   scripts/mpi_equivalence.sh [BINARY]     (default: the release build's plateau)
#
# For SGD, SAM with a global ε, SAM with a local ε and SAF, the MLP trains on 256 digits for
# 2 epochs (16 steps of the global batch of 32; SAF's term on in the second epoch) three ways:
# one process without MPI, `mpirun -np 2 … --distributed mpi`, and the same 2-rank job again.
# Checks: the 2-rank weights equal the 1-process weights within TOLERANCE (relative to the
# largest weight; the sum of two shard gradients rounds differently from one batch's sum, see
# docs/distributed.md), and the two 2-rank runs are bit-identical (weights, optimizer state,
# SAF's bank: scripts/weights_digest.py). SAM with a local ε is m-sharpness with m = 16 and is
# compared with the one-process run of --m-sharpness 16, its exact single-process equivalent.
#
# As root (a container) mpirun needs --allow-run-as-root; --oversubscribe lets 2 ranks run on
# fewer cores than that. Each rank computes on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY=${1:-$(swift build -c release --show-bin-path)/plateau}
TOLERANCE=${TOLERANCE:-1e-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
MPIRUN=(mpirun --oversubscribe -np 2)
[ "$(id -u)" = "0" ] && MPIRUN+=(--allow-run-as-root)

common=(--model mlp --dataset digits --train-limit 256 --batch-size 32 --epochs 2 --lr 0.05
        --threads 1 --tensorboard-interval 0 --progress-interval 0 --seed 3)
status=0
check() {  # name, single-process flags, distributed flags
    local name=$1 single=$2 distributed=$3
    # shellcheck disable=SC2086
    "$BINARY" train "${common[@]}" $single --output "$work/$name-1" > "$work/$name-1.log"
    for run in a b; do
        # shellcheck disable=SC2086
        "${MPIRUN[@]}" "$BINARY" train "${common[@]}" $distributed --distributed mpi --output "$work/$name-2$run" > "$work/$name-2$run.log"
    done
    local one="$work/$name-1/checkpoint-last.safetensors" a="$work/$name-2a/checkpoint-last.safetensors" b="$work/$name-2b/checkpoint-last.safetensors"
    printf '%-11s 2 ranks vs 1: ' "$name"
    if ! scripts/compare_checkpoints.py "$one" "$a" "$TOLERANCE"; then status=1; fi
    if [ "$(scripts/weights_digest.py "$a")" = "$(scripts/weights_digest.py "$b")" ]; then
        echo "            2 ranks twice: bit-identical"
    else
        echo "            2 ranks twice: DIFFERENT"; status=1
    fi
}
check sgd "--optimizer sgd" "--optimizer sgd"
check sam-global "--optimizer sam" "--optimizer sam --sam-epsilon global"
check sam-local "--optimizer sam --m-sharpness 16" "--optimizer sam --sam-epsilon local"
check saf "--optimizer saf --saf-lag 1 --saf-start 0" "--optimizer saf --saf-lag 1 --saf-start 0"
[ $status = 0 ] && echo "mpi equivalence: all checks passed" || echo "mpi equivalence: FAILED"
exit $status
