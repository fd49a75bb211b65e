/**
 * The static-shot fall-back shared by the value engines (colour, HDR): where a frame has not
 * changed since a guide frame, the guide's value is the best estimate there, and an engine's
 * smoothing (bilateral) or re-estimation (STPN) can only lose accuracy. Without it both engines fell
 * below the copy floor on a static camera (`../shared/FINDINGS.md`, vtest.avi).
 */
import type { RgbFrame } from '../core/types.js';
import { lumaOf } from '../formats/color.js';
import type { Guide } from './types.js';

/**
 * Static-region fall-back of the value tasks: where the target frame equals a candidate guide frame
 * at the same pixel (3x3 mean absolute luma difference D within the noise `scale`), that guide's
 * value there is the best estimate. D is measured after removing the median luma difference (a
 * global brightness change keeps colours). Per pixel the first candidate (the key-frame) wins
 * while its D is within `scale`, else the candidate with the smallest D, blended in with weight 1
 * up to D = scale, 0 from 3 × scale, linear between. Comparing with the key-frame too means a region a moving object uncovered gets the
 * key-frame's value back rather than keeping a smeared one. `out` (C x n) and `support` (when
 * given) are updated in place; support becomes at least the blend weight. `still` (n values in [0, 1], optional)
 * multiplies the weight: an engine that measures motion says where the pixel did not move, since
 * a textureless region (water, sky) keeps its luma while the scene moves across it.
 */
export function keepUnchanged(
  out: Float32Array,
  support: Float32Array | undefined,
  C: number,
  frame: RgbFrame,
  candidates: readonly Guide[],
  scale: number,
  still?: Float32Array,
): void {
  const { width: W, height: H } = frame;
  const n = W * H;
  const usable = candidates.filter(
    (g) => g.frame.width === W && g.frame.height === H && g.property.width === W && g.property.height === H && g.property.channels === C,
  );
  if (usable.length === 0) return;
  const lumaOfFrame = (f: RgbFrame) => {
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) y[i] = lumaOf(f.data[3 * i], f.data[3 * i + 1], f.data[3 * i + 2]);
    return y;
  };
  const yt = lumaOfFrame(frame);
  const best = new Float32Array(n).fill(Number.POSITIVE_INFINITY);
  const from = new Int8Array(n).fill(-1);
  const diff = new Float32Array(n);
  usable.forEach((g, k) => {
    const yg = lumaOfFrame(g.frame);
    // A global brightness change (exposure, compression drift) changes no colour: remove the
    // median luma difference first.
    for (let i = 0; i < n; i++) diff[i] = yt[i] - yg[i];
    const offset = medianOf(diff);
    for (let i = 0; i < n; i++) diff[i] = Math.abs(diff[i] - offset);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let sum = 0;
        let count = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= W) continue;
            sum += diff[yy * W + xx];
            count++;
          }
        }
        const i = y * W + x;
        const d = sum / count;
        // The first candidate (the key-frame: exact, never smeared) wins whenever it is within the
        // noise scale; otherwise the closest candidate.
        if (from[i] === 0 && best[i] <= scale) continue;
        if (d < best[i]) {
          best[i] = d;
          from[i] = k;
        }
      }
    }
  });
  for (let i = 0; i < n; i++) {
    // 1 up to the noise scale, falling linearly to 0 at three times it.
    const w = Math.min(1, Math.max(0, (3 * scale - best[i]) / (2 * scale))) * (still ? still[i] : 1);
    if (w === 0) continue;
    const g = usable[from[i]].property.data;
    for (let c = 0; c < C; c++) out[c * n + i] = w * g[c * n + i] + (1 - w) * out[c * n + i];
    if (support && support[i] < w) support[i] = w;
  }
}

/** Median of the values (a copy is sorted; the input is left as it is). */
function medianOf(v: Float32Array): number {
  const s = v.slice().sort();
  return s.length === 0 ? 0 : s[s.length >> 1];
}
