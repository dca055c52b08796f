#!/usr/bin/env bash
# Bit-identity of every method across a change of the code (issue 9's acceptance check).
#
#   scripts/bit_identity.sh record BINARY > digests.txt   train each method, print digests
#   scripts/bit_identity.sh check BINARY digests.txt      re-train and compare with a record
#   scripts/bit_identity.sh compare BINARY_A BINARY_B     record both and compare
#
# Each method trains the MNIST MLP (784-512-512-10) for 2 epochs and LeNet-5 for 1 epoch,
# seed 0, constant lr, batch 128, one thread (results are bit-identical across thread counts),
# and is summarized by two digests of its last checkpoint (scripts/weights_digest.py): the
# model's weights, and the state the run keeps (optimizer buffers, SAF's bank, MESA's teacher).
# SAF and MESA are made active in the MLP's second epoch (lag 1; start 1 for binaries that
# switch the term on at e >= start, start 0 for those that follow the paper's e > start), so
# records of binaries on either side of that fix compare; LeNet's single epoch checks their
# base path only. ESAM and FriendlySAM run in their pre-issue-10 forms (--esam-form plateau,
# --fsam-form paper) on binaries that have those options, so records of binaries on either
# side of the change to the official defaults compare. Float results depend on the BLAS
# kernels of the CPU: compare records made on the same kind of machine.
#
# Convolutions run on the lowering (PLATEAU_CONVOLUTIONS=lowering): the record predates the
# oneDNN path (issue 11), whose LeNet results differ from it in the last bits; binaries without
# the variable ignore it.
#
# Products run on OpenBLAS (PLATEAU_GEMM=openblas) for the same reason: the record predates the
# oneDNN gemm backend, the default since issue 11, which agrees with OpenBLAS to rounding only.
#
# Elementwise functions run on Plateau's own loops (PLATEAU_ELEMENTWISE=swift): large
# tensors' exp, sigmoid and GELU go to oneDNN's kernels by default since issue 11, session 7
# (the MLP's and LeNet's losses are below that size, so their records hold either way).
#
# MNIST must be in DATA (default data/mnist; `plateau data fetch mnist`).
set -euo pipefail
export PLATEAU_CONVOLUTIONS=${PLATEAU_CONVOLUTIONS:-lowering}
export PLATEAU_GEMM=${PLATEAU_GEMM:-openblas}
export PLATEAU_ELEMENTWISE=${PLATEAU_ELEMENTWISE:-swift}
cd "$(dirname "$0")/.."
DATA=${DATA:-data/mnist}
METHODS=${METHODS:-"sgd adam adamw sam asam gsam looksam esam wsam fsam saf mesa"}

record() {
    local binary=$1 work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    for method in $METHODS; do
        local extra=()
        local start=1
        if "$binary" methods 2>/dev/null | grep -q "after this one"; then start=0; fi
        case $method in
            adam|adamw) extra=(--lr 0.001) ;;
            saf) extra=(--saf-lag 1 --saf-start $start) ;;
            mesa) extra=(--saf-start $start) ;;
        esac
        if "$binary" methods 2>/dev/null | grep -q -- "--$method-form"; then
            case $method in
                esam) extra=(--esam-form plateau) ;;
                fsam) extra=(--fsam-form paper) ;;
            esac
        fi
        # The binary from before the method table rejected --saf-start below --saf-lag for MESA.
        if [[ $method == mesa ]] && "$binary" train --help 2>/dev/null | grep -q -- "--saf-lag <saf-lag>"; then extra=(--saf-lag 1 --saf-start 1); fi
        for workload in "mlp 2" "lenet 1"; do
            set -- $workload
            "$binary" train --dataset mnist --data-dir "$DATA" --model "$1" --epochs "$2" --optimizer "$method" \
                --lr 0.05 --batch-size 128 --seed 0 --threads 1 "${extra[@]}" --output "$work/$method-$1" > /dev/null 2>&1 \
                || { echo "$method $1 FAILED" >&2; exit 1; }
            echo "$method $1 $(python3 scripts/weights_digest.py "$work/$method-$1/checkpoint-last.safetensors")"
        done
    done
}

case ${1:-} in
    record) record "$2" ;;
    check)
        diff <(grep -v '^#' "$3") <(record "$2") && echo "bit-identical: every method" ;;
    compare)
        diff <(record "$2") <(record "$3") && echo "bit-identical: every method" ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
esac
