"""Finding (or, when asked, creating) the Python environment of Plateau's peer scripts.

`benchmarks/peers.py` and `scripts/check_pytorch.py` need PyTorch, safetensors and NumPy
(peers.py also JAX). Nothing installs them at Plateau build or test time: these scripts run
by hand. When the current interpreter lacks a package, the scripts look for a virtual
environment (``--venv`` or ``$PLATEAU_PEERS_VENV``, default ``~/.cache/plateau/venv-peers``)
and re-run themselves with its Python; ``--install`` creates it and runs pip. Otherwise they
stop and print the exact commands.

This module imports nothing outside the standard library.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_VENV = Path(os.environ.get("PLATEAU_PEERS_VENV", Path.home() / ".cache" / "plateau" / "venv-peers"))

# What the PyPI wheels cost on Linux x86-64 (measured with torch 2.15.0, jax 0.10.2, Python 3.11):
# the torch wheel itself is 539 MB, and because it is built against CUDA (libtorch_cpu.so links
# libcudart and libcupti) its NVIDIA dependencies must be installed too, about 2.2 GB more;
# `pip install --no-deps torch` installs but `import torch` then fails on libcudart.so.
# The whole venv comes to about 6 GB on disk.
SIZE_NOTE = (
    "note: on Linux the PyPI torch wheel (~540 MB) is CUDA-linked and pulls ~2.2 GB of NVIDIA\n"
    "      wheels it needs even on CPU (`pip install --no-deps torch` then fails to import);\n"
    "      the venv ends up at ~6 GB. Where PyTorch's CPU-only wheel index is reachable,\n"
    "      `pip install torch --index-url <that index>` is ~200 MB instead."
)


def missing(modules: list[str]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def install_commands(venv: Path, packages: list[str]) -> list[list[str]]:
    return [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv_python(venv)), "-m", "pip", "install", *packages],
    ]


def ensure(modules: list[str], packages: list[str], venv: Path, install: bool, script: str) -> None:
    """Returns when `modules` import in this interpreter; otherwise re-executes the script with
    the venv's Python (creating the venv first if `install`), or exits with instructions."""
    if not missing(modules):
        return
    python = venv_python(venv)
    here = Path(sys.executable).absolute()
    in_venv = python.exists() and here == python.absolute()
    if not in_venv:
        if not python.exists() and install:
            print(f"peer_env: creating {venv} and installing {' '.join(packages)}", file=sys.stderr)
            print(SIZE_NOTE, file=sys.stderr)
            for command in install_commands(venv, packages):
                print("+ " + " ".join(command), file=sys.stderr)
                subprocess.run(command, check=True)
        if python.exists():
            # Re-run this script with the venv's interpreter (same arguments).
            os.execv(str(python), [str(python), script, *sys.argv[1:]])
    elif install:
        command = [str(python), "-m", "pip", "install", *packages]
        print("+ " + " ".join(command), file=sys.stderr)
        subprocess.run(command, check=True)
        os.execv(str(python), [str(python), script, *sys.argv[1:]])
    lines = [
        f"{Path(script).name}: missing Python packages: {', '.join(missing(modules))}.",
        "Run again with --install to create a venv and install them, or do it by hand:",
        *("  " + " ".join(c) for c in install_commands(venv, packages)),
        f"(the venv is {venv}; choose another with --venv DIR or $PLATEAU_PEERS_VENV)",
        SIZE_NOTE,
    ]
    sys.exit("\n".join(lines))
