#!/usr/bin/env python3
"""Time Plateau's benchmark workloads in PyTorch and JAX, optionally interleaved with Plateau.

The workloads are those of `plateau bench` (Sources/PlateauTraining/Benchmark.swift): float32,
synthetic standard-normal inputs and uniform random labels (4 batches used in turn), one
training step = forward + cross-entropy + backward + SGD update (lr 0.01, momentum 0.9), timed
after a warm-up; the reported time is the median over >= 50 steps. Batch 128, except wrn16-4:
32 (--batch-size overrides both).

  mlp       MLP 784-512-512-10 with ReLU
  lenet     LeNet-5 on 1x28x28: conv 6@5x5 pad 2, ReLU, max-pool 2, conv 16@5x5, ReLU,
            max-pool 2, 400-120-84-10 with ReLU
  resnet20  CIFAR ResNet-20 (option-A shortcuts, BatchNorm) on 3x32x32, 10 classes
  vit       ViT on 1x28x28, 7x7 patches (17 tokens), d 64, 6 pre-norm blocks, 4 heads, MLP 256
  mixer     MLP-Mixer on 1x28x28, 7x7 patches, d 64, 4 blocks, token MLP 32, channel MLP 256
  wrn16-4   WRN-16-4 (pre-activation wide blocks, 64/128/256 channels) on 3x32x32
  unet      U-Net on 1x28x28, 3 levels (16/32/64 channels), transposed-conv upsampling, 2 classes
            per pixel: cross-entropy over all pixels against synthetic per-pixel labels

PyTorch runs eagerly with torch.set_num_threads(--threads) and torch.optim.SGD(momentum=0.9).
The model definitions are the twins in scripts/plateau_torch.py, the same ones that
scripts/check_pytorch.py loads Plateau checkpoints into (same parameter names and shapes; from
Plateau's weights they reproduce Plateau's outputs). JAX runs every workload (the same
architectures written with jax.numpy and lax; BatchNorm with batch statistics and without the
running averages), as one jax.jit-compiled train step with hand-written SGD momentum, in
PyTorch's form (buf = m*buf + g; p -= lr*buf), with the parameters and momentum donated.

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
       zero; the KL is still computed in full, so the cost timed is the same.) SAF needs
       per-sample logits: on unet it is skipped, as plateau bench skips it.

Processes and memory: every framework runs each workload in a fresh worker process of its
own (one per PyTorch wait policy, see below), which builds the models, warms up and then runs
one block per round when told; peak_rss_bytes is the worker's peak resident set (VmHWM) at
the end: the interpreter, the framework's libraries, the models, data and every method timed
on that workload. Plateau's peak_rss_bytes is what `plateau bench --json` reports for the
workload (its peak while the workload ran, in its own process), the maximum over rounds.

With --plateau PATH (the `plateau` binary, e.g. .build/release/plateau from
`swift build -c release`), Plateau is timed in the same invocation: for every workload each
round runs `plateau bench --json` for one block (--block-size steps, after its own
--plateau-warmup steps: each round is a fresh process), then a block of every PyTorch method
(under each wait policy), then a block of JAX, and so on for --steps / --block-size rounds, so
slow drifts of a shared machine hit all frameworks alike. Plateau then runs sgd and, on the
method workloads, saf and sam too. ratio_vs_plateau of a peer row is the median over rounds of
its block median over Plateau's block median for the same method in the same round; >= 1 means
Plateau is faster. fraction_of_peak is a row's GFLOPS over the sgemm ceiling that Plateau
measured in the same rounds (the best over its processes), for every framework alike.

Output: one JSON object per line on stdout, per framework, workload and method, with the keys
of `plateau bench --json` that apply (workload, optimizer, batch, ms_per_step_median,
steps_per_second, gflops, fraction_of_peak, passes_per_step, steps_measured, ratio_vs_sgd,
peak_rss_bytes) plus framework ("pytorch", "jax" or "plateau"), version, threads,
ratio_vs_plateau and, for PyTorch, omp_wait_policy; then summary tables on stderr (so
`peers.py > results.jsonl` keeps a clean JSON-lines file).

Threads: PyTorch uses --threads intra-op threads. Its OpenMP runtime (libgomp) spins while it
waits between parallel regions, which is fast on a quiet machine and ruinous when the cores are
busy with other work: on this 2-core machine under a load average of 4-8, a 2-thread MLP step
took 75-98 ms with libgomp's default wait policy (unset) and 230-310 ms with
OMP_WAIT_POLICY=active, but 13-18 ms with passive (20 ms with 1 thread); on a quiet machine
passive costs PyTorch speed instead. PyTorch as users run it is the default policy, so
--omp-wait-policy (a comma-separated list of unset, passive, active) defaults to "unset,passive":
both, each in its own worker processes, in the same rounds (or $OMP_WAIT_POLICY alone when it
is set). Plateau's OpenBLAS (pthreads build) does not read this variable. XLA's CPU backend
sizes its thread pool by the CPUs the process may use; on a machine with more CPUs than
--threads, run the whole script under `taskset -c 0-1` (for 2) to make JAX comparable. Plateau
gets --threads.

Dependencies: torch and numpy, and jax/jaxlib for the JAX rows; nothing is downloaded unless
you pass --install. If they do not import, the script re-runs itself with the venv's Python
(--venv, $PLATEAU_PEERS_VENV, default ~/.cache/plateau/venv-peers); --install creates that venv
and runs `pip install torch safetensors numpy jax jaxlib`. This script is run by hand only:
Plateau's build, tests and CI never call it.

Examples:
  benchmarks/peers.py --install                       # create the venv, then run PyTorch and JAX
  benchmarks/peers.py --workloads mlp,lenet --frameworks pytorch
  swift build -c release && benchmarks/peers.py --plateau .build/release/plateau
  benchmarks/peers.py --plateau .build/release/plateau --workloads vit,unet --omp-wait-policy unset
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import peer_env  # noqa: E402

WORKLOADS = ("mlp", "lenet", "resnet20", "vit", "mixer", "wrn16-4", "unet")
JAX_WORKLOADS = ("mlp", "lenet", "resnet20", "vit", "mixer", "wrn16-4", "unet")
METHODS = ("sgd", "sam", "saf")
POLICIES = ("unset", "passive", "active")
CLASSES = 10
UNET_CLASSES = 2  # per pixel, as Benchmark.unetClasses
BATCHES = 4


def default_batch(workload: str) -> int:
    """As BenchmarkWorkload.defaultBatchSize: 128, and 32 for WRN-16-4 (~300 GFLOP a step at 128)."""
    return 32 if workload == "wrn16-4" else 128


def conv_macs(cin, cout, k, positions):
    return cin * cout * k * k * positions


def multiply_adds(workload: str) -> int:
    """Multiply-adds of one sample's forward pass through every product, counted as
    Benchmark.swift counts them (Benchmark.multiplyAddsPerSample): convolutions and linear
    layers (weights times output positions; input positions for a transposed convolution) and
    attention's Q.K^T and A.V; norms, activations, pooling, softmax and the loss are left out."""
    if workload == "mlp":
        return 784 * 512 + 512 * 512 + 512 * 10
    if workload == "lenet":
        return 6 * 25 * 784 + 16 * 150 * 100 + 400 * 120 + 120 * 84 + 84 * 10
    if workload == "resnet20":
        macs = 16 * 27 * 1024 + 6 * 16 * 144 * 1024 + 32 * 144 * 256 + 5 * 32 * 288 * 256
        return macs + 64 * 288 * 64 + 5 * 64 * 576 * 64 + 640
    if workload == "vit":
        d, depth, tokens, hidden = 64, 6, 17, 256
        block = tokens * (3 * d * d + d * d + 2 * d * hidden) + 2 * tokens * tokens * d
        return conv_macs(1, d, 7, tokens - 1) + depth * block + d * CLASSES
    if workload == "mixer":
        d, depth, patches, token_hidden, channel_hidden = 64, 4, 16, 32, 256
        block = d * 2 * patches * token_hidden + patches * 2 * d * channel_hidden
        return conv_macs(1, d, 7, patches) + depth * block + d * CLASSES
    if workload == "wrn16-4":
        widths, positions = [16, 64, 128, 256], [1024, 256, 64]
        macs = conv_macs(3, 16, 3, 1024) + widths[3] * CLASSES
        for g in range(3):
            cin, cout, p = widths[g], widths[g + 1], positions[g]
            macs += conv_macs(cin, cout, 3, p) + conv_macs(cout, cout, 3, p) + conv_macs(cin, cout, 1, p)  # entering block
            macs += 2 * conv_macs(cout, cout, 3, p)  # second block
        return macs
    if workload == "unet":
        c, p = [16, 32, 64], [784, 196, 49]

        def double(cin, cout, positions):
            return conv_macs(cin, cout, 3, positions) + conv_macs(cout, cout, 3, positions)

        macs = double(1, c[0], p[0]) + double(c[0], c[1], p[1]) + double(c[1], c[2], p[2])
        macs += conv_macs(c[2], c[1], 2, p[2]) + double(2 * c[1], c[1], p[1])  # up1: transposed conv reads 7x7
        macs += conv_macs(c[1], c[0], 2, p[1]) + double(2 * c[0], c[0], p[0])  # up2
        return macs + conv_macs(c[0], UNET_CLASSES, 1, p[0])
    raise ValueError(workload)


