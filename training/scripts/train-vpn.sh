#!/usr/bin/env bash
# Reproduces the committed learned-VPN mask models (training/README.md, "VPN"): dumps the filtered
# unaries with the TypeScript lattice (resumable), trains each fold's stage and exports it with its
# parity fixture.
#
#   training/scripts/train-vpn.sh                  # everything
#   training/scripts/train-vpn.sh mask-foldA       # some targets
#
# Targets: data (stage-0 unaries of DAVIS dev-10), identity (the untrained net = BNN-Identity, the
# engine test's model), mask-fold{A,B} (stage 1 on stage-0 unaries), mask (the bundled model: a
# copy of the fold-A model, as the other bundled DAVIS-trained models).
#
# Fold models are named after the fold they SCORE and are trained on the other one (as GRFP's,
# STPN's and MSN's): vpn-mask-foldA scores blackswan, bmx-trees, breakdance, camel, car-roundabout.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${VPROP_PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-500}
NICE="nice -n ${NICE_LEVEL:-10}"
FOLD_A=blackswan,bmx-trees,breakdance,camel,car-roundabout
FOLD_B=cows,dog,goat,kite-surf,parkour

train() { # fold scored, training sequences, validation sequences
  local name=vpn-mask-fold$1
  (cd training && $NICE "$PY" -m vprop_train.train_vpn --data data-cache/vpn/stage0 --train "$2" --val "$3" \
    --out "runs/$name" --steps "$STEPS" --val-every "$STEPS" --threads "${THREADS:-2}" \
    --export "models/$name" --fixture "../test/fixtures/vpn/$name.json")
}

run() {
  case $1 in
    data) $NICE node --import tsx scripts/export-vpn-data.ts ;;
    identity) (cd training && "$PY" -m vprop_train.train_vpn --steps 0 --out runs/vpn-mask-identity \
      --export models/vpn-mask-identity --fixture ../test/fixtures/vpn/vpn-mask-identity.json) ;;
    mask-foldA) train A $FOLD_B $FOLD_A ;;
    mask-foldB) train B $FOLD_A $FOLD_B ;;
    mask) cp training/models/vpn-mask-foldA.onnx src/models/weights/vpn-mask.onnx ;;
    *) echo "unknown target $1 (data identity mask-foldA mask-foldB mask)" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- data identity mask-foldA mask-foldB mask; fi
for t in "$@"; do run "$t"; done
