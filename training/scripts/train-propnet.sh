#!/usr/bin/env bash
# Reproduces the committed propagation networks of the maskprop engine (training/README.md,
# "maskprop's propagation network"): dumps the clips (DAVIS dev-10 at the engine's 480x270 working
# size with DIS backward flow, synthetic scenes; resumable), trains each fold's net and exports it
# with its parity fixture.
#
#   training/scripts/train-propnet.sh              # everything
#   training/scripts/train-propnet.sh foldA        # some targets
#
# Targets: data, init (the untrained net, for the engine tests), fold{A,B}, bundled (the fold-A
# model as src/models/weights/maskprop-propnet.onnx, as the other bundled DAVIS-trained models).
# Fold models are named after the fold they SCORE and are trained on the other one: propnet-foldA
# scores blackswan, bmx-trees, breakdance, camel, car-roundabout. Each holds its training fold's last
# sequence (alphabetical, fixed before training) out of training to select the snapshot on.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${VPROP_PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-2500}
SYNTH=${SYNTH:-24}
NICE="nice -n ${NICE_LEVEL:-10}"
FOLD_A=blackswan,bmx-trees,breakdance,camel,car-roundabout
FOLD_B=cows,dog,goat,kite-surf,parkour
DATA=training/data-cache/propnet

train() { # model name, training fold, validation fold
  local name=$1 fold=$2 val=$3
  (cd training && OMP_WAIT_POLICY=PASSIVE $NICE "$PY" -W ignore -m vprop_train.train_propnet --data data-cache/propnet \
    --train "${fold%,*}" --select-on "${fold##*,}" --val "$val" --synth "$SYNTH" --steps "$STEPS" \
    --threads "${THREADS:-2}" --out "runs/$name" --export "models/$name" --fixture "../test/fixtures/propnet/$name.json")
}

run() {
  case $1 in
    data)
      $NICE node --import tsx scripts/export-grfp-data.ts davis --out $DATA --size 480x270 --estimates sim
      $NICE node --import tsx scripts/export-grfp-data.ts synth --out $DATA --count "$SYNTH" --first-seed 1000 --frames 30 --size 320x240 ;;
    init) (cd training && "$PY" -W ignore -m vprop_train.train_propnet --train x --select-on y --out runs/propnet-init --init-only \
      --export models/propnet-init --fixture ../test/fixtures/propnet/propnet-init.json) ;;
    foldA) train propnet-foldA $FOLD_B $FOLD_A ;;
    foldB) train propnet-foldB $FOLD_A $FOLD_B ;;
    bundled) cp training/models/propnet-foldA.onnx src/models/weights/maskprop-propnet.onnx ;;
    *) echo "unknown target $1 (${ALL[*]})" >&2; exit 2 ;;
  esac
}

ALL=(data init foldA foldB bundled)
if [ $# -eq 0 ]; then set -- "${ALL[@]}"; fi
for t in "$@"; do run "$t"; done
