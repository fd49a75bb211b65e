/**
 * FlowNet correlation layer (Dosovitskiy et al. 2015), as MSN's selection network uses it (ANCHORS
 * §5.3, exact indexing of the reference CUDA kernel). The PyTorch twin used for training is
 * `correlation` in `training/vprop_train/msn.py`; `test/fixtures/msn/correlation.json` holds its
 * outputs.
 *
 * Layouts (planar, channel-major, as every kernel in `ops/`):
 * - Inputs `a` (first image's features) and `b` (second's) are `C x H x W` float32:
 *   `a[c * H * W + y * W + x]`.
 * - Output is `D² x Ho x Wo` with R = maxDisplacement / stride2, D = 2R + 1, and displacement
 *   (dy, dx) ∈ [−R, R]² in channel `(dy + R) · D + (dx + R)` (vertical displacement major).
 *
 * With k = kernelSize (odd), kr = (k − 1) / 2 and border = maxDisplacement + kr, both inputs are
 * zero-padded by `pad`; Ho = ceil((H + 2·pad − 2·border) / stride1) (likewise Wo), and output pixel
 * (y, x) is centred at padded (y1, x1) = (y·stride1 + border, x·stride1 + border):
 *
 *   out[(dy, dx), y, x] = 1/(k²·C) · Σ_c Σ_{|j|,|i| ≤ kr} a_p[c, y1 + j, x1 + i] · b_p[c, y1 + j + dy·stride2, x1 + i + dx·stride2]
 *
 * where `_p` reads zero outside the unpadded image. MSN's parameters (pad 20, kernel 1, max
 * displacement 20, stride1 1, stride2 2) make Ho = H and Wo = W.
 */

export interface CorrelationParams {
  readonly pad: number;
  /** Odd patch size k (1 in MSN). */
  readonly kernelSize: number;
  readonly maxDisplacement: number;
  readonly stride1: number;
  readonly stride2: number;
}

/** The seed's parameters (ANCHORS §5.3). */
export const MSN_CORRELATION: CorrelationParams = { pad: 20, kernelSize: 1, maxDisplacement: 20, stride1: 1, stride2: 2 };

export interface CorrelationShape {
  /** Displacements per axis, D = 2R + 1 (the output has D² channels). */
  readonly displacements: number;
  readonly height: number;
  readonly width: number;
}

/** Output size of {@link correlate} for `H x W` inputs; throws on parameters the kernel does not define. */
export function correlationShape(H: number, W: number, p: CorrelationParams): CorrelationShape {
  const { pad, kernelSize: k, maxDisplacement: md, stride1, stride2 } = p;
  if (!(Number.isInteger(k) && k >= 1 && k % 2 === 1))
    throw new RangeError(`correlation: kernelSize must be an odd integer >= 1, got ${k}`);
  for (const [name, v, min] of [
    ['pad', pad, 0],
    ['maxDisplacement', md, 0],
    ['stride1', stride1, 1],
    ['stride2', stride2, 1],
  ] as const)
    if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`correlation: ${name} must be an integer >= ${min}, got ${v}`);
  const border = md + (k - 1) / 2;
  const height = Math.ceil((H + 2 * pad - 2 * border) / stride1);
  const width = Math.ceil((W + 2 * pad - 2 * border) / stride1);
  if (height < 1 || width < 1) throw new RangeError(`correlation: a ${W}x${H} input leaves no output with pad ${pad} and border ${border}`);
  return { displacements: 2 * Math.floor(md / stride2) + 1, height, width };
}

/**
 * Correlate `a` and `b` (both `C x H x W`), writing `D² x Ho x Wo` into `out` when given (it is
 * overwritten) or a new array. Cost D²·Ho·Wo·k²·C multiply-adds.
 */
export function correlate(
  a: Float32Array,
  b: Float32Array,
  C: number,
  H: number,
  W: number,
  p: CorrelationParams,
  out?: Float32Array,
): Float32Array {
  const plane = H * W;
  if (a.length !== C * plane || b.length !== C * plane)
    throw new RangeError(`correlation: inputs have ${a.length} and ${b.length} values, expected ${C}x${H}x${W} = ${C * plane}`);
  const { displacements: D, height: Ho, width: Wo } = correlationShape(H, W, p);
  const oplane = Ho * Wo;
  const result = out ?? new Float32Array(D * D * oplane);
  if (result.length !== D * D * oplane) throw new RangeError(`correlation: out has ${result.length} values, expected ${D * D * oplane}`);
  result.fill(0);
  const kr = (p.kernelSize - 1) / 2;
  const R = (D - 1) / 2;
  // Unpadded coordinate of output (y, x)'s centre: y·stride1 + border − pad.
  const offset = p.maxDisplacement + kr - p.pad;
  const s1 = p.stride1;
  const acc = new Float64Array(Wo);
  for (let dyi = 0; dyi < D; dyi++) {
    const sy = (dyi - R) * p.stride2;
    for (let dxi = 0; dxi < D; dxi++) {
      const sx = (dxi - R) * p.stride2;
      const o = (dyi * D + dxi) * oplane;
      for (let y = 0; y < Ho; y++) {
        acc.fill(0);
        for (let j = -kr; j <= kr; j++) {
          const ya = y * s1 + offset + j;
          const yb = ya + sy;
          if (ya < 0 || ya >= H || yb < 0 || yb >= H) continue;
          for (let i = -kr; i <= kr; i++) {
            // Output columns x whose a-column xa = x·s1 + offset + i and b-column xa + sx are both inside.
            const lo = Math.max(0, Math.ceil((Math.max(0, -sx) - offset - i) / s1));
            const hi = Math.min(Wo - 1, Math.floor((Math.min(W - 1, W - 1 - sx) - offset - i) / s1));
            if (lo > hi) continue;
            for (let c = 0; c < C; c++) {
              const rowA = c * plane + ya * W + offset + i;
              const rowB = c * plane + yb * W + offset + i + sx;
              for (let x = lo; x <= hi; x++) acc[x] += a[rowA + x * s1] * b[rowB + x * s1];
            }
          }
        }
        const scale = 1 / (p.kernelSize * p.kernelSize * C);
        const row = o + y * Wo;
        for (let x = 0; x < Wo; x++) result[row + x] = acc[x] * scale;
      }
    }
  }
  return result;
}
