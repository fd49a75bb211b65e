/**
 * Simulated per-frame segmenter: turns a ground-truth label image into the probability map a
 * static (frame-by-frame) CNN might produce, with the structured errors GRFP is meant to fix.
 * Used to train and evaluate the STGRU (training/, bench/grfp.ts); it is NOT a segmenter.
 *
 * Error model (every random quantity is a hash of (seed, frame, ...): deterministic, random access):
 * - boundary jitter: labels resampled through a smooth displacement field (amplitude `jitter` px,
 *   new every frame → boundaries flicker);
 * - missed thin parts and rounded corners: each class's one-hot map is box-blurred (radius `blur`
 *   px) before the decision, so structures thinner than about the radius fall below the others;
 * - erosion/dilation: a per-class bias (a fixed part per clip plus a per-frame part of std
 *   `erosion`) shifts every class boundary in or out;
 * - class confusion in regions: where a slowly drifting noise field exceeds its (1 − `confusion`)
 *   quantile, each class is replaced by a fixed (per clip) partner class;
 * - flicker: the same with a field drawn independently every frame (`flicker` of the area);
 * - pixel noise and a per-frame temperature (calibration changes from frame to frame).
 * Lengths scale with `scale` (default min(W, H) / 240).
 */

import type { LabelImage, PropertyMap } from '../../core/types.js';
import { fbmGrid } from '../../synth/noise.js';
import { hash3, hashUnit } from '../../util/rng.js';

export interface SimulateOptions {
  readonly seed: number;
  /** Multiplies every error magnitude below (0 = perfect soft labels). Default 1. */
  readonly strength?: number;
  /** Boundary displacement amplitude in px at scale 1 (default 2.5). */
  readonly jitter?: number;
  /** Box-blur radius in px at scale 1 (default 3). */
  readonly blur?: number;
  /** Std of the per-frame class bias (default 0.12); the per-clip part is ±0.1. */
  readonly erosion?: number;
  /** Area fraction of slowly drifting confusion regions (default 0.06). */
  readonly confusion?: number;
  /** Area fraction of per-frame flicker regions (default 0.025). */
  readonly flicker?: number;
  /** Pixel noise std on the scores (default 0.08). */
  readonly noise?: number;
  /** Length scale; default min(W, H) / 240. */
  readonly scale?: number;
}

function unitHash(seed: number, a: number, b: number): number {
  return hashUnit(seed, a, b);
}

/** Approximately standard-normal from hashes (sum of 4 uniforms, rescaled). */
function gauss(seed: number, a: number, b: number): number {
  let s = 0;
  for (let k = 0; k < 4; k++) s += hashUnit(seed, a, (b * 4 + k) | 0);
  return (s - 2) * Math.sqrt(3);
}

/** Value in [0, 1) of a field that drifts smoothly in time: fbm slices every `period` frames, interpolated. */
function driftingField(W: number, H: number, cell: number, seed: number, t: number, period: number): Float32Array {
  const k = Math.floor(t / period);
  const f = t / period - k;
  const w = f * f * (3 - 2 * f);
  const a = fbmGrid(W, H, 0, 0, 1, 1 / cell, 1 / cell, hash3(seed, k, 11), 3);
  if (w === 0) return a;
  const b = fbmGrid(W, H, 0, 0, 1, 1 / cell, 1 / cell, hash3(seed, k + 1, 11), 3);
  for (let i = 0; i < a.length; i++) a[i] += (b[i] - a[i]) * w;
  return a;
}

/** Soft indicator of the top `fraction` of `field` (a 256-bin histogram quantile and a 0.02-wide ramp). */
function topRegion(field: Float32Array, fraction: number): Float32Array {
  const out = new Float32Array(field.length);
  if (fraction <= 0) return out;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of field) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const bins = new Int32Array(256);
  const span = hi - lo || 1;
  for (const v of field) bins[Math.min(255, Math.floor(((v - lo) / span) * 256))]++;
  let need = fraction * field.length;
  let b = 255;
  for (; b > 0 && need > 0; b--) need -= bins[b];
  const tau = lo + ((b + 1) / 256) * span;
  const ramp = 0.02 * span + 1e-6;
  for (let i = 0; i < field.length; i++) {
    const x = (field[i] - tau) / ramp + 0.5;
    out[i] = x <= 0 ? 0 : x >= 1 ? 1 : x * x * (3 - 2 * x);
  }
  return out;
}

/** Separable box blur of radius r (edge-clamped windows, normalised by the window size). */
function boxBlur(src: Float32Array, W: number, H: number, r: number): Float32Array {
  if (r < 1) return src.slice();
  const tmp = new Float32Array(W * H);
  const out = new Float32Array(W * H);
  const row = new Float64Array(W + 1);
  for (let y = 0; y < H; y++) {
    row[0] = 0;
    for (let x = 0; x < W; x++) row[x + 1] = row[x] + src[y * W + x];
    for (let x = 0; x < W; x++) {
      const a = Math.max(0, x - r);
      const b = Math.min(W, x + r + 1);
      tmp[y * W + x] = (row[b] - row[a]) / (b - a);
    }
  }
  const col = new Float64Array(H + 1);
  for (let x = 0; x < W; x++) {
    col[0] = 0;
    for (let y = 0; y < H; y++) col[y + 1] = col[y] + tmp[y * W + x];
    for (let y = 0; y < H; y++) {
      const a = Math.max(0, y - r);
      const b = Math.min(H, y + r + 1);
      out[y * W + x] = (col[b] - col[a]) / (b - a);
    }
  }
  return out;
}

