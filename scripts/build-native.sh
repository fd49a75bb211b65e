#!/usr/bin/env bash
# Builds the optional DIS optical-flow addon (native/dis-flow) against the system OpenCV.
#
#   scripts/build-native.sh          # build if possible
#
# Always exits 0: the addon is optional and `computeFlow` falls back to OpenCV.js Farneback, so a
# machine without a compiler or libopencv-dev must still install and test cleanly. The outcome is
# printed on one "dis-flow:" line, and `flowBackends()` reports the same at run time.
# No network: node-gyp is pointed at Node's installed headers when they exist.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
addon_dir="$here/native/dis-flow"

skip() {
  echo "dis-flow: not built: $*; flow will use the OpenCV.js Farneback fallback" >&2
  exit 0
}

command -v node >/dev/null 2>&1 || skip "node is not on PATH"
command -v pkg-config >/dev/null 2>&1 || skip "pkg-config is not installed"
pkg-config --exists opencv4 2>/dev/null || skip "pkg-config cannot find opencv4 (install Debian's libopencv-dev)"
command -v "${CXX:-g++}" >/dev/null 2>&1 || skip "no C++ compiler (${CXX:-g++})"
command -v make >/dev/null 2>&1 || skip "make is not installed"

# node-gyp: the copy bundled with npm (no install, no download); npm exports its path to scripts.
gyp="${npm_config_node_gyp:-}"
if [ -z "$gyp" ] || [ ! -f "$gyp" ]; then
  npm_bin="$(command -v npm 2>/dev/null || true)"
  if [ -n "$npm_bin" ]; then
    npm_root="$(cd "$(dirname "$(readlink -f "$npm_bin")")/.." && pwd)"
    gyp="$npm_root/node_modules/node-gyp/bin/node-gyp.js"
  fi
fi
[ -n "$gyp" ] && [ -f "$gyp" ] || skip "node-gyp not found (it ships with npm)"

# Node's headers: npm's configured nodedir, else the prefix of the running node binary. Only if
# neither has node_api.h does node-gyp fall back to its cache or a download.
nodedir_args=()
for dir in "${npm_config_nodedir:-}" "$(npm config get nodedir 2>/dev/null || true)" \
  "$(node -p 'require("node:path").resolve(process.execPath, "..", "..")')"; do
  if [ -n "$dir" ] && [ "$dir" != "undefined" ] && [ -f "$dir/include/node/node_api.h" ] &&
    [ -f "$dir/include/node/common.gypi" ]; then
    nodedir_args=(--nodedir="$dir")
    break
  fi
done
[ ${#nodedir_args[@]} -gt 0 ] || echo "dis-flow: no local Node headers found; node-gyp may try to download them" >&2

log="$addon_dir/build-native.log"
echo "dis-flow: building against OpenCV $(pkg-config --modversion opencv4) ${nodedir_args[*]:-}" >&2
if ! (cd "$addon_dir" && node "$gyp" rebuild --jobs=2 "${nodedir_args[@]}") >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  skip "node-gyp rebuild failed (full log: $log)"
fi

# A build that links but cannot load (missing shared libraries at run time) is no better than none.
if ! node -e '
  const a = require(process.argv[1]);
  const g = new Uint8Array(64 * 48).map((_, i) => (i * 37) & 255);
  const f = a.disFlow(g, g, 64, 48, 1);
  if (!(f instanceof Float32Array) || f.length !== 64 * 48 * 2) throw new Error("bad result");
' "$addon_dir/build/Release/dis_flow.node" >>"$log" 2>&1; then
  tail -n 5 "$log" >&2
  skip "the built addon does not load (full log: $log)"
fi
rm -f "$log"
echo "dis-flow: built $addon_dir/build/Release/dis_flow.node" >&2
exit 0
