/**
 * SLIC superpixels (Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
 * Methods", TPAMI 2012), the pre-processing of VPN's superpixel variant (ANCHORS §3.1).
 *
 * Layout: input is interleaved 8-bit RGB, row-major, `H x W x 3`; output `labels` is row-major
 * `H x W` with values `0..count-1`, every value used (contiguous).
 *
 * Reference settings and how they map here (VPN `lib/compute_superpixels.cpp` → gSLICr):
 * - `no_segs 12000`, `seg_method GIVEN_NUM`: gSLICr then IGNORES `spixel_size 16` and derives its
 *   own cell size from the segment count. So the anchor's "12000 segments" and "spixel_size 16"
 *   (which alone would give (854/16)·(480/16) ≈ 1600 cells) do not contradict in the reference:
 *   only the count is live. Here `segments` is the one knob: grid step S = sqrt(W·H/segments)
 *   (≈ 5.85 px for 12000 at 854x480). (gSLICr computes ceil(sqrt(W·W/no_segs)), squaring the
 *   width by mistake in the released code, which at 854x480 gives 8 px cells and ≈ 6360
 *   superpixels; we follow the stated intent, 12000, not that slip.)
 * - `coh_weight 1.5` on gSLICr's normalisation: D² = dc²·(15/(√3·128))² + w·ds²/(1.4242·s)².
 *   Scaling to the textbook form D² = dc² + (ds/S)²·m² gives m² = w·((√3·128/15)²/1.4242²),
 *   i.e. m ≈ 12.71 for w = 1.5 (with S = the cell size). That is `GSLICR_COMPACTNESS`, the
 *   default `compactness`; `compactnessFromCohWeight` converts other weights.
 * - CIELAB, 5 iterations, connectivity enforced: as here. gSLICr's "connectivity" pass is only a
 *   local 5x5 label vote, which does not guarantee connected superpixels; we run the standard
 *   SLIC component relabelling instead (VPN's features assume each superpixel is one blob).
 * - gSLICr converts gamma-encoded RGB to Lab without sRGB decoding; `colorSpace: 'gslicr'`
 *   reproduces that, the default `'cielab'` is proper sRGB → CIE Lab (D65).
 *
 * Speed (issue 13): by default the k-means iterations but the last run on the 2x-decimated pixel
 * grid and the last assigns each pixel among the clusters of its 4 nearest decimated pixels
 * (`multiscale`); on DAVIS this keeps boundary recall and under-segmentation of full-resolution
 * SLIC at ≈ 0.4 of its time (bench/RESULTS.md, "SLIC speed"). `multiscale: false` is the textbook
 * algorithm, bit for bit the earlier implementation.
 *
 * Backend (issue 13): the kernels also exist in WebAssembly (`assembly/slic.ts`, loaded by
 * `slic-wasm.ts`), used by default where WebAssembly SIMD is available (Node, current browsers):
 * same float64 operations in the same order, so the result is bit-identical to the TypeScript
 * kernels here, which stay the reference (`setSlicBackend('typescript')` or env `VPROP_WASM=0`).
 */
import { type SlicPlan, wasmSlic } from './slic-wasm.js';

export { initSlicWasm, releaseSlicWasm, type SlicBackend, setSlicBackend, slicBackend, slicWasmMemoryBytes } from './slic-wasm.js';

/** gSLICr's `coh_weight` mapped to the textbook SLIC compactness `m` (see module comment). */
export function compactnessFromCohWeight(cohWeight: number): number {
  const colorNorm = 15 / (1.7321 * 128); // gSLICr max_color_dist for CIELAB (before squaring)
  const xyNorm = 1.4242; // gSLICr max_xy_dist = 1/(1.4242·s)
  return Math.sqrt(cohWeight / (colorNorm * colorNorm * xyNorm * xyNorm));
}

/** Compactness equivalent to VPN's gSLICr setting `coh_weight 1.5` (≈ 12.71). */
export const GSLICR_COMPACTNESS = compactnessFromCohWeight(1.5);

