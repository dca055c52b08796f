#!/usr/bin/env python3
"""Markdown tables of scripts/vit_diagnostics.sh's runs: <out>/<model>-<method>-seed<k>/
metrics.jsonl (test accuracy) and diagnostics.json (`plateau sharpness --json`)."""
import json
import re
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/vit-diagnostics")
runs = {}
for d in sorted(out.iterdir()):
    m = re.fullmatch(r"(.+)-(adamw|sam[0-9.]+)-seed(\d+)", d.name)
    if not d.is_dir() or not m:
        continue
    row = {}
    metrics = d / "metrics.jsonl"
    if metrics.exists():
        lines = [json.loads(l) for l in metrics.read_text().splitlines() if l.strip()]
        if lines:
            row["acc"] = 100 * float(lines[-1]["test_accuracy"])
            row["train_loss"] = float(lines[-1]["train_loss"])
    diag = d / "diagnostics.json"
    if diag.exists() and diag.stat().st_size > 0:
        row["diag"] = json.loads(diag.read_text())
        blocks = d / "blocks.json"
        if blocks.exists() and blocks.stat().st_size > 0:
            row["diag"].update({k: v for k, v in json.loads(blocks.read_text()).items() if k.startswith("block_")})
    runs.setdefault((m[1], m[2]), {})[int(m[3])] = row

def fmt(values, digits=3):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = statistics.mean(values)
    text = f"{mean:.{digits}g}" if abs(mean) < 1e4 else f"{mean:.3e}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.2g}"
    return text

def noise_at(diag, sigma):
    for s, v in zip(diag.get("noise_sigmas", []), diag.get("noise_loss", [])):
        if abs(s - sigma) < 1e-9:
            return v
    return None

def first_active(diag):
    fr, names = diag.get("active_fraction"), diag.get("active_fraction_names")
    return fr[names[0]] if fr and names else None

def mean_active(diag):
    fr = diag.get("active_fraction")
    return statistics.mean(fr.values()) if fr else None

model_order = ["vit-tiny", "vit", "mixer", "lenet"]
method_order = lambda m: (m != "adamw", float(m[3:]) if m.startswith("sam") else 0)
keys = sorted(runs, key=lambda k: (model_order.index(k[0]) if k[0] in model_order else 9, method_order(k[1])))

print("| model | method | seeds | test acc % | train loss | λ_max | max block λ_max | first-layer active | mean active | ‖θ‖ | loss σ=0.1 | loss σ=0.5 | NTK κ |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for key in keys:
    rows = list(runs[key].values())
    diags = [r["diag"] for r in rows if "diag" in r]
    col = lambda f: fmt([f(d) for d in diags])
    print(f"| {key[0]} | {key[1]} | {len(rows)} | {fmt([r.get('acc') for r in rows], 4)} | {fmt([r.get('train_loss') for r in rows])} "
          f"| {col(lambda d: (d.get('eigenvalues') or [None])[0])} "
          f"| {col(lambda d: max(d['block_eigenvalues'].values()) if d.get('block_eigenvalues') else None)} "
          f"| {col(first_active)} | {col(mean_active)} | {col(lambda d: d.get('weight_norm'))} "
          f"| {col(lambda d: noise_at(d, 0.1))} | {col(lambda d: noise_at(d, 0.5))} | {col(lambda d: d.get('ntk_condition_number'))} |")

print()
print("Per sub-block λ_max and active fraction (mean over seeds):")
for model in sorted({k[0] for k in keys}, key=lambda m: model_order.index(m) if m in model_order else 9):
    methods = [k[1] for k in keys if k[0] == model]
    names = []
    for method in methods:
        for r in runs[(model, method)].values():
            for n in r.get("diag", {}).get("block_names", []):
                if n not in names:
                    names.append(n)
    if not names:
        continue
    print()
    print(f"{model}:")
    print()
    print("| block | " + " | ".join(f"λ {m}" for m in methods) + " | " + " | ".join(f"active {m}" for m in methods) + " |")
    print("|---|" + "---|" * (2 * len(methods)))
    for n in names:
        lam = [fmt([r["diag"].get("block_eigenvalues", {}).get(n) for r in runs[(model, m)].values() if "diag" in r]) for m in methods]
        act = [fmt([(r["diag"].get("active_fraction") or {}).get(n) for r in runs[(model, m)].values() if "diag" in r]) for m in methods]
        print(f"| {n} | " + " | ".join(lam) + " | " + " | ".join(act) + " |")
