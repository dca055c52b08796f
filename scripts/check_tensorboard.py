#!/usr/bin/env python3
"""Reads a run's TensorBoard event files with the `tensorboard` package and checks them
against the run's metrics.jsonl: every epoch's scalars present at the right step with the
same values, and per-step scalars for every step (interval 1) with finite values.

Usage: check_tensorboard.py RUN_DIRECTORY   (needs `pip install tensorboard`)
Exit status 0 when everything matches; the differences are printed otherwise.
"""
import json
import math
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(run):
    run = Path(run)
    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    scalars = {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in tags}
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    config = json.loads((run / "config.json").read_text())
    problems = []

    pairs = {"epoch/train_loss": "train_loss", "epoch/train_accuracy": "train_accuracy", "epoch/test_loss": "test_loss",
             "epoch/test_accuracy": "test_accuracy", "epoch/learning_rate": "learning_rate"}
    for tag, key in pairs.items():
        values = [v for _, v in scalars.get(tag, [])]
        expected = [float(m[key]) for m in metrics]
        if len(values) != len(expected) or any(abs(a - b) > 1e-6 * max(1, abs(b)) for a, b in zip(values, expected)):
            problems.append(f"{tag}: {values} != metrics.jsonl {key} {expected}")
    epochs = [v for _, v in scalars.get("epoch/epoch", [])]
    if epochs != [float(m["epoch"]) for m in metrics]:
        problems.append(f"epoch/epoch: {epochs}")

    steps = [s for s, _ in scalars.get("train/loss", [])]
    # Runs written before the keys became the flags' names spelled it tensorboardInterval.
    interval = config.get("tensorboard-interval", config.get("tensorboardInterval", 1))
    if interval == 1 and steps != list(range(len(steps))):
        problems.append(f"train/loss: steps are not 0, 1, 2, ...: {steps[:10]} ...")
    last_epoch_step = [s for s, _ in scalars.get("epoch/train_loss", [])]
    if steps and last_epoch_step and last_epoch_step[-1] != steps[-1] + 1:
        problems.append(f"the last epoch's scalars are at step {last_epoch_step[-1]}, the last step is {steps[-1]}")
    for tag in ("train/loss", "train/accuracy", "train/learning_rate", "train/gradient_norm"):
        values = [v for _, v in scalars.get(tag, [])]
        if not values or any(not math.isfinite(v) for v in values):
            problems.append(f"{tag}: missing or non-finite")

    print(f"{run}: {len(tags)} tags, {len(steps)} steps, {len(metrics)} epochs: "
          + ("OK" if not problems else f"{len(problems)} problem(s)"))
    for problem in problems:
        print("  " + problem)
    print("  tags: " + ", ".join(sorted(tags)))
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
