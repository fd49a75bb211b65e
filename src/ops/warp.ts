/**
 * Bilinear backward warping along optical flow, and its adjoint (ANCHORS §8.2, GRFP
 * `misc/bilinear_warping.cu.cc`).
 *
 * Layouts:
 * - Images are planar `Float32Array` C x H x W: `img[c * H * W + y * W + x]`.
 * - Flow is planar `Float32Array` 2 x H x W: channel 0 = dy (vertical / row displacement),
 *   channel 1 = dx (horizontal), i.e. `dy = flow[y * W + x]`, `dx = flow[H * W + y * W + x]`.
 *
 * Semantics: out(c, y, x) = Σ over the 4 integer neighbours (s, t) of the sample point
 * (sy, sx) = (y + dy, x + dx) of (1 − |sy − s|)(1 − |sx − t|) · src(c, s, t).
 * - 'zeros' (GRFP): neighbours outside the image contribute 0 and the weights are NOT renormalised,
 *   so the image fades to 0 over the last pixel at the border and is 0 beyond it.
 * - 'replicate': a neighbour outside the image reads the nearest border pixel (its index clamped),
 *   with the same weights (they sum to 1), like OpenCV `remap` with `BORDER_REPLICATE`.
 * A pixel whose flow is not finite gets 0 (and contributes nothing to the adjoint).
 * Arithmetic is done in double and rounded to float32 on store (GRFP computes in float32).
 */

export type WarpBorder = 'zeros' | 'replicate';

function checkArgs(name: string, arr: Float32Array, C: number, H: number, W: number, flow: Float32Array, mode: WarpBorder): void {
  if (mode !== 'zeros' && mode !== 'replicate') throw new RangeError(`unknown border mode ${String(mode)}`);
  if (!Number.isInteger(C) || !Number.isInteger(H) || !Number.isInteger(W) || C < 1 || H < 1 || W < 1) {
    throw new RangeError(`invalid shape ${C}x${H}x${W}`);
  }
  if (arr.length !== C * H * W) throw new RangeError(`${name} has ${arr.length} values, expected ${C}x${H}x${W} = ${C * H * W}`);
  if (flow.length !== 2 * H * W) throw new RangeError(`flow has ${flow.length} values, expected 2x${H}x${W} = ${2 * H * W}`);
}

/**
 * Writes the (up to) 4 taps of the bilinear sample at (sy, sx) into `qs` (source pixel index within
 * one plane) and `ws` (weight), after applying the border rule; returns how many were written.
 * Taps with weight 0 are skipped.
 */
function taps(sy: number, sx: number, H: number, W: number, zeros: boolean, qs: Int32Array, ws: Float64Array): number {
  const y0 = Math.floor(sy);
  const x0 = Math.floor(sx);
  const fy = sy - y0;
  const fx = sx - x0;
  let k = 0;
  for (let a = 0; a < 2; a++) {
    const weightY = a === 0 ? 1 - fy : fy;
    if (weightY === 0) continue;
    let s = y0 + a;
    if (s < 0 || s >= H) {
      if (zeros) continue;
      s = s < 0 ? 0 : H - 1;
    }
    for (let b = 0; b < 2; b++) {
      const weight = weightY * (b === 0 ? 1 - fx : fx);
      if (weight === 0) continue;
      let t = x0 + b;
      if (t < 0 || t >= W) {
        if (zeros) continue;
        t = t < 0 ? 0 : W - 1;
      }
      qs[k] = s * W + t;
      ws[k] = weight;
      k++;
    }
  }
  return k;
}

/**
 * Backward bilinear warp: out(c, y, x) = bilinear sample of `src` at (y + dy, x + dx).
 * @param src planar C x H x W
 * @param flow planar 2 x H x W, channel 0 dy, channel 1 dx (target → source displacement)
 * @returns planar C x H x W
 */
export function warpBilinear(
  src: Float32Array,
  C: number,
  H: number,
  W: number,
  flow: Float32Array,
  mode: WarpBorder = 'zeros',
): Float32Array {
  checkArgs('src', src, C, H, W, flow, mode);
  const plane = H * W;
  const out = new Float32Array(C * plane);
  const zeros = mode === 'zeros';
  const qs = new Int32Array(4);
  const ws = new Float64Array(4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const sy = y + flow[p];
      const sx = x + flow[plane + p];
      if (!Number.isFinite(sy) || !Number.isFinite(sx)) continue;
      const k = taps(sy, sx, H, W, zeros, qs, ws);
      if (k === 0) continue;
      for (let c = 0; c < C; c++) {
        const base = c * plane;
        let acc = 0;
        for (let j = 0; j < k; j++) acc += ws[j] * src[base + qs[j]];
        out[base + p] = acc;
      }
    }
  }
  return out;
}

/**
 * Adjoint (transpose) of {@link warpBilinear} in its `src` argument, for a fixed flow:
 * grad_src(c, q) = Σ_p weight(p → q) · gradOut(c, p), so that ⟨warp(x), y⟩ = ⟨x, warpᵀ(y)⟩.
 * This is the gradient of a loss with respect to the warped image.
 * @param gradOut planar C x H x W (gradient with respect to the warp output)
 * @param flow planar 2 x H x W, channel 0 dy, channel 1 dx
 * @returns planar C x H x W
 */
export function warpBilinearAdjoint(
  gradOut: Float32Array,
  C: number,
  H: number,
  W: number,
  flow: Float32Array,
  mode: WarpBorder = 'zeros',
): Float32Array {
  checkArgs('gradOut', gradOut, C, H, W, flow, mode);
  const plane = H * W;
  const acc = new Float64Array(C * plane);
  const zeros = mode === 'zeros';
  const qs = new Int32Array(4);
  const ws = new Float64Array(4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const sy = y + flow[p];
      const sx = x + flow[plane + p];
      if (!Number.isFinite(sy) || !Number.isFinite(sx)) continue;
      const k = taps(sy, sx, H, W, zeros, qs, ws);
      for (let c = 0; c < C; c++) {
        const base = c * plane;
        const g = gradOut[base + p];
        if (g === 0) continue;
        for (let j = 0; j < k; j++) acc[base + qs[j]] += ws[j] * g;
      }
    }
  }
  return Float32Array.from(acc);
}
