#!/usr/bin/env bash
# ViT / Mixer / CNN diagnostics under SAM (issue 17; Chen, Hsieh & Gong, ICLR 2022): a tiny ViT
# (--model vit-tiny: 7x7 patches, dim 64, depth 4, 4 heads, MLP 128; 139k parameters), the
# default MLP-Mixer (dim 64, depth 4, token MLP 32, channel MLP 256; 142k) and LeNet-5 (62k) on
# the first 10,000 MNIST training images, AdamW (lr 1e-3, weight decay 0.05, cosine) against SAM
# over AdamW at rho 0.05, 0.1 and 0.2, one run per (model, method, seed). Each run is then
# measured by `plateau sharpness` on the first 1,000 training images: λ_max (total and per
# sub-block), MLP activation sparsity, weight norms, the Gaussian-weight-noise curve and the NTK
# condition number; the summary table goes to <OUT>/summary.md.
#
#     scripts/vit_diagnostics.sh [OUT]
#
# Environment: MNIST_DIR (data/mnist), EPOCHS (3), SEEDS ("0 1 2"), MODELS ("vit-tiny mixer
# lenet"), METHODS ("adamw sam0.05 sam0.1 sam0.2"), JOBS (runs at once, 1), PHASE (train,
# measure or all), SAMPLES (1000, for the measures), ITERATIONS (20, power-iteration cap at
# tolerance 1e-2), SIGMAS (0,0.02,0.05,0.1,0.2,0.5), BLOCK_METHODS (the methods whose runs get
# the per-block λ_max, all by default), PLATEAU (the binary; built if unset).
# docs/results.md reports the grid (3 models x 4 methods x 3 seeds x 3 epochs) run with
# SAMPLES=512 BLOCK_METHODS="adamw sam0.1": about 30 minutes on one quiet core (a training run
# takes about a minute); the defaults measure on twice the images and take the per-block
# λ_max of every method, roughly three times as long.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/vit-diagnostics}"
data="${MNIST_DIR:-data/mnist}"
epochs="${EPOCHS:-3}"
seeds="${SEEDS:-0 1 2}"
models="${MODELS:-vit-tiny mixer lenet}"
methods="${METHODS:-adamw sam0.05 sam0.1 sam0.2}"
jobs="${JOBS:-1}"
phase="${PHASE:-all}"
samples="${SAMPLES:-1000}"
iterations="${ITERATIONS:-20}"
sigmas="${SIGMAS:-0,0.02,0.05,0.1,0.2,0.5}"
block_methods="${BLOCK_METHODS-$methods}"
if [ -z "${PLATEAU:-}" ]; then
  swift build -c release --product plateau >/dev/null
  PLATEAU=.build/release/plateau
fi
export PLATEAU out data epochs samples iterations sigmas block_methods
mkdir -p "$out"

train_one() {  # model method seed
  local model=$1 method=$2 seed=$3 dir="$out/$1-$2-seed$3"
  [ -f "$dir/trained" ] && return 0
  local opt=(--optimizer adamw)
  case "$method" in
    adamw) ;;
    sam*) opt=(--optimizer sam --base-optimizer adamw --rho "${method#sam}") ;;
    *) echo "unknown method $method" >&2; return 1 ;;
  esac
  "$PLATEAU" train --model "$model" --dataset mnist --data-dir "$data" --train-limit 10000 \
    --epochs "$epochs" --batch-size 128 --lr 1e-3 --weight-decay 0.05 --schedule cosine \
    "${opt[@]}" --seed "$seed" --threads 1 --tensorboard-interval 0 \
    --output "$dir" --overwrite --progress-interval 60 >"$dir.log" 2>&1 && touch "$dir/trained"
}

measure_one() {  # model method seed: diagnostics.json, then blocks.json (the costly per-block λ_max)
  local dir="$out/$1-$2-seed$3"
  [ -f "$dir/trained" ] || return 0
  local common=(sharpness "$dir/checkpoint-last.safetensors" --dataset mnist --data-dir "$data" --samples "$samples"
                --batch-size "$samples" --threads 1 --seed 17 --max-iterations "$iterations" --tolerance 1e-2 --json)
  if [ ! -s "$dir/diagnostics.json" ]; then
    "$PLATEAU" "${common[@]}" --metrics eigen,sparsity,weightnorm,noise,ntk --noise-sigmas "$sigmas" --noise-draws 3 \
      >"$dir/diagnostics.json.tmp" 2>"$dir/diagnostics.log" && mv "$dir/diagnostics.json.tmp" "$dir/diagnostics.json"
  fi
  case " $block_methods " in *" $2 "*) ;; *) return 0 ;; esac
  if [ ! -s "$dir/blocks.json" ]; then
    "$PLATEAU" "${common[@]}" --metrics blocks >"$dir/blocks.json.tmp" 2>"$dir/blocks.log" && mv "$dir/blocks.json.tmp" "$dir/blocks.json"
  fi
}
export -f train_one measure_one

grid() { for s in $seeds; do for me in $methods; do for mo in $models; do echo "$mo $me $s"; done; done; done; }
if [ "$phase" = train ] || [ "$phase" = all ]; then
  grid | xargs -P "$jobs" -L 1 bash -c 'train_one "$@"' _
fi
if [ "$phase" = measure ] || [ "$phase" = all ]; then
  grid | xargs -P "$jobs" -L 1 bash -c 'measure_one "$@"' _
fi
python3 scripts/vit_diagnostics_summary.py "$out" | tee "$out/summary.md"