export interface SlicOptions {
  /** Target number of superpixels; sets the grid step S = sqrt(W·H/segments). Default 12000. */
  segments?: number;
  /** Textbook SLIC m in D = sqrt(dc² + (ds/S)²·m²), dc in Lab units. Default GSLICR_COMPACTNESS. */
  compactness?: number;
  /** k-means iterations (assignment + update). Default 5 (gSLICr `no_iters`). */
  iterations?: number;
  /**
   * Default true: run all but the last iteration on every other pixel of every other row, then
   * assign each pixel to the best of the (at most 4) clusters that hold the decimated pixels
   * around it; about 2.5x faster at 12000 segments. false: textbook SLIC, every iteration at full
   * resolution, each pixel compared with every centre whose 2S x 2S window covers it. With
   * `iterations` 1 both modes are that one full-resolution iteration.
   */
  multiscale?: boolean;
  /**
   * Stop early when an update leaves every centre exactly where it was, since the remaining
   * iterations (at that resolution) would repeat the same assignment. Default true; the result
   * is the same either way, false only costs time.
   */
  stopWhenConverged?: boolean;
  /** Relabel 4-connected components and absorb small ones. Default true. */
  enforceConnectivity?: boolean;
  /** Components smaller than this fraction of the mean cell area are merged into a neighbour. Default 0.25. */
  minSizeFactor?: number;
  /** 'cielab': sRGB-decoded CIE Lab (default); 'gslicr': gSLICr's Lab of gamma-encoded values. */
  colorSpace?: 'cielab' | 'gslicr';
  /**
   * Scratch buffers from `createSlicWorkspace(width, height)`, reused across frames of one size by
   * the TypeScript kernels (the WebAssembly ones keep their own, in the module's memory).
   */
  workspace?: SlicWorkspace;
}

/**
 * Per-frame-size scratch memory (~12 MB at 854x480). Passing one to `slic` for every frame of a
 * video avoids re-allocating and page-faulting these buffers each call; the result never aliases it.
 */
export interface SlicWorkspace {
  readonly width: number;
  readonly height: number;
  /** Interleaved (L, a, b), 3·W·H. */
  readonly lab: Float32Array;
  /** Best squared distance per pixel in the current assignment, W·H (the decimated pass uses the front). */
  readonly dist: Float32Array;
  /** k-means cluster id per pixel, W·H. */
  readonly cluster: Int32Array;
  /** Flood-fill queue, W·H. */
  readonly queue: Int32Array;
  /** Interleaved (L, a, b) of the pixels (2i, 2j): 3·ceil(W/2)·ceil(H/2). */
  readonly coarseLab: Float32Array;
  /** Cluster id per decimated pixel, ceil(W/2)·ceil(H/2). */
  readonly coarseCluster: Int32Array;
}

export function createSlicWorkspace(width: number, height: number): SlicWorkspace {
  const n = width * height;
  const m = Math.ceil(width / 2) * Math.ceil(height / 2);
  return {
    width,
    height,
    lab: new Float32Array(n * 3),
    dist: new Float32Array(n),
    cluster: new Int32Array(n),
    queue: new Int32Array(n),
    coarseLab: new Float32Array(m * 3),
    coarseCluster: new Int32Array(m),
  };
}

export interface SlicResult {
  /** Row-major H x W superpixel ids, contiguous 0..count-1. */
  labels: Int32Array;
  /** Number of superpixels K. */
  count: number;
  /**
   * Iterations actually run: fewer than asked when an update left every centre exactly where it
   * was (the remaining iterations of that resolution would repeat the same assignment).
   */
  iterations: number;
}

/**
 * Cluster centres, interleaved (L, a, b, x, y) per centre so one centre is one or two cache lines
 * (the final assignment reads them in data-dependent order); `sums` and `counts` are update scratch.
 */
interface Centres {
  k: number;
  v: Float64Array;
  sums: Float64Array;
  counts: Int32Array;
}

/**
 * Segment an RGB frame into SLIC superpixels.
 * @param rgb interleaved RGB bytes, length width·height·3.
 */
