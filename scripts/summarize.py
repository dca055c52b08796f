#!/usr/bin/env python3
"""Summarizes Plateau runs: final clean test accuracy (mean ± std over seeds), time per step,
and — with --plateau — the top Hessian eigenvalue of the training loss of each final checkpoint.

    scripts/summarize.py runs/noise40-10ep [more run groups…] [--plateau .build/release/plateau]

A run group is a directory of runs named <method>-seed<k>. Pure standard library."""
import argparse, json, math, os, re, subprocess, sys
from collections import defaultdict


def mean_std(xs):
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


def eigenvalue(plateau, checkpoint):
    """Top eigenvalue via `plateau sharpness` when the command exists, else None."""
    try:
        out = subprocess.run([plateau, "sharpness", checkpoint, "--metrics", "eigen", "--samples", "2048", "--json"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])["eigenvalues"][0]
    except (subprocess.CalledProcessError, FileNotFoundError, KeyError, IndexError, json.JSONDecodeError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+")
    parser.add_argument("--plateau", help="path to the plateau binary, to measure sharpness")
    args = parser.parse_args()
    for group in args.groups:
        if not os.path.isdir(group):
            continue
        table = defaultdict(lambda: defaultdict(list))
        for run in sorted(os.listdir(group)):
            match = re.match(r"(.+)-seed(\d+)$", run)
            path = os.path.join(group, run, "metrics.jsonl")
            if not match or not os.path.exists(path):
                continue
            rows = [json.loads(line) for line in open(path) if line.strip()]
            method = match.group(1)
            table[method]["final"].append(rows[-1]["test_accuracy"] * 100)
            table[method]["best"].append(max(r["test_accuracy"] for r in rows) * 100)
            table[method]["ms"].append(sorted(r.get("ms_per_step", r.get("milliseconds_per_step")) for r in rows)[len(rows) // 2])
            if args.plateau:
                value = eigenvalue(args.plateau, os.path.join(group, run, "checkpoint-last.safetensors"))
                if value is not None:
                    table[method]["eigen"].append(value)
        print(f"\n{group}")
        print(f"{'method':10} {'seeds':>5} {'final test acc %':>18} {'best test acc %':>18} {'ms/step':>8} {'top eigenvalue':>16}")
        for method, v in table.items():
            fm, fs = mean_std(v["final"])
            bm, bs = mean_std(v["best"])
            eig = f"{mean_std(v['eigen'])[0]:8.2f} ± {mean_std(v['eigen'])[1]:5.2f}" if v["eigen"] else "-"
            print(f"{method:10} {len(v['final']):5d} {fm:10.2f} ± {fs:5.2f} {bm:10.2f} ± {bs:5.2f} {mean_std(v['ms'])[0]:8.2f} {eig:>16}")


if __name__ == "__main__":
    sys.exit(main())
