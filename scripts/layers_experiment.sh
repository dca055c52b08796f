#!/bin/sh
# Issue 17 (layers): the ALIAS-vs-SPADE digit toy and the U-Net / U-Mamba bench rows.
# Usage: scripts/layers_experiment.sh [SEEDS] [STEPS]   (needs data/mnist and a release build)
# Defaults reproduce the reduced run in docs/results.md (1,000/300 digits, width 8, batch 16,
# 150 steps, seeds 0,1,2); FULL=1 runs the larger toy (2,000/500 digits, width 16, batch 32,
# 2,000 steps unless STEPS is given).
set -eu
SEEDS=${1:-0,1,2}
P=${P:-.build/release/plateau}
if [ "${FULL:-0}" = 1 ]; then
    $P alias-toy --data-dir data/mnist --train-samples 2000 --test-samples 500 --steps "${2:-2000}" \
        --batch-size 32 --lr 2e-3 --width 16 --shift 3 --seeds "$SEEDS" --threads 1
else
    $P alias-toy --data-dir data/mnist --train-samples 1000 --test-samples 300 --steps "${2:-150}" \
        --batch-size 16 --lr 3e-3 --width 8 --shift 3 --seeds "$SEEDS" --threads 1
fi
$P bench --workloads unet,umamba --batch-size 16 --steps 5 --warmup 1 --threads 1
$P bench --workloads unet,umamba --batch-size 16 --steps 5 --warmup 1 --threads 1 --image-side 64