export function slic(rgb: Uint8Array | Uint8ClampedArray, width: number, height: number, opts: SlicOptions = {}): SlicResult {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`slic: width and height must be positive integers, got ${width}x${height}`);
  }
  const n = width * height;
  if (rgb.length !== n * 3) {
    throw new RangeError(`slic: rgb has ${rgb.length} bytes, expected ${n * 3} for ${width}x${height}x3`);
  }
  const segments = opts.segments ?? 12000;
  const compactness = opts.compactness ?? GSLICR_COMPACTNESS;
  const iterations = opts.iterations ?? 5;
  const multiscale = opts.multiscale ?? true;
  const stopWhenConverged = opts.stopWhenConverged ?? true;
  const enforce = opts.enforceConnectivity ?? true;
  const minSizeFactor = opts.minSizeFactor ?? 0.25;
  if (!(segments >= 1)) throw new RangeError(`slic: segments must be >= 1, got ${segments}`);
  if (!(compactness > 0)) throw new RangeError(`slic: compactness must be > 0, got ${compactness}`);
  if (!Number.isInteger(iterations) || iterations < 0) {
    throw new RangeError(`slic: iterations must be a non-negative integer, got ${iterations}`);
  }

  if (opts.workspace && (opts.workspace.width !== width || opts.workspace.height !== height)) {
    throw new RangeError(`slic: workspace is for ${opts.workspace.width}x${opts.workspace.height}, frame is ${width}x${height}`);
  }

  // Grid: nx·ny ≈ segments cells, per-axis steps stretched so the cells tile the frame exactly
  // (as Achanta's code spreads the remainder over the strips).
  const step = Math.sqrt(n / segments);
  const nx = Math.min(width, Math.max(1, Math.round(width / step)));
  const ny = Math.min(height, Math.max(1, Math.round(height / step)));
  const k = nx * ny;
  const stepX = width / nx;
  const stepY = height / ny;
  const S = Math.sqrt(n / k);
  const spatialWeight = (compactness / S) * (compactness / S);
  // Window half-widths: S, widened on an axis whose stretched step is longer so windows still overlap.
  const rx = Math.max(S, stepX);
  const ry = Math.max(S, stepY);
  const minSize = Math.max(1, minSizeFactor * S * S);
  const tables = labTables(opts.colorSpace ?? 'cielab');

  const plan: SlicPlan = {
    width,
    height,
    nx,
    ny,
    stepX,
    stepY,
    spatialWeight,
    rx,
    ry,
    iterations,
    multiscale,
    stopWhenConverged,
    enforceConnectivity: enforce,
    minSize,
    ...tables,
  };
  const viaWasm = wasmSlic(rgb, plan);
  if (viaWasm) return viaWasm;

  const ws = opts.workspace ?? createSlicWorkspace(width, height);
  // Interleaved (L, a, b) per pixel: the assignment loop reads all three together.
  const lab = ws.lab;
  rgbToLab(rgb, n, lab, tables);

  const C: Centres = {
    k,
    v: new Float64Array(k * 5),
    sums: new Float64Array(k * 5),
    counts: new Int32Array(k),
  };
  seedCentres(lab, width, height, nx, ny, stepX, stepY, C);

  const dist = ws.dist;

  let done = 0;
  const labels = ws.cluster;
  if (multiscale && iterations >= 2) {
    // Iterations 1..N-1 on the pixels (2i, 2j): the centres only need good means, which a quarter
    // of the pixels gives at a quarter of the cost; the final assignment then places boundaries at
    // full resolution (DAVIS quality against textbook SLIC: bench/RESULTS.md, "SLIC speed").
    const cw = Math.ceil(width / 2);
    const ch = Math.ceil(height / 2);
    const clab = ws.coarseLab;
    const clabels = ws.coarseCluster;
    decimateLab(lab, width, height, clab);
    gridLabels(clabels, cw, ch, 2, nx, ny, stepX, stepY);
    for (let it = 0; it < iterations - 1; it++) {
      assign(clab, cw, ch, 2, C, rx, ry, spatialWeight, dist, clabels);
      done++;
      // Unchanged centres would repeat this assignment: the remaining coarse iterations are no-ops.
      if (!updateCentres(clabels, clab, cw, ch, 2, C) && stopWhenConverged) break;
    }
    refineAssign(lab, width, height, clabels, C, spatialWeight, labels);
    done++;
  } else {
    gridLabels(labels, width, height, 1, nx, ny, stepX, stepY);
    for (let it = 0; it < iterations; it++) {
      assign(lab, width, height, 1, C, rx, ry, spatialWeight, dist, labels);
      done++;
      // The centres after the last assignment are not used: skip that update.
      if (it === iterations - 1 || (!updateCentres(labels, lab, width, height, 1, C) && stopWhenConverged)) break;
    }
  }

  const res = enforce ? enforceConnectivity(labels, width, height, minSize, ws.queue) : compactLabels(labels, k);
  return { ...res, iterations: done };
}

/**
 * Fallback labels for pixels no window reaches in an iteration: their grid cell. `stride` is the
 * pixel spacing of the (possibly decimated) grid `labels` covers, `w x h` its size.
 */
