/**
 * Colour-propagation measures and the VPN colour protocol (ANCHORS §1.5).
 *
 * Layouts: frames are interleaved 8-bit RGB, `data[(y * width + x) * 3 + c]` (c = 0 R, 1 G, 2 B);
 * the error measures only need both arrays to have the same length and layout. Planes passed to
 * the VPN helpers are single-channel, row-major, `n = width * height` values.
 *
 * Reproduced references (logic re-implemented):
 * - VPN `color_propagation/utils.py` (`computeRMSE`, `convert_to_rgb`) and `compute_rmse.py`.
 * - scipy.misc `toimage` → `bytescale` (scipy ≥ 0.16 formula; older scipy used `+ 0.4999` without clipping).
 * - Pillow `libImaging/ConvertYCbCr.c`: fixed-point (6-bit) JPEG/JFIF YCbCr ↔ RGB with lookup tables.
 *   The tables are regenerated here from their defining formula, entry = (int)(coef · v · 64 + 0.5)
 *   with C truncation toward zero (v = i for RGB→YCbCr, v = i − 128 for YCbCr→RGB); this reproduces
 *   every entry of Pillow's YCbCr→RGB tables (checked entry by entry against Pillow's source).
 */

import { pilYcbcrToRgb } from '../formats/color.js';
import { numpySum } from './davis.js';

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`length mismatch: ${a.length} vs ${b.length}`);
  if (a.length === 0) throw new RangeError('empty image');
}

/**
 * Root-mean-square error over all elements (all pixels and all channels), in 8-bit units:
 * sqrt(mean((pred − gt)²)), as VPN's `computeRMSE`.
 */
export function rmse(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSameLength(pred, gt);
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = pred[i] - gt[i];
    s += d * d;
  }
  return Math.sqrt(s / pred.length);
}

/**
 * PSNR in dB exactly as VPN's `computeRMSE`: 20 · log(255 / (RMSE + 1e-27), 10), with RMSE over
 * all pixels and all 3 channels. Python's `math.log(x, 10)` is ln(x) / ln(10), reproduced as such.
 * Identical images therefore give 20 · log10(255 / 1e-27) ≈ 588.13 dB, not Infinity.
 */
export function psnr(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  return psnrFromRmse(rmse(pred, gt));
}

/** The VPN PSNR of a given RMSE (8-bit units): 20 · ln(255 / (rmse + 1e-27)) / ln(10). */
export function psnrFromRmse(e: number): number {
  return (20 * Math.log(255 / (e + 1e-27))) / Math.log(10);
}

/** Mean absolute error over all elements (8-bit units). */
export function l1(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSameLength(pred, gt);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs(pred[i] - gt[i]);
  return s / pred.length;
}

/** Per-sequence colour scores: per-frame values and their means (VPN averages per-frame PSNRs). */
export interface ColorSequenceScore {
  /** Per-frame PSNR (dB), in input order. */
  psnr: number[];
  /** Per-frame RMSE (8-bit units). */
  rmse: number[];
  /** Mean of the per-frame PSNRs (not the PSNR of the mean MSE). */
  meanPsnr: number;
  /** Mean of the per-frame RMSEs. */
  meanRmse: number;
}

/**
 * Scores of one sequence: per-frame RMSE and PSNR and their plain means (VPN `get_average_rmse`,
 * summed in NumPy's order;
 * the VPN protocol uses frames 0..24, frame 0 included). Dataset score = mean over sequences of
 * `meanPsnr`.
 * @param preds interleaved RGB frames
 * @param gts interleaved RGB frames, same count and sizes
 */
export function sequenceColorScore(preds: ReadonlyArray<ArrayLike<number>>, gts: ReadonlyArray<ArrayLike<number>>): ColorSequenceScore {
  if (preds.length !== gts.length) throw new RangeError(`${preds.length} predicted frames for ${gts.length} reference frames`);
  if (preds.length === 0) throw new RangeError('no frames');
  const r = preds.map((p, i) => rmse(p, gts[i]));
  const p = r.map(psnrFromRmse);
  const mean = (v: number[]) => numpySum(v) / v.length; // np.mean: NumPy pairwise summation
  return { psnr: p, rmse: r, meanPsnr: mean(p), meanRmse: mean(r) };
}

// ------------------------------------------------------------------------------------------------
// scipy bytescale and Pillow YCbCr conversions
// ------------------------------------------------------------------------------------------------

/**
 * scipy.misc `bytescale(data)` with default arguments (low 0, high 255): cmin/cmax = min/max of all
 * values, cscale = cmax − cmin (1 when 0), scale = 255 / cscale, out = uint8(clip((v − cmin)·scale, 0, 255) + 0.5)
 * (truncation). Computed in double, as NumPy does for the float64 arrays VPN passes.
 */
export function bytescale(data: ArrayLike<number>): Uint8Array {
  const n = data.length;
  const out = new Uint8Array(n);
  if (n === 0) return out;
  let cmin = Number.POSITIVE_INFINITY;
  let cmax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (v < cmin) cmin = v;
    if (v > cmax) cmax = v;
  }
  let cscale = cmax - cmin;
  if (cscale === 0) cscale = 1;
  const scale = 255 / cscale;
  for (let i = 0; i < n; i++) {
    let b = (data[i] - cmin) * scale + 0;
    if (b < 0) b = 0;
    else if (b > 255) b = 255;
    out[i] = Math.trunc(b + 0.5);
  }
  return out;
}

export interface VpnComposeOptions {
  /**
   * true: reproduce VPN's saved outputs, which went through scipy `toimage` → `bytescale`, i.e.
   * the joint min..max of the frame's three Y,Cb,Cr channels is stretched to 0..255 before the
   * conversion (needed to reproduce VPN's 27.89 / 28.15 dB). false: each value is clipped to
   * 0..255 and rounded half up (floor(v + 0.5)), the clean conversion.
   */
  contrastStretch: boolean;
}

/**
 * The VPN colour output path for one frame: stack (Y, Cb, Cr) as floats, quantise to 8 bits
 * (see {@link VpnComposeOptions.contrastStretch}), then Pillow's YCbCr → RGB (formats/color.ts `pilYcbcrToRgb`).
 * @param Y luma plane, `n` values on the 0..255 scale (ground truth luma in the protocol)
 * @param cb predicted Cb plane, `n` values on 0..255 (VPN: (pred + 0.5) · 255)
 * @param cr predicted Cr plane, `n` values on 0..255
 * @param n number of pixels (width · height)
 * @returns interleaved 8-bit RGB, `n * 3`
 */
export function vpnComposeOutput(
  Y: ArrayLike<number>,
  cb: ArrayLike<number>,
  cr: ArrayLike<number>,
  n: number,
  opts: VpnComposeOptions,
): Uint8Array {
  if (Y.length !== n || cb.length !== n || cr.length !== n) {
    throw new RangeError(`plane lengths ${Y.length}/${cb.length}/${cr.length} do not match n = ${n}`);
  }
  const stacked = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    stacked[i * 3] = Y[i];
    stacked[i * 3 + 1] = cb[i];
    stacked[i * 3 + 2] = cr[i];
  }
  let ycc: Uint8Array;
  if (opts.contrastStretch) ycc = bytescale(stacked);
  else {
    ycc = new Uint8Array(n * 3);
    for (let i = 0; i < stacked.length; i++) {
      const v = stacked[i];
      ycc[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.floor(v + 0.5);
    }
  }
  return pilYcbcrToRgb(ycc, ycc.length / 3);
}
