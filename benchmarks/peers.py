#!/usr/bin/env python3
"""Time Plateau's benchmark workloads in PyTorch and JAX, optionally interleaved with Plateau.

The workloads are those of `plateau bench` (Sources/PlateauTraining/Benchmark.swift): float32,
batch 128, synthetic standard-normal inputs and uniform random labels (4 batches used in
turn), one training step = forward + cross-entropy + backward + SGD update (lr 0.01,
momentum 0.9), timed after a warm-up; the reported time is the median over >= 50 steps.

  mlp       MLP 784-512-512-10 with ReLU
  lenet     LeNet-5 on 1x28x28: conv 6@5x5 pad 2, ReLU, max-pool 2, conv 16@5x5, ReLU,
            max-pool 2, 400-120-84-10 with ReLU
  resnet20  CIFAR ResNet-20 (option-A shortcuts, BatchNorm) on 3x32x32, 10 classes

PyTorch runs eagerly with torch.set_num_threads(--threads) and torch.optim.SGD(momentum=0.9).
The model definitions are the twins in scripts/plateau_torch.py, the same ones that
scripts/check_pytorch.py loads Plateau checkpoints into. JAX runs mlp and lenet (not
resnet20) as one jax.jit-compiled train step with hand-written SGD momentum, in PyTorch's
form (buf = m*buf + g; p -= lr*buf), with the parameters and momentum donated.

On mlp and lenet (see --method-workloads) PyTorch also times two sharpness-aware methods, in
the same interleaved blocks as its SGD, and reports each one's time relative to SGD
(ratio_vs_sgd: the median over rounds of the method's block median over SGD's block median in
the same round; plateau bench uses block means, which agree for methods whose steps all cost
the same, as these do):

  sam  davda54/sam's SAM (rho 0.05, non-adaptive): first pass and backward, perturb by
       rho*g/||g||, second pass and backward, restore the weights, SGD step. For networks with
       BatchNorm the running statistics are frozen in the second pass (momentum 0), as in
       davda54's example.
  saf  SAF (Du et al. 2022) as in Plateau: a per-sample bank of past logits [60000, lag 3, 10]
       with epoch tags; per step the CE loss of each sample plus lambda (0.3) times
       tau^2 * KL(softmax(z_past/tau) || softmax(z/tau)) (tau 5), masked to the samples whose
       logits from lag epochs ago are present; then one backward and SGD step, and the batch's
       logits are written to the bank. As in plateau bench, the steps run in epoch 5 with the
       bank pre-filled with random logits from epoch 2. (Both in Plateau and here the writes
       land in the slot that is read, so after the first pass over the 4 batches the mask is
       zero; the KL is still computed in full, so the cost timed is the same.)

With --plateau PATH (the `plateau` binary, e.g. .build/release/plateau from
`swift build -c release`), Plateau is timed in the same invocation: for every workload each
round runs `plateau bench --json` for one block (--block-size steps, after its own
--plateau-warmup steps: each round is a fresh process), then a block of every PyTorch method,
then a block of JAX, and so on for --steps / --block-size rounds, so slow drifts of a shared
machine hit all frameworks alike. Plateau then runs sgd and, on the method workloads, saf
and sam too. ratio_vs_plateau of a peer row is the median over rounds of its block median
over Plateau's SGD block median in the same round; >= 1 means Plateau is faster.

Output: one JSON object per line on stdout, per framework, workload and method, with the keys
of `plateau bench --json` that apply (workload, optimizer, batch, ms_per_step_median,
steps_per_second, gflops, passes_per_step, steps_measured, ratio_vs_sgd) plus framework
("pytorch", "jax" or "plateau"), version, threads, ratio_vs_plateau; then a summary table on
stderr (so `peers.py > results.jsonl` keeps a clean JSON-lines file).

Threads: PyTorch uses --threads intra-op threads. Its OpenMP runtime (libgomp) spins while it
waits between parallel regions, and that is ruinous when the cores are busy with other work. On
this 2-core machine under a load average of 4-8, a 2-thread MLP step took 75-98 ms with libgomp's
default wait policy (unset) and 230-310 ms with OMP_WAIT_POLICY=active, but 13-18 ms with
passive (20 ms with 1 thread). On a quiet moment active gave 6.4 ms. So unless OMP_WAIT_POLICY
is already set, this script sets it to passive before importing torch; --omp-wait-policy
active|unset chooses otherwise (try them on an idle machine). Plateau's OpenBLAS (pthreads
build) does not read this variable. XLA's CPU backend sizes its thread pool by
the CPUs the process may use; on a machine with more CPUs than --threads, run the whole
script under `taskset -c 0-1` (for 2) to make JAX comparable. Plateau gets --threads.

Dependencies: torch and numpy, and jax/jaxlib for the JAX rows; nothing is downloaded unless
you pass --install. If they do not import, the script re-runs itself with the venv's Python
(--venv, $PLATEAU_PEERS_VENV, default ~/.cache/plateau/venv-peers); --install creates that venv
and runs `pip install torch safetensors numpy jax jaxlib`. This script is run by hand only:
Plateau's build, tests and CI never call it.

Examples:
  benchmarks/peers.py --install                       # create the venv, then run PyTorch and JAX
  benchmarks/peers.py --workloads mlp,lenet --frameworks pytorch
  swift build -c release && benchmarks/peers.py --plateau .build/release/plateau
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import peer_env  # noqa: E402

WORKLOADS = ("mlp", "lenet", "resnet20")
JAX_WORKLOADS = ("mlp", "lenet")
METHODS = ("sgd", "sam", "saf")
CLASSES = 10
BATCHES = 4


def flops_per_step(workload: str, batch: int) -> float:
    """Forward + backward FLOPs of one step, as Benchmark.swift counts them."""
    if workload == "mlp":
        return 6.0 * batch * (784 * 512 + 512 * 512 + 512 * 10)
    if workload == "lenet":
        macs = 6 * 25 * 784 + 16 * 150 * 100 + 400 * 120 + 120 * 84 + 84 * 10
        return 6.0 * macs * batch
    macs = 16 * 27 * 1024 + 6 * 16 * 144 * 1024 + 32 * 144 * 256 + 5 * 32 * 288 * 256
    macs += 64 * 288 * 64 + 5 * 64 * 576 * 64 + 640
    return 6.0 * macs * batch


def input_shape(workload: str, batch: int):
    return {"mlp": (batch, 784), "lenet": (batch, 1, 28, 28), "resnet20": (batch, 3, 32, 32)}[workload]


def median(values):
    """The upper median, as Plateau's BenchmarkResult.median (sorted[count / 2])."""
    s = sorted(values)
    return s[len(s) // 2]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, from mlp,lenet,resnet20 (default all)")
    parser.add_argument("--frameworks", default="pytorch,jax", help="comma-separated peers, from pytorch,jax (default both)")
    parser.add_argument("--methods", default=",".join(METHODS), help="PyTorch methods, from sgd,sam,saf (default all; sgd is always run)")
    parser.add_argument("--method-workloads", default="mlp,lenet", help="workloads on which sam and saf run (default mlp,lenet)")
    parser.add_argument("--plateau", metavar="PATH", help="the plateau binary; interleave `plateau bench --json` blocks with the peers")
    parser.add_argument("--plateau-warmup", type=int, default=3, help="warm-up steps of each Plateau block's fresh process (default 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per step (default 128)")
    parser.add_argument("--steps", type=int, default=50, help="measured steps per framework, method and workload, rounded up to whole blocks (default 50)")
    parser.add_argument("--block-size", type=int, default=5, help="steps per interleaved block (default 5)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up steps of each peer runner (default 5; JAX compiles in the first)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and Plateau's --threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and synthetic data (default 0)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--rho", type=float, default=0.05, help="SAM radius (default 0.05)")
    parser.add_argument("--saf-lambda", type=float, default=0.3, help="SAF weight lambda (default 0.3)")
    parser.add_argument("--saf-tau", type=float, default=5.0, help="SAF temperature tau (default 5)")
    parser.add_argument("--saf-lag", type=int, default=3, help="SAF lag in epochs (default 3)")
    parser.add_argument("--omp-wait-policy", choices=("passive", "active", "unset"),
                        help="OMP_WAIT_POLICY for PyTorch's OpenMP threads; unset leaves libgomp's default "
                             "(spin a while, then sleep) (default: $OMP_WAIT_POLICY if set, else passive)")
    parser.add_argument("--no-table", action="store_true", help="print only the JSON lines")
    parser.add_argument("--install", action="store_true", help="create the venv and pip install torch safetensors numpy jax jaxlib if torch is missing")
    parser.add_argument("--venv", type=Path, default=peer_env.DEFAULT_VENV, help=f"the venv to use or create (default {peer_env.DEFAULT_VENV})")
    args = parser.parse_args()

    def split(text, allowed, what):
        items = [t for t in text.split(",") if t]
        for t in items:
            if t not in allowed:
                parser.error(f"unknown {what} '{t}'; expected one of {', '.join(allowed)}")
        return items

    args.workloads = split(args.workloads, WORKLOADS, "workload")
    args.frameworks = split(args.frameworks, ("pytorch", "jax"), "framework")
    args.methods = ["sgd"] + [m for m in split(args.methods, METHODS, "method") if m != "sgd"]
    args.method_workloads = split(args.method_workloads, WORKLOADS, "workload")
    for name in ("batch_size", "steps", "block_size", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup < 0 or args.plateau_warmup < 0:
        parser.error("warm-up steps must be non-negative")
    if args.plateau and not os.access(args.plateau, os.X_OK):
        parser.error(f"--plateau {args.plateau}: not an executable file (build it with `swift build -c release`)")
    return args


# ---------------------------------------------------------------------------------------------
# PyTorch


class TorchRunner:
    """One PyTorch method on one workload; `step()` runs one timed training step."""

    def __init__(self, workload, method, args):
        import torch
        import torch.nn.functional as F

        import plateau_torch

        self.framework, self.workload, self.optimizer = "pytorch", workload, method
        self.passes = 2 if method == "sam" else 1
        self.version = torch.__version__
        torch.manual_seed(args.seed)
        sample = input_shape(workload, args.batch_size)[1:]
        if workload == "resnet20":
            model = plateau_torch.ResNet(20, 3, CLASSES)
        else:
            model = plateau_torch.make(workload, (1, 28, 28), CLASSES)
        model.train()
        n = args.batch_size
        batches = [
            (torch.randn(n, *sample), torch.randint(0, CLASSES, (n,)), torch.arange(b * n, (b + 1) * n))
            for b in range(BATCHES)
        ]
        self.cursor = 0
        cross_entropy = F.cross_entropy

        if method == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

            def step(x, y, idx):
                opt.zero_grad(set_to_none=True)
                cross_entropy(model(x), y).backward()
                opt.step()

        elif method == "sam":
            opt = sam_class()(model.parameters(), torch.optim.SGD, rho=args.rho, lr=args.lr, momentum=args.momentum)

            def step(x, y, idx):
                enable_running_stats(model)
                cross_entropy(model(x), y).backward()
                opt.first_step(zero_grad=True)
                disable_running_stats(model)
                cross_entropy(model(x), y).backward()
                opt.second_step(zero_grad=True)

        elif method == "saf":
            opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
            epoch = 5  # plateau bench's epoch: SAF is active (start 5) and reads epoch 5 - lag.
            bank = LogitBank(max(60_000, n * BATCHES), args.saf_lag, CLASSES)
            for _, _, idx in batches:
                bank.record(torch.randn(n, CLASSES), idx, epoch - args.saf_lag)
            lam, tau = args.saf_lambda, args.saf_tau

            def step(x, y, idx):
                past, available = bank.past(idx, epoch)
                logits = model(x)
                losses = cross_entropy(logits, y, reduction="none")
                teacher = F.log_softmax(past / tau, dim=1)
                student = F.log_softmax(logits / tau, dim=1)
                kl = (teacher.exp() * (teacher - student)).sum(1) * (tau * tau)
                loss = (losses + kl * (available.to(kl.dtype) * lam)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bank.record(logits.detach(), idx, epoch)

        else:
            raise ValueError(method)
        self._step, self.batches = step, batches

    def step(self):
        x, y, idx = self.batches[self.cursor % BATCHES]
        self.cursor += 1
        start = time.perf_counter()
        self._step(x, y, idx)
        return (time.perf_counter() - start) * 1000


class LogitBank:
    """SAF's memory of past logits, as Plateau's TrajectoryMemory: [samples, lag, classes]
    with the epoch each slot was written in; epoch e uses slot e % lag."""

    def __init__(self, samples, lag, classes):
        import torch

        self.lag = lag
        self.values = torch.zeros(samples, lag, classes)
        self.tags = torch.full((samples, lag), -1, dtype=torch.int64)

    def past(self, idx, epoch):
        slot = epoch % self.lag
        return self.values[idx, slot], self.tags[idx, slot] == epoch - self.lag

    def record(self, logits, idx, epoch):
        slot = epoch % self.lag
        self.values[idx, slot] = logits
        self.tags[idx, slot] = epoch


_SAM = None


def sam_class():
    """The SAM optimizer class (defined on first use, so that torch is imported lazily)."""
    global _SAM
    if _SAM is not None:
        return _SAM
    import torch

    class SAM(torch.optim.Optimizer):
        """SAM after davda54/sam (sam.py, MIT licence): the base optimizer shares the param
        groups; first_step perturbs by rho * g / (||g|| + 1e-12) keeping a copy of the
        weights, second_step restores the copy and steps the base optimizer."""

        def __init__(self, params, base_optimizer, rho=0.05, adaptive=False, **kwargs):
            assert rho >= 0.0, f"Invalid rho, should be non-negative: {rho}"
            defaults = dict(rho=rho, adaptive=adaptive, **kwargs)
            super().__init__(params, defaults)
            self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
            self.param_groups = self.base_optimizer.param_groups
            self.defaults.update(self.base_optimizer.defaults)

        @torch.no_grad()
        def first_step(self, zero_grad=False):
            grad_norm = self._grad_norm()
            for group in self.param_groups:
                scale = group["rho"] / (grad_norm + 1e-12)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    self.state[p]["old_p"] = p.data.clone()
                    e_w = (torch.pow(p, 2) if group["adaptive"] else 1.0) * p.grad * scale.to(p)
                    p.add_(e_w)
            if zero_grad:
                self.zero_grad()

        @torch.no_grad()
        def second_step(self, zero_grad=False):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p.data = self.state[p]["old_p"]
            self.base_optimizer.step()
            if zero_grad:
                self.zero_grad()

        def _grad_norm(self):
            device = self.param_groups[0]["params"][0].device
            return torch.norm(
                torch.stack([
                    ((torch.abs(p) if group["adaptive"] else 1.0) * p.grad).norm(p=2).to(device)
                    for group in self.param_groups for p in group["params"] if p.grad is not None
                ]),
                p=2,
            )

    _SAM = SAM
    return SAM


def disable_running_stats(model):
    """davda54/sam example/utility/bypass_bn.py: BatchNorm momentum 0 in the second pass."""
    from torch.nn.modules.batchnorm import _BatchNorm

    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.backup_momentum = m.momentum
            m.momentum = 0


def enable_running_stats(model):
    from torch.nn.modules.batchnorm import _BatchNorm

    for m in model.modules():
        if isinstance(m, _BatchNorm) and hasattr(m, "backup_momentum"):
            m.momentum = m.backup_momentum


# ---------------------------------------------------------------------------------------------
# JAX


class JaxRunner:
    """SGD on mlp or lenet as one jitted step (forward, cross-entropy, grad, momentum update)."""

    def __init__(self, workload, args):
        import jax
        import jax.numpy as jnp
        from jax import lax

        self.framework, self.workload, self.optimizer, self.passes = "jax", workload, "sgd", 1
        self.version = jax.__version__
        key = jax.random.PRNGKey(args.seed)

        def uniform(key, shape, fan_in):
            bound = 1.0 / math.sqrt(fan_in)
            return jax.random.uniform(key, shape, jnp.float32, -bound, bound)

        def linear(key, fan_in, fan_out):
            k1, k2 = jax.random.split(key)
            return {"w": uniform(k1, (fan_out, fan_in), fan_in), "b": uniform(k2, (fan_out,), fan_in)}

        def conv(key, cin, cout, k):
            k1, k2 = jax.random.split(key)
            return {"w": uniform(k1, (cout, cin, k, k), cin * k * k), "b": uniform(k2, (cout,), cin * k * k)}

        def dense(p, x):
            return x @ p["w"].T + p["b"]

        def conv2d(p, x, padding):
            y = lax.conv_general_dilated(x, p["w"], (1, 1), [(padding, padding)] * 2, dimension_numbers=("NCHW", "OIHW", "NCHW"))
            return y + p["b"][None, :, None, None]

        def maxpool(x):
            return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

        keys = jax.random.split(key, 8)
        if workload == "mlp":
            params = [linear(keys[0], 784, 512), linear(keys[1], 512, 512), linear(keys[2], 512, 10)]

            def forward(params, x):
                for i, p in enumerate(params):
                    x = dense(p, x)
                    if i < len(params) - 1:
                        x = jax.nn.relu(x)
                return x

        elif workload == "lenet":
            params = {
                "conv1": conv(keys[0], 1, 6, 5), "conv2": conv(keys[1], 6, 16, 5),
                "fc1": linear(keys[2], 400, 120), "fc2": linear(keys[3], 120, 84), "fc3": linear(keys[4], 84, 10),
            }

            def forward(p, x):
                x = maxpool(jax.nn.relu(conv2d(p["conv1"], x, 2)))
                x = maxpool(jax.nn.relu(conv2d(p["conv2"], x, 0))).reshape(x.shape[0], -1)
                return dense(p["fc3"], jax.nn.relu(dense(p["fc2"], jax.nn.relu(dense(p["fc1"], x)))))

        else:
            raise ValueError(f"JAX has no {workload} workload here")

        lr, momentum = args.lr, args.momentum

        def loss_fn(params, x, y):
            logp = jax.nn.log_softmax(forward(params, x), axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def train_step(params, buf, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            buf = jax.tree_util.tree_map(lambda b, g: momentum * b + g, buf, grads)
            params = jax.tree_util.tree_map(lambda p, b: p - lr * b, params, buf)
            return params, buf, loss

        self.train_step = jax.jit(train_step, donate_argnums=(0, 1))
        self.params = params
        self.buf = jax.tree_util.tree_map(jnp.zeros_like, params)
        n = args.batch_size
        data_keys = jax.random.split(keys[7], 2 * BATCHES)
        self.batches = [
            (jax.random.normal(data_keys[2 * b], input_shape(workload, n), jnp.float32),
             jax.random.randint(data_keys[2 * b + 1], (n,), 0, CLASSES))
            for b in range(BATCHES)
        ]
        jax.block_until_ready(self.batches)
        self.block_until_ready = jax.block_until_ready
        self.cursor = 0

    def step(self):
        x, y = self.batches[self.cursor % BATCHES]
        self.cursor += 1
        start = time.perf_counter()
        self.params, self.buf, loss = self.train_step(self.params, self.buf, x, y)
        self.block_until_ready((self.params, self.buf, loss))
        return (time.perf_counter() - start) * 1000


# ---------------------------------------------------------------------------------------------
# Plateau


def plateau_block(args, workload, methods):
    """One fresh `plateau bench --json` process timing one block of each method."""
    command = [
        args.plateau, "bench", "--json", "--workloads", workload, "--optimizers", ",".join(methods),
        "--steps", str(args.block_size), "--block-size", str(args.block_size), "--warmup", str(args.plateau_warmup),
        "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--seed", str(args.seed),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {done.returncode}:\n{done.stderr}")
    rows = {}
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            row = json.loads(line)
            if row.get("workload") == workload:
                rows[row["optimizer"]] = row
    missing = [m for m in methods if m not in rows]
    if missing:
        raise SystemExit(f"{' '.join(command)} printed no row for {missing}:\n{done.stdout}")
    return rows


# ---------------------------------------------------------------------------------------------


def run_workload(workload, args, emit):
    methods = args.methods if workload in args.method_workloads else ["sgd"]
    runners = []
    if "pytorch" in args.frameworks:
        runners += [TorchRunner(workload, m, args) for m in methods]
    if "jax" in args.frameworks and workload in JAX_WORKLOADS and args.have_jax:
        runners.append(JaxRunner(workload, args))
    rounds = (args.steps + args.block_size - 1) // args.block_size
    print(f"{workload}: {rounds} rounds of {args.block_size}-step blocks: "
          + ", ".join((["plateau(" + ",".join(methods) + ")"] if args.plateau else []) + [f"{r.framework}/{r.optimizer}" for r in runners]),
          file=sys.stderr, flush=True)
    for r in runners:
        for _ in range(args.warmup):
            r.step()
    times = {id(r): [] for r in runners}
    blocks = {id(r): [] for r in runners}
    plateau_blocks = {m: [] for m in methods}
    plateau_ratios = {m: [] for m in methods}
    plateau_rows = {}
    for round_index in range(rounds):
        if args.plateau:
            rows = plateau_block(args, workload, methods)
            for m in methods:
                plateau_blocks[m].append(rows[m]["ms_per_step_median"])
                plateau_ratios[m].append(rows[m].get("ratio_vs_sgd", 1.0))
            plateau_rows = rows
        for r in runners:
            block = [r.step() for _ in range(args.block_size)]
            times[id(r)] += block
            blocks[id(r)].append(median(block))
        print(f"  round {round_index + 1}/{rounds}", file=sys.stderr, end="\r", flush=True)
    print(" " * 30, file=sys.stderr, end="\r")

    flops = flops_per_step(workload, args.batch_size)
    results = []
    if args.plateau:
        for m in methods:
            ms = median(plateau_blocks[m])
            row = {
                "framework": "plateau", "workload": workload, "optimizer": m, "batch": args.batch_size,
                "ms_per_step_median": ms, "steps_per_second": 1000 / ms, "gflops": flops / ms / 1e6,
                "passes_per_step": plateau_rows[m].get("passes_per_step"), "steps_measured": rounds * args.block_size,
                "ratio_vs_sgd": median(plateau_ratios[m]), "threads": args.threads, "version": "plateau",
            }
            results.append(row)
    sgd_blocks = {r.framework: blocks[id(r)] for r in runners if r.optimizer == "sgd"}
    for r in runners:
        ms = median(times[id(r)])
        row = {
            "framework": r.framework, "workload": workload, "optimizer": r.optimizer, "batch": args.batch_size,
            "ms_per_step_median": ms, "steps_per_second": 1000 / ms, "gflops": flops / ms / 1e6,
            "passes_per_step": r.passes, "steps_measured": len(times[id(r)]), "threads": args.threads, "version": r.version,
        }
        if r.framework == "pytorch":
            row["omp_wait_policy"] = args.omp_wait_policy
        base = sgd_blocks.get(r.framework)
        if base:
            row["ratio_vs_sgd"] = median([a / b for a, b in zip(blocks[id(r)], base)])
        if args.plateau and plateau_blocks.get(r.optimizer):
            row["ratio_vs_plateau"] = median([a / b for a, b in zip(blocks[id(r)], plateau_blocks[r.optimizer])])
        results.append(row)
    for row in results:
        emit(row)
    return results


def table(rows, args):
    out = []
    frameworks = (["plateau"] if args.plateau else []) + args.frameworks
    out.append(f"peers: batch {args.batch_size}, {args.threads} threads, median of {rows[0]['steps_measured'] if rows else 0} steps; "
               "numbers from a shared machine are noisy")
    header = f"{'workload':<10} {'method':<6}" + "".join(f" {f + ' ms':>12}" for f in frameworks)
    if args.plateau:
        header += "".join(f" {f + '/plateau':>16}" for f in args.frameworks)
    out.append(header)
    by_key = {(r["framework"], r["workload"], r["optimizer"]): r for r in rows}
    for workload in args.workloads:
        for method in args.methods:
            if not any((f, workload, method) in by_key for f in frameworks):
                continue
            line = f"{workload:<10} {method:<6}"
            for f in frameworks:
                r = by_key.get((f, workload, method))
                line += f" {r['ms_per_step_median']:>12.2f}" if r else f" {'-':>12}"
            if args.plateau:
                for f in args.frameworks:
                    r = by_key.get((f, workload, method))
                    line += f" {r['ratio_vs_plateau']:>15.2f}x" if r and "ratio_vs_plateau" in r else f" {'-':>16}"
            out.append(line)
    if args.plateau:
        out.append("(peer/plateau: median over rounds of the peer's block median over Plateau's; >= 1 means Plateau is faster)")
    method_rows = [r for r in rows if r["optimizer"] != "sgd"]
    if method_rows:
        out.append("")
        out.append("time relative to the same framework's SGD (median over rounds of block ratios):")
        fw = [f for f in frameworks if f in ("plateau", "pytorch")]
        out.append(f"{'workload':<10} {'method':<6}" + "".join(f" {f + ' vs sgd':>16}" for f in fw))
        for workload in args.workloads:
            for method in args.methods[1:]:
                if not any((f, workload, method) in by_key for f in fw):
                    continue
                line = f"{workload:<10} {method:<6}"
                for f in fw:
                    r = by_key.get((f, workload, method))
                    line += f" {r['ratio_vs_sgd']:>15.2f}x" if r else f" {'-':>16}"
                out.append(line)
    return "\n".join(out)


def main():
    args = parse_args()
    peer_env.ensure(["torch", "numpy"], ["torch", "safetensors", "numpy", "jax", "jaxlib"], args.venv, args.install, __file__)
    import importlib.util

    # Set before torch loads its OpenMP runtime (libgomp reads it when it initializes).
    if args.omp_wait_policy == "unset":
        os.environ.pop("OMP_WAIT_POLICY", None)
    elif args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args.omp_wait_policy = os.environ.get("OMP_WAIT_POLICY", "unset").lower()
    import torch

    torch.set_num_threads(args.threads)
    args.have_jax = importlib.util.find_spec("jax") is not None
    if "jax" in args.frameworks and not args.have_jax:
        print(f"jax is not installed in {sys.executable}; skipping JAX (pip install jax jaxlib, or --install)", file=sys.stderr)
    if "jax" in args.frameworks and args.have_jax and len(os.sched_getaffinity(0)) > args.threads:
        print(f"note: XLA uses every CPU this process may run on ({len(os.sched_getaffinity(0))}); "
              f"use `taskset -c 0-{args.threads - 1}` to hold JAX to {args.threads}", file=sys.stderr)
    rows = []

    def emit(row):
        print(json.dumps(row, sort_keys=True), flush=True)

    for workload in args.workloads:
        rows += run_workload(workload, args, emit)
    if not args.no_table:
        print(table(rows, args), file=sys.stderr)


if __name__ == "__main__":
    main()
