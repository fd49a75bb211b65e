/**
 * Dense optical flow and its forward-backward consistency (occlusion) check.
 *
 * Flow layout everywhere in vprop (ANCHORS §8.2): planar `Float32Array`, `2 x H x W`,
 * channel 0 = dy (rows), channel 1 = dx (columns): `flow[y * W + x]` is dy and
 * `flow[H * W + y * W + x]` is dx of pixel (y, x).
 *
 * Direction: the default "backward" flow is computed FROM the current frame TO the previous one,
 * on the current frame's grid: pixel (y, x) of `cur` corresponds to (y + dy, x + dx) in `prev`.
 * So `warpBilinear(prev, flow)` (sampling prev at (y + dy, x + dx)) reproduces `cur`, which is
 * how GRFP carries the previous estimate forward.
 *
 * Backends: OpenCV DIS through the optional native addon (`scripts/build-native.sh`), else
 * OpenCV.js Farnebäck. Both are loaded lazily, once per process; the numeric helpers below are
 * pure functions.
 */
import type { RgbFrame } from '../core/types.js';
import type { DisAddon } from './flow-dis.js';
import { farnebackFlow, loadOpenCv } from './flow-farneback.js';
import { warpBilinear } from './warp.js';

export type FlowBackendName = 'dis' | 'farneback';

export interface FlowOptions {
  /** 'auto' (default): DIS if the native addon loads, else Farnebäck. */
  backend?: 'auto' | FlowBackendName;
  /** DIS preset (default 'medium'); Farnebäck ignores it (its parameters are fixed by §8.2). */
  preset?: 'fast' | 'medium';
  /**
   * 'backward' (default): from `cur` to `prev`, on `cur`'s grid.
   * 'forward': from `prev` to `cur`, on `prev`'s grid (pixel (y, x) of prev ↔ (y+dy, x+dx) of cur).
   */
  direction?: 'backward' | 'forward';
}

export interface FlowResult {
  /** Planar `2 x H x W`: channel 0 dy, channel 1 dx (see the module comment). */
  flow: Float32Array;
  backend: FlowBackendName;
  /** Human-readable detail, e.g. "dis (medium, OpenCV 4.6.0)". */
  description: string;
}

export interface FlowBackendInfo {
  name: FlowBackendName;
  available: boolean;
  /** Where it came from when available, why not otherwise. */
  detail: string;
}

const DIS_PRESET = { fast: 1, medium: 2 } as const;

// Lazily resolved native addon; `null` once known to be unavailable (with the reason).
let disState: { addon: DisAddon | null; detail: string } | undefined;

async function disBackend(): Promise<{ addon: DisAddon | null; detail: string }> {
  if (disState) return disState;
  if (typeof process !== 'object' || !process.versions?.node) {
    disState = { addon: null, detail: 'native DIS addon needs Node.js' };
    return disState;
  }
  try {
    // Imported dynamically so that browser bundles never load node:module.
    const { loadDisAddon } = await import('./flow-dis.js');
    const r = loadDisAddon();
    disState = r.addon
      ? { addon: r.addon, detail: `native addon ${r.path} (OpenCV ${r.addon.opencvVersion})` }
      : { addon: null, detail: r.reason };
  } catch (err) {
    disState = { addon: null, detail: `native DIS loader failed: ${(err as Error).message}` };
  }
  return disState;
}

/**
 * Which flow backends this process can use, and why not when one cannot. Loads each backend
 * (OpenCV.js takes about half a second the first time).
 */
export async function flowBackends(): Promise<FlowBackendInfo[]> {
  const dis = await disBackend();
  let farneback: FlowBackendInfo;
  try {
    const { cv } = await loadOpenCv();
    const version = /General configuration for OpenCV ([^\s=]+)/.exec(cv.getBuildInformation())?.[1] ?? '?';
    farneback = { name: 'farneback', available: true, detail: `@techstark/opencv-js (OpenCV.js ${version}, WebAssembly)` };
  } catch (err) {
    farneback = { name: 'farneback', available: false, detail: `OpenCV.js failed to load: ${(err as Error).message}` };
  }
  return [{ name: 'dis', available: dis.addon !== null, detail: dis.detail }, farneback];
}

