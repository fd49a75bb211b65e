/**
 * Colour spaces on plain typed arrays: sRGB transfer curve, CIE Lab (D65), full-range YCbCr
 * (JPEG / PIL convention, float and 8-bit, plus PIL's own fixed-point variant) and Rec. 709
 * luminance.
 *
 * Layouts:
 * - 8-bit RGB and 8-bit YCbCr are interleaved: `rgb[3 * i + c]`, c = 0 R (Y), 1 G (Cb), 2 B (Cr).
 * - Float Lab and float YCbCr are planar: `lab[c * n + i]` for pixel i of n, channel c =
 *   0 L, 1 a, 2 b (or Y, Cb, Cr), the channel-major layout the kernels use.
 * - Linear radiance for luminance is interleaved float RGB, as the HDR readers return it.
 */

// ---------------------------------------------------------------------------------------------
// sRGB transfer function (IEC 61966-2-1)

/** sRGB-encoded value in [0, 1] to linear light in [0, 1]. */
export function srgbToLinear(encoded: number): number {
  return encoded <= 0.04045 ? encoded / 12.92 : ((encoded + 0.055) / 1.055) ** 2.4;
}

/** Linear light in [0, 1] to an sRGB-encoded value in [0, 1]. */
export function linearToSrgb(linear: number): number {
  return linear <= 0.0031308 ? linear * 12.92 : 1.055 * linear ** (1 / 2.4) - 0.055;
}

/** Element-wise `srgbToLinear`; `out` may alias `values`. */
export function srgbToLinearArray(values: ArrayLike<number>, out = new Float32Array(values.length)): Float32Array {
  for (let i = 0; i < values.length; i++) out[i] = srgbToLinear(values[i]);
  return out;
}

/** Element-wise `linearToSrgb`; `out` may alias `values`. */
export function linearToSrgbArray(values: ArrayLike<number>, out = new Float32Array(values.length)): Float32Array {
  for (let i = 0; i < values.length; i++) out[i] = linearToSrgb(values[i]);
  return out;
}

/** Linear light of each 8-bit sRGB code value. */
const SRGB8_TO_LINEAR: Float64Array = Float64Array.from({ length: 256 }, (_, v) => srgbToLinear(v / 255));

// ---------------------------------------------------------------------------------------------
// CIE Lab (D65)

/** D65 reference white used for Lab (the 2-degree observer values most libraries use). */
export const D65_WHITE = { x: 0.95047, y: 1, z: 1.08883 } as const;

/** Linear sRGB to CIE XYZ (D65), row-major 3x3 (IEC 61966-2-1 / Lindbloom). */
const RGB_TO_XYZ = [0.4124564, 0.3575761, 0.1804375, 0.2126729, 0.7151522, 0.072175, 0.0193339, 0.119192, 0.9503041];
/** Exact inverse of RGB_TO_XYZ, so that RGB -> Lab -> RGB round trips. */
const XYZ_TO_RGB = invert3x3(RGB_TO_XYZ);

function invert3x3(m: readonly number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m;
  const c00 = e * i - f * h;
  const c01 = f * g - d * i;
  const c02 = d * h - e * g;
  const det = a * c00 + b * c01 + c * c02;
  return [
    c00 / det,
    (c * h - b * i) / det,
    (b * f - c * e) / det,
    c01 / det,
    (a * i - c * g) / det,
    (c * d - a * f) / det,
    c02 / det,
    (b * g - a * h) / det,
    (a * e - b * d) / det,
  ];
}

const LAB_DELTA = 6 / 29;
const LAB_DELTA_CUBED = LAB_DELTA ** 3;
const LAB_SLOPE = 3 * LAB_DELTA * LAB_DELTA;

function labF(t: number): number {
  return t > LAB_DELTA_CUBED ? Math.cbrt(t) : t / LAB_SLOPE + 4 / 29;
}

function labFInverse(f: number): number {
  return f > LAB_DELTA ? f * f * f : LAB_SLOPE * (f - 4 / 29);
}

