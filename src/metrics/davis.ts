/**
 * DAVIS video-object-segmentation measures, reproducing the official evaluators exactly:
 * region similarity J (Jaccard), boundary F-measure, and the per-sequence statistics
 * Mean / Recall / Decay, with the DAVIS-2016 (per sequence) and DAVIS-2017 (per object)
 * evaluation and aggregation protocols (ANCHORS §1.1–1.4).
 *
 * References reproduced (logic re-implemented, no code copied):
 * - DAVIS-2016 python package (`davis/measures/{jaccard,f_boundary}.py`, `dataset/{loader,utils}.py`).
 * - `davisvideochallenge/davis2017-evaluation` (`davis2017/{metrics,evaluation,davis,utils}.py`).
 *
 * Layouts:
 * - A binary mask is a `Uint8Array` of length `w * h`, row-major (`mask[y * w + x]`); any non-zero
 *   value is foreground (the references cast to bool).
 * - A label frame (DAVIS-2017) is a `Uint8Array` of object ids, row-major; 0 = background.
 *   In ground truth, 255 is void and is turned into background, exactly as `davis2017/davis.py`.
 * - Boundary maps returned by {@link seg2bmap} and dilations returned by {@link dilate} hold 0/1.
 *
 * Per-frame values are computed in IEEE double with the same operation order as the references,
 * so J, F, P, R agree with them bit for bit (the only intermediates are pixel counts), and means
 * use NumPy's pairwise summation ({@link numpySum}) so M / O / D and the dataset averages agree bit
 * for bit too. Checked against a NumPy/SciPy port of the reference code on 240 mask pairs (random
 * blobs and noise at several tolerances, and perturbed DAVIS frames), 300 statistics inputs and
 * 12 multi-object sequences: no difference at all.
 */
import { InputError } from '../core/errors.js';

// ------------------------------------------------------------------------------------------------
// Region similarity J
// ------------------------------------------------------------------------------------------------

function checkSize(name: string, a: ArrayLike<number>, w: number, h: number): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
    throw new RangeError(`invalid mask size ${w}x${h}`);
  }
  if (a.length !== w * h) throw new RangeError(`${name}: length ${a.length} != ${w}x${h} = ${w * h}`);
}

/**
 * Region similarity J = |pred ∩ gt| / |pred ∪ gt| (ANCHORS §1.1). Both masks empty → 1.
 * @param pred binary mask, `w * h`, non-zero = foreground
 * @param gt binary mask, `w * h`
 */
export function jaccard(pred: Uint8Array, gt: Uint8Array, w: number, h: number): number {
  checkSize('pred', pred, w, h);
  checkSize('gt', gt, w, h);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < pred.length; i++) {
    const a = pred[i];
    const b = gt[i];
    if ((a | b) === 0) continue;
    union++;
    if (a !== 0 && b !== 0) inter++;
  }
  // 2016: both sums ≈ 0 → 1; 2017: union ≈ 0 → 1. Identical for counts.
  if (union === 0) return 1;
  return inter / union;
}

// ------------------------------------------------------------------------------------------------
// Boundary map, disk, dilation
// ------------------------------------------------------------------------------------------------

/**
 * Indices (`y * w + x`, ascending) of the boundary pixels of {@link seg2bmap}, computed in one pass
 * without materialising the map.
 */
export function boundaryPixels(mask: Uint8Array, w: number, h: number): Int32Array {
  checkSize('mask', mask, w, h);
  const out: number[] = [];
  for (let y = 0; y < h - 1; y++) {
    const row = y * w;
    const nxt = row + w;
    let m = mask[row] !== 0 ? 1 : 0;
    let s = mask[nxt] !== 0 ? 1 : 0;
    for (let x = 0; x < w - 1; x++) {
      const e = mask[row + x + 1] !== 0 ? 1 : 0;
      const se = mask[nxt + x + 1] !== 0 ? 1 : 0;
      if (((m ^ e) | (m ^ s) | (m ^ se)) !== 0) out.push(row + x);
      m = e;
      s = se;
    }
    if (m !== s) out.push(row + w - 1); // last column: compare with south only
  }
  // last row: compare with east only; bottom-right pixel is 0
  const row = (h - 1) * w;
  let m = mask[row] !== 0 ? 1 : 0;
  for (let x = 0; x < w - 1; x++) {
    const e = mask[row + x + 1] !== 0 ? 1 : 0;
    if (m ^ e) out.push(row + x);
    m = e;
  }
  return Int32Array.from(out);
}