/**
 * Dense optical flow between two RGB frames of equal size (see the module comment for the
 * layout and direction). Both frames are converted to grey first, as OpenCV's flow needs.
 */
export async function computeFlow(prev: RgbFrame, cur: RgbFrame, opts: FlowOptions = {}): Promise<FlowResult> {
  const { width, height } = cur;
  checkFrame(prev, 'prev');
  checkFrame(cur, 'cur');
  if (prev.width !== width || prev.height !== height) {
    throw new RangeError(`computeFlow: prev is ${prev.width}x${prev.height} but cur is ${width}x${height}`);
  }
  const direction = opts.direction ?? 'backward';
  if (direction !== 'backward' && direction !== 'forward') {
    throw new RangeError(`computeFlow: unknown direction ${String(direction)}`);
  }
  const preset = opts.preset ?? 'medium';
  if (!Object.hasOwn(DIS_PRESET, preset)) throw new RangeError(`computeFlow: unknown preset ${String(preset)}`);
  // The flow is always computed from `from` to `to`, on `from`'s grid.
  const from = rgbToGray(direction === 'backward' ? cur : prev);
  const to = rgbToGray(direction === 'backward' ? prev : cur);

  const backend = opts.backend ?? 'auto';
  if (backend === 'dis' || backend === 'auto') {
    const dis = await disBackend();
    if (dis.addon) {
      const xy = await dis.addon.disFlowAsync(from, to, width, height, DIS_PRESET[preset]);
      return {
        flow: interleavedXYToPlanarYX(xy, height, width),
        backend: 'dis',
        description: `dis (${preset}, OpenCV ${dis.addon.opencvVersion})`,
      };
    }
    if (backend === 'dis') throw new Error(`computeFlow: DIS backend unavailable: ${dis.detail}`);
  } else if (backend !== 'farneback') {
    throw new RangeError(`computeFlow: unknown backend ${String(backend)}`);
  }
  const { cv } = await loadOpenCv();
  let xy: Float32Array;
  try {
    xy = farnebackFlow(cv, from, to, width, height);
  } catch (err) {
    // OpenCV.js throws C++ exceptions as bare heap pointers (numbers); give them a message.
    if (err instanceof Error) throw err;
    throw new Error(`computeFlow: OpenCV.js Farneback failed (exception ${String(err)})`);
  }
  return { flow: interleavedXYToPlanarYX(xy, height, width), backend: 'farneback', description: 'farneback (OpenCV.js)' };
}

function checkFrame(f: RgbFrame, name: string): void {
  if (!Number.isInteger(f.width) || !Number.isInteger(f.height) || f.width < 1 || f.height < 1) {
    throw new RangeError(`computeFlow: ${name} has invalid size ${f.width}x${f.height}`);
  }
  if (f.data.length !== f.width * f.height * 3) {
    throw new RangeError(
      `computeFlow: ${name} has ${f.data.length} bytes, expected ${f.width}x${f.height}x3 = ${f.width * f.height * 3} (interleaved RGB)`,
    );
  }
}

/**
 * RGB → 8-bit grey with OpenCV's `COLOR_RGB2GRAY` fixed-point weights (0.299, 0.587, 0.114 in
 * 14-bit, rounded), so both backends see the grey image OpenCV itself would produce.
 * @param frame interleaved RGB; @returns row-major `H x W`
 */
export function rgbToGray(frame: RgbFrame): Uint8Array {
  const n = frame.width * frame.height;
  const src = frame.data;
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[i] = (src[j] * 4899 + src[j + 1] * 9617 + src[j + 2] * 1868 + 8192) >> 14;
  }
  return out;
}

/**
 * OpenCV's interleaved `(dx, dy)` flow (`H x W x 2`) → vprop's planar `(dy, dx)` (`2 x H x W`).
 */
