/**
 * Middlebury `.flo` optical-flow files and the Middlebury colour coding of flow.
 *
 * File layout (Baker et al., "A Database and Evaluation Methodology for Optical Flow"; all
 * little-endian): float32 magic 202021.25 (the bytes "PIEH"), int32 width, int32 height, then
 * width*height pairs of float32 (u = dx, v = dy), row-major. Values above 1e9 mark unknown flow.
 *
 * In memory the flow uses vprop's planar layout: `2 x H x W`, channel 0 = dy, channel 1 = dx
 * (`flow[y * W + x]` = dy, `flow[H * W + y * W + x]` = dx). The conversion is exact.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../util/atomic.js';

export const FLO_MAGIC = 202021.25;
/** Middlebury's convention: |u| or |v| above this means "no flow known here". */
export const FLO_UNKNOWN_THRESHOLD = 1e9;
// Middlebury's own sanity bound on each dimension; a larger value means a corrupt header.
const MAX_DIM = 99999;

export interface FloImage {
  width: number;
  height: number;
  /** Planar `2 x H x W`: channel 0 dy, channel 1 dx. */
  flow: Float32Array;
}

/**
 * Parses `.flo` bytes. Throws `InputError(source, problem)` on a bad magic number, an impossible
 * size, or a length that does not match the header (truncated or trailing data).
 */
