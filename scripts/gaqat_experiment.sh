#!/usr/bin/env bash
# GAQAT (issue 16): quantization-aware training with SAM on Rotated MNIST domain
# generalization — train LeNet-5 on 0°, 15°, 30° and 45° (--data-dir with the four domain
# directories, samples taken in turn), test on the unseen 60° and 75°. Methods:
#   fp32-sam   floating point, SAM (ρ 0.05)
#   qat        LSQ at BITS (wXaX, first and last layer at 8 bits), SGD
#   qat-sam    LSQ + SAM: `--optimizer gaqat --gaqat-threshold 1` (τ = 1 never freezes: SAM
#              exactly, with the per-scale conflict rates and sign flips logged)
#   gaqat      LSQ + SAM + freezing of the step sizes whose window conflict rate exceeds τ
# at each bit width of BITS (4 and 3), seeds SEEDS (0 1 2). Sizes (environment): TRAIN (4000
# training images, 1000 per domain), EPOCHS (5), WINDOW (25 steps), TAU (0.5), WARMUP (50
# steps); batch 64, SGD lr 0.05 momentum 0.9, --threads 1. Finished runs are kept, so a rerun
# only completes what is missing. The last epoch's model is evaluated (no selection).
# About 10 minutes alone on 2 cores at the default sizes (estimated).
#
#     scripts/gaqat_experiment.sh [OUT]   (needs data/rotated-mnist: plateau data make rotated-mnist;
#                                          DATA=/path/to/data to read the data from elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/gaqat-experiment}"
data="${DATA:-data}"
train="${TRAIN:-4000}"
epochs="${EPOCHS:-5}"
bits_list="${BITS:-4 3}"
seeds="${SEEDS:-0 1 2}"
window="${WINDOW:-25}"
tau="${TAU:-0.5}"
warmup="${WARMUP:-50}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
[ -d "$data/rotated-mnist" ] || $P data make rotated-mnist --from "$data/mnist" --output "$data/rotated-mnist"
mkdir -p "$out"
results="$out/results.jsonl"
[ -f "$results" ] || : > "$results"
sources="$data/rotated-mnist/rot0,$data/rotated-mnist/rot15,$data/rotated-mnist/rot30,$data/rotated-mnist/rot45"
common=(--model lenet --dataset mnist --data-dir "$sources" --train-limit "$train" --epochs "$epochs" --batch-size 64
        --lr 0.05 --momentum 0.9 --threads 1 --progress-interval 0 --tensorboard-interval 0)

finished() {  # finished RUN: its metrics have a row for every epoch
    [ -f "$1/metrics.jsonl" ] && [ "$(wc -l < "$1/metrics.jsonl")" -ge "$epochs" ]
}

method_args() {  # method_args METHOD BITS
    local q="--quantize w$2a$2"
    case "$1" in
        fp32-sam) echo "--optimizer sam --rho 0.05" ;;
        qat) echo "$q --optimizer sgd" ;;
        qat-sam) echo "$q --optimizer gaqat --rho 0.05 --gaqat-threshold 1 --gaqat-window $window --gaqat-warmup $warmup" ;;
        gaqat) echo "$q --optimizer gaqat --rho 0.05 --gaqat-threshold $tau --gaqat-window $window --gaqat-warmup $warmup" ;;
    esac
}

record() {  # record RUN METHOD BITS SEED DOMAIN DIR
    grep -q "\"method\": \"$2\", \"bits\": \"$3\", \"seed\": $4, \"domain\": \"$5\"" "$results" && return
    $P eval "$1/checkpoint-last.safetensors" --dataset mnist --data-dir "$6" --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); a=sys.argv; print(json.dumps({"method": a[1], "bits": a[2], "seed": int(a[3]), "domain": a[4], "accuracy": r["accuracy"], "run": a[5]}))' \
            "$2" "$3" "$4" "$5" "$1" >> "$results"
}

for seed in $seeds; do
    configs="fp32-sam:32"
    for bits in $bits_list; do configs="$configs qat:$bits qat-sam:$bits gaqat:$bits"; done
    for config in $configs; do
        method="${config%%:*}"; bits="${config##*:}"
        run="$out/$method-w$bits-seed$seed"
        # shellcheck disable=SC2046
        finished "$run" || $P train "${common[@]}" --seed "$seed" --output "$run" --overwrite $(method_args "$method" "$bits") >/dev/null
        record "$run" "$method" "$bits" "$seed" source "$sources"
        for angle in 60 75; do record "$run" "$method" "$bits" "$seed" "rot$angle" "$data/rotated-mnist/rot$angle"; done
        echo "$method at $bits bits, seed $seed done"
    done
done

# Integer export of one GAQAT run: the file's integer weights evaluate as fake quantization does.
first_bits="${bits_list%% *}"
first_seed="${seeds%% *}"
$P export-int "$out/gaqat-w$first_bits-seed$first_seed/checkpoint-last.safetensors" --dataset mnist --data-dir "$data/rotated-mnist/rot60" \
    --output "$out/gaqat-w$first_bits-seed$first_seed-int.safetensors"

python3 scripts/gaqat_summary.py "$out"
