#!/usr/bin/env python3
"""Every numeric and string option of every command against edge values (issue 10).

    python3 scripts/cli_probe.py .build/release/plateau CHECKPOINT
    COMMANDS=unlearn,relearn MNIST=data/mnist python3 scripts/cli_probe.py …   # some commands

For each command (train, eval, sharpness, landscape, compare, demo, bench, unlearn, relearn,
useful, signals, and drift when MNIST names an MNIST directory) and each option its
--help lists, runs the command with the option set to 0, -1, nan, inf, 1e30, 2^63-1 and "abc"
(in a scratch folder under /tmp) and prints every case that does not end in exit 0, 1 or 64
within 60 s, or that reads a negative number as a missing value. CHECKPOINT is any checkpoint
`plateau train` wrote (e.g. a 1-epoch mlp on digits). Prints "done N" with N such cases: 0 is
the expectation.
"""
import subprocess, re, sys, os, tempfile
P = os.path.abspath(sys.argv[1]); ck = os.path.abspath(sys.argv[2])
scratch = tempfile.mkdtemp(prefix="plateau-probe-")
cmds = {
 "train": ["--dataset","digits","--epochs","1","--train-limit","32","--quiet"],
 "eval": [ck],
 "sharpness": [ck, "--samples", "32"],
 "landscape": [ck, "--samples", "32"],
 "compare": ["--epochs","1","--train-limit","32","--seeds","1","--optimizers","sgd"],
 "demo": ["--epochs","1"],
 "bench": ["--steps","1"],
 "unlearn": [ck, "--forget", "class:1", "--steps", "2", "--check-samples", "16"],
 "relearn": [f"{scratch}/unlearned/checkpoint.safetensors", "--samples", "8", "--steps", "2"],
 "useful": ["--dataset","digits","--epochs","2","--useful-epoch","1","--train-limit","64","--progress-interval","0"],
 "signals": ["--toy","--steps","5","--toy-samples","40"],
}
if os.environ.get("MNIST"):
    cmds["drift"] = ["--data-dir", os.path.abspath(os.environ["MNIST"]), "--seeds", "1", "--phases", "1", "--pretrain-epochs", "1",
                     "--pretrain-limit", "300", "--phase-samples", "40", "--model", "mlp"]
if os.environ.get("COMMANDS"):
    cmds = {c: a for c, a in cmds.items() if c in os.environ["COMMANDS"].split(",")}
# relearn attacks a model unlearn wrote.
subprocess.run([P, "unlearn", ck, "--forget", "class:1", "--steps", "2", "--output", f"{scratch}/unlearned"],
               capture_output=True, cwd=scratch, check=True)
values = ["0","-1","nan","inf","1e30","9223372036854775807","abc"]
skip = {"--output","--data-dir","--config","--dataset","--initial-weights","--script"}
bad = []
for cmd, base in cmds.items():
    h = subprocess.run([P, cmd, "--help"], capture_output=True, text=True).stdout
    opts = sorted(set(re.findall(r"^\s+(--[a-z0-9-]+) <", h, re.M)))
    for o in opts:
        if o in skip: continue
        for v in values:
            d = f"{scratch}/run-{cmd}-{o[2:]}-{v}"
            args = [P, cmd] + base + [o, v]
            if cmd in ("train", "compare", "landscape", "unlearn", "useful"): args += ["--output", d]
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=scratch)
                rc = r.returncode; err = (r.stderr.strip().splitlines() or [""])[0][:150]
            except subprocess.TimeoutExpired:
                rc = "TIMEOUT"; err = ""
            if rc not in (0, 1, 64) or "Missing value" in err:
                bad.append((cmd, o, v, rc, err))
                print(cmd, o, v, rc, err, flush=True)
print("done", len(bad))