/**
 * The 1-pixel boundary map of the DAVIS evaluators (`seg2bmap`, D. Martin 2003), ANCHORS §1.2 step 2.
 * A pixel is on the boundary when it differs from its east, south or south-east neighbour (taken as
 * 0 outside the image); the last row only compares with the east neighbour, the last column only
 * with the south neighbour, and the bottom-right pixel is 0. Boundaries are therefore offset half a
 * pixel toward the origin, and an object touching the image border has no boundary along it.
 * @param mask binary mask, `w * h`, non-zero = foreground
 * @returns 0/1 map, `w * h`, row-major
 */
export function seg2bmap(mask: Uint8Array, w: number, h: number): Uint8Array {
  const b = new Uint8Array(w * h);
  for (const i of boundaryPixels(mask, w, h)) b[i] = 1;
  return b;
}

function checkRadius(r: number): void {
  if (!Number.isInteger(r) || r < 0) {
    throw new RangeError(`disk radius must be a non-negative integer, got ${r}`);
  }
}

/**
 * Half-widths of scikit-image `disk(r)` per row: entry `dy + r` (dy = -r..r) is the largest dx with
 * dx² + dy² ≤ r², so row dy of the disk is the span [-rx, rx].
 */
export function diskHalfWidths(r: number): Int32Array {
  checkRadius(r);
  const out = new Int32Array(2 * r + 1);
  for (let dy = -r; dy <= r; dy++) {
    const rem = r * r - dy * dy;
    let rx = Math.floor(Math.sqrt(rem));
    while (rx * rx > rem) rx--;
    while ((rx + 1) * (rx + 1) <= rem) rx++;
    out[dy + r] = rx;
  }
  return out;
}

/**
 * The offsets of scikit-image `disk(r)`: all integer (dy, dx) with dx² + dy² ≤ r², in row-major
 * order of the (2r+1)² footprint (dy ascending, then dx ascending). `disk(8)` has 197 offsets.
 * @returns array of `[dy, dx]` pairs
 */
export function diskOffsets(r: number): Array<[number, number]> {
  const half = diskHalfWidths(r);
  const out: Array<[number, number]> = [];
  for (let dy = -r; dy <= r; dy++) {
    const rx = half[dy + r];
    for (let dx = -rx; dx <= rx; dx++) out.push([dy === 0 ? 0 : dy, dx === 0 ? 0 : dx]); // no -0
  }
  return out;
}

/** Per-row inclusive prefix counts of non-zero pixels: `pre[y * (w + 1) + x]` = #nonzero in row y, cols < x. */
function rowPrefix(map: Uint8Array, w: number, h: number): { pre: Int32Array; rowAny: Uint8Array } {
  const pre = new Int32Array((w + 1) * h);
  const rowAny = new Uint8Array(h);
  for (let y = 0; y < h; y++) {
    const src = y * w;
    const dst = y * (w + 1);
    let acc = 0;
    pre[dst] = 0;
    for (let x = 0; x < w; x++) {
      if (map[src + x] !== 0) acc++;
      pre[dst + x + 1] = acc;
    }
    rowAny[y] = acc > 0 ? 1 : 0;
  }
  return { pre, rowAny };
}

