/**
 * Per-superpixel reductions and their inverse ("Smear"), as used by VPN's superpixel variant
 * (ANCHORS §3.1: SpixelFeature AVGRGB layer, `convert_to_spixel_gt`, Smear layer).
 *
 * Layouts: `labels` is row-major H x W with ids 0..count-1 (e.g. from `slic`); pixel planes are
 * planar channel-major `C x H x W`; per-superpixel tables are channel-major `C x count`
 * (element `[c * count + s]`). Sums accumulate in float64 so that means over large superpixels
 * of pixel coordinates (up to ~10⁵ per sum) keep full float32 precision.
 */
import { cbOf, crOf, lumaOf } from '../formats/color.js';

/** Number of pixels in each superpixel: Int32Array(count). */
export function superpixelPixelCounts(labels: Int32Array, count: number): Int32Array {
  const counts = new Int32Array(count);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    // One unsigned compare rejects both negative and too-large ids.
    if (l >>> 0 >= count) throw badLabel(l, i, count);
    counts[l]++;
  }
  return counts;
}

/**
 * Mean of each channel over each superpixel. `planes` is `C x n` planar (n = labels.length);
 * returns `C x count`. An empty superpixel (possible only with non-contiguous labels) gets 0.
 */
export function superpixelMeans(labels: Int32Array, count: number, planes: Float32Array, C: number): Float32Array {
  const n = labels.length;
  if (planes.length !== C * n) {
    throw new RangeError(`superpixelMeans: planes has ${planes.length} values, expected C·n = ${C}·${n}`);
  }
  const counts = superpixelPixelCounts(labels, count);
  const acc = new Float64Array(C * count);
  for (let c = 0; c < C; c++) {
    const po = c * n;
    const ao = c * count;
    for (let i = 0; i < n; i++) acc[ao + labels[i]] += planes[po + i];
  }
  const out = new Float32Array(C * count);
  for (let s = 0; s < count; s++) {
    const m = counts[s];
    if (m === 0) continue;
    const inv = 1 / m;
    for (let c = 0; c < C; c++) out[c * count + s] = acc[c * count + s] * inv;
  }
  return out;
}

/**
 * Majority class per superpixel of an H x W class-id image (values < numClasses). Ties go to
 * the lowest class id; an empty superpixel gets 0.
 */
export function superpixelMode(labels: Int32Array, count: number, labelImage: Uint8Array, numClasses: number): Uint8Array {
  const n = labels.length;
  if (labelImage.length !== n) {
    throw new RangeError(`superpixelMode: labelImage has ${labelImage.length} pixels, labels has ${n}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 256) {
    throw new RangeError(`superpixelMode: numClasses must be an integer in 1..256, got ${numClasses}`);
  }
  const hist = new Int32Array(count * numClasses);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (l >>> 0 >= count) throw badLabel(l, i, count);
    const v = labelImage[i];
    if (v >= numClasses) {
      throw new RangeError(`superpixelMode: class ${v} at pixel ${i} is outside 0..${numClasses - 1}`);
    }
    hist[l * numClasses + v]++;
  }
  const out = new Uint8Array(count);
  for (let s = 0; s < count; s++) {
    const o = s * numClasses;
    let best = 0;
    let bestN = hist[o];
    // Strict > keeps the first (lowest) class among equal counts.
    for (let v = 1; v < numClasses; v++) {
      if (hist[o + v] > bestN) {
        bestN = hist[o + v];
        best = v;
      }
    }
    out[s] = best;
  }
  return out;
}

/**
 * Copy each superpixel's value to its pixels: `values` is `C x count`, the result `C x n`
 * (n = H·W = labels.length; the parameter exists for call sites that state it, and must agree).
 */
export function smear(labels: Int32Array, values: Float32Array, C: number, n: number = labels.length): Float32Array {
  if (n !== labels.length) throw new RangeError(`smear: n = ${n} but labels has ${labels.length} pixels`);
  if (C < 1 || values.length % C !== 0) {
    throw new RangeError(`smear: values length ${values.length} is not a multiple of C = ${C}`);
  }
  const count = values.length / C;
  const out = new Float32Array(C * n);
  // The first channel's pass checks the labels (a separate pass would read them once more).
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (l >>> 0 >= count) throw badLabel(l, i, count);
    out[i] = values[l];
  }
  for (let c = 1; c < C; c++) {
    const vo = c * count;
    const po = c * n;
    for (let i = 0; i < n; i++) out[po + i] = values[vo + labels[i]];
  }
  return out;
}

/** Number of VPN superpixel features: Y, Cb, Cr, x, y, t. */
export const VPN_FEATURE_CHANNELS = 6;

/**
 * VPN's 6-D superpixel features in one pass over an interleaved RGB frame, without building
 * per-pixel planes: returns `6 x count` with rows Y, Cb, Cr (full-range JPEG/PIL YCbCr, 0..255),
 * x (column), y (row), t (the frame index, constant). PIL rounds each pixel's YCbCr to a byte
 * first; we average the unrounded values (differences ≤ 0.5 per pixel, far below a lattice unit).
 */
export function superpixelVpnFeatures(
  rgb: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  labels: Int32Array,
  count: number,
  t: number,
): Float32Array {
  const n = width * height;
  if (rgb.length !== n * 3) {
    throw new RangeError(`superpixelVpnFeatures: rgb has ${rgb.length} bytes, expected ${n * 3}`);
  }
  if (labels.length !== n) {
    throw new RangeError(`superpixelVpnFeatures: labels has ${labels.length} pixels, expected ${n}`);
  }
  // Interleaved per-superpixel accumulators (R, G, B, x, y, n): one cache line per update.
  const acc = new Float64Array(count * 6);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const l = labels[i];
      if (l >>> 0 >= count) throw badLabel(l, i, count);
      const o = l * 6;
      const j = i * 3;
      acc[o] += rgb[j];
      acc[o + 1] += rgb[j + 1];
      acc[o + 2] += rgb[j + 2];
      acc[o + 3] += x;
      acc[o + 4] += y;
      acc[o + 5] += 1;
    }
  }
  // YCbCr is affine in RGB, so the mean of YCbCr is YCbCr of the mean RGB.
  const out = new Float32Array(6 * count);
  for (let s = 0; s < count; s++) {
    const o = s * 6;
    const m = acc[o + 5];
    if (m === 0) continue;
    const inv = 1 / m;
    const r = acc[o] * inv;
    const g = acc[o + 1] * inv;
    const b = acc[o + 2] * inv;
    out[s] = lumaOf(r, g, b);
    out[count + s] = cbOf(r, g, b);
    out[2 * count + s] = crOf(r, g, b);
    out[3 * count + s] = acc[o + 3] * inv;
    out[4 * count + s] = acc[o + 4] * inv;
    out[5 * count + s] = t;
  }
  return out;
}

function badLabel(l: number, i: number, count: number): RangeError {
  return new RangeError(`superpixel id ${l} at pixel ${i} is outside 0..${count - 1}`);
}