function linearRgbToLab(r: number, g: number, b: number, out: number[]): void {
  const m = RGB_TO_XYZ;
  const fx = labF((m[0] * r + m[1] * g + m[2] * b) / D65_WHITE.x);
  const fy = labF((m[3] * r + m[4] * g + m[5] * b) / D65_WHITE.y);
  const fz = labF((m[6] * r + m[7] * g + m[8] * b) / D65_WHITE.z);
  out[0] = 116 * fy - 16;
  out[1] = 500 * (fx - fy);
  out[2] = 200 * (fy - fz);
}

function labToByte(linear: number): number {
  return clampByte(linearToSrgb(linear) * 255);
}

function labToRgbInto(L: number, a: number, b: number, out: Uint8Array, offset: number): void {
  const fy = (L + 16) / 116;
  const x = D65_WHITE.x * labFInverse(fy + a / 500);
  const y = D65_WHITE.y * labFInverse(fy);
  const z = D65_WHITE.z * labFInverse(fy - b / 200);
  const m = XYZ_TO_RGB;
  out[offset] = labToByte(m[0] * x + m[1] * y + m[2] * z);
  out[offset + 1] = labToByte(m[3] * x + m[4] * y + m[5] * z);
  out[offset + 2] = labToByte(m[6] * x + m[7] * y + m[8] * z);
}

/** One 8-bit sRGB pixel to CIE Lab `[L, a, b]` (L in 0..100). */
export function rgb8ToLab(r: number, g: number, b: number): [number, number, number] {
  const lab = [0, 0, 0];
  linearRgbToLab(SRGB8_TO_LINEAR[r & 255], SRGB8_TO_LINEAR[g & 255], SRGB8_TO_LINEAR[b & 255], lab);
  return lab as [number, number, number];
}

/** One Lab colour to 8-bit sRGB (rounded; out-of-gamut channels clamped to 0..255). */
export function labToRgb8(L: number, a: number, b: number): [number, number, number] {
  const out = new Uint8Array(3);
  labToRgbInto(L, a, b, out, 0);
  return [out[0], out[1], out[2]];
}

/**
 * Interleaved 8-bit sRGB (n pixels) to planar Lab: `out[i]` = L, `out[n + i]` = a,
 * `out[2n + i]` = b.
 */
export function rgbToLab(rgb: Uint8Array, n: number, out = new Float32Array(3 * n)): Float32Array {
  checkLength(rgb.length, 3 * n, 'rgb');
  checkLength(out.length, 3 * n, 'out');
  const lab = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    linearRgbToLab(SRGB8_TO_LINEAR[rgb[3 * i]], SRGB8_TO_LINEAR[rgb[3 * i + 1]], SRGB8_TO_LINEAR[rgb[3 * i + 2]], lab);
    out[i] = lab[0];
    out[n + i] = lab[1];
    out[2 * n + i] = lab[2];
  }
  return out;
}

/** Planar Lab (layout of `rgbToLab`) to interleaved 8-bit sRGB, rounded and clamped. */
export function labToRgb(lab: Float32Array, n: number, out = new Uint8Array(3 * n)): Uint8Array {
  checkLength(lab.length, 3 * n, 'lab');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) labToRgbInto(lab[i], lab[n + i], lab[2 * n + i], out, 3 * i);
  return out;
}

/** Round to the nearest integer and clamp to 0..255. */
function clampByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}

function checkLength(actual: number, expected: number, name: string): void {
  if (actual < expected) throw new RangeError(`${name} has ${actual} values, needs ${expected}`);
}

// ---------------------------------------------------------------------------------------------
// Full-range YCbCr (JPEG / JFIF, PIL's mode 'YCbCr')

/**
 * Full-range (JPEG/JFIF, PIL) Y, Cb, Cr of one RGB pixel, unrounded: the one place the formula is
 * written (small enough for the JIT to inline in per-pixel loops).
 */
export function lumaOf(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}
export function cbOf(r: number, g: number, b: number): number {
  return 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
}
export function crOf(r: number, g: number, b: number): number {
  return 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
}

