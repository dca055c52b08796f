#!/usr/bin/env bash
# UDIM (issue 13): does penalizing the loss-landscape inconsistency between training images
# and input-perturbed copies help on unseen domains, beyond SAM? ERM (SGD), SAM and UDIM,
# 3 seeds each, on Rotated MNIST:
#   1. single source: train on 0°, test on 15°–75° and on MNIST-C Gaussian noise and defocus
#      blur at severity 3 (unrotated);
#   2. DomainBed leave-one-domain-out: train on five angles (--data-dir with the five domain
#      directories), select the epoch on the training domains' held-out 20% (training-domain
#      validation: checkpoint-best), test on the sixth — on the folds in FOLDS.
# Sizes (override through the environment): MODEL (mlp), EPOCHS (4; UDIM warms up with SAM for
# the first), TRAIN1 training images for part 1 (4000), TRAIN2 for part 2 (5000, 1000 per
# domain), FOLDS (the held-out angles of part 2: all six, 0 15 30 45 60 75), SINGLE (1: run part 1; 0: skip it),
# RHO_X (3, UDIM's per-sample input step in normalized-pixel units, about 1 in [0, 1] pixel
# units), LAMBDA (1); batch 64, SGD lr 0.05 momentum 0.9. Finished runs and evaluations are
# kept, so a rerun only completes what is missing (two instances with different FOLDS/SINGLE
# may share OUT; SEEDS, default "0 1 2", splits the seeds). About 35 minutes alone on 2 cores (estimated; measured 40 + 25 minutes on the loaded machine for three folds each).
#
#     scripts/udim_experiment.sh [OUT]      (needs data/mnist: plateau data fetch mnist;
#                                            DATA=/path/to/data to read the data from elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/udim-experiment}"
data="${DATA:-data}"
model="${MODEL:-mlp}"
epochs="${EPOCHS:-4}"
train1="${TRAIN1:-4000}"
train2="${TRAIN2:-5000}"
folds="${FOLDS:-0 15 30 45 60 75}"
single="${SINGLE:-1}"
seeds="${SEEDS:-0 1 2}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
[ -d "$data/rotated-mnist" ] || $P data make rotated-mnist --from "$data/mnist" --output "$data/rotated-mnist"
[ -d "$data/mnist-c" ] || $P data make mnist-c --from "$data/mnist" --output "$data/mnist-c" --corruptions gaussian_noise,defocus_blur --severities 3
mkdir -p "$out"
results="$out/results.jsonl"
[ -f "$results" ] || : > "$results"
angles="0 15 30 45 60 75"
common=(--model "$model" --dataset mnist --epochs "$epochs" --batch-size 64 --lr 0.05 --momentum 0.9 --threads 1 --progress-interval 0)

finished() {  # finished RUN: its metrics have a row for every epoch (a killed run has fewer)
    [ -f "$1/metrics.jsonl" ] && [ "$(wc -l < "$1/metrics.jsonl")" -ge "$epochs" ]
}

method_args() {  # method_args METHOD: the flags of ERM, SAM and UDIM
    case "$1" in
        erm) echo "--optimizer sgd" ;;
        sam) echo "--optimizer sam --rho 0.05" ;;
        udim) echo "--optimizer udim --rho 0.05 --udim-rho-x ${RHO_X:-3} --udim-lambda ${LAMBDA:-1} --udim-warmup 1" ;;
    esac
}

record() {  # record CHECKPOINT PART FOLD METHOD SEED DOMAIN DIR
    grep -q "\"part\": \"$2\", \"fold\": \"$3\", \"method\": \"$4\", \"seed\": $5, \"domain\": \"$6\"" "$results" && return
    $P eval "$1" --dataset mnist --data-dir "$7" --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); a=sys.argv; print(json.dumps({"part": a[1], "fold": a[2], "method": a[3], "seed": int(a[4]), "domain": a[5], "accuracy": r["accuracy"]}))' \
            "$2" "$3" "$4" "$5" "$6" >> "$results"
}