/**
 * Binary dilation by the disk of radius `r` (scikit-image `binary_dilation(b, disk(r))`, equal to
 * `cv2.dilate(b, disk(r))`): out(p) = 1 iff some non-zero pixel lies within the disk around p.
 * Pixels outside the image count as 0. Cost O(w·h·(2r+1)) via per-row prefix counts.
 * @param bmap map `w * h`, non-zero = set
 * @param r integer radius ≥ 0
 * @returns 0/1 map `w * h`
 */
export function dilate(bmap: Uint8Array, w: number, h: number, r: number): Uint8Array {
  checkSize('bmap', bmap, w, h);
  const half = diskHalfWidths(r);
  const { pre, rowAny } = rowPrefix(bmap, w, h);
  const out = new Uint8Array(w * h);
  const stride = w + 1;
  for (let yy = 0; yy < h; yy++) {
    if (!rowAny[yy]) continue;
    // Source row yy contributes to output rows y = yy - dy for dy in [-r, r].
    const p = yy * stride;
    for (let dy = -r; dy <= r; dy++) {
      const y = yy - dy;
      if (y < 0 || y >= h) continue;
      const rx = half[dy + r];
      const o = y * w;
      for (let x = 0; x < w; x++) {
        if (out[o + x]) continue;
        const lo = Math.max(x - rx, 0);
        const hi = Math.min(x + rx + 1, w);
        if (pre[p + hi] - pre[p + lo] > 0) out[o + x] = 1;
      }
    }
  }
  return out;
}

/** Sparse rows of a set of pixel indices (ascending): x coordinates of row y are `xs[rowStart[y] .. rowStart[y+1])`. */
interface SparseRows {
  xs: Int32Array;
  rowStart: Int32Array;
}

function sparseRows(idx: Int32Array, w: number, h: number): SparseRows {
  const rowStart = new Int32Array(h + 1);
  const xs = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const y = Math.floor(idx[k] / w);
    rowStart[y + 1]++;
    xs[k] = idx[k] - y * w;
  }
  for (let y = 0; y < h; y++) rowStart[y + 1] += rowStart[y];
  return { xs, rowStart };
}

/**
 * Number of pixels of `src` (ascending indices) that have a pixel of `target` within the disk of
 * radius r, i.e. Σ src ∧ dilate(target, r), without materialising the dilation.
 */
function countWithinDisk(src: Int32Array, target: SparseRows, w: number, h: number, r: number, half: Int32Array): number {
  const { xs, rowStart } = target;
  let count = 0;
  for (let k = 0; k < src.length; k++) {
    const y = Math.floor(src[k] / w);
    const x = src[k] - y * w;
    for (let dy = -r; dy <= r; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      let lo = rowStart[yy];
      let hi = rowStart[yy + 1];
      if (lo === hi) continue;
      const rx = half[dy + r];
      const want = x - rx;
      // first position with xs >= want
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (xs[mid] < want) lo = mid + 1;
        else hi = mid;
      }
      if (lo < rowStart[yy + 1] && xs[lo] <= x + rx) {
        count++;
        break;
      }
    }
  }
  return count;
}

/**
 * Tolerance radius in pixels: `boundTh` itself when ≥ 1, else `ceil(boundTh · sqrt(w² + h²))`
 * (8 px for 854x480 at the default 0.008). A non-integer pixel tolerance (`boundTh` ≥ 1 and not an
 * integer) is rejected: scikit-image builds an even-sized, off-centre footprint for it and the two
 * reference implementations would not agree.
 */
export function boundaryRadius(w: number, h: number, boundTh = 0.008): number {
  if (!(boundTh > 0)) throw new RangeError(`boundTh must be > 0, got ${boundTh}`);
  if (boundTh >= 1) {
    checkRadius(boundTh);
    return boundTh;
  }
  // np.linalg.norm(shape) = sqrt(h*h + w*w) computed in double; then bound_th * norm, ceil.
  return Math.ceil(boundTh * Math.sqrt(h * h + w * w));
}

/** Boundary precision, recall and F-measure of one frame. */
export interface BoundaryScore {
  F: number;
  P: number;
  R: number;
}

