/**
 * Fully connected CRF mean-field inference (Krähenbühl & Koltun 2011), matching pydensecrf v2
 * (ANCHORS.md §7): Potts pairwise terms with a Gaussian (position) and a bilateral (position +
 * colour) kernel, each evaluated on a permutohedral lattice built once per image.
 *
 * Layouts: label maps are planar `(M labels x N pixels)` Float32Arrays, pixel index y * width + x;
 * the image is interleaved 8-bit `height x width x 3` in the channel order the caller chose
 * (pydensecrf uses whatever order it is given; sRGB order is the convention).
 */
import { buildLattice, gaussianFilter, type Lattice } from './lattice.js';

/** How a kernel's output is normalised by D = K 1 (pydensecrf `NormalizationType`). */
export type CrfNormalization = 'symmetric' | 'after' | 'before' | 'none';

/** One pairwise kernel with its lattice and normaliser, reusable across iterations. */
export interface CrfKernel {
  readonly lattice: Lattice;
  readonly normalization: CrfNormalization;
  /**
   * Per-pixel factor: D^(-1/2) for 'symmetric', D^(-1) for 'after' and 'before', where
   * D = K 1 (+1e-20); all ones for 'none' (pydensecrf computes a mean there but never applies it).
   */
  readonly norm: Float32Array;
  /**
   * symmetric: D^-1/2 K D^-1/2 Q; after: D^-1 K Q; before: K D^-1 Q; none: K Q, where
   * K = alpha * slice(blur(splat(.))) with alpha = 1/(1+2^-d).
   * @param Q planar `C x N`; @returns planar `C x N` (into `out` when given; must not alias Q)
   */
  apply(Q: Float32Array, C: number, out?: Float32Array): Float32Array;
}

/**
 * Builds the lattice for one kernel over N pixels and its normaliser.
 * @param features channel-major `d x N`, already divided by the kernel widths
 */
export function createCrfKernel(features: Float32Array, d: number, N: number, normalization: CrfNormalization): CrfKernel {
  const lattice = buildLattice(features, N, null, N, d);
  const ones = new Float32Array(N).fill(1);
  // K = alpha slice(blur(splat(.))) in one call (one pass through the WebAssembly kernels).
  const D = gaussianFilter(lattice, ones, 1, { alpha: 'densecrf' });
  const norm = new Float32Array(N);
  for (let p = 0; p < N; p++) {
    if (normalization === 'symmetric') norm[p] = 1 / Math.sqrt(D[p] + 1e-20);
    else if (normalization === 'none') norm[p] = 1;
    else norm[p] = 1 / (D[p] + 1e-20);
  }
  const pre = normalization === 'symmetric' || normalization === 'before';
  const post = normalization === 'symmetric' || normalization === 'after';
  // Buffers reused across calls with the same channel count (mean field calls this every iteration).
  let bufC = 0;
  let scaled = new Float32Array(0);
  const apply = (Q: Float32Array, C: number, out?: Float32Array): Float32Array => {
    if (Q.length < C * N) throw new RangeError(`CrfKernel.apply: Q has ${Q.length} entries, need C*N = ${C * N}`);
    if (out === Q) throw new RangeError('CrfKernel.apply: out must not alias Q');
    if (C !== bufC) {
      bufC = C;
      scaled = new Float32Array(pre ? C * N : 0);
    }
    let x = Q;
    if (pre) {
      for (let c = 0; c < C; c++) {
        const b = c * N;
        for (let p = 0; p < N; p++) scaled[b + p] = Q[b + p] * norm[p];
      }
      x = scaled;
    }
    const y = gaussianFilter(lattice, x, C, { alpha: 'densecrf', out });
    if (post) {
      for (let c = 0; c < C; c++) {
        const b = c * N;
        for (let p = 0; p < N; p++) y[b + p] *= norm[p];
      }
    }
    return y;
  };
  return { lattice, normalization, norm, apply };
}

