#!/usr/bin/env bash
# Muon and LANTON (issue 16): MNIST MLP 784-512-512-512-10 (--model mlp3) on the first 10,000
# training images, 4 epochs of batch 128 (316 steps), constant lr, no weight decay, 3 seeds:
# AdamW (lr 1e-3), Muon (lr 0.02, the reference's), Muon+LANTON (lr 0.02, β₂ 0.99) and SAM
# (ρ 0.05) over Muon. Prints the training loss per epoch, the test accuracy, and LANTON's
# per-layer noise H and effective lr at the last logged step (read from the TensorBoard file).
# About 10 minutes on 2 busy cores. MODEL=vit runs the same on the ViT (`--model vit`: Muon
# takes every hidden weight matrix — attention projections and MLPs — the patch embedding and
# the head stay with AdamW), about 40 minutes.
#
#     scripts/muon_experiment.sh [OUT]      (needs data/mnist: plateau data fetch mnist)
#     MODEL=vit scripts/muon_experiment.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${MODEL:-mlp3}"
out="${1:-runs/muon-experiment-$model}"
data="${MNIST_DIR:-data/mnist}"
swift build -c release --product plateau >/dev/null
P=.build/release/plateau
mkdir -p "$out"
common=(--model "$model" --dataset mnist --data-dir "$data" --train-limit 10000 --epochs 4 --batch-size 128
        --weight-decay 0 --threads 1 --tensorboard-interval 10)
for seed in 0 1 2; do
  $P train "${common[@]}" --seed $seed --optimizer adamw --lr 1e-3 --output "$out/adamw-$seed" >/dev/null
  $P train "${common[@]}" --seed $seed --optimizer muon --lr 0.02 --output "$out/muon-$seed" >/dev/null
  $P train "${common[@]}" --seed $seed --optimizer lanton --lr 0.02 --output "$out/lanton-$seed" >/dev/null
  $P train "${common[@]}" --seed $seed --optimizer sam --base-optimizer muon --rho 0.05 --lr 0.02 --output "$out/sam-muon-$seed" >/dev/null
done
python3 - "$out" <<'PY'
import json, struct, sys, statistics
from pathlib import Path
out = Path(sys.argv[1])

def varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7
        if c < 0x80: return r, i

def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i); f, t = key >> 3, key & 7
        if t == 0: v, i = varint(b, i)
        elif t == 1: v = b[i:i + 8]; i += 8
        elif t == 5: v = b[i:i + 4]; i += 4
        else: n, i = varint(b, i); v = b[i:i + n]; i += n
        yield f, v

def scalars(run):
    """The last value of every scalar tag in the run's TensorBoard event file."""
    last = {}
    for path in run.glob("events.out.tfevents.*"):
        data = path.read_bytes(); i = 0
        while i < len(data):
            n = struct.unpack("<Q", data[i:i + 8])[0]; event = data[i + 12:i + 12 + n]; i += 16 + n
            for f, summary in fields(event):
                if f != 5: continue
                for g, value in fields(summary):
                    if g != 1: continue
                    d = dict(fields(value))
                    if 1 in d and 2 in d: last[d[1].decode()] = struct.unpack("<f", d[2])[0]
    return last

print("method     train loss per epoch (mean over seeds)        final train loss      test acc %")
for method in ["adamw", "muon", "lanton", "sam-muon"]:
    runs = [[json.loads(l) for l in (out / f"{method}-{s}" / "metrics.jsonl").read_text().splitlines() if l] for s in range(3)]
    per_epoch = [statistics.mean(r[e]["train_loss"] for r in runs) for e in range(len(runs[0]))]
    final = [r[-1]["train_loss"] for r in runs]; acc = [100 * r[-1]["test_accuracy"] for r in runs]
    print(f"{method:10} {' '.join(f'{x:.4f}' for x in per_epoch):40} {statistics.mean(final):.4f} ± {statistics.stdev(final):.4f}   "
          f"{statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f}")
print("\nLANTON at the last logged step (seed: layer noise H, effective lr):")
for s in range(3):
    tags = scalars(out / f"lanton-{s}")
    layers = sorted(t.split("/", 2)[2] for t in tags if t.startswith("train/lanton_noise/"))
    print(f"  seed {s}: " + ", ".join(f"{l} H={tags['train/lanton_noise/' + l]:.4g} lr={tags['train/lanton_lr/' + l]:.4g}" for l in layers))
PY