/**
 * DAVIS boundary F-measure (ANCHORS §1.2): boundaries by {@link seg2bmap}, matched within a disk of
 * {@link boundaryRadius}; degenerate cases in the reference order (no predicted boundary and some
 * GT boundary → P 1, R 0; the reverse → P 0, R 1; neither → P = R = 1); F = 2PR/(P+R), 0 when P+R = 0.
 * @param pred predicted binary mask `w * h` (the references' `foreground_mask`)
 * @param gt ground-truth binary mask `w * h`
 */
export function boundaryF(pred: Uint8Array, gt: Uint8Array, w: number, h: number, boundTh = 0.008): BoundaryScore {
  checkSize('pred', pred, w, h);
  checkSize('gt', gt, w, h);
  const r = boundaryRadius(w, h, boundTh);
  const fgB = boundaryPixels(pred, w, h);
  const gtB = boundaryPixels(gt, w, h);
  const nFg = fgB.length;
  const nGt = gtB.length;
  let P: number;
  let R: number;
  if (nFg === 0 && nGt > 0) {
    P = 1;
    R = 0;
  } else if (nFg > 0 && nGt === 0) {
    P = 0;
    R = 1;
  } else if (nFg === 0 && nGt === 0) {
    P = 1;
    R = 1;
  } else {
    const half = diskHalfWidths(r);
    const fgMatch = countWithinDisk(fgB, sparseRows(gtB, w, h), w, h, r, half); // fg_boundary * gt_dil
    const gtMatch = countWithinDisk(gtB, sparseRows(fgB, w, h), w, h, r, half); // gt_boundary * fg_dil
    P = fgMatch / nFg;
    R = gtMatch / nGt;
  }
  const F = P + R === 0 ? 0 : (2 * P * R) / (P + R);
  return { F, P, R };
}

// ------------------------------------------------------------------------------------------------
// Statistics: Mean, Recall, Decay
// ------------------------------------------------------------------------------------------------

/** Options of {@link sequenceStats}. */
export interface StatsOptions {
  /**
   * Mimic the references' `ids.astype(np.uint8)` for the decay bins: bin indices ≥ 256 wrap modulo
   * 256 (what a float→uint8 cast does on x86-64), which only happens for sequences of more than 256
   * evaluated frames and gives a meaningless decay there. Default false: exact indices. The bin end
   * `ids[i+1] + 1` does not wrap (NumPy 1.x promotes `uint8 + int` to int64, and the 2016/2017
   * evaluators require NumPy < 1.24 for `np.bool`).
   */
  davisUint8Quirk?: boolean;
  /**
   * Which reference's summation order the mean M follows. 'davis2016' takes the nanmean of the
   * per-frame array padded with NaN at both ends (DAVIS-2016 `_eval`), 'davis2017' (default) of the
   * values alone; the two can differ in the last bit only.
   */
  protocol?: 'davis2016' | 'davis2017';
}

/** Mean, recall and decay of one measure over the evaluated frames of one sequence/object. */
export interface MeasureStats {
  /** M: nanmean of the per-frame values. */
  mean: number;
  /** O: fraction of frames with value > 0.5 (strict; NaN frames count as failures). */
  recall: number;
  /** D: nanmean(first quarter) − nanmean(last quarter); positive = quality drops over time. */
  decay: number;
}

/**
 * NumPy's float64 summation (`pairwise_sum` behind `np.sum` / `np.mean` / `np.nanmean` of a
 * contiguous 1-D array): blocks of ≤ 128 use 8 interleaved accumulators, longer runs split in two.
 * Reproduced so that means agree with the references to the last bit, not just to rounding.
 */
export function numpySum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    let r0 = a[start];
    let r1 = a[start + 1];
    let r2 = a[start + 2];
    let r3 = a[start + 3];
    let r4 = a[start + 4];
    let r5 = a[start + 5];
    let r6 = a[start + 6];
    let r7 = a[start + 7];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const b = start + i;
      r0 += a[b];
      r1 += a[b + 1];
      r2 += a[b + 2];
      r3 += a[b + 3];
      r4 += a[b + 4];
      r5 += a[b + 5];
      r6 += a[b + 6];
      r7 += a[b + 7];
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2);
}

