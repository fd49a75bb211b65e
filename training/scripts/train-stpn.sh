#!/usr/bin/env bash
# Reproduces every committed STPN model (training/README.md, "STPN"): dumps the data (resumable),
# trains each model (resumable from training/runs/<name>/last.pt), exports the ONNX pair around the
# scan and writes the parity fixture.
#
#   training/scripts/train-stpn.sh                       # everything
#   training/scripts/train-stpn.sh color-foldA mask-foldB  # some targets
#
# Fold models are named after the fold they SCORE and are trained on the other one:
# stpn-color-foldA (scores blackswan, bmx-trees, breakdance, camel, car-roundabout) is trained on
# cows, dog, goat, kite-surf, parkour, and vice versa. Bundled models train on all ten.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${VPROP_PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-3000}
NICE="nice -n ${NICE_LEVEL:-10}"
FOLD_A=blackswan,bmx-trees,breakdance,camel,car-roundabout
FOLD_B=cows,dog,goat,kite-surf,parkour
# HDR: validation clips left out of training (both clips of two train-side sources; the benchmark's
# held-out sources are never dumped at all).
HDR_VAL=ilm-Tree-101,ilm-Tree-102,pmndrs-park-101,pmndrs-park-102

data() {
  if ! [ -d /usr/share/wallpapers/Path ] || ! [ -d /usr/share/backgrounds/mate/nature ]; then
    echo "train-stpn: installing the still photographs (Debian plasma-workspace-wallpapers, mate-backgrounds; GPL-2+)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -qq --no-install-recommends plasma-workspace-wallpapers mate-backgrounds >/dev/null
  fi
  $NICE node --import tsx scripts/export-stpn-data.ts stills --pairs 16 --size 256
  $NICE node --import tsx scripts/export-grfp-data.ts davis --estimates sim
  $NICE node --import tsx scripts/export-grfp-data.ts synth --count 48 --first-seed 1000 --frames 30
  # HDR clips of the HDR_SPLIT train sources; the pmndrs panoramas need @pmndrs/assets (CC0, not a
  # dependency): without it those sources are skipped with a message.
  [ -d node_modules/@pmndrs/assets ] || npm install --no-save --no-audit --no-fund @pmndrs/assets@1.7.0 >/dev/null 2>&1 || true
  $NICE node --import tsx scripts/export-stpn-data.ts hdr
}

train() { # name, export prefix, then train_stpn arguments
  local name=$1 prefix=$2; shift 2
  (cd training && $NICE "$PY" -m vprop_train.train_stpn --out "runs/$name" --steps "$STEPS" "$@")
  (cd training && $NICE "$PY" -m vprop_train.export_stpn --checkpoint "runs/$name/last.pt" --out "$prefix" --fixture "../test/fixtures/stpn/$(basename "$prefix").json")
  npx --no-install biome format --write test/fixtures/stpn >/dev/null 2>&1 || true
}

run() {
  case $1 in
    data) data ;;
    color-foldA) train stpn-color-foldA ../training/models/stpn-color-foldA --task color --variant stpn --train-davis $FOLD_B --stills --val-davis $FOLD_A ;;
    color-foldB) train stpn-color-foldB ../training/models/stpn-color-foldB --task color --variant stpn --train-davis $FOLD_A --stills --val-davis $FOLD_B ;;
    btpn-color-foldA) train btpn-color-foldA ../training/models/btpn-color-foldA --task color --variant btpn --train-davis $FOLD_B --stills --val-davis $FOLD_A ;;
    btpn-color-foldB) train btpn-color-foldB ../training/models/btpn-color-foldB --task color --variant btpn --train-davis $FOLD_A --stills --val-davis $FOLD_B ;;
    color) train stpn-color ../src/models/weights/stpn-color --task color --variant stpn --train-davis $FOLD_A,$FOLD_B --stills ;;
    hdr) train stpn-hdr ../src/models/weights/stpn-hdr --task hdr --variant stpn --hdr --val-hdr $HDR_VAL --steps "${HDR_STEPS:-1400}" ;;
    # Masks train on DAVIS frames alone (the synthetic dump, a minute a scene on this machine, was
    # left out of the committed mask models; add --synth to use data-cache/synth clips).
    mask-foldA) train stpn-mask-foldA ../training/models/stpn-mask-foldA --task mask --variant stpn --train-davis $FOLD_B --val-davis $FOLD_A ;;
    mask-foldB) train stpn-mask-foldB ../training/models/stpn-mask-foldB --task mask --variant stpn --train-davis $FOLD_A --val-davis $FOLD_B ;;
    mask) train stpn-mask ../src/models/weights/stpn-mask --task mask --variant stpn --train-davis $FOLD_A,$FOLD_B ;;
    *) echo "train-stpn: unknown target $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- data color-foldA color-foldB btpn-color-foldA btpn-color-foldB color hdr mask-foldA mask-foldB mask; fi
for t in "$@"; do run "$t"; done
