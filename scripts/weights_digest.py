#!/usr/bin/env python3
"""SHA-256 digests of a Plateau checkpoint's tensors, without its JSON metadata.

Prints two digests: the model's tensors, and everything else the run keeps (optimizer
state `optimizer.*`, objective terms such as SAF's bank `saf.*` and MESA's teacher `mesa.*`).
Each is over the tensors in sorted name order, name and raw bytes, so it changes exactly
when some stored float changes. Usage: weights_digest.py CHECKPOINT.safetensors
"""
import hashlib
import json
import struct
import sys


def digests(path):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    data = blob[8 + length:]
    terms = header.get("__metadata__", {}).get("objective_terms", "saf,mesa").split(",")
    state_prefixes = tuple(["optimizer."] + [t + "." for t in terms if t])
    model, state = hashlib.sha256(), hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        start, end = header[name]["data_offsets"]
        target = state if name.startswith(state_prefixes) else model
        target.update(name.encode())
        target.update(data[start:end])
    return model.hexdigest()[:20], state.hexdigest()[:20]


if __name__ == "__main__":
    print(*digests(sys.argv[1]))
