#!/usr/bin/env bash
# Three-regime pruning (issue 15; Zhou et al., ICML 2023; notes §13): MNIST, MLP
# 784-512-256-10, dense training with SAM ρ ∈ {0, 0.05, 0.1, 0.2, 0.4} (ρ = 0: SGD),
# global magnitude pruning to density ∈ {0.5, 0.2, 0.1, 0.05, 0.02}, SGD retraining of 2
# copies per cell with different seeds; per cell test error, mode connectivity mc (11-point
# line, mc < 0 a barrier) and mean linear CKA; the phase diagram in OUT/report.html.
#
#     scripts/prune_grid.sh [OUT]            the full grid (25 cells, 5 dense + 50 retraining runs)
#     REDUCED=1 scripts/prune_grid.sh [OUT]  the 3 × 3 grid of docs/results.md (~15 min on 2 cores)
#
# The full grid takes hours on 2 cores. It is resumable: stop it at any time (Ctrl-C saves
# every running run), run the same command again, and finished cells (cells/*/cell.json)
# are skipped, finished runs reused, interrupted runs continued.
#
# PLATEAU_DATA overrides the MNIST directory (default data/mnist); JOBS (default 2) the runs
# at once; THREADS (default 1) the compute threads per run.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${PLATEAU_DATA:-data/mnist}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
common=(--dataset mnist --data-dir "$data" --model mlp-512-256 --temperature rho --lr 0.05 --batch-size 128
        --schedule cosine --weight-decay 5e-4 --retrain-seeds 2 --jobs "${JOBS:-2}" --threads "${THREADS:-1}" --progress-interval 0)
if [ -n "${REDUCED:-}" ]; then
    out="${1:-runs/prune-grid-reduced}"
    $P prune-grid "${common[@]}" --values 0,0.1,0.4 --densities 0.2,0.05,0.02 --epochs 3 --retrain-epochs 2 \
        --train-limit 10000 --test-samples 5000 --output "$out"
else
    out="${1:-runs/prune-grid}"
    $P prune-grid "${common[@]}" --values 0,0.05,0.1,0.2,0.4 --densities 0.5,0.2,0.1,0.05,0.02 --epochs 10 --retrain-epochs 5 \
        --output "$out"
fi
echo "phase diagram: $out/report.html (cells: $out/grid.csv)"