/** One RGB pixel (any range, 0..255 for 8-bit) to full-range `[Y, Cb, Cr]`, unrounded. */
export function rgbToYcbcrPixel(r: number, g: number, b: number): [number, number, number] {
  return [lumaOf(r, g, b), cbOf(r, g, b), crOf(r, g, b)];
}

/** One full-range YCbCr pixel to `[R, G, B]`, unrounded and unclamped. */
export function ycbcrToRgbPixel(y: number, cb: number, cr: number): [number, number, number] {
  return [y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)];
}

/** Interleaved 8-bit RGB to planar float YCbCr: `out[i]` = Y, `out[n + i]` = Cb, `out[2n + i]` = Cr. */
export function rgbToYcbcr(rgb: Uint8Array, n: number, out = new Float32Array(3 * n)): Float32Array {
  checkLength(rgb.length, 3 * n, 'rgb');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) {
    const r = rgb[3 * i];
    const g = rgb[3 * i + 1];
    const b = rgb[3 * i + 2];
    out[i] = lumaOf(r, g, b);
    out[n + i] = cbOf(r, g, b);
    out[2 * n + i] = crOf(r, g, b);
  }
  return out;
}

/** Planar float YCbCr (layout of `rgbToYcbcr`) to interleaved 8-bit RGB, rounded and clamped. */
export function ycbcrToRgb(ycbcr: Float32Array, n: number, out = new Uint8Array(3 * n)): Uint8Array {
  checkLength(ycbcr.length, 3 * n, 'ycbcr');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) {
    const y = ycbcr[i];
    const cb = ycbcr[n + i] - 128;
    const cr = ycbcr[2 * n + i] - 128;
    out[3 * i] = clampByte(y + 1.402 * cr);
    out[3 * i + 1] = clampByte(y - 0.344136 * cb - 0.714136 * cr);
    out[3 * i + 2] = clampByte(y + 1.772 * cb);
  }
  return out;
}

/** Interleaved 8-bit RGB to interleaved 8-bit YCbCr with the float formulas, rounded and clamped. */
export function rgbToYcbcr8(rgb: Uint8Array, n: number, out = new Uint8Array(3 * n)): Uint8Array {
  checkLength(rgb.length, 3 * n, 'rgb');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) {
    const r = rgb[3 * i];
    const g = rgb[3 * i + 1];
    const b = rgb[3 * i + 2];
    out[3 * i] = clampByte(lumaOf(r, g, b));
    out[3 * i + 1] = clampByte(cbOf(r, g, b));
    out[3 * i + 2] = clampByte(crOf(r, g, b));
  }
  return out;
}

/** Interleaved 8-bit YCbCr to interleaved 8-bit RGB with the float formulas, rounded and clamped. */
export function ycbcr8ToRgb(ycbcr: Uint8Array, n: number, out = new Uint8Array(3 * n)): Uint8Array {
  checkLength(ycbcr.length, 3 * n, 'ycbcr');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) {
    const y = ycbcr[3 * i];
    const cb = ycbcr[3 * i + 1] - 128;
    const cr = ycbcr[3 * i + 2] - 128;
    out[3 * i] = clampByte(y + 1.402 * cr);
    out[3 * i + 1] = clampByte(y - 0.344136 * cb - 0.714136 * cr);
    out[3 * i + 2] = clampByte(y + 1.772 * cb);
  }
  return out;
}

// PIL (libImaging/ConvertYCbCr.c) converts with 6-bit fixed point: per-channel tables of
// trunc(coefficient * 64 * v + 0.5) (C truncation toward zero), summed and arithmetically
// shifted right by 6, i.e. floored. Its coefficients are the 5-digit JFIF ones below, not the
// 6-digit ones of the float path. The tables are rebuilt here from that rule.
const PIL_SCALE = 6;
function pilTable(coefficient: number, offset: number): Int32Array {
  return Int32Array.from({ length: 256 }, (_, v) => Math.trunc(coefficient * (1 << PIL_SCALE) * (v - offset) + 0.5));
}
const PIL_Y_R = pilTable(0.299, 0);
const PIL_Y_G = pilTable(0.587, 0);
const PIL_Y_B = pilTable(0.114, 0);
const PIL_CB_R = pilTable(-0.16874, 0);
const PIL_CB_G = pilTable(-0.33126, 0);
const PIL_CB_B = pilTable(0.5, 0);
const PIL_CR_R = PIL_CB_B;
const PIL_CR_G = pilTable(-0.41869, 0);
const PIL_CR_B = pilTable(-0.08131, 0);
const PIL_R_CR = pilTable(1.402, 128);
const PIL_G_CB = pilTable(-0.34414, 128);
const PIL_G_CR = pilTable(-0.71414, 128);
const PIL_B_CB = pilTable(1.772, 128);

