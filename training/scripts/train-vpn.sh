#!/usr/bin/env bash
# Reproduces the committed learned-VPN mask models (training/README.md, "VPN"): dumps the filtered
# unaries with the TypeScript lattice (resumable), trains each fold's stage and exports it with its
# parity fixture.
#
#   training/scripts/train-vpn.sh                  # everything
#   training/scripts/train-vpn.sh mask-foldA       # some targets
#
# Targets: data (stage-0 unaries of DAVIS dev-10), identity (the untrained nets = BNN-Identity, the
# engine tests' models), mask-fold{A,B} (stage 1 on stage-0 unaries), per-frame-data (maskprop's (model=none:
# no DAVIS-trained weights) output on every dev frame), mask-pf-fold{A,B} (stage 1 fusing maskprop's probabilities, VPN-DeepLab's
# place), stage1-data (the stage-1 fold models' outputs, filtered: stage 2's inputs), mask-s2-fold{A,B}
# (stage 2 on stage-1 unaries), color-data, color-fold{A,B} (the colour stage), mask and color
# (the bundled models: copies of the fold-A models, as the other bundled DAVIS-trained models).
#
# Stage 2's fold rule: vpn-mask-s2-foldA (scores fold A) trains on fold B's sequences run through
# vpn-mask-foldA (trained on fold B too: in-sample stage-1 outputs, as VPN trained stage 2 on its
# stage-1 training outputs); data-cache/vpn/stage1-foldA holds those. Run it with the engine option
# stage1 = the same fold's stage-1 model (bench/davis-masks.ts --fold-stage1 vpn-mask).
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

# The training sequence held out to pick the exported snapshot on: each fold's last in alphabetical
# order (fixed before any model was trained with it).
train() { # model name, fixture folder, training sequences, validation sequences, then train_vpn arguments
  local name=$1 fixtures=$2 train=$3 val=$4; shift 4
  (cd training && OMP_WAIT_POLICY=PASSIVE $NICE "$PY" -W ignore -m vprop_train.train_vpn --train "$train" --val "$val" \
    --select-on "${train##*,}" --out "runs/$name" --steps "$STEPS" --threads "${THREADS:-2}" \
    --export "models/$name" --fixture "../test/fixtures/$fixtures/$name.json" "$@")
}
PF=(--per-frame data-cache/per-frame/maskprop)

run() {
  case $1 in
    data) $NICE node --import tsx scripts/export-vpn-data.ts ;;
    identity) (cd training && "$PY" -W ignore -m vprop_train.train_vpn --steps 0 --out runs/vpn-mask-identity \
      --export models/vpn-mask-identity --fixture ../test/fixtures/vpn/vpn-mask-identity.json &&
      "$PY" -W ignore -m vprop_train.train_vpn --task color --steps 0 --out runs/vpn-color-identity \
      --export models/vpn-color-identity --fixture ../test/fixtures/vpn-color/vpn-color-identity.json) ;;
    mask-foldA) train vpn-mask-foldA vpn $FOLD_B $FOLD_A ;;
    mask-foldB) train vpn-mask-foldB vpn $FOLD_A $FOLD_B ;;
    per-frame-data) $NICE node --import tsx scripts/export-per-frame.ts --engine maskprop:model=none ;;
    mask-pf-foldA) train vpn-mask-pf-foldA vpn $FOLD_B $FOLD_A "${PF[@]}" ;;
    mask-pf-foldB) train vpn-mask-pf-foldB vpn $FOLD_A $FOLD_B "${PF[@]}" ;;
    stage1-data) $NICE node --import tsx scripts/export-vpn-data.ts --stage1-models vpn-mask --threads "${THREADS:-2}" ;;
    mask-s2-foldA) train vpn-mask-s2-foldA vpn $FOLD_B "" --data data-cache/vpn/stage1-foldA ;;
    mask-s2-foldB) train vpn-mask-s2-foldB vpn $FOLD_A "" --data data-cache/vpn/stage1-foldB ;;
    color-data) $NICE node --import tsx scripts/export-vpn-color-data.ts ;;
    color-foldA) train vpn-color-foldA vpn-color $FOLD_B $FOLD_A --task color --lr 1e-4 ;;
    color-foldB) train vpn-color-foldB vpn-color $FOLD_A $FOLD_B --task color --lr 1e-4 ;;
    mask) cp training/models/vpn-mask-foldA.onnx src/models/weights/vpn-mask.onnx ;;
    color) cp training/models/vpn-color-foldA.onnx src/models/weights/vpn-color.onnx ;;
    *) echo "unknown target $1 (${ALL[*]})" >&2; exit 2 ;;
  esac
}

ALL=(data identity mask-foldA mask-foldB per-frame-data mask-pf-foldA mask-pf-foldB stage1-data mask-s2-foldA mask-s2-foldB color-data color-foldA color-foldB mask color)
if [ $# -eq 0 ]; then set -- "${ALL[@]}"; fi
for t in "$@"; do run "$t"; done
