/**
 * The maskprop engine's online appearance model (issue 10 item 3; FRTM's role, on a CPU): per
 * object, an L2-regularised logistic regression on frozen ImageNet backbone features, fitted in
 * closed form (Newton / IRLS, `ops/ridge.ts`) to the key-frames' masks, optionally refitted with
 * confident predicted frames.
 *
 * Features (one sample per stride-8 cell of the backbone input): s8 (32 ch) and s16 (96 ch)
 * sampled bilinearly at the s8 cell centres, each channel standardised with the key-frames' mean
 * and standard deviation, plus a bias column: d = 129. Receptive-field centres follow
 * models/backbone.ts: cell i of level s is centred on input pixel s*i + s - 1.
 * Targets: each cell's mean of the object's probability over the 8x8 pixels centred on the cell's
 * centre; classes balanced (positives, y >= 0.5, and negatives each carry half the weight).
 */
import type { BackboneFeatures, FeatureMap } from '../../models/backbone.js';
import { logisticRegression, predictLinear } from '../../ops/ridge.js';

/** Feature channels (s8 + s16) and the design width with the bias column. */
export const APPEARANCE_CHANNELS = 32 + 96;
export const APPEARANCE_DIM = APPEARANCE_CHANNELS + 1;
const STRIDE = 8;

/** Raw (unstandardised) cell features: row-major `n x APPEARANCE_CHANNELS`, n = cols * rows of the s8 grid. */
export interface CellFeatures {
  readonly cols: number;
  readonly rows: number;
  readonly data: Float32Array;
}

/** Sample s8 and s16 at the s8 cell centres (see the module comment). */
export function cellFeatures(f: BackboneFeatures): CellFeatures {
  const { s8, s16 } = f;
  const cols = s8.width;
  const rows = s8.height;
  const n = cols * rows;
  const C = APPEARANCE_CHANNELS;
  const out = new Float32Array(n * C);
  const plane8 = cols * rows;
  for (let i = 0; i < n; i++) for (let c = 0; c < s8.channels; c++) out[i * C + c] = s8.data[c * plane8 + i];
  sampleLevel(s16, cols, rows, STRIDE, out, C, s8.channels);
  return { cols, rows, data: out };
}

/** Bilinear samples of `level` at the centres of a `cols x rows` grid of stride `stride`, into columns from `offset`. */
function sampleLevel(level: FeatureMap, cols: number, rows: number, stride: number, out: Float32Array, C: number, offset: number): void {
  const { width: w, height: h, channels, data, stride: s } = level;
  const plane = w * h;
  const coord = (i: number, n: number) => {
    const v = Math.min(n - 1, Math.max(0, (stride * i + stride - 1 - (s - 1)) / s));
    const i0 = Math.floor(v);
    return { i0, i1: Math.min(n - 1, i0 + 1), f: v - i0 };
  };
  for (let r = 0; r < rows; r++) {
    const y = coord(r, h);
    for (let q = 0; q < cols; q++) {
      const x = coord(q, w);
      const o = (r * cols + q) * C + offset;
      const a = y.i0 * w + x.i0;
      const b = y.i0 * w + x.i1;
      const cc = y.i1 * w + x.i0;
      const dd = y.i1 * w + x.i1;
      const w00 = (1 - y.f) * (1 - x.f);
      const w01 = (1 - y.f) * x.f;
      const w10 = y.f * (1 - x.f);
      const w11 = y.f * x.f;
      for (let c = 0; c < channels; c++) {
        const p = c * plane;
        out[o + c] = w00 * data[p + a] + w01 * data[p + b] + w10 * data[p + cc] + w11 * data[p + dd];
      }
    }
  }
}

/** Per-channel standardisation (from the key-frames' cells). */
export interface Standardiser {
  readonly mean: Float32Array;
  readonly invStd: Float32Array;
}

export function standardiserOf(samples: readonly CellFeatures[]): Standardiser {
  const C = APPEARANCE_CHANNELS;
  const sum = new Float64Array(C);
  const sq = new Float64Array(C);
  let n = 0;
  for (const s of samples) {
    const m = s.cols * s.rows;
    for (let i = 0; i < m; i++)
      for (let c = 0; c < C; c++) {
        const v = s.data[i * C + c];
        sum[c] += v;
        sq[c] += v * v;
      }
    n += m;
  }
  const mean = new Float32Array(C);
  const invStd = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] = sum[c] / n;
    const v = Math.max(0, sq[c] / n - mean[c] * mean[c]);
    invStd[c] = 1 / Math.sqrt(v + 1e-4);
  }
  return { mean, invStd };
}

/** The design matrix `n x APPEARANCE_DIM` (standardised features clamped to ±10, bias last). */
export function design(cells: CellFeatures, st: Standardiser): Float32Array {
  const C = APPEARANCE_CHANNELS;
  const D = APPEARANCE_DIM;
  const n = cells.cols * cells.rows;
  const X = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) X[i * D + c] = Math.max(-10, Math.min(10, (cells.data[i * C + c] - st.mean[c]) * st.invStd[c]));
    X[i * D + C] = 1;
  }
  return X;
}

/**
 * The mean of a `W x H` probability plane over the 8x8 pixels centred on each cell centre of the
 * `cols x rows` s8 grid (pixels outside the plane are skipped).
 */