def flops_per_step(workload: str, batch: int) -> float:
    """Forward + backward FLOPs of one step, as Benchmark.swift counts them: 6 per
    multiply-add and sample (2 forward, 4 backward: the gradients of both operands)."""
    return 6.0 * multiply_adds(workload) * batch


def batch_for(args, workload: str) -> int:
    return args.batch_size if args.batch_size is not None else default_batch(workload)


def input_shape(workload: str, batch: int):
    if workload == "mlp":
        return (batch, 784)
    if workload in ("resnet20", "wrn16-4"):
        return (batch, 3, 32, 32)
    return (batch, 1, 28, 28)


def median(values):
    """The upper median, as Plateau's BenchmarkResult.median (sorted[count / 2])."""
    s = sorted(values)
    return s[len(s) // 2]


def peak_rss_bytes(status_text=None):
    """The peak resident set (VmHWM of /proc/self/status, or the given text) in bytes; where
    /proc is missing, getrusage's ru_maxrss (kB on Linux)."""
    if status_text is None:
        try:
            with open("/proc/self/status") as f:
                status_text = f.read()
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            fields = line[len("VmHWM:"):].split()
            if len(fields) == 2 and fields[1] == "kB" and fields[0].isdigit():
                return int(fields[0]) * 1024
    return None


def methods_for(workload, args):
    """The methods timed on `workload`: sgd, plus --methods on the method workloads; SAF
    needs per-sample logits, which the U-Net's per-pixel outputs are not."""
    if workload not in args.method_workloads:
        return ["sgd"]
    return [m for m in args.methods if not (workload == "unet" and m == "saf")]


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {','.join(WORKLOADS)} (default all)")
    parser.add_argument("--frameworks", default="pytorch,jax", help="comma-separated peers, from pytorch,jax (default both)")
    parser.add_argument("--methods", default=",".join(METHODS), help="PyTorch methods, from sgd,sam,saf (default all; sgd is always run)")
    parser.add_argument("--method-workloads", default="mlp,lenet", help="workloads on which sam and saf run (default mlp,lenet; saf never on unet)")
    parser.add_argument("--plateau", metavar="PATH", help="the plateau binary; interleave `plateau bench --json` blocks with the peers")
    parser.add_argument("--plateau-warmup", type=int, default=3, help="warm-up steps of each Plateau block's fresh process (default 3)")
    parser.add_argument("--batch-size", type=int, help="samples per step (default 128; 32 for wrn16-4)")
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
    parser.add_argument("--omp-wait-policy", metavar="LIST",
                        help="comma-separated OMP_WAIT_POLICY values for PyTorch's OpenMP threads, from unset (libgomp's "
                             "default: spin a while, then sleep), passive, active; each runs in its own worker processes "
                             "(default: $OMP_WAIT_POLICY if set, else unset,passive)")
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
    if args.omp_wait_policy is None:
        inherited = os.environ.get("OMP_WAIT_POLICY")
        args.omp_wait_policy = inherited.lower() if inherited else "unset,passive"
    args.policies = list(dict.fromkeys(split(args.omp_wait_policy.lower(), POLICIES, "--omp-wait-policy value")))
    if not args.policies:
        parser.error("--omp-wait-policy: expected at least one of unset, passive, active")
    if args.batch_size is not None and args.batch_size <= 0:
        parser.error("--batch-size must be positive")
    for name in ("steps", "block_size", "threads"):
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
        n = batch_for(args, workload)
        sample = input_shape(workload, n)[1:]
        classes = UNET_CLASSES if workload == "unet" else CLASSES
        model = plateau_torch.make(workload, sample if len(sample) == 3 else (1, 28, 28), classes)
        model.train()
        # The U-Net learns a label per pixel: labels [N, H, W], and F.cross_entropy averages over all pixels.
        label_shape = (n, *sample[1:]) if workload == "unet" else (n,)
        batches = [
            (torch.randn(n, *sample), torch.randint(0, classes, label_shape), torch.arange(b * n, (b + 1) * n))
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
    """SGD on a workload's twin as one jitted step (forward, cross-entropy, grad, momentum update)."""

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

        def affine_params(c):
            # A normalization's learned scale and shift (LayerNorm's and BatchNorm's alike).
            return {"g": jnp.ones((c,), jnp.float32), "b": jnp.zeros((c,), jnp.float32)}

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

        elif workload in ("vit", "mixer"):
            # The twins of scripts/plateau_torch.py's VisionTransformer and MLPMixer on 1x28x28
            # with 7x7 patches (PyTorch's initializations are not reproduced: the timing does
            # not depend on them).
            dim, patch, tokens = 64, 7, 16

            def layer_norm(p, x):
                mean = x.mean(axis=-1, keepdims=True)
                var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
                return (x - mean) / jnp.sqrt(var + 1e-6) * p["g"] + p["b"]

            def gelu(x):
                return jax.nn.gelu(x, approximate=False)

            def patches(p, x):
                y = lax.conv_general_dilated(x, p["w"], (patch, patch), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
                y = y + p["b"][None, :, None, None]
                return y.reshape(x.shape[0], dim, -1).transpose(0, 2, 1)  # [N, 16, d]

            block_keys = jax.random.split(keys[1], 8)
            if workload == "vit":
                heads, mlp, depth = 4, 4 * dim, 6
                params = {
                    "proj": conv(keys[0], 1, dim, patch),
                    "cls": jnp.zeros((1, 1, dim), jnp.float32),
                    "pos": 0.02 * jax.random.normal(keys[2], (1, tokens + 1, dim), jnp.float32),
                    "blocks": [{
                        "ln1": affine_params(dim), "ln2": affine_params(dim),
                        "qkv": linear(jax.random.fold_in(block_keys[i], 0), dim, 3 * dim),
                        "out": linear(jax.random.fold_in(block_keys[i], 1), dim, dim),
                        "fc1": linear(jax.random.fold_in(block_keys[i], 2), dim, mlp),
                        "fc2": linear(jax.random.fold_in(block_keys[i], 3), mlp, dim),
                    } for i in range(depth)],
                    "ln": affine_params(dim), "head": linear(keys[3], dim, CLASSES),
                }

                def forward(p, x):
                    n = x.shape[0]
                    x = jnp.concatenate([jnp.broadcast_to(p["cls"], (n, 1, dim)), patches(p["proj"], x)], axis=1) + p["pos"]
                    t, dh = x.shape[1], dim // heads
                    for b in p["blocks"]:
                        qkv = dense(b["qkv"], layer_norm(b["ln1"], x)).reshape(n, t, 3, heads, dh).transpose(2, 0, 3, 1, 4)
                        weights = jax.nn.softmax(qkv[0] @ qkv[1].swapaxes(-1, -2) / math.sqrt(dh), axis=-1)
                        x = x + dense(b["out"], (weights @ qkv[2]).transpose(0, 2, 1, 3).reshape(n, t, dim))
                        x = x + dense(b["fc2"], gelu(dense(b["fc1"], layer_norm(b["ln2"], x))))
                    return dense(p["head"], layer_norm(p["ln"], x)[:, 0])

            else:
                depth = 4
                params = {
                    "proj": conv(keys[0], 1, dim, patch),
                    "blocks": [{
                        "n1": affine_params(dim), "n2": affine_params(dim),
                        "t1": linear(jax.random.fold_in(block_keys[i], 0), tokens, dim // 2),
                        "t2": linear(jax.random.fold_in(block_keys[i], 1), dim // 2, tokens),
                        "c1": linear(jax.random.fold_in(block_keys[i], 2), dim, 4 * dim),
                        "c2": linear(jax.random.fold_in(block_keys[i], 3), 4 * dim, dim),
                    } for i in range(depth)],
                    "norm": affine_params(dim), "head": linear(keys[3], dim, CLASSES),
                }

                def forward(p, x):
                    x = patches(p["proj"], x)
                    for b in p["blocks"]:
                        mixed = dense(b["t2"], gelu(dense(b["t1"], layer_norm(b["n1"], x).transpose(0, 2, 1))))
                        x = x + mixed.transpose(0, 2, 1)
                        x = x + dense(b["c2"], gelu(dense(b["c1"], layer_norm(b["n2"], x))))
                    return dense(p["head"], layer_norm(p["norm"], x).mean(axis=1))

        elif workload in ("resnet20", "wrn16-4", "unet"):
            # The twins of scripts/plateau_torch.py's ResNet (option-A shortcuts), WideResNet
            # (pre-activation blocks, 1x1 projections) and UNet. BatchNorm normalizes with the
            # batch's statistics, as in training; the running averages PyTorch also updates
            # (C-long vectors) are left out.
            def conv_nb(key, cin, cout, k):
                return {"w": uniform(key, (cout, cin, k, k), cin * k * k)}

            def conv_s(p, x, stride, padding):
                return lax.conv_general_dilated(x, p["w"], (stride, stride), [(padding, padding)] * 2,
                                                dimension_numbers=("NCHW", "OIHW", "NCHW"))

            def double_params(key, cin, cout):
                # conv 3x3 -> BN -> conv 3x3 -> BN: ResNet's basic block and the U-Net's double conv.
                return {"c1": conv_nb(jax.random.fold_in(key, 0), cin, cout, 3), "b1": affine_params(cout),
                        "c2": conv_nb(jax.random.fold_in(key, 1), cout, cout, 3), "b2": affine_params(cout)}

            def bn(p, x):
                mean = x.mean(axis=(0, 2, 3), keepdims=True)
                var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
                return (x - mean) * lax.rsqrt(var + 1e-5) * p["g"][None, :, None, None] + p["b"][None, :, None, None]

            relu = jax.nn.relu
            if workload == "resnet20":
                config = [(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                          for cin, cout, stride in ((16, 16, 1), (16, 32, 2), (32, 64, 2)) for i in range(3)]
                block_keys = jax.random.split(keys[1], len(config))
                params = {
                    "conv1": conv_nb(keys[0], 3, 16, 3), "bn1": affine_params(16),
                    "blocks": [double_params(block_keys[i], cin, cout) for i, (cin, cout, _) in enumerate(config)],
                    "linear": linear(keys[2], 64, CLASSES),
                }

                def forward(p, x):
                    x = relu(bn(p["bn1"], conv_s(p["conv1"], x, 1, 1)))
                    for b, (cin, cout, stride) in zip(p["blocks"], config):
                        out = bn(b["b2"], conv_s(b["c2"], relu(bn(b["b1"], conv_s(b["c1"], x, stride, 1))), 1, 1))
                        shortcut = x
                        if stride != 1 or cin != cout:
                            extra = cout - cin
                            shortcut = jnp.pad(x[:, :, ::stride, ::stride], ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0)))
                        x = relu(out + shortcut)
                    return dense(p["linear"], x.mean(axis=(2, 3)))

            elif workload == "wrn16-4":
                widths = (16, 64, 128, 256)
                config = [(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                          for cin, cout, stride in ((widths[0], widths[1], 1), (widths[1], widths[2], 2), (widths[2], widths[3], 2))
                          for i in range(2)]
                block_keys = jax.random.split(keys[1], len(config))

                def wide_block(key, cin, cout):
                    block = {"bn1": affine_params(cin), "c1": conv_nb(jax.random.fold_in(key, 0), cin, cout, 3),
                             "bn2": affine_params(cout), "c2": conv_nb(jax.random.fold_in(key, 1), cout, cout, 3)}
                    if cin != cout:
                        block["sc"] = conv_nb(jax.random.fold_in(key, 2), cin, cout, 1)
                    return block

                params = {
                    "conv1": conv_nb(keys[0], 3, widths[0], 3),
                    "blocks": [wide_block(block_keys[i], cin, cout) for i, (cin, cout, _) in enumerate(config)],
                    "bn1": affine_params(widths[3]), "fc": linear(keys[2], widths[3], CLASSES),
                }

                def forward(p, x):
                    x = conv_s(p["conv1"], x, 1, 1)
                    for b, (cin, cout, stride) in zip(p["blocks"], config):
                        activated = relu(bn(b["bn1"], x))
                        out = conv_s(b["c2"], relu(bn(b["bn2"], conv_s(b["c1"], activated, stride, 1))), 1, 1)
                        x = out + (conv_s(b["sc"], activated, stride, 0) if cin != cout else x)
                    return dense(p["fc"], relu(bn(p["bn1"], x)).mean(axis=(2, 3)))

            else:
                channels = (16, 32, 64)

                def double(p, x):
                    return relu(bn(p["b2"], conv_s(p["c2"], relu(bn(p["b1"], conv_s(p["c1"], x, 1, 1))), 1, 1)))

                def transposed(key, cin, cout):
                    k1, k2 = jax.random.split(key)
                    return {"w": uniform(k1, (cin, cout, 2, 2), cout * 4), "b": uniform(k2, (cout,), cout * 4)}

                params = {
                    "inc": double_params(keys[0], 1, channels[0]),
                    "down": [double_params(keys[1 + i], channels[i], channels[i + 1]) for i in range(2)],
                    "up": [transposed(keys[3 + i], channels[2 - i], channels[1 - i]) for i in range(2)],
                    "upconv": [double_params(jax.random.fold_in(keys[5], i), 2 * channels[1 - i], channels[1 - i]) for i in range(2)],
                    "outc": conv(keys[6], channels[0], UNET_CLASSES, 1),
                }

                def forward(p, x):
                    skips = [double(p["inc"], x)]
                    for d in p["down"]:
                        skips.append(double(d, maxpool(skips[-1])))
                    x = skips.pop()
                    for up, upconv in zip(p["up"], p["upconv"]):
                        upsampled = lax.conv_transpose(x, up["w"], (2, 2), "VALID", dimension_numbers=("NCHW", "IOHW", "NCHW"))
                        x = double(upconv, jnp.concatenate([skips.pop(), upsampled + up["b"][None, :, None, None]], axis=1))
                    return conv2d(p["outc"], x, 0)

        else:
            raise ValueError(f"JAX has no {workload} workload here")

        lr, momentum = args.lr, args.momentum

        def loss_fn(params, x, y):
            # Per sample ([N, C] logits, [N] labels) or per pixel ([N, C, H, W], [N, H, W]).
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
        n = batch_for(args, workload)
        data_keys = jax.random.split(keys[7], 2 * BATCHES)
        self.batches = [
            (jax.random.normal(data_keys[2 * b], input_shape(workload, n), jnp.float32),
             jax.random.randint(data_keys[2 * b + 1], (n, *input_shape(workload, n)[2:]) if workload == "unet" else (n,),
                                0, UNET_CLASSES if workload == "unet" else CLASSES))
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
        "--batch-size", str(batch_for(args, workload)), "--threads", str(args.threads), "--seed", str(args.seed),
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
# Workers: one process per framework, workload and wait policy


def worker_main(conn, framework, workload, args):
    """Builds the runners of one framework on one workload, warms them up, then runs one block
    of every runner per "block" message; "finish" answers with the process's peak RSS."""
    try:
        if framework == "pytorch":
            import torch

            torch.set_num_threads(args.threads)
            runners = [TorchRunner(workload, m, args) for m in methods_for(workload, args)]
        else:
            runners = [JaxRunner(workload, args)]
        for r in runners:
            for _ in range(args.warmup):
                r.step()
        conn.send(("ready", [(r.optimizer, r.passes, r.version) for r in runners]))
        while True:
            command = conn.recv()
            if command == "block":
                conn.send(("block", [[r.step() for _ in range(args.block_size)] for r in runners]))
            else:
                conn.send(("finished", peak_rss_bytes()))
                return
    except BaseException:  # noqa: BLE001 - reported to the parent, which stops
        conn.send(("error", traceback.format_exc()))


class Worker:
    """The parent's handle on a worker process; `policy` is its OMP_WAIT_POLICY (None: JAX)."""

    def __init__(self, framework, workload, policy, args):
        self.framework, self.workload, self.policy = framework, workload, policy
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        # libgomp reads the variable when torch loads it in the child: set it around the start.
        saved = os.environ.get("OMP_WAIT_POLICY")
        if policy in (None, "unset"):
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = policy.upper()
        try:
            self.process = context.Process(target=worker_main, args=(child, framework, workload, args), daemon=True)
            self.process.start()
        finally:
            if saved is None:
                os.environ.pop("OMP_WAIT_POLICY", None)
            else:
                os.environ["OMP_WAIT_POLICY"] = saved
        child.close()
        self.runners = self._receive("ready")  # [(optimizer, passes, version)]
        self.times = [[] for _ in self.runners]
        self.blocks = [[] for _ in self.runners]

    @property
    def label(self):
        return self.framework if self.policy is None else f"{self.framework}[{self.policy}]"

    def _receive(self, expected):
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            raise SystemExit(f"{self.label} worker on {self.workload} exited (status {self.process.exitcode})")
        if kind == "error":
            raise SystemExit(f"{self.label} worker on {self.workload} failed:\n{payload}")
        assert kind == expected, (kind, expected)
        return payload

    def block(self):
        self.conn.send("block")
        for i, block in enumerate(self._receive("block")):
            self.times[i] += block
            self.blocks[i].append(median(block))

    def finish(self):
        self.conn.send("finish")
        peak = self._receive("finished")
        self.process.join()
        return peak


# ---------------------------------------------------------------------------------------------


def run_workload(workload, args, emit):
    methods = methods_for(workload, args)
    if workload == "unet" and "saf" in args.methods and workload in args.method_workloads:
        print("note: saf needs per-sample logits [N, C]; the U-Net's outputs are per-pixel [N, C, H, W], so saf is "
              "skipped on unet", file=sys.stderr)
    batch = batch_for(args, workload)
    workers = []
    if "pytorch" in args.frameworks:
        workers += [Worker("pytorch", workload, policy, args) for policy in args.policies]
    if "jax" in args.frameworks and workload in JAX_WORKLOADS and args.have_jax:
        workers.append(Worker("jax", workload, None, args))
    rounds = (args.steps + args.block_size - 1) // args.block_size
    print(f"{workload} (batch {batch}): {rounds} rounds of {args.block_size}-step blocks: "
          + ", ".join((["plateau(" + ",".join(methods) + ")"] if args.plateau else [])
                      + [f"{w.label}/{o}" for w in workers for o, _, _ in w.runners]),
          file=sys.stderr, flush=True)
    plateau_blocks = {m: [] for m in methods}
    plateau_ratios = {m: [] for m in methods}
    plateau_ceilings, plateau_peaks, plateau_rows = [], [], {}
    for round_index in range(rounds):
        if args.plateau:
            rows = plateau_block(args, workload, methods)
            for m in methods:
                plateau_blocks[m].append(rows[m]["ms_per_step_median"])
                plateau_ratios[m].append(rows[m].get("ratio_vs_sgd", 1.0))
                if rows[m].get("fraction_of_peak"):
                    plateau_ceilings.append(rows[m]["gflops"] / rows[m]["fraction_of_peak"])
                if "peak_rss_bytes" in rows[m]:
                    plateau_peaks.append(rows[m]["peak_rss_bytes"])
            plateau_rows = rows
        for w in workers:
            w.block()
        print(f"  round {round_index + 1}/{rounds}", file=sys.stderr, end="\r", flush=True)
    print(" " * 30, file=sys.stderr, end="\r")
    peaks = {id(w): w.finish() for w in workers}

    flops = flops_per_step(workload, batch)
    # The best sgemm rate any of Plateau's processes reached: a ceiling measured while other work
    # held the cores is too low, and every row is a fraction of the same number.
    ceiling = max(plateau_ceilings) if plateau_ceilings else None
    results = []
    if args.plateau:
        for m in methods:
            ms = median(plateau_blocks[m])
            row = {
                "framework": "plateau", "workload": workload, "optimizer": m, "batch": batch,
                "ms_per_step_median": ms, "steps_per_second": 1000 / ms, "gflops": flops / ms / 1e6,
                "passes_per_step": plateau_rows[m].get("passes_per_step"), "steps_measured": rounds * args.block_size,
                "ratio_vs_sgd": median(plateau_ratios[m]), "threads": args.threads, "version": "plateau",
            }
            if ceiling:
                row["fraction_of_peak"] = flops / ms / 1e6 / ceiling
            if plateau_peaks:
                row["peak_rss_bytes"] = max(plateau_peaks)
            results.append(row)
    for w in workers:
        sgd_blocks = w.blocks[0]  # sgd is always a worker's first runner
        for i, (optimizer, passes, version) in enumerate(w.runners):
            ms = median(w.times[i])
            row = {
                "framework": w.framework, "workload": workload, "optimizer": optimizer, "batch": batch,
                "ms_per_step_median": ms, "steps_per_second": 1000 / ms, "gflops": flops / ms / 1e6,
                "passes_per_step": passes, "steps_measured": len(w.times[i]), "threads": args.threads, "version": version,
                "ratio_vs_sgd": median([a / b for a, b in zip(w.blocks[i], sgd_blocks)]),
            }
            if w.policy is not None:
                row["omp_wait_policy"] = w.policy
            if peaks[id(w)] is not None:
                row["peak_rss_bytes"] = peaks[id(w)]
            if ceiling:
                row["fraction_of_peak"] = flops / ms / 1e6 / ceiling
            if args.plateau and plateau_blocks.get(optimizer):
                row["ratio_vs_plateau"] = median([a / b for a, b in zip(w.blocks[i], plateau_blocks[optimizer])])
            results.append(row)
    for row in results:
        emit(row)
    return results


def row_label(row):
    policy = row.get("omp_wait_policy")
    return row["framework"] if policy is None else f"{row['framework']}[{policy}]"


def table(rows, args):
    out = []
    labels = list(dict.fromkeys(row_label(r) for r in rows))
    peers = [label for label in labels if label != "plateau"]
    out.append(f"peers: {args.threads} threads, median of {rows[0]['steps_measured'] if rows else 0} steps; "
               "numbers from a shared machine are noisy")
    header = f"{'workload':<9} {'batch':>5} {'method':<6}" + "".join(f" {label + ' ms':>18}" for label in labels)
    if args.plateau:
        header += "".join(f" {label + '/plateau':>24}" for label in peers)
    out.append(header)
    by_key = {(row_label(r), r["workload"], r["optimizer"]): r for r in rows}
    for workload in args.workloads:
        for method in args.methods:
            present = [by_key[k] for k in ((label, workload, method) for label in labels) if k in by_key]
            if not present:
                continue
            line = f"{workload:<9} {present[0]['batch']:>5} {method:<6}"
            for label in labels:
                r = by_key.get((label, workload, method))
                line += f" {r['ms_per_step_median']:>18.2f}" if r else f" {'-':>18}"
            if args.plateau:
                for label in peers:
                    r = by_key.get((label, workload, method))
                    line += f" {r['ratio_vs_plateau']:>23.2f}x" if r and "ratio_vs_plateau" in r else f" {'-':>24}"
            out.append(line)
    if args.plateau:
        out.append("(peer/plateau: median over rounds of the peer's block median over Plateau's; >= 1 means Plateau is faster)")
    out.append("")
    out.append("fraction of the sgemm ceiling (Plateau's, same rounds) and peak resident memory (MB), SGD rows:")
    out.append(f"{'workload':<9}" + "".join(f" {label + ' peak':>20}" for label in labels)
               + "".join(f" {label + ' of peak':>20}" for label in labels))
    for workload in args.workloads:
        line = f"{workload:<9}"
        for label in labels:
            r = by_key.get((label, workload, "sgd"))
            line += f" {r['peak_rss_bytes'] / 1e6:>20.0f}" if r and "peak_rss_bytes" in r else f" {'-':>20}"
        for label in labels:
            r = by_key.get((label, workload, "sgd"))
            line += f" {100 * r['fraction_of_peak']:>19.0f}%" if r and "fraction_of_peak" in r else f" {'-':>20}"
        out.append(line)
    method_rows = [r for r in rows if r["optimizer"] != "sgd"]
    if method_rows:
        out.append("")
        out.append("time relative to the same framework's SGD (median over rounds of block ratios):")
        fw = [label for label in labels if not label.startswith("jax")]
        out.append(f"{'workload':<9} {'method':<6}" + "".join(f" {label + ' vs sgd':>22}" for label in fw))
        for workload in args.workloads:
            for method in args.methods[1:]:
                if not any((label, workload, method) in by_key for label in fw):
                    continue
                line = f"{workload:<9} {method:<6}"
                for label in fw:
                    r = by_key.get((label, workload, method))
                    line += f" {r['ratio_vs_sgd']:>21.2f}x" if r else f" {'-':>22}"
                out.append(line)
    return "\n".join(out)


def main():
    args = parse_args()
    peer_env.ensure(["torch", "numpy"], ["torch", "safetensors", "numpy", "jax", "jaxlib"], args.venv, args.install, __file__)
    import importlib.util

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