function gridLabels(labels: Int32Array, w: number, h: number, stride: number, nx: number, ny: number, stepX: number, stepY: number): void {
  const colCell = new Int32Array(w);
  for (let x = 0; x < w; x++) colCell[x] = Math.min(nx - 1, Math.floor((x * stride) / stepX));
  for (let y = 0; y < h; y++) {
    const row = Math.min(ny - 1, Math.floor((y * stride) / stepY)) * nx;
    const base = y * w;
    for (let x = 0; x < w; x++) labels[base + x] = row + colCell[x];
  }
}

/**
 * The multiscale final assignment. Pixel (x, y) lies in the 2x2 block of decimated pixels
 * (i..i+1, j..j+1) with i = floor(x/2), j = floor(y/2); it takes the cluster, among those the
 * block's corners hold, at the least SLIC distance (ties to the lower index). Where all four
 * corners agree, which is most of the frame, nothing is computed. Boundaries are thereby placed
 * at full resolution, but only between clusters that meet there at half resolution.
 */
function refineAssign(
  lab: Float32Array,
  width: number,
  height: number,
  clabels: Int32Array,
  C: Centres,
  w: number,
  labels: Int32Array,
): void {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const cv = C.v;
  const cand = new Int32Array(4);
  for (let j = 0; j < ch; j++) {
    const j1 = Math.min(ch - 1, j + 1);
    const y0 = 2 * j;
    const y1 = Math.min(height - 1, y0 + 1);
    for (let i = 0; i < cw; i++) {
      const i1 = Math.min(cw - 1, i + 1);
      const c00 = clabels[j * cw + i];
      const c10 = clabels[j * cw + i1];
      const c01 = clabels[j1 * cw + i];
      const c11 = clabels[j1 * cw + i1];
      const x0 = 2 * i;
      const x1 = Math.min(width - 1, x0 + 1);
      if (c00 === c10 && c00 === c01 && c00 === c11) {
        labels[y0 * width + x0] = c00;
        labels[y0 * width + x1] = c00;
        labels[y1 * width + x0] = c00;
        labels[y1 * width + x1] = c00;
        continue;
      }
      let m = 0;
      cand[m++] = c00;
      if (c10 !== c00) cand[m++] = c10;
      if (c01 !== c00 && c01 !== c10) cand[m++] = c01;
      if (c11 !== c00 && c11 !== c10 && c11 !== c01) cand[m++] = c11;
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const p = y * width + x;
          const q = p * 3;
          const L = lab[q];
          const A = lab[q + 1];
          const B = lab[q + 2];
          let bc = cand[0];
          let best = slicDistance(L, A, B, x, y, cv, bc * 5, w);
          for (let t = 1; t < m; t++) {
            const c = cand[t];
            const d = slicDistance(L, A, B, x, y, cv, c * 5, w);
            if (d < best || (d === best && c < bc)) {
              best = d;
              bc = c;
            }
          }
          labels[p] = bc;
        }
      }
    }
  }
}

/** Squared SLIC distance of pixel (L, A, B, x, y) to the centre at `cv[o..o+4]`. */
function slicDistance(L: number, A: number, B: number, x: number, y: number, cv: Float64Array, o: number, w: number): number {
  const dl = L - cv[o];
  const da = A - cv[o + 1];
  const db = B - cv[o + 2];
  const dx = x - cv[o + 3];
  const dy = y - cv[o + 4];
  return dl * dl + da * da + db * db + (dx * dx + dy * dy) * w;
}

/** Gather the (L, a, b) of the pixels (2i, 2j) into a ceil(W/2) x ceil(H/2) image. */
function decimateLab(lab: Float32Array, width: number, height: number, out: Float32Array): void {
  let o = 0;
  for (let y = 0; y < height; y += 2) {
    for (let j = y * width * 3, end = (y + 1) * width * 3; j < end; j += 6) {
      out[o++] = lab[j];
      out[o++] = lab[j + 1];
      out[o++] = lab[j + 2];
    }
  }
}

/**
 * One SLIC assignment step over a `w x h` grid whose pixel (i, j) sits at (stride·i, stride·j) in
 * the frame: each centre scans the grid points of its 2rx x 2ry window and claims those it is
 * closest to (squared distance, so no sqrt). Kept separate so V8 optimises this hot loop alone.
 */