/**
 * The simulated per-frame estimate of frame `t` from its ground truth `labels` (ids < C).
 * @returns probabilities, planar C x H x W
 */
export function simulatePerFrame(labels: LabelImage, C: number, t: number, opts: SimulateOptions): PropertyMap {
  const { width: W, height: H } = labels;
  const n = W * H;
  const seed = opts.seed >>> 0;
  const s = opts.strength ?? 1;
  const scale = opts.scale ?? Math.min(W, H) / 240;
  const jitter = (opts.jitter ?? 2.5) * scale * s;
  const blur = Math.round((opts.blur ?? 3) * scale * Math.min(1, s));
  const erosion = (opts.erosion ?? 0.12) * s;
  const confusion = (opts.confusion ?? 0.06) * s;
  const flicker = (opts.flicker ?? 0.025) * s;
  const noise = (opts.noise ?? 0.08) * s;
  for (let i = 0; i < n; i++)
    if (labels.data[i] >= C) throw new RangeError(`simulatePerFrame: label ${labels.data[i]} at pixel ${i} is not below ${C}`);

  // 1. Boundary jitter: nearest resampling through a smooth per-frame displacement field.
  let lab = labels.data;
  if (jitter > 0) {
    const cell = 24 * scale;
    const fy = fbmGrid(W, H, 0, 0, 1, 1 / cell, 1 / cell, hash3(seed, t, 1), 2);
    const fx = fbmGrid(W, H, 0, 0, 1, 1 / cell, 1 / cell, hash3(seed, t, 2), 2);
    lab = new Uint8Array(n);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        const sy = Math.min(H - 1, Math.max(0, Math.round(y + (fy[i] - 0.5) * 4 * jitter)));
        const sx = Math.min(W - 1, Math.max(0, Math.round(x + (fx[i] - 0.5) * 4 * jitter)));
        lab[i] = labels.data[sy * W + sx];
      }
    }
  }
  // 2. Blurred one-hot maps plus class biases: thin parts vanish, boundaries move in or out.
  const scores = new Float32Array(C * n);
  const present = new Uint8Array(C);
  for (let i = 0; i < n; i++) present[lab[i]] = 1;
  const onehot = new Float32Array(n);
  for (let c = 0; c < C; c++) {
    const bias = (unitHash(seed, 0x100 + c, 7) - 0.5) * 0.2 * s + erosion * gauss(seed, t, 0x200 + c);
    const off = c * n;
    if (!present[c]) {
      scores.fill(bias - 0.2, off, off + n);
      continue;
    }
    for (let i = 0; i < n; i++) onehot[i] = lab[i] === c ? 1 : 0;
    const b = boxBlur(onehot, W, H, blur);
    for (let i = 0; i < n; i++) scores[off + i] = b[i] + bias;
  }
  // 3. Confusion (slowly drifting regions) and flicker (per-frame regions): class c → partner(c).
  if (C > 1 && (confusion > 0 || flicker > 0)) {
    const partner = new Int32Array(C);
    for (let c = 0; c < C; c++) partner[c] = (c + 1 + Math.floor(unitHash(seed, 0x300 + c, 3) * (C - 1))) % C;
    const region = new Float32Array(n);
    if (confusion > 0) {
      const m = topRegion(driftingField(W, H, 40 * scale, hash3(seed, 0x400, 0), t, 12), confusion);
      for (let i = 0; i < n; i++) region[i] = m[i];
    }
    if (flicker > 0) {
      const m = topRegion(fbmGrid(W, H, 0, 0, 1, 1 / (20 * scale), 1 / (20 * scale), hash3(seed, t, 0x500), 2), flicker);
      for (let i = 0; i < n; i++) region[i] = Math.max(region[i], m[i]);
    }
    for (let i = 0; i < n; i++) {
      const m = region[i];
      if (m === 0) continue;
      const c = lab[i];
      const p = partner[c];
      scores[p * n + i] += m * 1.2;
      scores[c * n + i] -= m * 0.4;
    }
  }
  // 4. Pixel noise, per-frame temperature, softmax.
  const kappa = 5 + 4 * unitHash(seed, t, 0x600);
  const out = new Float32Array(C * n);
  const nseed = hash3(seed, t, 0x700);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) {
      const v = kappa * (scores[c * n + i] + (noise > 0 ? noise * (hashUnit(nseed, i, c) - 0.5) * 3.46 : 0));
      out[c * n + i] = v;
      if (v > m) m = v;
    }
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(out[c * n + i] - m);
      out[c * n + i] = e;
      sum += e;
    }
    for (let c = 0; c < C; c++) out[c * n + i] /= sum;
  }
  return { width: W, height: H, channels: C, data: out };
}

/** A uint32 seed from a name (FNV-1a), e.g. a per-sequence seed for `simulatePerFrame`. */
export function seedFromName(name: string, salt = 0): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The seed of the simulated per-frame estimates of a DAVIS sequence (training data and bench/grfp.ts). */
export function davisSimSeed(sequence: string): number {
  return hash3(0xda115, seedFromName(sequence), 5);
}

/** The seed of the simulated per-frame estimates of a synthetic scene for a task. */
export function synthSimSeed(sceneSeed: number, task: 'labels' | 'masks'): number {
  return hash3(sceneSeed, task === 'labels' ? 0x1ab : 0x3a5, 0);
}
