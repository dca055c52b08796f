#!/usr/bin/env bash
# USEFUL (issue 15): does upsampling the examples not learned early help, and does SAM help
# the same way? MNIST (Fashion-MNIST is not available offline: no PyPI package ships it),
# the first 5,000 training images, MLP 784-512-512-10, SGD (lr 0.05, momentum 0.9) and SAM
# (ρ 0.05), 4 epochs; USEFUL separates after epoch 1 and restarts for 4 epochs on the
# enlarged set; the control duplicates as many random examples per class. Two variants:
# plain MNIST, and the shortcut variant (a class-specific 3x3 patch on 80% of each class's
# training images, none on the test images). 3 seeds. Prints one table per variant.
#
#     scripts/useful_experiment.sh [OUT]      (needs data/mnist: plateau data fetch mnist)
#
# PLATEAU_DATA overrides the MNIST directory; THREADS (default 1) the compute threads;
# VARIANTS (default "plain shortcut") the variants trained, e.g. one per process in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/useful-experiment}"
data="${PLATEAU_DATA:-data/mnist}"
threads="${THREADS:-1}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
mkdir -p "$out"
common=(--model mlp --dataset mnist --data-dir "$data" --train-limit 5000 --epochs 4 --lr 0.05 --batch-size 128
        --threads "$threads" --tensorboard-interval 0 --progress-interval 0)

for variant in ${VARIANTS:-plain shortcut}; do
    shortcut=0; [ "$variant" = shortcut ] && shortcut=0.8
    for seed in 0 1 2; do
        for arm in sgd sgd+useful sgd+random sam sam+useful; do
            dir="$out/$variant/$arm-seed$seed"
            [ -f "$dir/metrics.jsonl" ] && [ "$(wc -l < "$dir/metrics.jsonl")" -ge 4 ] && continue
            method=(--optimizer sgd); [[ $arm == sam* ]] && method=(--optimizer sam --rho 0.05)
            case $arm in
                *+useful) $P useful "${common[@]}" "${method[@]}" --seed $seed --useful-epoch 1 --shortcut $shortcut --output "$dir" --overwrite >/dev/null ;;
                *+random) $P useful "${common[@]}" "${method[@]}" --seed $seed --useful-epoch 1 --shortcut $shortcut --upsample random --output "$dir" --overwrite >/dev/null ;;
                *)  # the baseline: the same data (shortcut included), nothing duplicated, one training
                    $P useful "${common[@]}" "${method[@]}" --seed $seed --useful-epoch 1 --shortcut $shortcut --upsample none --output "$dir" --overwrite >/dev/null ;;
            esac
            echo "$variant $arm seed $seed done" >&2
        done
    done
done
python3 - "$out" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
def final(d):
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
    return rows[-1]["testAccuracy"] if "testAccuracy" in rows[-1] else rows[-1]["test_accuracy"]
for variant in ["plain", "shortcut"]:
    print(f"\n{variant}:\n")
    print("| method | seeds | test accuracy (%) | duplicated (% of train) | duplicated lacking the patch (%) |")
    print("|---|---|---|---|---|")
    for arm in ["sgd", "sgd+useful", "sgd+random", "sam", "sam+useful"]:
        accs, dup, lack = [], [], []
        for seed in range(3):
            d = os.path.join(out, variant, f"{arm}-seed{seed}")
            if not os.path.exists(os.path.join(d, "metrics.jsonl")): continue
            accs.append(100 * final(d))
            u = json.load(open(os.path.join(d, "useful.json")))
            dup.append(100 * len(u["selection"]["upsampled"]) / u["training_examples"])
            if u.get("upsampled_without_shortcut") is not None: lack.append(100 * u["upsampled_without_shortcut"])
        if not accs: continue
        ms = lambda xs: f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}" if len(xs) > 1 else (f"{xs[0]:.2f}" if xs else "–")
        print(f"| {arm} | {len(accs)} | {ms(accs)} | {ms(dup) if any(dup) else '–'} | {ms(lack) if lack and any(dup) else '–'} |")
PY