/** The fixed-point tables of PIL's YCbCr conversion, indexed by 8-bit code value (for tests). */
export const PIL_YCBCR_TABLES = {
  yR: PIL_Y_R,
  yG: PIL_Y_G,
  yB: PIL_Y_B,
  cbR: PIL_CB_R,
  cbG: PIL_CB_G,
  cbB: PIL_CB_B,
  crG: PIL_CR_G,
  crB: PIL_CR_B,
  rCr: PIL_R_CR,
  gCb: PIL_G_CB,
  gCr: PIL_G_CR,
  bCb: PIL_B_CB,
} as const;

/**
 * Interleaved 8-bit RGB to interleaved 8-bit YCbCr exactly as PIL's `Image.convert('YCbCr')`
 * computes it (values are floored, not rounded, so they can be 1 below `rgbToYcbcr8`).
 */
export function pilRgbToYcbcr(rgb: Uint8Array, n: number, out = new Uint8Array(3 * n)): Uint8Array {
  checkLength(rgb.length, 3 * n, 'rgb');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) {
    const r = rgb[3 * i];
    const g = rgb[3 * i + 1];
    const b = rgb[3 * i + 2];
    out[3 * i] = (PIL_Y_R[r] + PIL_Y_G[g] + PIL_Y_B[b]) >> PIL_SCALE;
    out[3 * i + 1] = ((PIL_CB_R[r] + PIL_CB_G[g] + PIL_CB_B[b]) >> PIL_SCALE) + 128;
    out[3 * i + 2] = ((PIL_CR_R[r] + PIL_CR_G[g] + PIL_CR_B[b]) >> PIL_SCALE) + 128;
  }
  return out;
}

/** Interleaved 8-bit YCbCr to interleaved 8-bit RGB exactly as PIL's `convert('RGB')` does. */
export function pilYcbcrToRgb(ycbcr: Uint8Array, n: number, out = new Uint8Array(3 * n)): Uint8Array {
  checkLength(ycbcr.length, 3 * n, 'ycbcr');
  checkLength(out.length, 3 * n, 'out');
  for (let i = 0; i < n; i++) {
    const y = ycbcr[3 * i];
    const cb = ycbcr[3 * i + 1];
    const cr = ycbcr[3 * i + 2];
    const r = y + (PIL_R_CR[cr] >> PIL_SCALE);
    const g = y + ((PIL_G_CB[cb] + PIL_G_CR[cr]) >> PIL_SCALE);
    const b = y + (PIL_B_CB[cb] >> PIL_SCALE);
    out[3 * i] = Math.min(255, Math.max(0, r));
    out[3 * i + 1] = Math.min(255, Math.max(0, g));
    out[3 * i + 2] = Math.min(255, Math.max(0, b));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Luminance

/** Rec. 709 / sRGB-primaries luminance of linear radiance. */
export function rec709Luminance(r: number, g: number, b: number): number {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Rec. 709 luminance of n interleaved linear RGB pixels (`rgb[3 * i + c]`). */
export function rec709LuminanceArray(rgb: Float32Array, n: number, out = new Float32Array(n)): Float32Array {
  checkLength(rgb.length, 3 * n, 'rgb');
  checkLength(out.length, n, 'out');
  for (let i = 0; i < n; i++) out[i] = 0.2126 * rgb[3 * i] + 0.7152 * rgb[3 * i + 1] + 0.0722 * rgb[3 * i + 2];
  return out;
}