for seed in $seeds; do
    for method in erm sam udim; do
        # Part 1: single source (0°); the epoch is selected on the 0° test split.
        run="$out/single-$method-seed$seed"
        if [ "$single" = 1 ]; then
            # shellcheck disable=SC2046
            finished "$run" ||
                $P train "${common[@]}" --data-dir "$data/rotated-mnist/rot0" --train-limit "$train1" --seed "$seed" --output "$run" --overwrite $(method_args $method) >/dev/null
            for angle in $angles; do record "$run/checkpoint-best.safetensors" single rot0 $method $seed "rot$angle" "$data/rotated-mnist/rot$angle"; done
            record "$run/checkpoint-best.safetensors" single rot0 $method $seed noise3 "$data/mnist-c/gaussian_noise/3"
            record "$run/checkpoint-best.safetensors" single rot0 $method $seed blur3 "$data/mnist-c/defocus_blur/3"
            echo "single source: $method seed $seed done"
        fi
        # Part 2: leave one domain out.
        for held in $folds; do
            sources=""
            for angle in $angles; do [ "$angle" = "$held" ] || sources="${sources:+$sources,}$data/rotated-mnist/rot$angle"; done
            run="$out/lodo$held-$method-seed$seed"
            # shellcheck disable=SC2046
            finished "$run" ||
                $P train "${common[@]}" --data-dir "$sources" --train-limit "$train2" --seed "$seed" --output "$run" --overwrite $(method_args $method) >/dev/null
            record "$run/checkpoint-best.safetensors" lodo "rot$held" $method $seed validation "$sources"
            record "$run/checkpoint-best.safetensors" lodo "rot$held" $method $seed "rot$held" "$data/rotated-mnist/rot$held"
            echo "leave out $held°: $method seed $seed done"
        done
    done
done

python3 - "$results" <<'PY'
import json, sys, statistics as st
# One row per evaluation (instances sharing OUT may both have recorded one).
rows = list({(r["part"], r["fold"], r["method"], r["seed"], r["domain"]): r for r in map(json.loads, open(sys.argv[1]))}.values())
methods = ["erm", "sam", "udim"]
def cell(values):
    values = [100 * v for v in values]
    if not values: return "—"
    return f"{st.mean(values):.1f} ± {st.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"
def acc(part, method, domain, fold=None):
    return [r["accuracy"] for r in rows if r["part"] == part and r["method"] == method and r["domain"] == domain and (fold is None or r["fold"] == fold)]
domains = ["rot0", "rot15", "rot30", "rot45", "rot60", "rot75", "noise3", "blur3"]
print("Single source (train on 0°), test accuracy % (mean ± std over seeds):")
print("| method | " + " | ".join(domains) + " | OOD mean |")
print("|---|" + "---|" * (len(domains) + 1))
for m in methods:
    # The OOD mean per seed (every domain but 0°), then mean ± std over seeds.
    seeds = sorted({r["seed"] for r in rows if r["part"] == "single" and r["method"] == m})
    ood = [st.mean([r["accuracy"] for r in rows if r["part"] == "single" and r["method"] == m and r["seed"] == s and r["domain"] != "rot0"]) for s in seeds]
    print(f"| {m} | " + " | ".join(cell(acc("single", m, d)) for d in domains) + f" | {cell(ood)} |")
folds = sorted({r["fold"] for r in rows if r["part"] == "lodo"}, key=lambda f: int(f[3:]))
if folds:
    print()
    print("Leave one domain out (train on the other five, epoch selected on their held-out 20%), held-out domain accuracy %:")
    print("| method | " + " | ".join(f"{f} held out" for f in folds) + " | mean | training-domain validation |")
    print("|---|" + "---|" * (len(folds) + 2))
    for m in methods:
        # The mean over folds per seed (seeds with every fold only), then mean ± std over seeds.
        held = {s: [r["accuracy"] for r in rows if r["part"] == "lodo" and r["method"] == m and r["seed"] == s and r["domain"] == r["fold"]]
                for s in {r["seed"] for r in rows if r["part"] == "lodo"}}
        mean = [st.mean(v) for v in held.values() if len(v) == len(folds)]
        validation = [r["accuracy"] for r in rows if r["part"] == "lodo" and r["method"] == m and r["domain"] == "validation"]
        print(f"| {m} | " + " | ".join(cell(acc("lodo", m, f, f)) for f in folds) + f" | {cell(mean)} | {cell(validation)} |")
PY
