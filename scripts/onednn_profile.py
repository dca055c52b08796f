#!/usr/bin/env python3
"""Where a step's oneDNN time goes, from ONEDNN_VERBOSE=1 output.

    ONEDNN_VERBOSE=1 .build/release/plateau bench --workloads resnet20 --steps 4 --warmup 2 \
        --block-size 1 --skip-ceiling > verbose.txt 2>&1
    python3 scripts/onednn_profile.py verbose.txt --steps 6

Prints, per step (``--steps``: warm-up plus measured steps in the log), the thread-time of
each convolution pass with its GFLOPS (2 FLOPs per multiply-add, direct-convolution count),
of the reorders by layout change and shape, and of everything else. Plateau runs each
chunk's primitives on one of its threads, so thread-times add up over threads: divide by
the thread count for a share of wall-clock time. Verbose mode adds its own overhead per call.
"""
import argparse
import collections
import re
import sys

GEOMETRY = re.compile(r"mb(\d+)_ic(\d+)oc(\d+)_ih\d+oh(\d+)kh(\d+)\D.*?_iw\d+ow(\d+)kw(\d+)")


def pass_name(fields):
    """forward, backward-data or backward-weights, from the primitive's propagation kind."""
    kind = fields[5]
    if kind.startswith("forward"):
        return "forward"
    return "backward-weights" if kind == "backward_weights" else "backward-data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", help="a file of ONEDNN_VERBOSE=1 output")
    parser.add_argument("--steps", type=int, required=True, help="steps the log covers (warm-up included)")
    parser.add_argument("--top", type=int, default=8, help="reorder rows to print")
    args = parser.parse_args()
    if args.steps < 1:
        sys.exit("onednn_profile: --steps must be at least 1")

    times, flops, calls = collections.Counter(), collections.Counter(), collections.Counter()
    reorders = collections.Counter()
    try:
        lines = [line.strip() for line in open(args.log) if line.startswith("onednn_verbose,exec,")]
    except OSError as error:
        sys.exit(f"onednn_profile: cannot read {args.log}: {error.strerror}")
    if not lines:
        sys.exit(f"onednn_profile: {args.log} has no 'onednn_verbose,exec' lines (run with ONEDNN_VERBOSE=1)")
    for line in lines:
        fields = line.split(",")
        primitive, milliseconds = fields[3], float(fields[-1])
        if primitive == "convolution":
            name = "convolution " + pass_name(fields)
            match = GEOMETRY.search(fields[-2])
            if match:
                mb, ic, oc, oh, kh, ow, kw = map(int, match.groups())
                flops[name] += 2 * mb * ic * oc * oh * ow * kh * kw
        elif primitive == "reorder":
            name = "reorder"
            layouts = fields[6].replace("_f32::blocked:", " ").replace(":f0", "").split()
            reorders[(" → ".join(layouts[1::2]), fields[-2])] += milliseconds
        else:
            name = primitive
        times[name] += milliseconds
        calls[name] += 1

    total = sum(times.values())
    print(f"{'primitive':<30} {'thread-ms/step':>14} {'share':>6} {'calls/step':>10} {'GFLOPS/thread':>13}")
    for name, milliseconds in times.most_common():
        rate = f"{flops[name] / milliseconds / 1e6:.1f}" if flops[name] else ""
        print(f"{name:<30} {milliseconds / args.steps:>14.2f} {milliseconds / total:>6.1%} {calls[name] / args.steps:>10.0f} {rate:>13}")
    print(f"{'total':<30} {total / args.steps:>14.2f}")
    print("\nlargest reorders (layout change, dims):")
    for (change, dims), milliseconds in reorders.most_common(args.top):
        print(f"  {milliseconds / args.steps:8.2f} thread-ms/step  {change:<24} {dims}")


if __name__ == "__main__":
    main()
