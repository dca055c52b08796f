#!/usr/bin/env bash
# DFedSAM (issue 18, seed-papers §9): MNIST MLP 784-512-512-10, 20 clients, Dirichlet α 0.3,
# ring and random 4-regular graphs; DFedAvg vs DFedSAM (ρ 0.05) vs DFedSAM-MGS (Q 2, 4).
# Reports per run the mean local (per-client) test accuracy, the averaged model's accuracy,
# the consensus distance after gossip and λ_max of the averaged model's training loss.
#
#     scripts/dfedsam_experiment.sh [OUT]       (needs data/mnist: plateau data fetch mnist)
#
# The defaults are the reduced run of docs/results.md (sized for 2 shared cores):
# the first TRAIN_LIMIT=10000 training images, ROUNDS=20 rounds of LOCAL_STEPS=10 steps of
# batch 32, evaluation on the first TEST_LIMIT=2000 test images every EVAL_EVERY=5 rounds.
# The §9 setting (100 rounds of one local epoch ≈ 16 steps, the full test set) is
#     ROUNDS=100 LOCAL_STEPS=16 TEST_LIMIT=10000 scripts/dfedsam_experiment.sh runs/dfedsam-full
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/dfedsam-experiment}"
data="${MNIST_DIR:-data/mnist}"
rounds="${ROUNDS:-20}"; steps="${LOCAL_STEPS:-10}"; train="${TRAIN_LIMIT:-10000}"
test="${TEST_LIMIT:-2000}"; every="${EVAL_EVERY:-5}"; seed="${SEED:-0}"
[ -n "${NO_BUILD:-}" ] || swift build -c release --product plateau >/dev/null   # NO_BUILD=1: use the existing build
P=.build/release/plateau
mkdir -p "$out"
common=(--dataset mnist --data-dir "$data" --model mlp --train-limit "$train" --test-limit "$test" --clients 20 --alpha 0.3
        --rounds "$rounds" --local-steps "$steps" --batch-size 32 --lr 0.05 --eval-every "$every"
        --hessian-iterations 20 --hessian-samples 512 --seed "$seed" --threads 1)
# The two topologies run side by side (one thread each: 2 cores).
run_topology() {
  local topology=$1
  $P federate "${common[@]}" --topology $topology --method dfedavg --output "$out/$topology-dfedavg" >"$out/$topology-dfedavg.log" 2>&1
  $P federate "${common[@]}" --topology $topology --method dfedsam --rho 0.05 --output "$out/$topology-dfedsam" >"$out/$topology-dfedsam.log" 2>&1
  for q in 2 4; do
    $P federate "${common[@]}" --topology $topology --method dfedsam-mgs --rho 0.05 --gossip-steps $q \
      --output "$out/$topology-mgs-q$q" >"$out/$topology-mgs-q$q.log" 2>&1
  done
}
run_topology ring & ring=$!
run_topology regular & regular=$!
wait $ring; wait $regular
python3 - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| topology (gap) | method | Q | mean local acc % | averaged acc % | consensus distance | λ_max (x̄) | s |")
print("|---|---|---|---|---|---|---|---|")
for topology in ["ring", "regular"]:
    for name in ["dfedavg", "dfedsam", "mgs-q2", "mgs-q4"]:
        run = out / f"{topology}-{name}"
        s = json.loads((run / "summary.json").read_text())
        print(f"| {s['topology']} ({s['spectral_gap']:.3f}) | {s['method']} | {s['gossip_steps']} | {100 * s['final_local_accuracy_mean']:.2f} "
              f"| {100 * s['final_averaged_accuracy']:.2f} | {s['final_consensus_distance']:.3e} | {s['lambda_max']:.2f} | {s['seconds']:.0f} |")
print()
print("Consensus distance after gossip (first, middle, last round) and mean local accuracy at each evaluation:")
for topology in ["ring", "regular"]:
    for name in ["dfedavg", "dfedsam", "mgs-q2", "mgs-q4"]:
        rows = [json.loads(l) for l in (out / f"{topology}-{name}" / "metrics.jsonl").read_text().splitlines()]
        picks = [rows[0], rows[len(rows) // 2], rows[-1]]
        print(f"  {topology:8s} {name:8s} " + "  ".join(f"r{r['round']}: {r['consensus_distance']:.3e}" for r in picks)
              + "   local acc by round: " + " ".join(f"{100 * r['local_accuracy_mean']:.1f}" for r in rows if r.get('local_accuracy_mean') is not None))
PY
