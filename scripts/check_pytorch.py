#!/usr/bin/env python3
"""Check that a Plateau checkpoint is a PyTorch state dict: load it into the PyTorch twin of
its model with load_state_dict(strict=True) and evaluate the MNIST test set.

Usage:
  scripts/check_pytorch.py CHECKPOINT [--model mlp|lenet|resnet20] [--data-dir data/mnist]
                           [--expect-accuracy X] [--install] [--venv DIR]

The checkpoint is the safetensors file `plateau train` writes (checkpoint-last.safetensors or
checkpoint-best.safetensors). Its model tensors carry PyTorch state-dict names, unprefixed; the
groups `optimizer.*`, `saf.*` and `mesa.*` are dropped here. `__metadata__` holds `config` (the
run configuration, whose `model` is the default for --model) and `normalization`
({"mean": [...], "std": [...]} per channel), applied as (x - mean) * (1/std) to pixels scaled
to [0, 1], exactly as Plateau does. BatchNorm's `num_batches_tracked` is stored as a float32 scalar;
it is converted to PyTorch's int64 here (load_state_dict would also cast it on copy).

The test set is read from DATA_DIR/t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz
with gzip and NumPy (nothing is downloaded). Prints the accuracy and the mean cross-entropy;
with --expect-accuracy X (a fraction, e.g. the `accuracy` of `plateau eval --json`) exits with
status 1 when |accuracy - X| > 1e-4 (one test image of 10,000).

Needs torch, safetensors and numpy: if they do not import, the script re-runs itself with the
venv's Python (--venv, $PLATEAU_PEERS_VENV, default ~/.cache/plateau/venv-peers), and --install
creates that venv first. Run by hand only; Plateau's build and tests never call it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_env  # noqa: E402

PREFIXES = ("optimizer.", "saf.", "mesa.")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="a Plateau checkpoint (.safetensors)")
    parser.add_argument("--model", help="mlp, lenet or resnet20 (resnet32/56 work too); default: the checkpoint's config")
    parser.add_argument("--data-dir", default="data/mnist", help="folder with the MNIST IDX .gz files (default data/mnist)")
    parser.add_argument("--expect-accuracy", type=float, help="exit 1 if the accuracy differs from this by more than 1e-4")
    parser.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (default 500, as plateau eval)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--install", action="store_true", help="create the venv and pip install torch safetensors numpy if missing")
    parser.add_argument("--venv", type=Path, default=peer_env.DEFAULT_VENV, help=f"the venv to use or create (default {peer_env.DEFAULT_VENV})")
    return parser.parse_args()


def read_idx(path: Path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = magic & 0xFF
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if array.size != int(np.prod(shape)):
        raise SystemExit(f"{path}: header says {shape}, found {array.size} bytes of data")
    return array.reshape(shape)


def load_mnist_test(directory: Path):
    import numpy as np

    images = read_idx(directory / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(directory / "t10k-labels-idx1-ubyte.gz")
    # [N, 28, 28] bytes -> [N, 1, 28, 28] floats in [0, 1], as Plateau's MNIST.parseImages (x / 255).
    x = (images.astype(np.float32) / np.float32(255)).reshape(images.shape[0], 1, images.shape[1], images.shape[2])
    return x, labels.astype(np.int64)


def main():
    args = parse_args()
    peer_env.ensure(["torch", "safetensors", "numpy"], ["torch", "safetensors", "numpy"], args.venv, args.install, __file__)

    import numpy as np
    import torch
    import torch.nn.functional as F
    from safetensors import safe_open
    from safetensors.torch import load_file

    import plateau_torch

    torch.set_num_threads(args.threads)
    path = Path(args.checkpoint)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") not in ("plateau-checkpoint-v1", "plateau-checkpoint-v2-mid-epoch"):
        print(f"warning: {path} has __metadata__.format {metadata.get('format')!r}, expected plateau-checkpoint-v1 or -v2-mid-epoch", file=sys.stderr)
    config = json.loads(metadata["config"]) if "config" in metadata else {}
    model_name = args.model or config.get("model")
    if model_name is None:
        raise SystemExit("the checkpoint's config names no model; pass --model")
    if config.get("model") and args.model and config["model"] != args.model:
        print(f"warning: --model {args.model} but the checkpoint was trained as {config['model']}", file=sys.stderr)

    tensors = load_file(str(path))
    state = {k: v for k, v in tensors.items() if not k.startswith(PREFIXES)}
    dropped = {p: sum(k.startswith(p) for k in tensors) for p in PREFIXES}
    converted = []
    for k in list(state):
        if k.endswith("num_batches_tracked"):
            state[k] = state[k].reshape(()).round().to(torch.int64)
            converted.append(k)

    x, y = load_mnist_test(Path(args.data_dir))
    if "normalization" in metadata:
        norm = json.loads(metadata["normalization"])
        mean = np.asarray(norm["mean"], dtype=np.float32)
        inverse = np.float32(1) / np.asarray(norm["std"], dtype=np.float32)
        if mean.size != x.shape[1]:
            raise SystemExit(f"normalization has {mean.size} channels, the images have {x.shape[1]}")
        x = (x - mean.reshape(1, -1, 1, 1)) * inverse.reshape(1, -1, 1, 1)
    else:
        print("warning: no __metadata__.normalization; evaluating unnormalized images in [0, 1]", file=sys.stderr)

    # The class count is the output size of the model's last layer.
    last = {"mlp": max((k for k in state if k.startswith("layers.") and k.endswith(".weight")), key=lambda k: int(k.split(".")[1]), default=""),
            "lenet": "fc3.weight"}.get(model_name, "linear.weight")
    classes = state[last].shape[0] if last in state else 10
    model = plateau_torch.make(model_name, sample_shape=tuple(x.shape[1:]), classes=classes)
    result = model.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    model.eval()

    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y), args.batch_size):
            xb = torch.from_numpy(x[start: start + args.batch_size])
            yb = torch.from_numpy(y[start: start + args.batch_size])
            logits = model(xb)
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    accuracy = correct / len(y)
    loss = loss_sum / len(y)

    print(f"checkpoint  {path}  (epoch {metadata.get('epoch', '?')}, step {metadata.get('step', '?')})")
    print(f"model       {model_name}: {len(state)} tensors loaded with load_state_dict(strict=True) {result}")
    print(f"dropped     " + ", ".join(f"{n} {p}*" for p, n in dropped.items()) + (f"; num_batches_tracked float32 -> int64 in {len(converted)} tensors" if converted else ""))
    print(f"test set    {len(y)} MNIST images from {args.data_dir}")
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "model": model_name, "accuracy": accuracy,
                      "loss": loss, "samples": len(y), "checkpoint": str(path)}, sort_keys=True))
    if args.expect_accuracy is not None:
        difference = abs(accuracy - args.expect_accuracy)
        verdict = "OK" if difference <= 1e-4 + 1e-9 else "MISMATCH"
        print(f"{verdict}: PyTorch accuracy {accuracy:.6f}, expected {args.expect_accuracy:.6f} (difference {difference:.6f}, tolerance 0.000100)")
        if verdict != "OK":
            sys.exit(1)


if __name__ == "__main__":
    main()
