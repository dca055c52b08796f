#!/usr/bin/env bash
# TRAM (issue 13): does a trust-region radius keep a fine-tuned model closer to what it knew?
# Pre-train an MLP on Rotated MNIST's 0° domain, fine-tune on 1,000 images of the 30° domain
# for 2 epochs with AdamW, SAM (ρ 0.01, 0.05), ASAM and TRAM (θ₀, θ_{t−1}, input noise), 3
# seeds, and evaluate in-domain (30°) and out of domain (0°, 60°, 75°, MNIST-C Gaussian noise
# and defocus blur at severity 3, both unrotated), with each model's drift from the
# pre-trained function (eval --drift-from). TRAM runs at its default scale s = 0.05; TRAM-θ₀
# also at s = 1 (the formula taken literally) and 1/(C·B) = 1/320 (the reference code's
# normalization for 10 classes and batch 32). About 6 minutes on 2 cores.
#
#     scripts/tram_experiment.sh [OUT]      (needs data/mnist: plateau data fetch mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/tram-experiment}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
[ -d data/rotated-mnist ] || $P data make rotated-mnist --from data/mnist --output data/rotated-mnist
[ -d data/mnist-c ] || $P data make mnist-c --from data/mnist --output data/mnist-c --corruptions gaussian_noise,defocus_blur --severities 3
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"

# Pre-training: 5 epochs of SGD on the 8,000 training images of the 0° domain.
[ -f "$out/pre/checkpoint-last.safetensors" ] ||
    $P train --model mlp --dataset mnist --data-dir data/rotated-mnist/rot0 --epochs 5 --lr 0.05 --output "$out/pre" --progress-interval 0
pre="$out/pre/checkpoint-last.safetensors"

evaluate() {  # evaluate CHECKPOINT METHOD SEED
    local domains="rot30:data/rotated-mnist/rot30 rot0:data/rotated-mnist/rot0 rot60:data/rotated-mnist/rot60 rot75:data/rotated-mnist/rot75 noise3:data/mnist-c/gaussian_noise/3 blur3:data/mnist-c/defocus_blur/3"
    for pair in $domains; do
        local name="${pair%%:*}" dir="${pair#*:}"
        # Accuracy, and the drift from the pre-trained function: mean KL(f_θ₀ ‖ f_θ) on the domain's test images.
        $P eval "$1" --dataset mnist --data-dir "$dir" --drift-from "$pre" --json |
            python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"method": sys.argv[1], "seed": int(sys.argv[2]), "domain": sys.argv[3], "accuracy": r["accuracy"], "drift": r["drift_kl"]}))' "$2" "$3" "$name" >> "$results"
    done
}

evaluate "$pre" pre-trained 0
common=(--model mlp --dataset mnist --data-dir data/rotated-mnist/rot30 --train-limit 1000 --epochs 2 --batch-size 32
        --initial-weights "$pre" --progress-interval 0)
for seed in 0 1 2; do
    while read -r label args; do
        run="$out/$label-seed$seed"
        # shellcheck disable=SC2086
        [ -f "$run/checkpoint-last.safetensors" ] || $P train "${common[@]}" --seed "$seed" --output "$run" $args >/dev/null
        evaluate "$run/checkpoint-last.safetensors" "$label" "$seed"
        echo "$label seed $seed done"
    done <<'METHODS'
adamw --optimizer adamw --lr 1e-3
sam-0.01 --optimizer sam --base-optimizer adamw --lr 1e-3 --rho 0.01
sam-0.05 --optimizer sam --base-optimizer adamw --lr 1e-3 --rho 0.05
asam --optimizer asam --base-optimizer adamw --lr 1e-3 --rho 0.5
tram-initial --optimizer tram --base-optimizer adamw --lr 1e-3 --tram-reference initial
tram-previous --optimizer tram --base-optimizer adamw --lr 1e-3 --tram-reference previous
tram-noise --optimizer tram --base-optimizer adamw --lr 1e-3 --tram-reference input-noise
tram-initial-s1 --optimizer tram --base-optimizer adamw --lr 1e-3 --tram-reference initial --tram-scale 1
tram-initial-code --optimizer tram --base-optimizer adamw --lr 1e-3 --tram-reference initial --tram-scale 0.003125
METHODS
done

python3 - "$results" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
domains = ["rot30", "rot0", "rot60", "rot75", "noise3", "blur3"]
methods = list(dict.fromkeys(r["method"] for r in rows))
print("| method | " + " | ".join(domains) + " | OOD mean |")
print("|---|" + "---|" * (len(domains) + 1))
for m in methods:
    cells, ood = [], []
    for d in domains:
        values = [100 * r["accuracy"] for r in rows if r["method"] == m and r["domain"] == d]
        mean = st.mean(values); sd = st.stdev(values) if len(values) > 1 else 0.0
        cells.append(f"{mean:.1f} ± {sd:.1f}" if len(values) > 1 else f"{mean:.1f}")
        if d != "rot30": ood.append(mean)
    print(f"| {m} | " + " | ".join(cells) + f" | {st.mean(ood):.1f} |")
print()
print("Drift from the pre-trained function, mean KL(f_θ₀ ‖ f_θ) on each domain's test images (nats):")
print("| method | " + " | ".join(domains) + " |")
print("|---|" + "---|" * len(domains))
for m in methods:
    cells = []
    for d in domains:
        values = [r["drift"] for r in rows if r["method"] == m and r["domain"] == d]
        cells.append(f"{st.mean(values):.3f}")
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