/**
 * `np.nanmean(v[start:end])`: NaN replaced by 0, NumPy-summed, divided by the count of non-NaN
 * values (NaN when there are none). `padZeros` puts that many zeros (replaced NaNs) at both ends
 * first, as DAVIS-2016 does by padding the per-frame array with NaN for the first and last frames.
 */
function nanmeanRange(v: ArrayLike<number>, start: number, end: number, padZeros = 0): number {
  const len = end - start;
  const buf = new Float64Array(len + 2 * padZeros);
  let n = 0;
  for (let i = 0; i < len; i++) {
    const x = v[start + i];
    if (!Number.isNaN(x)) {
      buf[padZeros + i] = x;
      n++;
    }
  }
  return n === 0 ? Number.NaN : numpySum(buf) / n;
}

/** NumPy `rint`: round half to even. */
function rintHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Decay bin boundaries for L per-frame values: `round(linspace(1, L, 5) + 1e-10) − 1`
 * (NumPy's linspace arithmetic, round half to even — the +1e-10 makes exact .5 round up).
 * Examples: L = 10 → [0,2,5,7,9]; L = 48 → [0,12,24,35,47]; L = 23 → [0,6,11,17,22].
 * Bin i is the inclusive slice `v[ids[i] .. ids[i+1]]`. L must be ≥ 1.
 */
export function decayBinIds(L: number, opts: StatsOptions = {}): number[] {
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`decay bins need L >= 1, got ${L}`);
  const num = 5;
  const div = num - 1;
  const start = 1;
  const stop = L;
  const delta = stop - start;
  const step = delta / div;
  const ids: number[] = [];
  for (let i = 0; i < num; i++) {
    let y: number;
    if (step === 0) y = (i / div) * delta + start;
    else y = i * step + start;
    if (i === num - 1) y = stop; // endpoint=True writes stop exactly
    let id = rintHalfEven(y + 1e-10) - 1;
    if (opts.davisUint8Quirk) id = ((id % 256) + 256) % 256;
    ids.push(id);
  }
  return ids;
}

/**
 * Per-sequence statistics (ANCHORS §1.3; `db_statistics` of both references) of the per-frame
 * values of the evaluated frames (frames 1..N−2). NaN values are skipped by the means (nanmean) and
 * count as "not > 0.5" in the recall. An empty input gives NaN for all three.
 */
export function sequenceStats(values: ArrayLike<number>, opts: StatsOptions = {}): MeasureStats {
  const L = values.length;
  if (L === 0) return { mean: Number.NaN, recall: Number.NaN, decay: Number.NaN };
  const mean = nanmeanRange(values, 0, L, opts.protocol === 'davis2016' ? 1 : 0);
  let above = 0;
  for (let i = 0; i < L; i++) if (values[i] > 0.5) above++;
  const recall = above / L;
  const ids = decayBinIds(L, opts);
  const bin = (i: number): number => {
    const s = Math.min(ids[i], L);
    const e = Math.min(ids[i + 1] + 1, L);
    return s >= e ? Number.NaN : nanmeanRange(values, s, e);
  };
  const decay = bin(0) - bin(3);
  return { mean, recall, decay };
}

// ------------------------------------------------------------------------------------------------
// Sequence evaluation and aggregation
// ------------------------------------------------------------------------------------------------

/** One measure of one evaluated object: statistics plus the per-frame values. */
export interface MeasureResult extends MeasureStats {
  /** Per-frame values, aligned with {@link ObjectResult.frames}. */
  perFrame: number[];
}

/**
 * The evaluation of one object of one sequence (DAVIS-2016: the single object of the sequence).
 * Plain data: `JSON.stringify` gives the serialised form (NaN becomes null).
 */
