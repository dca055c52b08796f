#!/usr/bin/env bash
# Segmentation under SAM (issue 17, UU-Mamba's loss): a small U-Net on mnist-seg (64×64
# images, 2-4 MNIST digits, 11 pixel classes), four objectives, 3 seeds, two data sizes:
#   (a) dice+ce   (b) dice+ce+focal   (c) uncertainty-weighted   (d) (c) + SAM (ρ 0.05)
# on TRAIN training images for EPOCHS epochs and on 200 images for the same number of steps.
# Prints mean ± std over seeds of pixel accuracy, mean Dice, mIoU and Boundary IoU (2 px),
# and σ at the end of the uncertainty runs; every run directory has report.html (masks).
#
#     scripts/seg_experiment.sh [OUT]        (needs data/mnist: plateau data fetch mnist)
#
# Environment: MNIST_DIR (data/mnist), SEG_DIR (the mnist-seg data, made when missing),
# TRAIN (500), TEST (300; both only used when SEG_DIR is made here), EPOCHS (6), WIDTH (8),
# LR (Adam's, 5e-3), BATCH (8), SEEDS ("0 1 2"), JOBS (runs at once, 1), MODELS ("unet"; the
# U-Mamba-style and FreqFusion models join as more names once ModelFactory has them).
# The defaults are the settings of docs/results.md's seed-0 run (378 steps per run; width 4
# and 188 steps never left the all-background prediction). All 24 runs take about 1.5 h with
# JOBS=4 on 2 idle cores, far longer on a busy machine; a larger run: TRAIN=10000 TEST=2000
# EPOCHS=10 WIDTH=16 BATCH=32 SEG_DIR=<new dir>.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/seg-experiment}"
mnist="${MNIST_DIR:-data/mnist}"
seg="${SEG_DIR:-data/mnist-seg-$train}"
train="${TRAIN:-500}" test="${TEST:-300}" epochs="${EPOCHS:-6}" width="${WIDTH:-8}" lr="${LR:-5e-3}" batch="${BATCH:-8}"
seeds="${SEEDS:-0 1 2}" models="${MODELS:-unet}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
[ -f "$seg/manifest.json" ] || $P data make mnist-seg --from "$mnist" --output "$seg" --train-count "$train" --test-count "$test"
mkdir -p "$out"
small_epochs=$(( epochs * train / 200 ))
common="--task segmentation --data-dir $seg --seg-width $width --seg-levels 3 --batch-size $batch --optimizer adam --lr $lr --threads 1 --progress-interval 0"
jobs_file="$out/commands.txt"
: > "$jobs_file"
# Seed-major, so that an interrupted run leaves whole seeds (a rerun skips finished runs).
for seed in $seeds; do
  for model in $models; do
    for size in full small; do
      if [ "$size" = full ]; then data="--train-limit $train --epochs $epochs"; else data="--train-limit 200 --epochs $small_epochs"; fi
      for variant in d a b c; do
        case $variant in
          a) method="--seg-loss dice+ce" ;;
          b) method="--seg-loss dice+ce+focal" ;;
          c) method="--seg-loss uncertainty" ;;
          d) method="--seg-loss uncertainty --optimizer sam --base-optimizer adam --rho 0.05" ;;
        esac
        dir="$out/$model-$size-$variant-$seed"
        [ -f "$dir/report.html" ] && continue
        echo "rm -rf $dir && $P train $common --model $model $data --seed $seed $method --output $dir > $dir.log 2>&1" >> "$jobs_file"
      done
    done
  done
done
# JOBS runs at once, one thread each.
tr '\n' '\0' < "$jobs_file" | xargs -0 -P "${JOBS:-1}" -I{} sh -c '{}'
python3 - "$out" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
names = {"a": "(a) dice+ce", "b": "(b) dice+ce+focal", "c": "(c) uncertainty", "d": "(d) uncertainty + SAM"}
groups = {}
for run in sorted(out.iterdir()):
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()] if (run / "metrics.jsonl").exists() else []
    if not rows: continue
    model, size, variant, seed = run.name.rsplit("-", 3)
    groups.setdefault((model, size, variant), []).append(rows)
def ms(values):
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values) if len(values) > 1 else 0:.4f}"
print("| model | data | objective | seeds | pixel acc | mean Dice | mIoU | Boundary IoU | final σ (dice, ce, focal) |")
print("|---|---|---|---|---|---|---|---|---|")
for (model, size, variant), runs in sorted(groups.items()):
    last = [r[-1]["segmentation"] for r in runs]
    sigma = ""
    if last[0].get("sigma"):
        sigma = ", ".join(f"{statistics.mean(s['sigma'][i] for s in last):.3f}" for i in range(len(last[0]["sigma"])))
    print(f"| {model} | {size} | {names[variant]} | {len(runs)} | {ms([s['pixel_accuracy'] for s in last])} | {ms([s['mean_dice'] for s in last])} "
          f"| {ms([s['mean_iou'] for s in last])} | {ms([s['boundary_iou'] for s in last])} | {sigma} |")
print()
print("σ trajectories (seed-mean per epoch):")
for (model, size, variant), runs in sorted(groups.items()):
    if not runs[0][-1]["segmentation"].get("sigma"): continue
    epochs = min(len(r) for r in runs)
    traj = [[statistics.mean(r[e]["segmentation"]["sigma"][i] for r in runs) for i in range(3)] for e in range(epochs)]
    print(f"  {model} {size} {names[variant]}: " + " → ".join("(" + ", ".join(f"{v:.2f}" for v in t) + ")" for t in traj))
PY
