#!/usr/bin/env bash
# Step time of data-parallel training, `mpirun -np 1` against `-np 2` (issue 18), one
# compute thread per rank, MNIST (DATA, default data/mnist), MLP and LeNet-5, SGD and SAM.
#
#   scripts/mpi_scaling.sh [BINARY]   LIMIT=6400 EPOCHS=1 RANKS="1 2" METHODS="sgd sam"
#
# Prints one line per run: model, method, ranks, ms/step (training only, from metrics.jsonl,
# the mean over the epoch's steps, communication included) and final test accuracy. The
# default LIMIT is a reduced run (50 steps of 128); LIMIT=60000 EPOCHS=3 is the full one.
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY=${1:-$(swift build -c release --show-bin-path)/plateau}
DATA=${DATA:-data/mnist}
LIMIT=${LIMIT:-6400}
EPOCHS=${EPOCHS:-1}
RANKS=${RANKS:-"1 2"}
METHODS=${METHODS:-"sgd sam"}
MODELS=${MODELS:-"mlp lenet"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" = "0" ] && MPIRUN+=(--allow-run-as-root)
printf '%-6s %-5s %5s %10s %8s\n' model method ranks ms/step test-acc
for model in $MODELS; do
    for method in $METHODS; do
        for n in $RANKS; do
            out="$work/$model-$method-$n"
            "${MPIRUN[@]}" -np "$n" "$BINARY" train --model "$model" --dataset mnist --data-dir "$DATA" \
                --train-limit "$LIMIT" --epochs "$EPOCHS" --batch-size 128 --lr 0.05 --optimizer "$method" \
                --threads 1 --tensorboard-interval 0 --progress-interval 0 --distributed mpi --output "$out" > "$out.log" 2>&1
            python3 - "$out/metrics.jsonl" "$model" "$method" "$n" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
ms = sum(r["ms_per_step"] for r in rows) / len(rows)
print("%-6s %-5s %5s %10.1f %7.2f%%" % (sys.argv[2], sys.argv[3], sys.argv[4], ms, 100 * rows[-1]["test_accuracy"]))
PY
        done
    done
done
