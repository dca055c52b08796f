#!/usr/bin/env bash
# Data-parallel training and federated gossip over Open MPI against one process (issue 18;
# CI runs it).
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
# Then `plateau federate` (DFedSAM-MGS, 5 clients on a ring, 3 rounds of 2 local steps and 2
# gossip steps) in one process and under `mpirun -np 2 … --distributed mpi` (3 + 2 clients per
# rank): every client's arithmetic is the same whatever rank runs it and the metrics are
# gathered and reduced in client order, so the averaged model and the metrics must be
# bit-identical (no tolerance); only the wall-clock seconds differ.
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
fed=(--dataset digits --clients 5 --rounds 3 --local-steps 2 --method dfedsam-mgs --gossip-steps 2 --threads 1 --seed 3)
"$BINARY" federate "${fed[@]}" --output "$work/fed-1" > "$work/fed-1.log" 2>&1
"${MPIRUN[@]}" "$BINARY" federate "${fed[@]}" --distributed mpi --output "$work/fed-2" > "$work/fed-2.log" 2>&1
printf '%-11s 2 ranks vs 1: ' federate
without_seconds() { grep -v '"seconds"' "$1"; }
if cmp -s "$work/fed-1/averaged-model.safetensors" "$work/fed-2/averaged-model.safetensors" \
    && diff -q <(without_seconds "$work/fed-1/summary.json") <(without_seconds "$work/fed-2/summary.json") > /dev/null \
    && diff -q <(cut -d, -f1-10 "$work/fed-1/metrics.csv") <(cut -d, -f1-10 "$work/fed-2/metrics.csv") > /dev/null; then
    echo "averaged model, summary and metrics bit-identical"
else
    echo "DIFFERENT (averaged-model.safetensors, summary.json or metrics.csv)"; status=1
fi
[ $status = 0 ] && echo "mpi equivalence: all checks passed" || echo "mpi equivalence: FAILED"
exit $status
