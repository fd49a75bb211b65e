/**
 * The synthetic camera: how linear scene radiance becomes the 8-bit frame a user has.
 *
 * Camera response (documented, exactly what `render` does per channel):
 *
 *     code = round(255 * srgbOetf(clamp(exposure * H, 0, 1)))
 *
 * with the IEC 61966-2-1 sRGB OETF `v <= 0.0031308 ? 12.92 v : 1.055 v^(1/2.4) - 0.055`. Radiance
 * with `exposure * H >= 1` clips to 255; that is what makes the HDR ground truth recoverable only
 * from the radiance, not from the LDR frame.
 *
 * These few colour helpers live here rather than in `formats/` because they define the synthetic
 * ground truth itself and must not change when the library's colour code does.
 */

/** sRGB opto-electronic transfer function, linear [0, 1] -> encoded [0, 1]. */
export function srgbOetf(v: number): number {
  return v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055;
}

/** Inverse of `srgbOetf`, encoded [0, 1] -> linear [0, 1]. */
export function srgbEotf(e: number): number {
  return e <= 0.04045 ? e / 12.92 : ((e + 0.055) / 1.055) ** 2.4;
}

/** The camera response as a real number in [0, 1] (before the 8-bit rounding). */
export function cameraResponse(radiance: number, exposure = 1): number {
  const v = exposure * radiance;
  if (!(v > 0)) return 0; // also maps NaN to black, like encodeLinear8
  return srgbOetf(Math.min(1, v));
}

/**
 * Inverse camera response: the radiance that maps to encoded value `e` in [0, 1]. Only meaningful
 * below the clip (e < 1): a clipped code says the radiance was at least `1 / exposure`.
 */
export function inverseCameraResponse(e: number, exposure = 1): number {
  return srgbEotf(Math.min(1, Math.max(0, e))) / exposure;
}

// Exact 8-bit encoding without a pow per channel: code c covers linear [THRESHOLD[c],
// THRESHOLD[c + 1]). A table over sqrt(v) gives the code at each bin's lower edge; in the sqrt
// domain codes are at most ~370 per unit wide, so with 4096 bins a bin holds at most one
// threshold and one comparison finishes the lookup. The table is 4 KB, so it stays in L1.
const BINS = 4096;
const THRESHOLD = new Float64Array(257);
const BIN_CODE = new Uint8Array(BINS + 1);
{
  THRESHOLD[0] = Number.NEGATIVE_INFINITY;
  for (let c = 1; c <= 255; c++) THRESHOLD[c] = srgbEotf((c - 0.5) / 255);
  THRESHOLD[256] = Number.POSITIVE_INFINITY;
  let c = 0;
  for (let i = 0; i <= BINS; i++) {
    const v = (i / BINS) ** 2;
    while (v >= THRESHOLD[c + 1]) c++;
    BIN_CODE[i] = c;
  }
  // Self-check of the one-threshold-per-bin property the lookup relies on.
  for (let i = 0; i < BINS; i++) {
    if (BIN_CODE[i + 1] - BIN_CODE[i] > 1) throw new Error('encodeLinear8 table: a bin spans two codes');
  }
}

/** `round(255 * srgbOetf(clamp(v, 0, 1)))` for a linear value v (already multiplied by exposure). */
export function encodeLinear8(v: number): number {
  if (!(v > 0)) return 0; // also maps NaN to 0
  if (v >= 1) return 255;
  let c = BIN_CODE[(Math.sqrt(v) * BINS) | 0];
  if (v >= THRESHOLD[c + 1]) c++;
  return c;
}

/**
 * HSV (hue in turns, saturation, value, all in [0, 1]) interpreted as an sRGB-encoded display
 * colour, returned as linear RGB.
 */
export function hsvToLinear(h: number, s: number, v: number): [number, number, number] {
  const hh = (((h % 1) + 1) % 1) * 6;
  const i = Math.floor(hh);
  const f = hh - i;
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  const rgb: [number, number, number][] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  const [r, g, b] = rgb[i % 6];
  return [srgbEotf(r), srgbEotf(g), srgbEotf(b)];
}

/**
 * Row-major 3x3 matrix `gain * R(hue)`, R the rotation by `hue` radians about the grey axis
 * (1,1,1)/sqrt(3) (Rodrigues): changes hue, keeps grey grey and, for gain 1, keeps the mean level.
 */
export function gainHueMatrix(gain: number, hue: number, out: Float64Array, offset = 0): void {
  const c = Math.cos(hue);
  const s = Math.sin(hue) / Math.sqrt(3);
  const d = (1 - c) / 3;
  // R = c I + (1 - c) u u^T + sin(hue) [u]x, with u u^T = 1/3 everywhere.
  out[offset] = gain * (c + d);
  out[offset + 1] = gain * (d - s);
  out[offset + 2] = gain * (d + s);
  out[offset + 3] = gain * (d + s);
  out[offset + 4] = gain * (c + d);
  out[offset + 5] = gain * (d - s);
  out[offset + 6] = gain * (d - s);
  out[offset + 7] = gain * (d + s);
  out[offset + 8] = gain * (c + d);
}