function assign(
  lab: Float32Array,
  w: number,
  h: number,
  stride: number,
  C: Centres,
  rx: number,
  ry: number,
  spatialWeight: number,
  dist: Float32Array,
  labels: Int32Array,
): void {
  dist.fill(Infinity, 0, w * h);
  const { k, v: cv } = C;
  for (let c = 0, o = 0; c < k; c++, o += 5) {
    const l0 = cv[o];
    const a0 = cv[o + 1];
    const b0 = cv[o + 2];
    const x0 = cv[o + 3];
    const y0 = cv[o + 4];
    const xs = Math.max(0, Math.ceil((x0 - rx) / stride));
    const xe = Math.min(w - 1, Math.floor((x0 + rx) / stride));
    const ys = Math.max(0, Math.ceil((y0 - ry) / stride));
    const ye = Math.min(h - 1, Math.floor((y0 + ry) / stride));
    for (let y = ys; y <= ye; y++) {
      const dy = y * stride - y0;
      const dyTerm = dy * dy * spatialWeight;
      const end = y * w + xe;
      let dx = xs * stride - x0;
      for (let i = y * w + xs, j = i * 3; i <= end; i++, j += 3, dx += stride) {
        const dl = lab[j] - l0;
        const da = lab[j + 1] - a0;
        const db = lab[j + 2] - b0;
        const d = dl * dl + da * da + db * db + dx * dx * spatialWeight + dyTerm;
        // Strict < : ties go to the lower centre index, which keeps results deterministic.
        if (d < dist[i]) {
          dist[i] = d;
          labels[i] = c;
        }
      }
    }
  }
}

/** Entries of the f(t) table; linear interpolation keeps the L error below 1e-3. */
const F_TABLE_SIZE = 4096;

/**
 * The Lab conversion's tables (shared by both backends, so that they convert with the same
 * numbers): `lin`, the 256-entry transfer function (sRGB decode); `f`, f(t) = cbrt-or-linear
 * sampled on [0, 1]; `m`, the sRGB → XYZ matrix rows pre-divided by the reference white and scaled
 * to table coordinates, row-major.
 */
function labTables(space: 'cielab' | 'gslicr'): { lin: Float64Array; f: Float64Array; m: Float64Array } {
  const lin = new Float64Array(256);
  for (let v = 0; v < 256; v++) {
    const c = v / 255;
    lin[v] = space === 'gslicr' ? c : c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }
  const eps = 0.008856;
  const kappa = 903.3;
  // One spare sample so that t = 1 (and rounding just above it) interpolates in range.
  const f = new Float64Array(F_TABLE_SIZE + 2);
  for (let q = 0; q < f.length; q++) {
    const t = q / F_TABLE_SIZE;
    f[q] = t > eps ? Math.cbrt(t) : (kappa * t + 16) / 116;
  }
  // sRGB (D65) → XYZ rows (gSLICr's coefficients), pre-divided by the reference white.
  const xn = 0.950456;
  const zn = 1.088754;
  const m00 = (0.412453 / xn) * F_TABLE_SIZE;
  const m01 = (0.35758 / xn) * F_TABLE_SIZE;
  const m02 = (0.180423 / xn) * F_TABLE_SIZE;
  const m10 = 0.212671 * F_TABLE_SIZE;
  const m11 = 0.71516 * F_TABLE_SIZE;
  const m12 = 0.072169 * F_TABLE_SIZE;
  const m20 = (0.019334 / zn) * F_TABLE_SIZE;
  const m21 = (0.119193 / zn) * F_TABLE_SIZE;
  const m22 = (0.950227 / zn) * F_TABLE_SIZE;
  return { lin, f, m: Float64Array.of(m00, m01, m02, m10, m11, m12, m20, m21, m22) };
}

/**
 * Fill interleaved (L, a, b). The tables of `labTables` replace the per-pixel transcendental calls:
 * f(t) is read with linear interpolation (X/Xn, Y/Yn, Z/Zn of 8-bit RGB stay within [0, 1]).
 */