export interface ObjectResult {
  sequence: string;
  /** 1-based object id (always 1 for DAVIS-2016). */
  object: number;
  /** Frame indices evaluated: 1..N−2 (first and last excluded). */
  frames: number[];
  J: MeasureResult;
  F: MeasureResult;
  /** Boundary precision and recall per frame (the ingredients of F), aligned with `frames`. */
  boundaryPrecision: number[];
  boundaryRecall: number[];
}

/** Options common to the sequence evaluators. */
export interface SequenceOptions extends StatsOptions {
  /** Sequence name, used in results and error messages. Default 'sequence'. */
  name?: string;
  /** Boundary tolerance (fraction of the diagonal if < 1, else pixels). Default 0.008. */
  boundTh?: number;
}

function measureResult(perFrame: number[], opts: StatsOptions): MeasureResult {
  return { ...sequenceStats(perFrame, opts), perFrame };
}

/**
 * DAVIS-2016 evaluation of one single-object sequence (ANCHORS §1.3): J and F on frames 1..N−2.
 * @param preds predicted binary masks indexed by frame (length N; entries 0 and N−1 are not used
 *   and may be undefined)
 * @param gts ground-truth binary masks, one per frame (N ≥ 3 for any frame to be evaluated)
 */
export function evaluateSequence2016(
  preds: ReadonlyArray<Uint8Array | undefined>,
  gts: ReadonlyArray<Uint8Array>,
  w: number,
  h: number,
  opts: SequenceOptions = {},
): ObjectResult {
  const name = opts.name ?? 'sequence';
  const N = gts.length;
  if (preds.length !== N) {
    throw new InputError(name, `${preds.length} predicted frames for ${N} annotated frames (must be equal)`);
  }
  const frames: number[] = [];
  const J: number[] = [];
  const F: number[] = [];
  const P: number[] = [];
  const R: number[] = [];
  for (let t = 1; t < N - 1; t++) {
    const p = preds[t];
    if (!p) throw new InputError(name, `missing prediction for frame ${t}`);
    checkFrame(name, t, p, gts[t], w, h);
    frames.push(t);
    J.push(jaccard(p, gts[t], w, h));
    const b = boundaryF(p, gts[t], w, h, opts.boundTh);
    F.push(b.F);
    P.push(b.P);
    R.push(b.R);
  }
  const statsOpts: StatsOptions = { ...opts, protocol: 'davis2016' };
  return {
    sequence: name,
    object: 1,
    frames,
    J: measureResult(J, statsOpts),
    F: measureResult(F, statsOpts),
    boundaryPrecision: P,
    boundaryRecall: R,
  };
}

function checkFrame(name: string, t: number, pred: Uint8Array, gt: Uint8Array, w: number, h: number): void {
  if (gt.length !== w * h) throw new InputError(name, `ground truth of frame ${t} has ${gt.length} pixels, expected ${w}x${h}`);
  if (pred.length !== w * h) throw new InputError(name, `prediction of frame ${t} has ${pred.length} pixels, expected ${w}x${h}`);
}

/** The DAVIS-2017 object count of a sequence: the largest id in the first GT frame, void (255) ignored. */
export function objectCount2017(gtFrame0: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < gtFrame0.length; i++) {
    const v = gtFrame0[i];
    if (v !== 255 && v > m) m = v;
  }
  return m;
}

/**
 * DAVIS-2017 semi-supervised evaluation of one multi-object sequence (ANCHORS §1.3–1.4).
 * Objects are ids 1..K with K = max id of GT frame 0 (void 255 → background in every GT frame; ids
 * > K in later GT frames belong to no object). Frames 1..N−2 are evaluated. The prediction's object
 * count is its largest id over those frames: more than K is an error (the reference aborts), fewer
 * means the missing objects are predicted empty. Void pixels are not excluded (the reference passes
 * none). Note a raw DAVIS-2016 0/255 mask therefore has zero objects: convert 255 → 1 first.
 * @param predLabels predicted id frames indexed by frame (length N; entries 0 and N−1 unused, may be undefined)
 * @param gtLabels ground-truth id frames (length N)
 * @returns one {@link ObjectResult} per object, in id order
 */
