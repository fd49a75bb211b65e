#!/usr/bin/env bash
# Reproduces every committed GRFP model (see training/README.md): dumps the data (resumable),
# trains each model (resumable from runs/<name>/last.pt) and exports ONNX plus parity fixtures.
#
#   training/scripts/train-all.sh            # everything (about 2 h on 2 cores)
#   training/scripts/train-all.sh labels-exact masks-davis-foldA ...   # some models
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${VPROP_PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-1000}
NICE="nice -n ${NICE_LEVEL:-10}"
FOLD_A=blackswan,bmx-trees,breakdance,camel,car-roundabout
FOLD_B=cows,dog,goat,kite-surf,parkour

data() {
  $NICE node --import tsx scripts/export-grfp-data.ts synth --count 48 --first-seed 1000 --frames 30
  $NICE node --import tsx scripts/export-grfp-data.ts synth --set synth-val --count 8 --first-seed 5000 --frames 30
  if [ -d ../shared/data/davis ]; then
    $NICE node --import tsx scripts/export-grfp-data.ts davis --estimates sim,bilateral
  fi
}

train() { # name, then vprop_train.train arguments
  local name=$1; shift
  (cd training && $NICE "$PY" -m vprop_train.train --out "runs/$name" --steps "$STEPS" --crop 96 --batch 4 "$@")
  # Parity fixtures live under test/, which `npm run lint` checks: give them biome's JSON format.
  npx --no-install biome format --write test/fixtures/grfp >/dev/null 2>&1 || true
}

run() {
  case $1 in
    data) data ;;
    labels-exact)
      train labels-exact --task labels --cell exact --train synth:labels --val synth-val:labels \
        --export ../src/models/weights/grfp-labels-exact-c6.onnx --fixture ../test/fixtures/grfp/grfp-labels-exact-c6.json ;;
    labels-shared)
      train labels-shared --task labels --cell shared --no-background-bias --train synth:labels --val synth-val:labels \
        --export ../src/models/weights/grfp-labels-shared.onnx --fixture ../test/fixtures/grfp/grfp-labels-shared.json ;;
    masks-synth)
      train masks-synth --task masks --cell shared --train synth:masks --val synth-val:masks \
        --export models/grfp-mask-synth.onnx ;;
    masks-davis-foldA) # scores fold A: trained on synthetic + DAVIS fold B
      train masks-davis-foldA --task masks --cell shared --train synth:masks --train "davis:sim:$FOLD_B" --val synth-val:masks \
        --export models/grfp-mask-davis-foldA.onnx ;;
    masks-davis-foldB) # scores fold B: trained on synthetic + DAVIS fold A
      train masks-davis-foldB --task masks --cell shared --train synth:masks --train "davis:sim:$FOLD_A" --val synth-val:masks \
        --export models/grfp-mask-davis-foldB.onnx ;;
    masks-davis-bilateral-foldA) # the bilateral engine's output as the per-frame input; scores fold A
      train masks-davis-bilateral-foldA --task masks --cell shared --train synth:masks --train "davis:bilateral:$FOLD_B" --val synth-val:masks \
        --export models/grfp-mask-davis-bilateral-foldA.onnx ;;
    masks-davis-bilateral-foldB) # scores fold B: trained on synthetic + the bilateral output on DAVIS fold A
      train masks-davis-bilateral-foldB --task masks --cell shared --train synth:masks --train "davis:bilateral:$FOLD_A" --val synth-val:masks \
        --export models/grfp-mask-davis-bilateral-foldB.onnx ;;
    masks)
      train masks --task masks --cell shared --train synth:masks --train davis:sim --val synth-val:masks \
        --export ../src/models/weights/grfp-mask-shared.onnx --fixture ../test/fixtures/grfp/grfp-mask-shared.json ;;
    fixtures) # parity fixtures of the models under training/models (bundled ones get theirs when trained)
      for m in training/models/*.onnx; do
        (cd training && "$PY" -m vprop_train.export --onnx "../$m" --fixture "../test/fixtures/grfp/$(basename "$m" .onnx).json")
      done
      npx --no-install biome format --write test/fixtures/grfp >/dev/null 2>&1 || true ;;
    init)
      (cd training
       "$PY" -m vprop_train.export --init shared --out models/grfp-mask-shared-init.onnx
       "$PY" -m vprop_train.export --init shared --no-background-bias --out models/grfp-labels-shared-init.onnx
       "$PY" -m vprop_train.export --init exact --classes 6 --out models/grfp-labels-exact-c6-init.onnx) ;;
    *) echo "unknown target $1 (data init fixtures labels-exact labels-shared masks-synth masks-davis-foldA masks-davis-foldB masks-davis-bilateral-foldA masks-davis-bilateral-foldB masks)" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then
  set -- data init labels-exact labels-shared masks-synth masks-davis-foldA masks-davis-foldB masks-davis-bilateral-foldA masks-davis-bilateral-foldB masks fixtures
fi
for t in "$@"; do run "$t"; done