export function cellTargets(p: Float32Array, W: number, H: number, cols: number, rows: number): Float32Array {
  const out = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    const y0 = Math.max(0, STRIDE * r + 3);
    const y1 = Math.min(H, STRIDE * r + 11);
    for (let q = 0; q < cols; q++) {
      const x0 = Math.max(0, STRIDE * q + 3);
      const x1 = Math.min(W, STRIDE * q + 11);
      let s = 0;
      let m = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++, m++) s += p[y * W + x];
      out[r * cols + q] = m ? s / m : 0;
    }
  }
  return out;
}

/** Balanced sample weights for targets y (see the module comment); all 0 when a class is missing. */
export function balancedWeights(y: Float32Array, mask?: Uint8Array): Float32Array {
  const n = y.length;
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    if (y[i] >= 0.5) pos++;
    else neg++;
  }
  const w = new Float32Array(n);
  if (!pos || !neg) return w;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    w[i] = y[i] >= 0.5 ? n / (2 * pos) : n / (2 * neg);
  }
  return w;
}

/** One object's model: logits z = x·β. */
export interface ObjectModel {
  readonly beta: Float64Array;
}

export interface TrainingSet {
  readonly X: Float32Array;
  readonly y: Float32Array;
  readonly w: Float32Array;
  readonly n: number;
}

/** Concatenate training sets (rows). */
export function concatSets(sets: readonly TrainingSet[]): TrainingSet {
  const n = sets.reduce((a, s) => a + s.n, 0);
  const D = APPEARANCE_DIM;
  const X = new Float32Array(n * D);
  const y = new Float32Array(n);
  const w = new Float32Array(n);
  let o = 0;
  for (const s of sets) {
    X.set(s.X, o * D);
    y.set(s.y, o);
    w.set(s.w, o);
    o += s.n;
  }
  return { X, y, w, n };
}

/** Fit (or refit from `init`) one object's model; undefined when the set has no weight. */
export function fitObject(set: TrainingSet, lambda: number, init?: Float64Array, iterations = 10): ObjectModel | undefined {
  let S = 0;
  for (let i = 0; i < set.n; i++) S += set.w[i];
  if (!(S > 0)) return undefined;
  const beta = logisticRegression(set.X, set.y, set.w, set.n, APPEARANCE_DIM, {
    lambda,
    unpenalized: [APPEARANCE_DIM - 1],
    iterations,
    init,
  });
  return { beta };
}

/** Cell logits of a model on a design matrix. */
export function scoreCells(X: Float32Array, n: number, model: ObjectModel): Float32Array {
  return predictLinear(X, n, APPEARANCE_DIM, model.beta);
}

/**
 * Cell values (`cols x rows`) → a `W x H` pixel plane, bilinear between cell centres (cell i
 * centred on pixel 8i + 7), clamped at the borders.
 */
export function cellsToPixels(v: Float32Array, cols: number, rows: number, W: number, H: number): Float32Array {
  const out = new Float32Array(W * H);
  const xi0 = new Int32Array(W);
  const xi1 = new Int32Array(W);
  const xf = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const c = Math.min(cols - 1, Math.max(0, (x - (STRIDE - 1)) / STRIDE));
    xi0[x] = Math.floor(c);
    xi1[x] = Math.min(cols - 1, xi0[x] + 1);
    xf[x] = c - xi0[x];
  }
  for (let y = 0; y < H; y++) {
    const r = Math.min(rows - 1, Math.max(0, (y - (STRIDE - 1)) / STRIDE));
    const r0 = Math.floor(r);
    const r1 = Math.min(rows - 1, r0 + 1);
    const fy = r - r0;
    for (let x = 0; x < W; x++) {
      const a = v[r0 * cols + xi0[x]] * (1 - xf[x]) + v[r0 * cols + xi1[x]] * xf[x];
      const b = v[r1 * cols + xi0[x]] * (1 - xf[x]) + v[r1 * cols + xi1[x]] * xf[x];
      out[y * W + x] = a * (1 - fy) + b * fy;
    }
  }
  return out;
}

/**
 * The largest 4-connected component of cells with `v > 0` (a 0/1 mask of the grid) and its cell
 * count; the object's re-detection candidate.
 */
export function largestPositiveComponent(v: Float32Array, cols: number, rows: number): { mask: Uint8Array; cells: number } {
  const n = cols * rows;
  const label = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  let best = -1;
  let bestSize = 0;
  let next = 0;
  for (let s = 0; s < n; s++) {
    if (!(v[s] > 0) || label[s] >= 0) continue;
    const id = next++;
    let size = 0;
    label[s] = id;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop() as number;
      size++;
      const r = Math.floor(i / cols);
      const q = i - r * cols;
      const visit = (j: number) => {
        if (v[j] > 0 && label[j] < 0) {
          label[j] = id;
          stack.push(j);
        }
      };
      if (q > 0) visit(i - 1);
      if (q + 1 < cols) visit(i + 1);
      if (r > 0) visit(i - cols);
      if (r + 1 < rows) visit(i + cols);
    }
    if (size > bestSize) {
      bestSize = size;
      best = id;
    }
  }
  const mask = new Uint8Array(n);
  if (best >= 0) for (let i = 0; i < n; i++) mask[i] = label[i] === best ? 1 : 0;
  return { mask, cells: bestSize };
}
