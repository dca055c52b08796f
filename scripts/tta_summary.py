#!/usr/bin/env python3
"""Tables of the Tent/SAR experiment (scripts/tta_experiment.sh) as Markdown.

    scripts/tta_summary.py OUT/calibration.jsonl OUT/results.jsonl

Each line of the files is one `plateau adapt --json` object with the script's labels
(norm_kind, config, and for results seed_model and case). Online accuracy is mean ± sample
standard deviation over the seeds. A stream counts as collapsed when, over its last 500
predictions (the `collapse` window), one class takes at least half of the predictions and at
least 0.25 more than the most frequent label does (`label_concentration`): on a class-sorted
stream a concentrated prediction is expected and not collapse. Pure standard library."""
import json, math, sys
from collections import defaultdict

CASES = [("mild", "mild, B 64"), ("label-shift", "label shift, B 64"), ("mixed", "mixed, B 64"), ("bs1", "batch 1*")]
CONFIGS = ["none", "bn-stats", "tent-paper", "sar-paper", "tent-scaled", "sar-scaled"]


def mean_std(xs):
    m = sum(xs) / len(xs)
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0)


def collapsed(stream):
    return stream["collapse"] >= 0.5 and stream["collapse"] - stream["label_concentration"] >= 0.25


def calibration(rows):
    print("### Calibration on the held-out corruption (gaussian_noise, severity 5, 2,000 images, mild, B 64, seed 0)\n")
    for norm in ["batch", "group"]:
        own = [r for r in rows if r["norm_kind"] == norm]
        none = [r for r in own if r["config"] == "none"]
        print(f"LeNet-5 {norm} norm; no adaptation: {100 * none[0]['accuracy']:.2f}%\n" if none else f"LeNet-5 {norm} norm\n")
        print("| lr | Tent | SAR, e_m 0.2 (resets / batches) | SAR, e_m 0.0667 (resets / batches) |")
        print("|---|---|---|---|")
        for lr in sorted({r["lr"] for r in own if r["config"] != "none"}):
            cells = []
            for config, em in [("tent", None), ("sar", 0.2), ("sar", 0.0667)]:
                match = [r for r in own if r["config"] == config and r["lr"] == lr
                         and (em is None or abs(r["reset_threshold"] - em) < 1e-6)]
                if not match:
                    cells.append("-")
                elif config == "tent":
                    cells.append(f"{100 * match[0]['accuracy']:.2f}%")
                else:
                    cells.append(f"{100 * match[0]['accuracy']:.2f}% ({match[0]['resets']} / {match[0]['batches']})")
            print(f"| {lr:g} | " + " | ".join(cells) + " |")
        print()


def results(rows):
    print("### Online accuracy on the 10 test corruptions (severity 5), mean ± std over 3 seeds\n")
    table = defaultdict(list)
    for r in rows:
        table[(r["norm_kind"], r["config"], r["case"])].append(r)
    for norm in ["batch", "group"]:
        print(f"LeNet-5, {norm} norm — online accuracy %; in brackets SAR's resets / batches (mean over seeds) and "
              "collapsed streams / streams (all seeds) where any")
        print()
        print("| method | " + " | ".join(title for _, title in CASES) + " |")
        print("|---|" + "---|" * len(CASES))
        for config in CONFIGS:
            cells = []
            for case, _ in CASES:
                runs = table.get((norm, config, case), [])
                if not runs:
                    cells.append("-")
                    continue
                m, s = mean_std([100 * r["accuracy"] for r in runs])
                cell = f"{m:.1f} ± {s:.1f}"
                notes = []
                if config.startswith("sar"):
                    notes.append(f"{mean_std([r['resets'] for r in runs])[0]:.0f} / {runs[0]['batches']} resets")
                streams = [s for r in runs for s in r["streams"]]
                bad = sum(collapsed(s) for s in streams)
                if bad:
                    notes.append(f"{bad}/{len(streams)} collapsed")
                if config != "none":
                    base = table.get((norm, "none", case), [])
                    if base:
                        delta = m - mean_std([100 * r["accuracy"] for r in base])[0]
                        notes.insert(0, f"{delta:+.1f}")
                cells.append(cell + (f" ({'; '.join(notes)})" if notes else ""))
            print(f"| {config} | " + " | ".join(cells) + " |")
        lrs = {config: sorted({f"{r['lr']:g}" for (n, c, case), rs in table.items() if n == norm and c == config for r in rs})
               for config in CONFIGS[1:]}
        print("\nlearning rates used: " + "; ".join(f"{c} {', '.join(v)}" for c, v in lrs.items() if v))
        print()
    print("\\* batch size 1 for GroupNorm, 2 for BatchNorm (a BatchNorm after a linear layer cannot normalize one sample); "
          "mild order; fewer images per corruption.\n")
    print("Per corruption (mild, B 64), online accuracy % averaged over seeds:\n")
    names = [s["name"] for s in rows[0]["streams"]] if rows else []
    print("| model | method | " + " | ".join(n.split("/")[0] for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for norm in ["batch", "group"]:
        for config in CONFIGS:
            runs = table.get((norm, config, "mild"), [])
            if not runs:
                continue
            cells = [f"{mean_std([100 * s['accuracy'] for r in runs for s in r['streams'] if s['name'] == n])[0]:.1f}" for n in names]
            print(f"| {norm} | {config} | " + " | ".join(cells) + " |")
    print()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    load = lambda path: [json.loads(line) for line in open(path) if line.strip()]
    calibration(load(sys.argv[1]))
    results(load(sys.argv[2]))


if __name__ == "__main__":
    main()