export function evaluateSequence2017(
  predLabels: ReadonlyArray<Uint8Array | undefined>,
  gtLabels: ReadonlyArray<Uint8Array>,
  w: number,
  h: number,
  opts: SequenceOptions = {},
): ObjectResult[] {
  const name = opts.name ?? 'sequence';
  const N = gtLabels.length;
  if (N === 0) throw new InputError(name, 'no ground-truth frames');
  if (predLabels.length !== N) {
    throw new InputError(name, `${predLabels.length} predicted frames for ${N} annotated frames (must be equal)`);
  }
  if (gtLabels[0].length !== w * h)
    throw new InputError(name, `ground truth of frame 0 has ${gtLabels[0].length} pixels, expected ${w}x${h}`);
  const K = objectCount2017(gtLabels[0]);
  let predMax = 0;
  for (let t = 1; t < N - 1; t++) {
    const p = predLabels[t];
    if (!p) throw new InputError(name, `missing prediction for frame ${t}`);
    checkFrame(name, t, p, gtLabels[t], w, h);
    for (let i = 0; i < p.length; i++) if (p[i] > predMax) predMax = p[i];
  }
  if (predMax > K) {
    throw new InputError(
      name,
      `prediction contains object id ${predMax} but the sequence has ${K} object(s) (ids 1..${K} in the first annotation)`,
    );
  }
  const frames: number[] = [];
  const J: number[][] = Array.from({ length: K }, () => []);
  const F: number[][] = Array.from({ length: K }, () => []);
  const P: number[][] = Array.from({ length: K }, () => []);
  const R: number[][] = Array.from({ length: K }, () => []);
  const pm = new Uint8Array(w * h);
  const gm = new Uint8Array(w * h);
  for (let t = 1; t < N - 1; t++) {
    frames.push(t);
    const p = predLabels[t]!;
    const g = gtLabels[t];
    for (let k = 1; k <= K; k++) {
      for (let i = 0; i < pm.length; i++) {
        pm[i] = p[i] === k ? 1 : 0;
        gm[i] = g[i] === k ? 1 : 0; // a void 255 never equals k ≤ 254
      }
      J[k - 1].push(jaccard(pm, gm, w, h));
      const b = boundaryF(pm, gm, w, h, opts.boundTh);
      F[k - 1].push(b.F);
      P[k - 1].push(b.P);
      R[k - 1].push(b.R);
    }
  }
  const out: ObjectResult[] = [];
  for (let k = 1; k <= K; k++) {
    out.push({
      sequence: name,
      object: k,
      frames: frames.slice(),
      J: measureResult(J[k - 1], { ...opts, protocol: 'davis2017' }),
      F: measureResult(F[k - 1], { ...opts, protocol: 'davis2017' }),
      boundaryPrecision: P[k - 1],
      boundaryRecall: R[k - 1],
    });
  }
  return out;
}

/** Dataset-level summary, the "Average"/global row of the DAVIS tables. */
export interface DavisSummary {
  protocol: 'davis2016' | 'davis2017';
  /** Number of entries averaged: sequences (2016) or objects (2017). */
  count: number;
  J: MeasureStats;
  F: MeasureStats;
  /** (J mean + F mean) / 2 — the DAVIS-2017 headline "J&F-Mean". */
  JF: number;
}

/**
 * 2016: `np.nanmean(X, axis=0)` over the (sequences x measures) table — a reduction along axis 0,
 * which NumPy accumulates row by row (sequential order), NaN skipped.
 * 2017: `np.mean(list)` — NumPy pairwise summation, NaN propagates.
 */