export function decodeFlo(bytes: Uint8Array, source = '<buffer>'): FloImage {
  if (bytes.length < 12) throw new InputError(source, `not a .flo file: ${bytes.length} bytes, shorter than the 12-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getFloat32(0, true);
  if (magic !== FLO_MAGIC) {
    const tag = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]).replace(/[^\x20-\x7e]/g, '?');
    throw new InputError(source, `not a .flo file: magic is "${tag}", expected "PIEH" (float 202021.25)`);
  }
  const width = view.getInt32(4, true);
  const height = view.getInt32(8, true);
  if (width < 1 || height < 1 || width > MAX_DIM || height > MAX_DIM) {
    throw new InputError(source, `corrupt .flo header: size ${width}x${height}`);
  }
  const n = width * height;
  const expected = 12 + 8 * n;
  if (bytes.length < expected) {
    throw new InputError(source, `truncated .flo: ${bytes.length} bytes, expected ${expected} for ${width}x${height}`);
  }
  if (bytes.length > expected) {
    throw new InputError(source, `.flo has ${bytes.length - expected} unexpected trailing bytes after ${width}x${height} flow`);
  }
  const flow = new Float32Array(2 * n);
  for (let i = 0, o = 12; i < n; i++, o += 8) {
    flow[n + i] = view.getFloat32(o, true); // u = dx
    flow[i] = view.getFloat32(o + 4, true); // v = dy
  }
  return { width, height, flow };
}

/** Serialises a planar `(dy, dx)` flow to `.flo` bytes. */
export function encodeFlo(flow: Float32Array, height: number, width: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > MAX_DIM || height > MAX_DIM) {
    throw new RangeError(`encodeFlo: invalid size ${width}x${height}`);
  }
  const n = width * height;
  if (flow.length !== 2 * n) throw new RangeError(`encodeFlo: flow has ${flow.length} values, expected 2x${height}x${width}`);
  const bytes = new Uint8Array(12 + 8 * n);
  const view = new DataView(bytes.buffer);
  view.setFloat32(0, FLO_MAGIC, true);
  view.setInt32(4, width, true);
  view.setInt32(8, height, true);
  for (let i = 0, o = 12; i < n; i++, o += 8) {
    view.setFloat32(o, flow[n + i], true);
    view.setFloat32(o + 4, flow[i], true);
  }
  return bytes;
}

/** Reads a `.flo` file; errors name the file. */
export async function readFlo(path: string): Promise<FloImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  return decodeFlo(bytes, path);
}

/** Writes a `.flo` file atomically (temporary sibling, then rename). */
export async function writeFlo(path: string, flow: Float32Array, height: number, width: number): Promise<void> {
  await writeFileAtomic(path, encodeFlo(flow, height, width));
}

/**
 * The Middlebury colour wheel (Baker et al.; `colorcode.cpp`): 55 hues in six ramps
 * red→yellow 15, yellow→green 6, green→cyan 4, cyan→blue 11, blue→magenta 13, magenta→red 6.
 * @returns `55 x 3` RGB in 0..255, row-major
 */
export function middleburyColorWheel(): Float32Array {
  const ramps: [number, number, number, number][] = [
    // [steps, channel that moves, direction (+1 rises to 255, -1 falls to 0), channel held at 255]
    [15, 1, +1, 0], // RY: R = 255, G rises
    [6, 0, -1, 1], // YG: G = 255, R falls
    [4, 2, +1, 1], // GC: G = 255, B rises
    [11, 1, -1, 2], // CB: B = 255, G falls
    [13, 0, +1, 2], // BM: B = 255, R rises
    [6, 2, -1, 0], // MR: R = 255, B falls
  ];
  const ncols = ramps.reduce((s, r) => s + r[0], 0);
  const wheel = new Float32Array(ncols * 3);
  let k = 0;
  for (const [steps, moving, dir, held] of ramps) {
    for (let i = 0; i < steps; i++, k++) {
      const t = Math.floor((255 * i) / steps);
      wheel[k * 3 + held] = 255;
      wheel[k * 3 + moving] = dir > 0 ? t : 255 - t;
    }
  }
  return wheel;
}

export interface FlowColorOptions {
  /**
   * Flow magnitude (px) that maps to full saturation. Default: the largest known magnitude in
   * this flow (Middlebury's per-image normalisation); pass a fixed value to compare frames.
   */
  maxFlow?: number;
}

/**
 * Middlebury colour coding of a planar `(dy, dx)` flow: hue = direction, saturation = magnitude
 * relative to `maxFlow`, white = no motion; beyond `maxFlow` the colour is darkened by 0.75;
 * unknown (|u| or |v| > 1e9, NaN) pixels are black.
 * @returns interleaved RGB, `H x W x 3`
 */
export function flowToColor(flow: Float32Array, height: number, width: number, opts: FlowColorOptions = {}): Uint8Array {
  const n = height * width;
  if (flow.length !== 2 * n) throw new RangeError(`flowToColor: flow has ${flow.length} values, expected 2x${height}x${width}`);
  const known = (u: number, v: number) =>
    Number.isFinite(u) && Number.isFinite(v) && Math.abs(u) <= FLO_UNKNOWN_THRESHOLD && Math.abs(v) <= FLO_UNKNOWN_THRESHOLD;
  let maxRad = opts.maxFlow ?? 0;
  if (opts.maxFlow === undefined) {
    for (let i = 0; i < n; i++) {
      const v = flow[i];
      const u = flow[n + i];
      if (known(u, v)) maxRad = Math.max(maxRad, Math.hypot(u, v));
    }
  }
  // Guard against all-zero flow (and a zero maxFlow): everything then codes as white.
  const scale = maxRad > 0 ? 1 / maxRad : 0;
  const wheel = middleburyColorWheel();
  const ncols = wheel.length / 3;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = flow[i];
    const u = flow[n + i];
    if (!known(u, v)) continue; // black
    const fu = u * scale;
    const fv = v * scale;
    const rad = Math.hypot(fu, fv);
    const a = Math.atan2(-fv, -fu) / Math.PI; // -1..1, as in colorcode.cpp
    const fk = ((a + 1) / 2) * (ncols - 1);
    const k0 = Math.floor(fk);
    const k1 = k0 + 1 === ncols ? 0 : k0 + 1;
    const f = fk - k0;
    for (let c = 0; c < 3; c++) {
      const col = ((1 - f) * wheel[k0 * 3 + c] + f * wheel[k1 * 3 + c]) / 255;
      const shaded = rad <= 1 ? 1 - rad * (1 - col) : col * 0.75;
      out[i * 3 + c] = Math.floor(255 * shaded);
    }
  }
  return out;
}
