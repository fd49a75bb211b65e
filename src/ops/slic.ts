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
 */

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
  /** Relabel 4-connected components and absorb small ones. Default true. */
  enforceConnectivity?: boolean;
  /** Components smaller than this fraction of the mean cell area are merged into a neighbour. Default 0.25. */
  minSizeFactor?: number;
  /** 'cielab': sRGB-decoded CIE Lab (default); 'gslicr': gSLICr's Lab of gamma-encoded values. */
  colorSpace?: 'cielab' | 'gslicr';
  /** Scratch buffers from `createSlicWorkspace(width, height)`, reused across frames of one size. */
  workspace?: SlicWorkspace;
}

/**
 * Per-frame-size scratch memory (~10 MB at 854x480). Passing one to `slic` for every frame of a
 * video avoids re-allocating and page-faulting these buffers each call; the result never aliases it.
 */
export interface SlicWorkspace {
  readonly width: number;
  readonly height: number;
  /** Interleaved (L, a, b), 3·W·H. */
  readonly lab: Float32Array;
  /** Best squared distance per pixel in the current assignment, W·H. */
  readonly dist: Float32Array;
  /** k-means cluster id per pixel, W·H. */
  readonly cluster: Int32Array;
  /** Flood-fill queue, W·H. */
  readonly queue: Int32Array;
}

export function createSlicWorkspace(width: number, height: number): SlicWorkspace {
  const n = width * height;
  return {
    width,
    height,
    lab: new Float32Array(n * 3),
    dist: new Float32Array(n),
    cluster: new Int32Array(n),
    queue: new Int32Array(n),
  };
}

export interface SlicResult {
  /** Row-major H x W superpixel ids, contiguous 0..count-1. */
  labels: Int32Array;
  /** Number of superpixels K. */
  count: number;
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
  const enforce = opts.enforceConnectivity ?? true;
  const minSizeFactor = opts.minSizeFactor ?? 0.25;
  if (!(segments >= 1)) throw new RangeError(`slic: segments must be >= 1, got ${segments}`);
  if (!(compactness > 0)) throw new RangeError(`slic: compactness must be > 0, got ${compactness}`);
  if (!Number.isInteger(iterations) || iterations < 0) {
    throw new RangeError(`slic: iterations must be a non-negative integer, got ${iterations}`);
  }

  const ws = opts.workspace ?? createSlicWorkspace(width, height);
  if (ws.width !== width || ws.height !== height) {
    throw new RangeError(`slic: workspace is for ${ws.width}x${ws.height}, frame is ${width}x${height}`);
  }
  // Interleaved (L, a, b) per pixel: the assignment loop reads all three together.
  const lab = ws.lab;
  rgbToLab(rgb, n, lab, opts.colorSpace ?? 'cielab');

  // Grid: nx·ny ≈ segments cells, per-axis steps stretched so the cells tile the frame exactly
  // (as Achanta's code spreads the remainder over the strips).
  const step = Math.sqrt(n / segments);
  const nx = Math.min(width, Math.max(1, Math.round(width / step)));
  const ny = Math.min(height, Math.max(1, Math.round(height / step)));
  const k = nx * ny;
  const stepX = width / nx;
  const stepY = height / ny;
  const S = Math.sqrt(n / k);

  const cl = new Float64Array(k);
  const ca = new Float64Array(k);
  const cb = new Float64Array(k);
  const cx = new Float64Array(k);
  const cy = new Float64Array(k);
  const labels = ws.cluster;

  seedCentres(lab, width, height, nx, ny, stepX, stepY, cl, ca, cb, cx, cy);
  // Fallback labels for pixels no window reaches in an iteration: their grid cell.
  const colCell = new Int32Array(width);
  for (let x = 0; x < width; x++) colCell[x] = Math.min(nx - 1, Math.floor(x / stepX));
  for (let y = 0; y < height; y++) {
    const row = Math.min(ny - 1, Math.floor(y / stepY)) * nx;
    const base = y * width;
    for (let x = 0; x < width; x++) labels[base + x] = row + colCell[x];
  }

  const dist = ws.dist;
  const sums = new Float64Array(k * 5);
  const counts = new Int32Array(k);
  const spatialWeight = (compactness / S) * (compactness / S);
  // Window half-widths: S, widened on an axis whose stretched step is longer so windows still overlap.
  const rx = Math.max(S, stepX);
  const ry = Math.max(S, stepY);

  for (let it = 0; it < iterations; it++) {
    assign(lab, width, height, k, cl, ca, cb, cx, cy, rx, ry, spatialWeight, dist, labels);
    updateCentres(labels, lab, width, height, k, sums, counts, cl, ca, cb, cx, cy);
  }

  if (enforce) {
    const minSize = Math.max(1, minSizeFactor * S * S); // S² = mean cell area
    return enforceConnectivity(labels, width, height, minSize, ws.queue);
  }
  return compactLabels(labels, k);
}

/**
 * One SLIC assignment step: each centre scans its 2S x 2S window and claims the pixels it is
 * closest to (squared distance, so no sqrt). Kept separate so V8 optimises this hot loop alone.
 */