/** Gaussian-kernel features (x / sx, y / sy), channel-major `2 x (width*height)`. */
export function crfGaussianFeatures(width: number, height: number, sxy: number | readonly [number, number]): Float32Array {
  const [sx, sy] = typeof sxy === 'number' ? [sxy, sxy] : sxy;
  const N = width * height;
  const f = new Float32Array(2 * N);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      f[y * width + x] = x / sx;
      f[N + y * width + x] = y / sy;
    }
  }
  return f;
}

/**
 * Bilateral-kernel features (x / sx, y / sy, c0 / s0, c1 / s1, c2 / s2) from an interleaved
 * 8-bit 3-channel image, channel-major `5 x (width*height)`.
 */
export function crfBilateralFeatures(
  width: number,
  height: number,
  image: Uint8Array,
  sxy: number | readonly [number, number],
  srgb: number | readonly [number, number, number],
): Float32Array {
  const [sx, sy] = typeof sxy === 'number' ? [sxy, sxy] : sxy;
  const [sr, sg, sb] = typeof srgb === 'number' ? [srgb, srgb, srgb] : srgb;
  const N = width * height;
  if (image.length < 3 * N) throw new RangeError(`crfBilateralFeatures: image has ${image.length} bytes, need 3*width*height = ${3 * N}`);
  const f = new Float32Array(5 * N);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      f[p] = x / sx;
      f[N + p] = y / sy;
      f[2 * N + p] = image[3 * p] / sr;
      f[3 * N + p] = image[3 * p + 1] / sg;
      f[4 * N + p] = image[3 * p + 2] / sb;
    }
  }
  return f;
}

export interface DenseCrfOptions {
  /** Unary energies −log p, planar `M x N`, N = width * height. */
  unary: Float32Array;
  /** Number of labels. */
  M: number;
  width: number;
  height: number;
  /** Interleaved 8-bit RGB, `height x width x 3`. Needed unless `bilateral` is null. */
  image?: Uint8Array;
  /** Smoothness kernel; null disables it. Defaults sxy 3, compat 3. */
  gaussian?: { sxy?: number | readonly [number, number]; compat?: number } | null;
  /** Appearance kernel; null disables it. Defaults sxy 80, srgb 13, compat 10. */
  bilateral?: { sxy?: number | readonly [number, number]; srgb?: number | readonly [number, number, number]; compat?: number } | null;
  /** Mean-field iterations (default 5); 0 returns softmax(−U). */
  iterations?: number;
  /** Kernel normalisation (default 'symmetric', pydensecrf's default). */
  normalization?: CrfNormalization;
}

/** Q[:, p] = softmax over labels of E[:, p], written into Q (planar `M x N`). */
function softmaxLabels(E: Float32Array, M: number, N: number, Q: Float32Array, mx: Float32Array, sum: Float32Array): void {
  // Label-major passes keep every access sequential.
  mx.fill(-Infinity);
  sum.fill(0);
  for (let l = 0; l < M; l++) {
    const b = l * N;
    for (let p = 0; p < N; p++) if (E[b + p] > mx[p]) mx[p] = E[b + p];
  }
  for (let l = 0; l < M; l++) {
    const b = l * N;
    for (let p = 0; p < N; p++) {
      const e = Math.exp(E[b + p] - mx[p]);
      Q[b + p] = e;
      sum[p] += e;
    }
  }
  for (let l = 0; l < M; l++) {
    const b = l * N;
    for (let p = 0; p < N; p++) Q[b + p] /= sum[p];
  }
}

/**
 * Mean-field inference: Q0 = softmax(−U); then `iterations` times
 * Q = softmax(−U + sum_k w_k Norm_k(K_k Q)) (Potts compat w as pydensecrf's attractive −w·Q form;
 * self-contributions k(i,i) are kept). Returns Q, planar `M x N`.
 */
