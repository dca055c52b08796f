#!/usr/bin/env python3
"""The largest difference between the model tensors of two Plateau checkpoints.

Usage: compare_checkpoints.py A.safetensors B.safetensors [TOLERANCE]
Prints max |a - b| over every model tensor (not the optimizer state or the objective's terms),
and the largest |a|; with TOLERANCE, exits 1 when max |a - b| > TOLERANCE · max(1, max |a|).
Reads safetensors with the standard library only (float32 tensors).
"""
import json
import struct
import sys


def model_tensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    data = blob[8 + length:]
    terms = header.get("__metadata__", {}).get("objective_terms", "saf,mesa").split(",")
    state_prefixes = tuple(["optimizer.", "masks."] + [t + "." for t in terms if t])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or name.startswith(state_prefixes) or entry["dtype"] != "F32":
            continue
        start, end = entry["data_offsets"]
        tensors[name] = struct.unpack("<%df" % ((end - start) // 4), data[start:end])
    return tensors


def main():
    a, b = model_tensors(sys.argv[1]), model_tensors(sys.argv[2])
    if sorted(a) != sorted(b):
        print("the checkpoints hold different tensors: %s vs %s" % (sorted(a), sorted(b)))
        sys.exit(1)
    difference = max(abs(x - y) for name in a for x, y in zip(a[name], b[name]))
    largest = max(abs(x) for values in a.values() for x in values)
    print("max |a - b| = %.3g (max |a| = %.3g)" % (difference, largest))
    if len(sys.argv) > 3 and difference > float(sys.argv[3]) * max(1.0, largest):
        print("above the tolerance %s" % sys.argv[3])
        sys.exit(1)


if __name__ == "__main__":
    main()
