#!/usr/bin/env bash
# Reproduces the committed MSN selectors (training/README.md, "MSN"): dumps the candidate tables by
# running the engines (resumable), trains each selector and exports the ONNX pair with its parity
# fixture.
#
#   training/scripts/train-msn.sh                 # everything
#   training/scripts/train-msn.sh mask-foldA      # some targets
#
# Fold models are named after the fold they SCORE and are trained on the other one (as GRFP's and
# STPN's): msn-mask-foldA scores blackswan, bmx-trees, breakdance, camel, car-roundabout.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${VPROP_PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-800}
NICE="nice -n ${NICE_LEVEL:-10}"
FOLD_A=blackswan,bmx-trees,breakdance,camel,car-roundabout
FOLD_B=cows,dog,goat,kite-surf,parkour
SETS=${MSN_SETS:-mask-bilateral,mask-maskprop}

data() {
  $NICE node --import tsx scripts/export-msn-data.ts davis --engine bilateral
  $NICE node --import tsx scripts/export-msn-data.ts davis --engine maskprop
}

train() { # name, export prefix, then train_msn arguments
  local name=$1 prefix=$2; shift 2
  local sets=()
  for s in ${SETS//,/ }; do sets+=(--set "$s"); done
  (cd training && $NICE "$PY" -m vprop_train.train_msn "${sets[@]}" --out "runs/$name" --steps "$STEPS" --export "$prefix" \
    --threads "${THREADS:-2}" --fixture "../test/fixtures/msn/$(basename "$prefix").json" "$@")
}

run() {
  case $1 in
    data) data ;;
    mask-foldA) train msn-mask-foldA ../training/models/msn-mask-foldA --train $FOLD_B --val $FOLD_A ;;
    mask-foldB) train msn-mask-foldB ../training/models/msn-mask-foldB --train $FOLD_A --val $FOLD_B ;;
    mask) train msn-mask ../src/models/weights/msn-mask --train $FOLD_A,$FOLD_B ;;
    *) echo "train-msn: unknown target $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- data mask-foldA mask-foldB mask; fi
for target in "$@"; do run "$target"; done