function rgbToLab(
  rgb: Uint8Array | Uint8ClampedArray,
  n: number,
  lab: Float32Array,
  tables: { lin: Float64Array; f: Float64Array; m: Float64Array },
): void {
  const { lin, f, m } = tables;
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = m;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = lin[rgb[j]];
    const g = lin[rgb[j + 1]];
    const b = lin[rgb[j + 2]];
    // Table coordinates of X/Xn, Y/Yn, Z/Zn. Each matrix row sums to 1 (white maps to the
    // reference white), so t ≤ F_TABLE_SIZE plus rounding, which the spare sample covers: no clamp.
    const tx = m00 * r + m01 * g + m02 * b;
    const ty = m10 * r + m11 * g + m12 * b;
    const tz = m20 * r + m21 * g + m22 * b;
    const qx = tx | 0;
    const qy = ty | 0;
    const qz = tz | 0;
    const fx = f[qx] + (f[qx + 1] - f[qx]) * (tx - qx);
    const fy = f[qy] + (f[qy + 1] - f[qy]) * (ty - qy);
    const fz = f[qz] + (f[qz + 1] - f[qz]) * (tz - qz);
    lab[j] = 116 * fy - 16;
    lab[j + 1] = 500 * (fx - fy);
    lab[j + 2] = 200 * (fy - fz);
  }
}

/** Grid seeds, each moved to the lowest Lab gradient in its 3x3 neighbourhood (avoids seeding on an edge). */
function seedCentres(
  lab: Float32Array,
  width: number,
  height: number,
  nx: number,
  ny: number,
  stepX: number,
  stepY: number,
  C: Centres,
): void {
  const cv = C.v;
  for (let j = 0; j < ny; j++) {
    const sy = Math.min(height - 1, Math.floor((j + 0.5) * stepY));
    for (let i = 0; i < nx; i++) {
      const sx = Math.min(width - 1, Math.floor((i + 0.5) * stepX));
      let bx = sx;
      let by = sy;
      let best = Infinity;
      for (let oy = -1; oy <= 1; oy++) {
        const y = sy + oy;
        if (y < 1 || y > height - 2) continue; // central differences need both neighbours
        for (let ox = -1; ox <= 1; ox++) {
          const x = sx + ox;
          if (x < 1 || x > width - 2) continue;
          const p = y * width + x;
          const gx = sq3(lab, p + 1, p - 1);
          const gy = sq3(lab, p + width, p - width);
          const g = gx + gy;
          if (g < best) {
            best = g;
            bx = x;
            by = y;
          }
        }
      }
      const c = j * nx + i;
      const p = by * width + bx;
      cv[c * 5] = lab[p * 3];
      cv[c * 5 + 1] = lab[p * 3 + 1];
      cv[c * 5 + 2] = lab[p * 3 + 2];
      cv[c * 5 + 3] = bx;
      cv[c * 5 + 4] = by;
    }
  }
}

function sq3(lab: Float32Array, p: number, q: number): number {
  const dl = lab[p * 3] - lab[q * 3];
  const da = lab[p * 3 + 1] - lab[q * 3 + 1];
  const db = lab[p * 3 + 2] - lab[q * 3 + 2];
  return dl * dl + da * da + db * db;
}

/**
 * Move each centre to the mean (L,a,b,x,y) of its points on a `w x h` grid of spacing `stride`;
 * empty clusters keep their centre. Sums are taken over runs of equal labels along a row (x by
 * the arithmetic series), so the scattered accumulator writes happen once per run, not per point.
 * Returns whether any centre changed.
 */
function updateCentres(labels: Int32Array, lab: Float32Array, w: number, h: number, stride: number, C: Centres): boolean {
  const { k, v: cv, sums, counts } = C;
  sums.fill(0);
  counts.fill(0);
  for (let y = 0; y < h; y++) {
    const rowEnd = (y + 1) * w;
    const ys = y * stride;
    for (let p = y * w; p < rowEnd; ) {
      const c = labels[p];
      const start = p;
      let sl = 0;
      let sa = 0;
      let sb = 0;
      for (let j = p * 3; p < rowEnd && labels[p] === c; p++, j += 3) {
        sl += lab[j];
        sa += lab[j + 1];
        sb += lab[j + 2];
      }
      const m = p - start;
      const x0 = start - y * w;
      const o = c * 5;
      sums[o] += sl;
      sums[o + 1] += sa;
      sums[o + 2] += sb;
      sums[o + 3] += ((2 * x0 + m - 1) * m * stride) / 2; // Σ stride·x over the run
      sums[o + 4] += ys * m;
      counts[c] += m;
    }
  }
  let changed = false;
  for (let c = 0; c < k; c++) {
    const m = counts[c];
    if (m === 0) continue;
    const inv = 1 / m;
    for (let o = c * 5, e = o + 5; o < e; o++) {
      const v = sums[o] * inv;
      if (v !== cv[o]) {
        changed = true;
        cv[o] = v;
      }
    }
  }
  return changed;
}