export function interleavedXYToPlanarYX(xy: Float32Array, height: number, width: number): Float32Array {
  const n = height * width;
  if (xy.length !== 2 * n) throw new RangeError(`flow has ${xy.length} values, expected 2x${height}x${width}`);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[i] = xy[2 * i + 1];
    out[n + i] = xy[2 * i];
  }
  return out;
}

/** Inverse of `interleavedXYToPlanarYX`: planar `(dy, dx)` → interleaved `(dx, dy)`. */
export function planarYXToInterleavedXY(flow: Float32Array, height: number, width: number): Float32Array {
  const n = height * width;
  if (flow.length !== 2 * n) throw new RangeError(`flow has ${flow.length} values, expected 2x${height}x${width}`);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = flow[n + i];
    out[2 * i + 1] = flow[i];
  }
  return out;
}

export interface ConsistencyOptions {
  /** Relative tolerance α1 (Sundaram et al. 2010): default 0.01. */
  alpha1?: number;
  /** Absolute tolerance α2 in px²: default 0.5. */
  alpha2?: number;
  /** 'binary' (default): 1 consistent, 0 not. 'soft': see `flowConsistency`. */
  mode?: 'binary' | 'soft';
}

/**
 * Forward-backward consistency check (Sundaram, Brox, Keutzer, ECCV 2010): the occlusion map.
 *
 * Inputs are two planar `(dy, dx)` flows, `2 x H x W`, between frames A and B:
 * - `flow` maps A's pixels into B: A(y, x) ↔ B(y + dy, x + dx), on A's grid;
 * - `reverse` maps B's pixels into A, on B's grid.
 * The usual pairing is `flow = computeFlow(prev, cur)` (backward, cur → prev) and
 * `reverse = computeFlow(prev, cur, { direction: 'forward' })` (prev → cur); the map then says
 * which pixels of the current frame are visible in the previous one.
 *
 * For pixel p of A, with w = flow(p) and ŵ = reverse(p + w) (bilinear), p is consistent iff
 *   |w + ŵ|² < α1 (|w|² + |ŵ|²) + α2.
 * A pixel whose match p + w falls outside B's image has no counterpart and gets 0.
 *
 * @returns `H x W` confidence on A's grid. 'binary': 1 or 0. 'soft': max(0, 1 − |w+ŵ|² / (2τ))
 *   with τ the right-hand side, so 1 for a perfect round trip, 0.5 exactly at the threshold
 *   (thresholding at 0.5 gives the binary map) and 0 at twice the tolerance.
 */
export function flowConsistency(
  flow: Float32Array,
  reverse: Float32Array,
  height: number,
  width: number,
  opts: ConsistencyOptions = {},
): Float32Array {
  const n = height * width;
  if (flow.length !== 2 * n || reverse.length !== 2 * n) {
    throw new RangeError(`flowConsistency: flows have ${flow.length} and ${reverse.length} values, expected 2x${height}x${width}`);
  }
  const alpha1 = opts.alpha1 ?? 0.01;
  const alpha2 = opts.alpha2 ?? 0.5;
  const soft = (opts.mode ?? 'binary') === 'soft';
  // ŵ(p + w) for every p at once: the reverse flow warped onto A's grid by the shared bilinear
  // warp; 'replicate' clamps like sampling at the border pixel centres.
  const back = warpBilinear(reverse, 2, height, width, flow, 'replicate');
  const out = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const dy = flow[i];
      const dx = flow[n + i];
      const ty = y + dy;
      const tx = x + dx;
      // Inside B's footprint (pixel centres ± 0.5); NaN flows fail this test too.
      if (!(ty >= -0.5 && ty <= height - 0.5 && tx >= -0.5 && tx <= width - 0.5)) continue;
      const by = back[i];
      const bx = back[n + i];
      const ey = dy + by;
      const ex = dx + bx;
      const err = ey * ey + ex * ex;
      const tol = alpha1 * (dy * dy + dx * dx + by * by + bx * bx) + alpha2;
      out[i] = soft ? Math.max(0, 1 - err / (2 * tol)) : err < tol ? 1 : 0;
    }
  }
  return out;
}