function meanOf(values: number[], protocol: 'davis2016' | 'davis2017'): number {
  if (protocol === 'davis2017') return values.length === 0 ? Number.NaN : numpySum(values) / values.length;
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    s += v;
    n++;
  }
  return n === 0 ? Number.NaN : s / n;
}

function summarise(entries: readonly ObjectResult[], protocol: 'davis2016' | 'davis2017'): { J: MeasureStats; F: MeasureStats } {
  const pick = (m: 'J' | 'F', k: keyof MeasureStats) =>
    meanOf(
      entries.map((e) => e[m][k]),
      protocol,
    );
  return {
    J: { mean: pick('J', 'mean'), recall: pick('J', 'recall'), decay: pick('J', 'decay') },
    F: { mean: pick('F', 'mean'), recall: pick('F', 'recall'), decay: pick('F', 'decay') },
  };
}

/**
 * DAVIS-2016 table average: unweighted mean over sequences of each per-sequence M/O/D, skipping
 * NaN entries (the reference's `np.nanmean` in `db_eval_view`).
 */
export function aggregate2016(sequences: readonly ObjectResult[]): DavisSummary {
  const { J, F } = summarise(sequences, 'davis2016');
  return { protocol: 'davis2016', count: sequences.length, J, F, JF: (J.mean + F.mean) / 2 };
}

/**
 * DAVIS-2017 global scores: plain mean over all objects of all sequences (each object one entry,
 * `np.mean`, so a NaN propagates); J&F = (J mean + F mean) / 2.
 */
export function aggregate2017(objects: readonly ObjectResult[]): DavisSummary {
  const { J, F } = summarise(objects, 'davis2017');
  return { protocol: 'davis2017', count: objects.length, J, F, JF: (J.mean + F.mean) / 2 };
}

/**
 * A plain-text table in the layout of the official evaluators: the global row (J&F-Mean, J-Mean,
 * J-Recall, J-Decay, F-Mean, F-Recall, F-Decay) and one row per entry (named `seq` for 2016 and
 * `seq_<object>` for 2017, as davis2017-evaluation does) with its J and F statistics. 3 decimals.
 */
export function formatDavisTable(summary: DavisSummary, entries: readonly ObjectResult[]): string {
  const f = (v: number) => (Number.isNaN(v) ? 'nan' : v.toFixed(3));
  const header = ['J&F-Mean', 'J-Mean', 'J-Recall', 'J-Decay', 'F-Mean', 'F-Recall', 'F-Decay'];
  const g = [summary.JF, summary.J.mean, summary.J.recall, summary.J.decay, summary.F.mean, summary.F.recall, summary.F.decay].map(f);
  const widths = header.map((hd, i) => Math.max(hd.length, g[i].length));
  const lines: string[] = [];
  lines.push(`Global results (${summary.protocol}, ${summary.count} ${summary.protocol === 'davis2016' ? 'sequences' : 'objects'}):`);
  lines.push(header.map((hd, i) => hd.padStart(widths[i])).join(' '));
  lines.push(g.map((v, i) => v.padStart(widths[i])).join(' '));
  lines.push('');
  const seqHeader = ['Sequence', 'J-Mean', 'J-Recall', 'J-Decay', 'F-Mean', 'F-Recall', 'F-Decay'];
  const rows = entries.map((e) => [
    summary.protocol === 'davis2016' ? e.sequence : `${e.sequence}_${e.object}`,
    f(e.J.mean),
    f(e.J.recall),
    f(e.J.decay),
    f(e.F.mean),
    f(e.F.recall),
    f(e.F.decay),
  ]);
  const sw = seqHeader.map((hd, i) => Math.max(hd.length, ...rows.map((r) => r[i].length)));
  lines.push(seqHeader.map((hd, i) => (i === 0 ? hd.padEnd(sw[i]) : hd.padStart(sw[i]))).join(' '));
  for (const r of rows) lines.push(r.map((v, i) => (i === 0 ? v.padEnd(sw[i]) : v.padStart(sw[i]))).join(' '));
  return `${lines.join('\n')}\n`;
}