/**
 * Standard SLIC post-processing: relabel 4-connected components in raster order of their first
 * pixel, giving each a fresh id; a component smaller than `minSize` takes the id of the pixel
 * left of (else above) its first pixel, which is already final, so the merged region stays
 * connected. Ids come out contiguous. Done on horizontal runs of equal labels with union-find
 * (runs of consecutive rows that overlap and share a label are one component): the same
 * components as a flood fill, at a fraction of the per-pixel work. `runStart` (W·H) is scratch.
 */
function enforceConnectivity(
  labels: Int32Array,
  width: number,
  height: number,
  minSize: number,
  runStart: Int32Array,
): { labels: Int32Array; count: number } {
  const n = width * height;
  // Runs, in raster order; rowRun[y] is the first run of row y.
  const rowRun = new Int32Array(height + 1);
  let runs = 0;
  for (let y = 0, p = 0; y < height; y++) {
    rowRun[y] = runs;
    runStart[runs++] = p;
    let prev = labels[p++];
    for (let x = 1; x < width; x++, p++) {
      const v = labels[p];
      if (v !== prev) {
        runStart[runs++] = p;
        prev = v;
      }
    }
  }
  rowRun[height] = runs;
  // Union overlapping same-label runs of adjacent rows; the root is always the lowest run index,
  // i.e. the component's first run in raster order.
  const parent = new Int32Array(runs);
  for (let r = 0; r < runs; r++) parent[r] = r;
  for (let y = 1; y < height; y++) {
    const base = y * width;
    let u = rowRun[y - 1];
    const uEnd = rowRun[y];
    const rEnd = rowRun[y + 1];
    for (let r = rowRun[y]; r < rEnd; r++) {
      const s = runStart[r] - base; // run r covers columns [s, e)
      const e = (r + 1 < rEnd ? runStart[r + 1] : base + width) - base;
      const v = labels[runStart[r]];
      // Upper runs that end at or before s cannot overlap r or any later run of this row.
      while (u + 1 < uEnd && runStart[u + 1] - base + width <= s) u++;
      for (let q = u; q < uEnd && runStart[q] - base + width < e; q++) {
        if (labels[runStart[q]] !== v) continue;
        let a = q;
        while (parent[a] !== a) a = parent[a] = parent[parent[a]];
        let b = r;
        while (parent[b] !== b) b = parent[b] = parent[parent[b]];
        if (a < b) parent[b] = a;
        else if (b < a) parent[a] = b;
      }
    }
  }
  // Component sizes at the roots (a root precedes its members, so one forward pass resolves them).
  const size = new Int32Array(runs);
  for (let r = 0; r < runs; r++) {
    const root = (parent[r] = parent[parent[r]]);
    size[root] += (r + 1 < runs ? runStart[r + 1] : n) - runStart[r]; // every row starts a run
  }
  // Ids in raster order of first runs; `size` becomes the id table at the roots.
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let r = rowRun[y]; r < rowRun[y + 1]; r++) {
      if (parent[r] !== r) continue;
      // Left neighbour's run is r - 1 in this row; at column 0, the first run of the row above.
      const adj = r > rowRun[y] ? size[parent[r - 1]] : y > 0 ? size[parent[rowRun[y - 1]]] : -1;
      if (size[r] < minSize && adj >= 0) size[r] = adj;
      else size[r] = count++;
    }
  }
  const out = new Int32Array(n);
  // A plain loop: runs are a few pixels long, too short to pay for a fill() call each.
  for (let r = 0, p = 0; r < runs; r++) {
    const id = size[parent[r]];
    for (const end = r + 1 < runs ? runStart[r + 1] : n; p < end; p++) out[p] = id;
  }
  return { labels: out, count };
}

/** Renumber used cluster ids to 0..K-1 in order of first appearance (no connectivity pass). */
function compactLabels(cluster: Int32Array, k: number): { labels: Int32Array; count: number } {
  const map = new Int32Array(k).fill(-1);
  const labels = new Int32Array(cluster.length);
  let count = 0;
  for (let i = 0; i < cluster.length; i++) {
    const c = cluster[i];
    let m = map[c];
    if (m < 0) {
      m = count++;
      map[c] = m;
    }
    labels[i] = m;
  }
  return { labels, count };
}
