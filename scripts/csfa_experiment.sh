#!/usr/bin/env bash
# CSFA with RSGS (issue 12): incremental learning under concept drift on MNIST. Phase 0
# pre-trains a GroupNorm LeNet-5 on classes 0-4 (2 epochs, clean); phases 1-5 each add one
# class (5..9) with 5 labelled shots while every image of the phase is rotated by 15°·t and
# corrupted by Gaussian noise at severity t (σ 0.08, 0.12, 0.18, 0.26, 0.38); 1,000 unlabeled
# test images per phase. Methods: ncm, calibrated (TEEN), tent, sar, rsgs; 3 seeds.
# Run 1: the default learning rate of the adapters (0.005). Run 2: lr 0.1, where entropy
# minimization collapses, to compare how tent, sar and rsgs fail. The lr was chosen on seed
# 100 (0.005, 0.02, 0.1), not on the reported seeds 0-2. About 4 minutes on 2 idle cores.
#
#     scripts/csfa_experiment.sh [OUT]      (needs data/mnist: plateau data fetch mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/csfa-experiment}"
data="${MNIST_DIR:-data/mnist}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
mkdir -p "$out"
common=(--data-dir "$data" --model lenet --norm group --seeds 3 --threads 1)
$P drift "${common[@]}" > "$out/default.txt"
$P drift "${common[@]}" --methods calibrated,tent,sar,rsgs --lr 0.1 > "$out/lr0.1.txt"
cat "$out/default.txt" "$out/lr0.1.txt"
