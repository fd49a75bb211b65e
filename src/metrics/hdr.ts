/**
 * HDR propagation measures (our definitions: no published protocol was found for STPN's HDR task,
 * ANCHORS §1.7 suggests PSNR on log luminance).
 *
 * Layout: linear radiance frames are interleaved RGB `Float32Array` (or any numeric array),
 * `data[(y * width + x) * 3 + c]`, c = 0 R, 1 G, 2 B, in scene-linear units (any positive scale).
 * Negative values (which half-float decoders can produce) are clamped to 0 before any logarithm.
 */

function check(pred: ArrayLike<number>, gt: ArrayLike<number>): void {
  if (pred.length !== gt.length) throw new RangeError(`length mismatch: ${pred.length} vs ${gt.length}`);
  if (pred.length === 0 || pred.length % 3 !== 0)
    throw new RangeError(`interleaved RGB length must be a positive multiple of 3, got ${pred.length}`);
}

/** Offset of the property scale: HDR property maps are log(H + 0.01) per channel (DESIGN). */
export const LOG_RADIANCE_EPS = 0.01;

/** Offset added to luminance before log10 in {@link logLuminancePsnr}. */
export const LOG_LUMINANCE_EPS = 1e-4;

/**
 * RMSE in the property scale: sqrt(mean over all pixels and channels of
 * (ln(max(pred,0) + 0.01) − ln(max(gt,0) + 0.01))²). Natural logarithm; 0 for identical inputs.
 */
export function logRadianceRmse(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  check(pred, gt);
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = Math.log(Math.max(pred[i], 0) + LOG_RADIANCE_EPS) - Math.log(Math.max(gt[i], 0) + LOG_RADIANCE_EPS);
    s += d * d;
  }
  return Math.sqrt(s / pred.length);
}

/**
 * Log luminance per pixel: log10(max(L, 0) + 1e-4) with Rec. 709 / sRGB-primaries luminance
 * L = 0.2126 R + 0.7152 G + 0.0722 B of linear radiance.
 * @param rgb interleaved linear RGB, `n * 3`
 * @returns `n` values
 */
export function logLuminance(rgb: ArrayLike<number>): Float64Array {
  if (rgb.length % 3 !== 0) throw new RangeError(`interleaved RGB length must be a multiple of 3, got ${rgb.length}`);
  const n = rgb.length / 3;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const L = 0.2126 * rgb[3 * i] + 0.7152 * rgb[3 * i + 1] + 0.0722 * rgb[3 * i + 2];
    out[i] = Math.log10(Math.max(L, 0) + LOG_LUMINANCE_EPS);
  }
  return out;
}

/**
 * PSNR (dB) on log10 luminance ({@link logLuminance}): 10 · log10(peak² / MSE) where MSE is the mean
 * squared difference of the two log-luminance maps and peak = max − min of the ground truth's log
 * luminance (its dynamic range in decades), so the score does not depend on the radiance scale of
 * the ground truth. Identical inputs → +Infinity; a constant ground truth (peak 0) with MSE > 0 → NaN.
 */
export function logLuminancePsnr(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  check(pred, gt);
  const lp = logLuminance(pred);
  const lg = logLuminance(gt);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let s = 0;
  for (let i = 0; i < lg.length; i++) {
    const g = lg[i];
    if (g < lo) lo = g;
    if (g > hi) hi = g;
    const d = lp[i] - g;
    s += d * d;
  }
  const mse = s / lg.length;
  if (mse === 0) return Number.POSITIVE_INFINITY;
  const peak = hi - lo;
  if (peak === 0) return Number.NaN;
  return 10 * Math.log10((peak * peak) / mse);
}