function assign(
  lab: Float32Array,
  width: number,
  height: number,
  k: number,
  cl: Float64Array,
  ca: Float64Array,
  cb: Float64Array,
  cx: Float64Array,
  cy: Float64Array,
  rx: number,
  ry: number,
  spatialWeight: number,
  dist: Float32Array,
  labels: Int32Array,
): void {
  dist.fill(Infinity);
  for (let c = 0; c < k; c++) {
    const l0 = cl[c];
    const a0 = ca[c];
    const b0 = cb[c];
    const x0 = cx[c];
    const y0 = cy[c];
    const xs = Math.max(0, Math.ceil(x0 - rx));
    const xe = Math.min(width - 1, Math.floor(x0 + rx));
    const ys = Math.max(0, Math.ceil(y0 - ry));
    const ye = Math.min(height - 1, Math.floor(y0 + ry));
    for (let y = ys; y <= ye; y++) {
      const dy = y - y0;
      const dyTerm = dy * dy * spatialWeight;
      const end = y * width + xe;
      let dx = xs - x0;
      for (let i = y * width + xs, j = i * 3; i <= end; i++, j += 3, dx++) {
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
 * Fill interleaved (L, a, b). Two tables replace the per-pixel transcendental calls: a 256-entry
 * transfer-function table (sRGB decode) and a sampled f(t) = cbrt-or-linear on [0, 1], read with
 * linear interpolation (X/Xn, Y/Yn, Z/Zn of 8-bit RGB stay within [0, 1]).
 */
function rgbToLab(rgb: Uint8Array | Uint8ClampedArray, n: number, lab: Float32Array, space: 'cielab' | 'gslicr'): void {
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
  const maxT = F_TABLE_SIZE + 0.999;
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
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = lin[rgb[j]];
    const g = lin[rgb[j + 1]];
    const b = lin[rgb[j + 2]];
    // Table coordinates of X/Xn, Y/Yn, Z/Zn; the clamp guards float rounding above 1.
    const tx = Math.min(maxT, m00 * r + m01 * g + m02 * b);
    const ty = Math.min(maxT, m10 * r + m11 * g + m12 * b);
    const tz = Math.min(maxT, m20 * r + m21 * g + m22 * b);
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
  cl: Float64Array,
  ca: Float64Array,
  cb: Float64Array,
  cx: Float64Array,
  cy: Float64Array,
): void {
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
      cl[c] = lab[p * 3];
      ca[c] = lab[p * 3 + 1];
      cb[c] = lab[p * 3 + 2];
      cx[c] = bx;
      cy[c] = by;
    }
  }
}

function sq3(lab: Float32Array, p: number, q: number): number {
  const dl = lab[p * 3] - lab[q * 3];
  const da = lab[p * 3 + 1] - lab[q * 3 + 1];
  const db = lab[p * 3 + 2] - lab[q * 3 + 2];
  return dl * dl + da * da + db * db;
}

/** Move each centre to the mean (L,a,b,x,y) of its pixels; empty clusters keep their centre. */
function updateCentres(
  labels: Int32Array,
  lab: Float32Array,
  width: number,
  height: number,
  k: number,
  sums: Float64Array,
  counts: Int32Array,
  cl: Float64Array,
  ca: Float64Array,
  cb: Float64Array,
  cx: Float64Array,
  cy: Float64Array,
): void {
  sums.fill(0);
  counts.fill(0);
  for (let y = 0, i = 0, j = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++, j += 3) {
      const o = labels[i] * 5;
      sums[o] += lab[j];
      sums[o + 1] += lab[j + 1];
      sums[o + 2] += lab[j + 2];
      sums[o + 3] += x;
      sums[o + 4] += y;
      counts[labels[i]]++;
    }
  }
  for (let c = 0; c < k; c++) {
    const m = counts[c];
    if (m === 0) continue;
    const o = c * 5;
    const inv = 1 / m;
    cl[c] = sums[o] * inv;
    ca[c] = sums[o + 1] * inv;
    cb[c] = sums[o + 2] * inv;
    cx[c] = sums[o + 3] * inv;
    cy[c] = sums[o + 4] * inv;
  }
}

/**
 * Standard SLIC post-processing: flood-fill 4-connected components in raster order, giving each
 * a fresh id; a component smaller than `minSize` takes the id of the already-labelled pixel left
 * of (else above) its first pixel, so the merged region stays connected. Ids come out contiguous.
 */
function enforceConnectivity(labels: Int32Array, width: number, height: number, minSize: number, queue: Int32Array): SlicResult {
  const n = width * height;
  const out = new Int32Array(n).fill(-1);
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (out[start] >= 0) continue;
    const orig = labels[start];
    const sy = (start / width) | 0;
    const sx = start - sy * width;
    // Raster order guarantees the left and upper neighbours are already relabelled.
    const adj = sx > 0 ? out[start - 1] : sy > 0 ? out[start - width] : -1;
    out[start] = count;
    queue[0] = start;
    let head = 0;
    let tail = 1;
    while (head < tail) {
      const p = queue[head++];
      const y = (p / width) | 0;
      const x = p - y * width;
      if (x > 0 && out[p - 1] < 0 && labels[p - 1] === orig) {
        out[p - 1] = count;
        queue[tail++] = p - 1;
      }
      if (x < width - 1 && out[p + 1] < 0 && labels[p + 1] === orig) {
        out[p + 1] = count;
        queue[tail++] = p + 1;
      }
      if (y > 0 && out[p - width] < 0 && labels[p - width] === orig) {
        out[p - width] = count;
        queue[tail++] = p - width;
      }
      if (y < height - 1 && out[p + width] < 0 && labels[p + width] === orig) {
        out[p + width] = count;
        queue[tail++] = p + width;
      }
    }
    if (tail < minSize && adj >= 0) {
      for (let q = 0; q < tail; q++) out[queue[q]] = adj;
    } else {
      count++;
    }
  }
  return { labels: out, count };
}

/** Renumber used cluster ids to 0..K-1 in order of first appearance (no connectivity pass). */
function compactLabels(cluster: Int32Array, k: number): SlicResult {
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
