#!/usr/bin/env bash
# Sets up vprop on a fresh Debian machine: system packages (apt-get, only when missing), npm
# packages (offline-safe: no install step downloads binaries), the optional native flow addon,
# and the TypeScript build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# --test: also install what only the test suite uses (OpenEXR reference tools, Blender's CC0 DWAB
# panoramas, Debian's PyTorch and ONNX for the training/ tests, Chromium and redis-server for the web
# app and server tests); tests that need them skip with a reason when they are absent.
# --torch: install PyTorch for `vprop train` without the other test dependencies.
with_test_deps=0
with_torch=0
for arg in "$@"; do
  case $arg in
    --test) with_test_deps=1; with_torch=1 ;;
    --torch) with_torch=1 ;;
    *) echo "setup: unknown option $arg (--test, --torch)" >&2; exit 2 ;;
  esac
done

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
apt_updated=0
apt_install() { # required=1|0, packages...
  local required=$1; shift
  echo "setup: installing system packages: $*"
  if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq || true; apt_updated=1; fi
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    if [ "$required" = 1 ]; then echo "setup: could not install $* (required)" >&2; exit 1; fi
    echo "setup: could not install $* (optional; continuing without)"
  fi
}

# Required: ffmpeg/ffprobe decode and encode video files.
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || apt_install 1 ffmpeg
# Optional: OpenCV headers for the native DIS optical-flow addon (Farneback in WebAssembly is the
# fallback, so a machine without them still works). VPROP_SKIP_OPENCV=1 skips it.
if [ "${VPROP_SKIP_OPENCV:-0}" != 1 ] && ! (command -v pkg-config >/dev/null && pkg-config --exists opencv4); then
  apt_install 0 libopencv-dev pkg-config
fi

if [ $with_test_deps = 1 ] && ! { command -v exrmaketiled >/dev/null && [ -d /usr/share/blender/datafiles/studiolights/world ]; }; then
  apt_install 0 openexr blender-data
fi
# The web and server tests: Debian's Chromium (driven by playwright-core; no browser download) and
# redis-server (the tests start their own on a free loopback port). Tests skip without them.
if [ $with_test_deps = 1 ] && ! { command -v chromium >/dev/null && command -v redis-server >/dev/null; }; then
  apt_install 1 chromium redis-server
fi
# PyTorch for training/ (`vprop train`, and its tests with --test). Debian's build is visible to
# /usr/bin/python3 only. VPROP_SKIP_TORCH=1 skips it.
if [ $with_torch = 1 ] && [ "${VPROP_SKIP_TORCH:-0}" != 1 ] && ! /usr/bin/python3 -c 'import torch, onnx' >/dev/null 2>&1; then
  apt_install 0 python3-torch python3-onnx
fi

# onnxruntime-node's post-install step would download GPU libraries: skip it.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi

if [ -x scripts/build-native.sh ]; then bash scripts/build-native.sh || echo "setup: native addon not built (optional)"; fi
npm run --silent build
echo "setup: done"
