/**
 * Procedural noise for textures: lattice value noise with quintic interpolation (C2-smooth, so the
 * textures are band-limited and bilinear resampling of a rendered frame stays close to the exact
 * rendering) and fractal sums of it. Coordinates are in lattice cells.
 */
import { hashUnit } from '../util/rng.js';

/** Quintic fade 6t^5 - 15t^4 + 10t^3: zero first and second derivatives at cell edges. */
function fade(t: number): number {
  return t * t * t * (t * (t * 6 - 15) + 10);
}

/**
 * Value noise in [0, 1] at (x, y) in cell units. With `periodX > 0` (an integer number of cells)
 * the noise repeats every `periodX` cells along x, so a texture tile wraps seamlessly.
 */
export function valueNoise(x: number, y: number, seed: number, periodX = 0): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = fade(x - x0);
  const fy = fade(y - y0);
  let xa = x0;
  let xb = x0 + 1;
  if (periodX > 0) {
    xa = ((xa % periodX) + periodX) % periodX;
    xb = ((xb % periodX) + periodX) % periodX;
  }
  const v00 = hashUnit(xa, y0, seed);
  const v10 = hashUnit(xb, y0, seed);
  const v01 = hashUnit(xa, y0 + 1, seed);
  const v11 = hashUnit(xb, y0 + 1, seed);
  const top = v00 + (v10 - v00) * fx;
  const bottom = v01 + (v11 - v01) * fx;
  return top + (bottom - top) * fy;
}

/**
 * Fractal (fBm) sum of `octaves` value-noise layers, each at twice the frequency and half the
 * amplitude of the previous one, normalised to [0, 1]. `periodX` is the period of the first
 * octave in cells; later octaves use 2^o times as many cells, so the sum keeps the period.
 */
export function fbm(x: number, y: number, seed: number, octaves: number, periodX = 0): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1;
  for (let o = 0; o < octaves; o++) {
    // A different seed per octave avoids the lattice-aligned artefacts of reusing one hash.
    sum += amp * valueNoise(x * f, y * f, (seed + Math.imul(o, 0x632be5ab)) | 0, periodX * f);
    norm += amp;
    amp *= 0.5;
    f *= 2;
  }
  return sum / norm;
}

/** Hermite smoothstep of x between edges e0 < e1 (0 below, 1 above). */
export function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/**
 * `fbm` evaluated on a regular grid, fast: the value at grid point (i, j) equals
 * `fbm((x0 + i * step) * freqX, (y0 + j * step) * freqY, seed, octaves, periodX)` (same lattice
 * hashes and interpolation), computed with per-octave lattice tables and separable per-row and
 * per-column interpolation weights instead of hashing per sample. Row-major `out[j * width + i]`.
 */
export function fbmGrid(
  width: number,
  height: number,
  x0: number,
  y0: number,
  step: number,
  freqX: number,
  freqY: number,
  seed: number,
  octaves: number,
  periodX = 0,
): Float32Array {
  const out = new Float32Array(width * height);
  const acc = new Float64Array(width * height);
  let amp = 1;
  let norm = 0;
  let f = freqX;
  let g = freqY;
  let period = periodX;
  const ix0 = new Int32Array(width);
  const ix1 = new Int32Array(width);
  const fx = new Float64Array(width);
  for (let o = 0; o < octaves; o++) {
    const s = (seed + Math.imul(o, 0x632be5ab)) | 0;
    // Column lattice indices (wrapped like valueNoise) and fades; rows likewise below.
    let minX = Number.POSITIVE_INFINITY;
    let maxX = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < width; i++) {
      const x = (x0 + i * step) * f;
      const xi = Math.floor(x);
      fx[i] = fade(x - xi);
      let xa = xi;
      let xb = xi + 1;
      if (period > 0) {
        xa = ((xa % period) + period) % period;
        xb = ((xb % period) + period) % period;
      }
      ix0[i] = xa;
      ix1[i] = xb;
      minX = Math.min(minX, xa, xb);
      maxX = Math.max(maxX, xa, xb);
    }
    const yFirst = Math.floor(y0 * g);
    const yLast = Math.floor((y0 + (height - 1) * step) * g) + 1;
    const nx = maxX - minX + 1;
    const ny = yLast - yFirst + 1;
    const lattice = new Float64Array(nx * ny);
    for (let b = 0; b < ny; b++) for (let a = 0; a < nx; a++) lattice[b * nx + a] = hashUnit(minX + a, yFirst + b, s);
    for (let i = 0; i < width; i++) {
      ix0[i] -= minX;
      ix1[i] -= minX;
    }
    for (let j = 0; j < height; j++) {
      const y = (y0 + j * step) * g;
      const yi = Math.floor(y);
      const fy = fade(y - yi);
      const r0 = (yi - yFirst) * nx;
      const r1 = r0 + nx;
      const row = j * width;
      for (let i = 0; i < width; i++) {
        const top = lattice[r0 + ix0[i]] + (lattice[r0 + ix1[i]] - lattice[r0 + ix0[i]]) * fx[i];
        const bottom = lattice[r1 + ix0[i]] + (lattice[r1 + ix1[i]] - lattice[r1 + ix0[i]]) * fx[i];
        acc[row + i] += amp * (top + (bottom - top) * fy);
      }
    }
    norm += amp;
    amp *= 0.5;
    f *= 2;
    g *= 2;
    period *= 2;
  }
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] / norm;
  return out;
}
