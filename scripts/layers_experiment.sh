#!/bin/sh
# Issue 17 (layers): the ALIAS-vs-SPADE digit toy and the U-Net / U-Mamba bench rows.
# Usage: scripts/layers_experiment.sh [SEEDS] [STEPS]   (needs data/mnist and a release build)
# The committed numbers in docs/results.md used SEEDS=0,1,2 STEPS=300; the full toy at a
# larger budget is the same command with more steps (e.g. 2000).
set -eu
SEEDS=${1:-0,1,2}
STEPS=${2:-300}
P=${P:-.build/release/plateau}
$P alias-toy --data-dir data/mnist --train-samples 2000 --test-samples 500 --steps "$STEPS" \
    --batch-size 32 --lr 2e-3 --width 16 --shift 3 --seeds "$SEEDS" --threads 1
$P bench --workloads unet,umamba --batch-size 16 --steps 10 --warmup 2 --threads 1
$P bench --workloads unet,umamba --batch-size 16 --steps 5 --warmup 1 --threads 1 --image-side 64
