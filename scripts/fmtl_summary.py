#!/usr/bin/env python3
"""Summary of scripts/fmtl_experiment.sh: per method, mean ± std over seeds of the last epoch's
mean task accuracy, each task's accuracy, and the task-gradient cosine (epoch mean) per epoch.

    python3 scripts/fmtl_summary.py runs/fmtl-experiment
"""
import json, os, re, statistics, sys

def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]

def fmt(values, scale=100.0, digits=2):
    if not values:
        return "-"
    mean = statistics.mean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"

def main(out):
    runs = {}
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"(.+)-seed(\d+)", name)
        path = os.path.join(out, name, "metrics.jsonl")
        if m and os.path.isfile(path):
            runs.setdefault(m.group(1), []).append(rows(path))
    order = ["ew", "pcgrad", "mgda", "sam", "fmtl-ew", "fmtl-pcgrad"]
    methods = [m for m in order if m in runs] + sorted(set(runs) - set(order))
    print("| method | seeds | epochs | mean task acc (%) | left (%) | right (%) | ms/step |")
    print("|---|---|---|---|---|---|---|")
    for method in methods:
        last = [r[-1] for r in runs[method]]
        print(f"| {method} | {len(last)} | {min(len(r) for r in runs[method])} | {fmt([l['test_accuracy'] for l in last])} "
              f"| {fmt([l['task_test_accuracies'][0] for l in last])} | {fmt([l['task_test_accuracies'][1] for l in last])} "
              f"| {statistics.mean(l['ms_per_step'] for l in last):.0f} |")
    epochs = max(len(r) for rs in runs.values() for r in rs) if runs else 0
    print()
    print("Cosine between the two tasks' gradients of the shared body (mean over each epoch's steps, mean ± std over seeds):")
    print()
    print("| method | " + " | ".join(f"epoch {e + 1}" for e in range(epochs)) + " |")
    print("|---|" + "---|" * epochs)
    for method in methods:
        cells = []
        for e in range(epochs):
            values = [r[e]["task_gradient_cosine"] for r in runs[method] if len(r) > e and "task_gradient_cosine" in r[e]]
            cells.append(fmt(values, scale=1.0, digits=3))
        print(f"| {method} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/fmtl-experiment")
