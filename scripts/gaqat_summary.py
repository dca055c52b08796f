#!/usr/bin/env python3
"""Tables of scripts/gaqat_experiment.sh: accuracy per method and bit width on the source
domains (0°–45°) and the unseen 60° and 75°, then each quantizer step size's conflict rate
and sign flips per epoch (from the runs' metrics.jsonl, GAQAT's cumulative statistics).

    python3 scripts/gaqat_summary.py OUT
"""
import json
import os
import statistics as st
import sys

out = sys.argv[1]
rows = list({(r["method"], r["bits"], r["seed"], r["domain"]): r
             for r in map(json.loads, open(os.path.join(out, "results.jsonl")))}.values())
methods = ["fp32-sam", "qat", "qat-sam", "gaqat"]
bits = sorted({r["bits"] for r in rows}, key=lambda b: -int(b))


def cell(values):
    values = [100 * v for v in values]
    if not values:
        return "—"
    return f"{st.mean(values):.1f} ± {st.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


print("Test accuracy % (mean ± std over seeds; n = seeds)")
print("| method | bits | n | source 0°–45° | 60° | 75° | mean 60°/75° |")
print("|---|---|---|---|---|---|---|")
for b in bits:
    for m in methods:
        acc = {d: [r["accuracy"] for r in rows if r["method"] == m and r["bits"] == b and r["domain"] == d]
               for d in ["source", "rot60", "rot75"]}
        if not acc["source"]:
            continue
        unseen = [(x + y) / 2 for x, y in zip(acc["rot60"], acc["rot75"])]
        label = "fp32" if b == "32" else f"w{b}a{b}"
        print(f"| {m} | {label} | {len(acc['source'])} | {cell(acc['source'])} | {cell(acc['rot60'])} | {cell(acc['rot75'])} | {cell(unseen)} |")


def statistics(run):
    path = os.path.join(out, run, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    epochs = []
    for line in open(path):
        row = json.loads(line)
        stats = row.get("scale_statistics")
        if stats:
            epochs.append({s["name"]: s["value"] for s in stats})
    return epochs


print()
print("Per step size: conflict rate per epoch (share of the epoch's steps where sign(g_s) ≠ sign(g_SAM,s − g_s)),")
print("sign flips of its descent direction per epoch, and whether frozen at the end; mean over seeds.")
seeds = sorted({r["seed"] for r in rows})
for b in [b for b in bits if b != "32"]:
    for m in ["qat-sam", "gaqat"]:
        runs = [statistics(f"{m}-w{b}-seed{s}") for s in seeds]
        runs = [r for r in runs if r]
        if not runs:
            continue
        scales = sorted(k[len("conflicts/"):] for k in runs[0][0] if k.startswith("conflicts/"))
        print(f"\n{m} w{b}a{b} ({len(runs)} seeds)")
        print("| step size | conflict rate by epoch | flips by epoch | frozen at end (of seeds) |")
        print("|---|---|---|---|")
        for scale in scales:
            rates, flips = [], []
            for e in range(len(runs[0])):
                r_e, f_e = [], []
                for run in runs:
                    if e >= len(run):
                        continue
                    prev = run[e - 1] if e > 0 else {}
                    steps = run[e]["steps"] - prev.get("steps", 0)
                    r_e.append((run[e][f"conflicts/{scale}"] - prev.get(f"conflicts/{scale}", 0)) / max(steps, 1))
                    f_e.append(run[e][f"flips/{scale}"] - prev.get(f"flips/{scale}", 0))
                rates.append(f"{st.mean(r_e):.2f}")
                flips.append(f"{st.mean(f_e):.0f}")
            frozen = sum(int(run[-1].get(f"frozen/{scale}", 0)) for run in runs)
            print(f"| {scale} | {' '.join(rates)} | {' '.join(flips)} | {frozen}/{len(runs)} |")
