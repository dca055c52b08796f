#!/usr/bin/env bash
# Opposing signals (issue 15): are the examples whose loss moves most the planted outliers,
# do the two planted groups' losses swing in antiphase near λ_max ≈ 2/η, and does SAM damp
# it? Two settings, SGD vs SAM (ρ 0.05; on the toy also ρ 0.01: sam01) vs Adam, 3 seeds each:
#   toy    the paper's toy: 2 Gaussian classes of 500 in 50 dimensions, core signal 0.5, an
#          opposing feature α = 20 in 2% of each class (10 agreeing with the label: group
#          A, 10 opposing it: B), linear network 50-32-2, full-batch GD at lr 2 (Adam 0.01),
#          300 steps, every example tracked every step, λ_max every 10 steps;
#   mnist  the first 5,000 MNIST training images, a 6x6 patch on 2% of class 3 (A) and 2%
#          of class 8 (B), MLP 784-512-512-10, batch 128 at lr 0.1 (Adam 0.001), 200 steps;
#          the 19 patched and the first 1,981 other images tracked every 2 steps, λ_max on
#          500 images every 50 steps (10 power iterations). The patch is "bright" at value
#          10 (MNIST pixels are 0...1: a feature of large magnitude, as the paper's outliers
#          are) for all three methods, and at the brightest pixel (1.0) for SGD as a check.
# No momentum (plain steps, whose stability edge is λ_max·η = 2). Prints one table.
#
#     scripts/signals_experiment.sh [OUT]      (needs data/mnist: plateau data fetch mnist)
#
# PLATEAU_DATA overrides the MNIST directory; THREADS (default 1) the compute threads.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/signals-experiment}"
data="${PLATEAU_DATA:-data/mnist}"
threads="${THREADS:-1}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
mkdir -p "$out"

for seed in 0 1 2; do
    for method in sgd sam sam01 adam; do
        file="$out/toy-$method-seed$seed.json"
        [ -s "$file" ] && continue
        case $method in
            sgd) args=(--optimizer sgd --lr 2) ;;
            sam) args=(--optimizer sam --rho 0.05 --lr 2) ;;
            sam01) args=(--optimizer sam --rho 0.01 --lr 2) ;;
            adam) args=(--optimizer adam --lr 0.01) ;;
        esac
        $P signals --toy "${args[@]}" --steps 300 --sharpness-every 10 --seed $seed --threads "$threads" --report "$file" --progress-interval 0 >/dev/null
    done
done
for seed in 0 1 2; do
    for setting in mnist-sgd mnist-sam mnist-adam mnist1-sgd; do
        file="$out/$setting-seed$seed.json"
        [ -s "$file" ] && continue
        value=10; [[ $setting == mnist1-* ]] && value=1
        case $setting in
            *-sgd) args=(--optimizer sgd --lr 0.1) ;;
            *-sam) args=(--optimizer sam --rho 0.05 --lr 0.1) ;;
            *-adam) args=(--optimizer adam --lr 0.001) ;;
        esac
        $P signals --dataset mnist --data-dir "$data" --train-limit 5000 --patch-value $value "${args[@]}" --batch-size 128 --steps 200 \
            --track-every 2 --track-limit 2000 --sharpness-every 50 --sharpness-samples 500 --power-iterations 10 --seed $seed \
            --threads "$threads" --report "$file" --progress-interval 0 >/dev/null
        echo "$setting seed $seed done" >&2
    done
done
python3 - "$out" <<'PY'
import json, math, os, statistics, sys
out = sys.argv[1]
def num(x):
    return float("nan") if x is None or x == "nan" else float(x)
def ms(xs, scale=1, digits=2):
    xs = [x * scale for x in xs if not math.isnan(x)]
    if not xs: return "–"
    return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}" if len(xs) > 1 else f"{xs[0]:.{digits}f}"
def swing(curve):  # mean |Δ| of a loss curve over the whole run
    d = [abs(b - a) for a, b in zip(curve, curve[1:])]
    return sum(d) / len(d) if d else float("nan")
print("| data | method | seeds | precision@k (chance) | mean 1-step precision@k | split agreement | antiphase corr. | swing planted / rest | late swing planted / rest | late λ_max·η | diverged | test acc. (%) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for data, methods in [("toy", ["sgd", "sam", "sam01", "adam"]), ("mnist", ["sgd", "sam", "adam"]), ("mnist1", ["sgd"])]:
    for method in methods:
        rs = [json.load(open(os.path.join(out, f"{data}-{method}-seed{s}.json"))) for s in range(3)
              if os.path.exists(os.path.join(out, f"{data}-{method}-seed{s}.json"))]
        if not rs: continue
        g = lambda key: [num(r.get(key)) for r in rs]
        chance = statistics.mean(g("chance_precision"))
        diverged = sum(1 for r in rs if r.get("diverged_at_step") is not None)
        acc = ms(g("test_accuracy"), 100) if data.startswith("mnist") else "–"
        print(f"| {data} | {method} | {len(rs)} | {ms(g('precision_at_k'))} ({chance:.3f}) | {ms(g('mean_step_precision_at_k'))} | {ms(g('split_agreement'))} | "
              f"{ms(g('antiphase_correlation'))} | {ms([(swing(r['group_a_loss']) + swing(r['group_b_loss'])) / 2 for r in rs], digits=3)} / {ms([swing(r['other_loss']) for r in rs], digits=3)} | {ms(g('planted_late_amplitude'), digits=3)} / {ms(g('other_late_amplitude'), digits=3)} | "
              f"{ms(g('late_lambda_eta_mean'))} | {diverged}/{len(rs)} | {acc} |")
PY
