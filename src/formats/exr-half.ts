/**
 * IEEE 754 binary16 ("half") <-> binary32 conversion for OpenEXR.
 *
 * Half layout: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Exponent 0 holds zero and
 * the subnormals (value = mantissa * 2^-24); exponent 31 holds infinity (mantissa 0) and NaN.
 * Float -> half rounds to nearest, ties to even, as OpenEXR's `half(float)` does; values at or above
 * 65520 become infinity, NaN stays NaN (quiet, upper mantissa bits kept).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Half bit pattern (0..0xffff) nearest to `value` (after rounding `value` to float32). */
export function floatToHalf(value: number): number {
  f32[0] = value;
  return floatBitsToHalf(u32[0]);
}

/** Same as {@link floatToHalf} on the raw float32 bit pattern (unsigned 32-bit integer). */
export function floatBitsToHalf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) {
    // Inf stays Inf; NaN keeps its top mantissa bits and is forced quiet so it cannot become Inf.
    return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  }
  // abs >= 65520 (0x477ff000) rounds to infinity; the normal path below would get there too, but
  // only for values < 2^16, so cap bigger exponents first.
  if (abs >= 0x47800000) return sign | 0x7c00;
  if (abs >= 0x38800000) {
    // Normal half (|x| >= 2^-14): rebias the exponent, then round the 13 dropped bits to nearest
    // even. A carry out of the mantissa correctly bumps the exponent (up to Inf at 65520).
    const odd = (abs >>> 13) & 1;
    return sign | ((abs - 0x38000000 + 0xfff + odd) >>> 13);
  }
  // Subnormal or zero: value = m * 2^(e - 150) with m the 24-bit significand; the half unit is
  // 2^-24, so the result is m >> (126 - e) rounded to nearest even. Integer arithmetic avoids the
  // double rounding a float addition trick would suffer in JavaScript's float64 arithmetic.
  const e = abs >>> 23;
  const m = e === 0 ? abs & 0x7fffff : (abs & 0x7fffff) | 0x800000;
  const shift = 126 - (e === 0 ? 1 : e); // float subnormals have exponent 1 without the implicit bit
  if (shift > 24) return sign; // below half the smallest subnormal: rounds to (signed) zero
  const q = m >>> shift;
  const rem = m - q * 2 ** shift;
  const halfway = 2 ** (shift - 1);
  const rounded = rem > halfway || (rem === halfway && (q & 1) === 1) ? q + 1 : q;
  return sign | rounded; // rounded may reach 0x400: that is exactly the smallest normal half
}

/** Float value of a half bit pattern; exact for every pattern (subnormals, Inf, NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + m) * 2 ** (e - 25);
}

let table: Float32Array | undefined;

/** Lookup table: all 65536 half patterns as float32 (256 KiB, built on first use). */
export function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}
