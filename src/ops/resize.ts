/**
 * Resampling kernels (pure, typed arrays).
 *
 * Coordinates follow the pixel-centre convention used by OpenCV `INTER_LINEAR` and PIL: source
 * coordinate of destination pixel x is (x + 0.5) * srcW / dstW - 0.5, clamped to the image.
 */

/**
 * Bilinear resize of a planar float image.
 * @param src planar `C x srcH x srcW`, `src[c * srcH * srcW + y * srcW + x]`
 * @returns planar `C x dstH x dstW`
 */
export function resizeBilinearPlanar(
  src: Float32Array,
  channels: number,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
): Float32Array {
  const out = new Float32Array(channels * dstW * dstH);
  if (srcW === dstW && srcH === dstH) {
    out.set(src.subarray(0, out.length));
    return out;
  }
  const { i0: x0, i1: x1, w: wx } = axisTaps(srcW, dstW);
  const { i0: y0, i1: y1, w: wy } = axisTaps(srcH, dstH);
  const srcPlane = srcW * srcH;
  const dstPlane = dstW * dstH;
  for (let c = 0; c < channels; c++) {
    const s = c * srcPlane;
    const d = c * dstPlane;
    for (let y = 0; y < dstH; y++) {
      const r0 = s + y0[y] * srcW;
      const r1 = s + y1[y] * srcW;
      const fy = wy[y];
      const row = d + y * dstW;
      for (let x = 0; x < dstW; x++) {
        const fx = wx[x];
        const a = src[r0 + x0[x]] + (src[r0 + x1[x]] - src[r0 + x0[x]]) * fx;
        const b = src[r1 + x0[x]] + (src[r1 + x1[x]] - src[r1 + x0[x]]) * fx;
        out[row + x] = a + (b - a) * fy;
      }
    }
  }
  return out;
}

/**
 * Bilinear resize of an interleaved 8-bit image (e.g. RGB, `channels` = 3), rounding to nearest.
 * @param src interleaved `srcH x srcW x C`
 */
export function resizeBilinearInterleavedU8(
  src: Uint8Array,
  channels: number,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
): Uint8Array {
  const out = new Uint8Array(channels * dstW * dstH);
  if (srcW === dstW && srcH === dstH) {
    out.set(src.subarray(0, out.length));
    return out;
  }
  const { i0: x0, i1: x1, w: wx } = axisTaps(srcW, dstW);
  const { i0: y0, i1: y1, w: wy } = axisTaps(srcH, dstH);
  for (let y = 0; y < dstH; y++) {
    const r0 = y0[y] * srcW;
    const r1 = y1[y] * srcW;
    const fy = wy[y];
    for (let x = 0; x < dstW; x++) {
      const fx = wx[x];
      const p00 = (r0 + x0[x]) * channels;
      const p01 = (r0 + x1[x]) * channels;
      const p10 = (r1 + x0[x]) * channels;
      const p11 = (r1 + x1[x]) * channels;
      const o = (y * dstW + x) * channels;
      for (let c = 0; c < channels; c++) {
        const a = src[p00 + c] + (src[p01 + c] - src[p00 + c]) * fx;
        const b = src[p10 + c] + (src[p11 + c] - src[p10 + c]) * fx;
        out[o + c] = Math.round(a + (b - a) * fy);
      }
    }
  }
  return out;
}

/**
 * Nearest-neighbour resize of a single-channel 8-bit label image (labels must never be
 * interpolated: a blended id would name a different object).
 */
export function resizeNearestU8(src: Uint8Array, srcW: number, srcH: number, dstW: number, dstH: number): Uint8Array {
  const out = new Uint8Array(dstW * dstH);
  for (let y = 0; y < dstH; y++) {
    const sy = Math.min(srcH - 1, Math.floor(((y + 0.5) * srcH) / dstH));
    for (let x = 0; x < dstW; x++) {
      const sx = Math.min(srcW - 1, Math.floor(((x + 0.5) * srcW) / dstW));
      out[y * dstW + x] = src[sy * srcW + sx];
    }
  }
  return out;
}

/** Size that fits `maxSide` on the longer side, keeping aspect ratio; unchanged when already smaller. */
export function fitWithin(width: number, height: number, maxSide: number | undefined): { width: number; height: number } {
  if (!maxSide || Math.max(width, height) <= maxSide) return { width, height };
  const s = maxSide / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

function axisTaps(srcN: number, dstN: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(dstN);
  const i1 = new Int32Array(dstN);
  const w = new Float32Array(dstN);
  const scale = srcN / dstN;
  for (let i = 0; i < dstN; i++) {
    let s = (i + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > srcN - 1) s = srcN - 1;
    const f = Math.floor(s);
    i0[i] = f;
    i1[i] = Math.min(f + 1, srcN - 1);
    w[i] = s - f;
  }
  return { i0, i1, w };
}
