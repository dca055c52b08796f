#!/usr/bin/env bash
# Cost of each method relative to SGD, two plateau binaries side by side (issue 9: "`plateau
# bench` ratios unchanged or better, same run, interleaved").
#
#   scripts/bench_compare.sh A B [ROUNDS]      # ROUNDS (default 3) runs of each binary, alternating
#   scripts/bench_compare.sh /work/baseline/plateau .build/release/plateau 5
#
# Each round runs `BINARY bench --workloads $WORKLOADS --optimizers $OPTIMIZERS --steps $STEPS
# --threads $THREADS --json` for A and for B, A first in odd rounds and B first in even ones,
# so a drift of the shared machine hits both alike. Within a run, bench itself interleaves the
# optimizers in blocks and reports each one's median block-time ratio to SGD (ratio_vs_sgd).
# The table shows, per workload and optimizer, the median over rounds of that ratio for A and
# for B, B/A (below 1: B is relatively cheaper), and the median ms/step of each; a B/A above
# 1 + TOL is marked "worse". Only a report: the exit status is 0 whenever the runs succeed.
#
# Environment: WORKLOADS (default mlp,lenet), OPTIMIZERS (default sgd,saf,sam,mesa,looksam,esam;
# sgd is added when missing, it is the baseline), STEPS (default 100), THREADS (default 2,
# bench's default), TOL (default 0.05), KEEP=DIR (keep the raw JSON lines there).
# One round of the defaults took ~50 s per binary on the shared 2-core machine (load ~5). With
# A = B and 1 round, B/A spread 0.90-1.07 there: use 5 or more rounds before calling a row worse.
set -euo pipefail

[ $# -ge 2 ] && [ $# -le 3 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
a=$1; b=$2; rounds=${3:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive integer, got '$rounds'" >&2; exit 2; }
for p in "$a" "$b"; do [ -x "$p" ] || { echo "not an executable: $p" >&2; exit 2; }; done
workloads=${WORKLOADS:-mlp,lenet}
optimizers=${OPTIMIZERS:-sgd,saf,sam,mesa,looksam,esam}
case ",$optimizers," in *,sgd,*) ;; *) optimizers="sgd,$optimizers" ;; esac
steps=${STEPS:-100}
threads=${THREADS:-2}

if [ -n "${KEEP:-}" ]; then
    work=$KEEP; mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/bench_compare.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

bench() {  # bench <binary> <output file>
    local start=$SECONDS
    if ! "$1" bench --workloads "$workloads" --optimizers "$optimizers" --steps "$steps" --threads "$threads" --json > "$2" 2> "$2.err"; then
        echo "bench failed: $1" >&2; cat "$2.err" >&2; exit 1
    fi
    # a row whose numbers JSON cannot hold (NaN) is printed as {}: treat it as a failure
    if grep -qx '{}' "$2"; then echo "bench printed an empty JSON row: $1 (see $2)" >&2; exit 1; fi
    echo "  $(basename "$2" .jsonl): $1 $((SECONDS - start))s" >&2
}

echo "bench: --workloads $workloads --optimizers $optimizers --steps $steps --threads $threads, $rounds round(s)" >&2
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then
        bench "$a" "$work/a-$r.jsonl"; bench "$b" "$work/b-$r.jsonl"
    else
        bench "$b" "$work/b-$r.jsonl"; bench "$a" "$work/a-$r.jsonl"
    fi
done

python3 - "$work" "$rounds" "${TOL:-0.05}" "$a" "$b" <<'EOF'
import json, statistics, sys
work, rounds, tol, a, b = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = {}   # (workload, optimizer) -> {"a": {"ratio": [...], "ms": [...]}, "b": ...}
order = []
for side in "ab":
    for r in range(1, rounds + 1):
        for line in open(f"{work}/{side}-{r}.jsonl"):
            line = line.strip()
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            key = (row["workload"], row["optimizer"])
            if key not in rows:
                rows[key] = {"a": {"ratio": [], "ms": []}, "b": {"ratio": [], "ms": []}}
                order.append(key)
            if "ratio_vs_sgd" in row:
                rows[key][side]["ratio"].append(row["ratio_vs_sgd"])
            rows[key][side]["ms"].append(row["ms_per_step_median"])

def med(xs):
    return statistics.median(xs) if xs else float("nan")

print(f"A = {a}\nB = {b}\nmedian over {rounds} round(s) of bench's ratio_vs_sgd (and of its median ms/step)\n")
print(f"{'workload':<9} {'optimizer':<9} {'A vs SGD':>9} {'B vs SGD':>9} {'B/A':>7}   {'A ms/step':>9} {'B ms/step':>9}")
worse = []
for key in order:
    ra, rb = med(rows[key]["a"]["ratio"]), med(rows[key]["b"]["ratio"])
    ma, mb = med(rows[key]["a"]["ms"]), med(rows[key]["b"]["ms"])
    rel = rb / ra
    mark = "  worse" if rel > 1 + tol else ""
    if mark:
        worse.append(key)
    print(f"{key[0]:<9} {key[1]:<9} {ra:>8.3f}x {rb:>8.3f}x {rel:>7.3f}   {ma:>9.2f} {mb:>9.2f}{mark}")
missing = [k for k in order if not rows[k]["a"]["ms"] or not rows[k]["b"]["ms"]]
if missing:
    print("\nrows only one binary reported: " + ", ".join("/".join(k) for k in missing))
print(f"\n{len(worse)} row(s) with B/A above {1 + tol:.2f}" + (": " + ", ".join("/".join(k) for k in worse) if worse else ""))
EOF
