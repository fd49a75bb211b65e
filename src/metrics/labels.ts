/**
 * Semantic-label measures: confusion matrix, per-class IoU and mean IoU (Cityscapes-style, ANCHORS
 * §1.6), and flow-based temporal consistency of consecutive label maps.
 *
 * Layouts:
 * - Label maps are `Uint8Array` of class ids, row-major `labels[y * w + x]`; `ignore` (default 255)
 *   marks unlabelled ground-truth pixels.
 * - A confusion matrix is a `Float64Array` of K·K counts, `conf[gt * K + pred]` (row = ground
 *   truth class, column = predicted class). Float64 so dataset-wide sums never overflow.
 * - Flow is planar `Float32Array` 2 x H x W: `flow[y * w + x]` = dy (rows), `flow[h * w + y * w + x]`
 *   = dx (columns) — the GRFP convention (ANCHORS §8.2), from the current frame to the previous one.
 */

/**
 * Accumulates the confusion matrix of one frame. Pixels whose ground truth is `ignore` are skipped.
 * Any other ground-truth value ≥ K, or a predicted value ≥ K on a counted pixel, is an error
 * (Cityscapes' evaluator rejects unknown labels too).
 * @param pred predicted class ids, `n`
 * @param gt ground-truth class ids, `n`
 * @param numClasses K
 * @param ignore ground-truth id that is not evaluated (default 255)
 * @param into optional K·K matrix to add to (for dataset-wide IoU); a new one otherwise
 * @returns the matrix, `conf[gt * K + pred]`
 */
export function confusion(pred: Uint8Array, gt: Uint8Array, numClasses: number, ignore = 255, into?: Float64Array): Float64Array {
  if (pred.length !== gt.length) throw new RangeError(`length mismatch: ${pred.length} vs ${gt.length}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
  const K = numClasses;
  const conf = into ?? new Float64Array(K * K);
  if (conf.length !== K * K) throw new RangeError(`confusion matrix has ${conf.length} entries, expected ${K * K}`);
  for (let i = 0; i < gt.length; i++) {
    const g = gt[i];
    if (g === ignore) continue;
    const p = pred[i];
    if (g >= K) throw new RangeError(`ground-truth label ${g} at pixel ${i} is not a class (0..${K - 1}) nor the ignore label ${ignore}`);
    if (p >= K) throw new RangeError(`predicted label ${p} at pixel ${i} is not a class (0..${K - 1})`);
    conf[g * K + p] += 1;
  }
  return conf;
}

/**
 * Per-class IoU = TP / (TP + FP + FN) from a confusion matrix. A class absent from both the
 * ground truth and the prediction (denominator 0) gets NaN.
 */
export function perClassIoU(conf: Float64Array, numClasses: number): Float64Array {
  const K = numClasses;
  if (conf.length !== K * K) throw new RangeError(`confusion matrix has ${conf.length} entries, expected ${K * K}`);
  const out = new Float64Array(K);
  for (let c = 0; c < K; c++) {
    const tp = conf[c * K + c];
    let rowSum = 0; // TP + FN
    let colSum = 0; // TP + FP
    for (let k = 0; k < K; k++) {
      rowSum += conf[c * K + k];
      colSum += conf[k * K + c];
    }
    const denom = rowSum + colSum - tp;
    out[c] = denom === 0 ? Number.NaN : tp / denom;
  }
  return out;
}

/**
 * Mean IoU over the classes that occur in the ground truth or the prediction (classes with NaN IoU,
 * i.e. absent from both, are excluded from the mean, as Cityscapes' `getScoreAverage` does).
 * NaN when no class occurs.
 */
export function meanIoU(conf: Float64Array, numClasses: number): number {
  const iou = perClassIoU(conf, numClasses);
  let s = 0;
  let n = 0;
  for (const v of iou) {
    if (Number.isNaN(v)) continue;
    s += v;
    n++;
  }
  return n === 0 ? Number.NaN : s / n;
}

/** Overall pixel accuracy: trace / total of the confusion matrix (NaN when empty). */
export function pixelAccuracy(conf: Float64Array, numClasses: number): number {
  const K = numClasses;
  let tp = 0;
  let all = 0;
  for (let g = 0; g < K; g++) {
    for (let p = 0; p < K; p++) {
      all += conf[g * K + p];
      if (g === p) tp += conf[g * K + p];
    }
  }
  return all === 0 ? Number.NaN : tp / all;
}

/** Options of {@link temporalConsistency}. */
export interface TemporalConsistencyOptions {
  /** Per-pixel validity of the current frame (`w * h`, 0 = excluded, e.g. occluded). */
  valid?: Uint8Array;
  /** Label excluded wherever it appears in either frame (e.g. 255). Default: none. */
  ignore?: number;
}

/** Result of {@link temporalConsistency}. */
export interface TemporalConsistency {
  /** agree / counted; NaN when no pixel was counted. */
  fraction: number;
  /** Counted pixels whose label equals the flow-sampled previous label. */
  agree: number;
  /** Pixels counted (in-image sample, valid, not ignored). */
  counted: number;
}

/**
 * Flow-based temporal consistency: for each pixel (y, x) of the current frame, the previous
 * frame's label at the nearest pixel to (y + dy, x + dx) — rounding half up, floor(v + 0.5) — is
 * compared with the current label. Pixels whose sample falls outside the image, whose `valid`
 * entry is 0, whose flow is not finite, or where either label equals `ignore` are not counted.
 * @param labelsPrev previous frame labels, `w * h`
 * @param labelsCur current frame labels, `w * h`
 * @param flowCurToPrev planar 2 x h x w flow from current to previous, channel 0 dy, channel 1 dx
 */
export function temporalConsistency(
  labelsPrev: Uint8Array,
  labelsCur: Uint8Array,
  flowCurToPrev: Float32Array,
  w: number,
  h: number,
  opts: TemporalConsistencyOptions = {},
): TemporalConsistency {
  const n = w * h;
  if (labelsPrev.length !== n || labelsCur.length !== n) throw new RangeError(`label maps must have ${w}x${h} = ${n} pixels`);
  if (flowCurToPrev.length !== 2 * n) throw new RangeError(`flow must be 2 x ${h} x ${w} = ${2 * n} values, got ${flowCurToPrev.length}`);
  if (opts.valid && opts.valid.length !== n) throw new RangeError(`valid mask must have ${n} pixels`);
  const { valid, ignore } = opts;
  let agree = 0;
  let counted = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (valid && valid[i] === 0) continue;
      const cur = labelsCur[i];
      if (cur === ignore) continue;
      const sy = Math.floor(y + flowCurToPrev[i] + 0.5);
      const sx = Math.floor(x + flowCurToPrev[n + i] + 0.5);
      if (!(sy >= 0 && sy < h && sx >= 0 && sx < w)) continue; // also rejects NaN
      const prev = labelsPrev[sy * w + sx];
      if (prev === ignore) continue;
      counted++;
      if (prev === cur) agree++;
    }
  }
  return { fraction: counted === 0 ? Number.NaN : agree / counted, agree, counted };
}
