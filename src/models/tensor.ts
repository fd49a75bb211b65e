/**
 * Tensor helpers between vprop's layouts and NCHW model inputs.
 * - Frames: interleaved 8-bit RGB `{ width, height, data }` (video/types.ts).
 * - Property maps / planar images: `C x H x W` Float32 (engines/types.ts) — already NCHW with N = 1.
 */
import type { RgbFrame } from '../core/types.js';
import type { TensorData } from './session.js';

/** Interleaved RGB bytes → planar `3 x H x W` float in 0..255 (the STGRU's image units). */
export function rgbToPlanar(frame: RgbFrame): Float32Array {
  const n = frame.width * frame.height;
  if (frame.data.length !== 3 * n) throw new RangeError(`frame has ${frame.data.length} bytes, expected ${frame.width}x${frame.height}x3`);
  const out = new Float32Array(3 * n);
  const src = frame.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[i] = src[j];
    out[n + i] = src[j + 1];
    out[2 * n + i] = src[j + 2];
  }
  return out;
}

/** A planar `C x H x W` array as an NCHW tensor with N = 1. */
export function nchw(data: Float32Array, C: number, H: number, W: number): TensorData {
  if (data.length !== C * H * W) throw new RangeError(`tensor has ${data.length} values, expected ${C}x${H}x${W}`);
  return { data, dims: [1, C, H, W] };
}

/** Softmax over channels of planar `C x H x W` scores (numerically stable), into a new array. */
export function softmaxChannels(scores: Float32Array, C: number, n: number): Float32Array {
  if (scores.length !== C * n) throw new RangeError(`softmax: ${scores.length} values, expected ${C}x${n}`);
  const out = new Float32Array(C * n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, scores[c * n + i]);
    let s = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(scores[c * n + i] - m);
      out[c * n + i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let c = 0; c < C; c++) out[c * n + i] *= inv;
  }
  return out;
}

/** Elementwise `log(max(p, floor))`: probabilities → scores whose softmax is ≈ the renormalised p. */
export function logProbabilities(p: Float32Array, floor = 1e-4): Float32Array {
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = Math.log(Math.max(p[i], floor));
  return out;
}
