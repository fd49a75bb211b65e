/**
 * Loader for the optional native DIS addon (`native/dis-flow`, built by
 * `scripts/build-native.sh`). Node only; everything here is imported lazily by `flow.ts`, so a
 * bundle for the browser never reaches `node:module`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's exports (see native/dis-flow/src/dis_flow.cc). */
export interface DisAddon {
  /** Flow from `curGray` to `prevGray`, interleaved (dx, dy), row-major; preset 0/1/2 = ULTRAFAST/FAST/MEDIUM. */
  disFlow(curGray: Uint8Array, prevGray: Uint8Array, width: number, height: number, preset: 0 | 1 | 2): Float32Array;
  /** Same, computed on the libuv thread pool so the event loop stays free. */
  disFlowAsync(curGray: Uint8Array, prevGray: Uint8Array, width: number, height: number, preset: 0 | 1 | 2): Promise<Float32Array>;
  opencvVersion: string;
}

export type DisLoad = { addon: DisAddon; path: string } | { addon: null; reason: string };

const ADDON_REL = join('native', 'dis-flow', 'build', 'Release', 'dis_flow.node');

/** Values of `$VPROP_DIS_ADDON` that turn the addon off (to force or test the fallback). */
const DISABLED = new Set(['off', '0', 'false', 'none']);

/**
 * Where the addon may be: only `$VPROP_DIS_ADDON` when set (an explicit choice should not
 * silently fall through to another build), else `native/dis-flow/build/Release` in an ancestor
 * of this file (src/ops from sources, dist/src/ops once compiled).
 */
export function disAddonCandidates(): string[] {
  const env = process.env.VPROP_DIS_ADDON;
  if (env) return DISABLED.has(env.toLowerCase()) ? [] : [resolve(env)];
  const out: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    out.push(join(dir, ADDON_REL));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

let cached: DisLoad | undefined;

/** Loads the addon once; the outcome (including why it is missing) is cached for the process. */
export function loadDisAddon(): DisLoad {
  if (cached) return cached;
  const env = process.env.VPROP_DIS_ADDON;
  if (env && DISABLED.has(env.toLowerCase())) {
    cached = { addon: null, reason: `native DIS addon disabled by VPROP_DIS_ADDON=${env}` };
    return cached;
  }
  const candidates = disAddonCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    cached = {
      addon: null,
      reason: env
        ? `VPROP_DIS_ADDON=${env} does not exist`
        : 'native DIS addon not built (run scripts/build-native.sh; needs libopencv-dev)',
    };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as DisAddon;
    if (typeof addon.disFlowAsync !== 'function') throw new Error('missing disFlowAsync export');
    cached = { addon, path };
  } catch (err) {
    cached = { addon: null, reason: `native DIS addon at ${path} failed to load: ${(err as Error).message}` };
  }
  return cached;
}