export function denseCrf(opts: DenseCrfOptions): Float32Array {
  const { unary, M, width, height } = opts;
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`denseCrf: M (labels) must be a positive integer, got ${M}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`denseCrf: width and height must be positive integers, got ${width}x${height}`);
  }
  const N = width * height;
  if (unary.length !== M * N) throw new RangeError(`denseCrf: unary has ${unary.length} entries, need M*width*height = ${M * N}`);
  const iterations = opts.iterations ?? 5;
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new RangeError(`denseCrf: iterations must be a non-negative integer, got ${iterations}`);
  const normalization = opts.normalization ?? 'symmetric';

  const Q = new Float32Array(M * N);
  const E = new Float32Array(M * N);
  const mx = new Float32Array(N);
  const sum = new Float32Array(N);
  for (let i = 0; i < M * N; i++) E[i] = -unary[i];
  softmaxLabels(E, M, N, Q, mx, sum);
  if (iterations === 0) return Q;

  const kernels: { kernel: CrfKernel; w: number }[] = [];
  const g = opts.gaussian === undefined ? {} : opts.gaussian;
  if (g !== null) {
    kernels.push({ kernel: createCrfKernel(crfGaussianFeatures(width, height, g.sxy ?? 3), 2, N, normalization), w: g.compat ?? 3 });
  }
  const bl = opts.bilateral === undefined ? {} : opts.bilateral;
  if (bl !== null) {
    if (!opts.image)
      throw new RangeError('denseCrf: the bilateral kernel needs `image` (interleaved RGB); pass bilateral: null to disable it');
    const f = crfBilateralFeatures(width, height, opts.image, bl.sxy ?? 80, bl.srgb ?? 13);
    kernels.push({ kernel: createCrfKernel(f, 5, N, normalization), w: bl.compat ?? 10 });
  }

  const msg = new Float32Array(M * N);
  for (let it = 0; it < iterations; it++) {
    for (let i = 0; i < M * N; i++) E[i] = -unary[i];
    for (const { kernel, w } of kernels) {
      kernel.apply(Q, M, msg);
      // Potts: pairwise energy −w·m is subtracted from the negative energy, i.e. E += w·m.
      for (let i = 0; i < M * N; i++) E[i] += w * msg[i];
    }
    softmaxLabels(E, M, N, Q, mx, sum);
  }
  return Q;
}

/**
 * Unary energies from probabilities: U = −log(clip(p, clip, 1)) (pydensecrf `unary_from_softmax`).
 * @param p planar `M x N`
 */
export function unaryFromProbabilities(p: Float32Array, clip = 1e-5): Float32Array {
  const U = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    // 0 - log(...) so that p = 1 gives +0, not -0.
    U[i] = 0 - Math.log(Math.min(Math.max(v, clip), 1));
  }
  return U;
}

/**
 * Unary energies from a hard label map (pydensecrf `unary_from_labels` with zero_unsure = false):
 * −log(gtProb) for the given label, −log((1 − gtProb)/(M − 1)) for the others. Labels outside
 * 0..M−1 (e.g. −1 or 255 for "unknown") get the uniform −log(1/M).
 * @param labels N labels; @returns planar `M x N`
 */
export function unaryFromLabels(labels: ArrayLike<number>, M: number, gtProb = 0.7): Float32Array {
  if (!(gtProb > 0 && gtProb < 1)) throw new RangeError(`unaryFromLabels: gtProb must be in (0, 1), got ${gtProb}`);
  if (!Number.isInteger(M) || M < 2) throw new RangeError(`unaryFromLabels: M must be an integer >= 2, got ${M}`);
  const N = labels.length;
  const pE = -Math.log(gtProb);
  const nE = -Math.log((1 - gtProb) / (M - 1));
  const uE = -Math.log(1 / M);
  const U = new Float32Array(M * N);
  for (let p = 0; p < N; p++) {
    const l = labels[p];
    const known = Number.isInteger(l) && l >= 0 && l < M;
    for (let m = 0; m < M; m++) U[m * N + p] = known ? (m === l ? pE : nE) : uE;
  }
  return U;
}
