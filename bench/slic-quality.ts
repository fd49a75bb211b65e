/**
 * SLIC superpixel quality against DAVIS-2016 ground-truth masks: 4 frames (at 0, 1/4, 1/2, 3/4 of
 * the sequence) of each dev-10 sequence, 12000 segments at 854x480 (the bilateral engine's setting).
 *
 *   node --import tsx bench/slic-quality.ts [--sequences blackswan,dog] [--segments 12000]
 *        [--iterations N] [--textbook] [--impl path/to/other-slic.ts]
 *
 * Per frame, then averaged over all frames:
 * - BR0 / BR1: boundary recall, the fraction of ground-truth boundary pixels with a superpixel
 *   boundary pixel within 0 / 1 px (Chebyshev). The usual 2 px tolerance saturates at 1.000 here:
 *   with cells of ≈ 5.9 px every pixel is within 2 px of some superpixel boundary.
 * - UE: under-segmentation error in Neubert & Protzel's form, Σ_s min(|s ∩ fg|, |s \ fg|) / N:
 *   the pixels a superpixel-constant mask must get wrong (1 − ASA for a two-region mask).
 * - EV: explained variation of the RGB values by the superpixel means (GT-free; 1 = perfect).
 * - K: superpixels produced.
 * `--textbook` runs `multiscale: false`. `--impl` loads `slic` from another module (e.g. a saved
 * copy of an earlier version) so two versions can be compared on the same frames.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { labelEdges } from '../src/metrics/superpixels.js';
import { slic as currentSlic, type SlicOptions, type SlicResult } from '../src/ops/slic.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, DEV_SEQUENCES, davisRoot, hasFlag, machine, requireShared } from './common.js';

type SlicFn = (rgb: Uint8Array, width: number, height: number, opts?: SlicOptions) => SlicResult;

export interface SlicQuality {
  boundaryRecall0: number;
  boundaryRecall1: number;
  underSegmentation: number;
  explainedVariation: number;
  count: number;
}

/** Square dilation by `r` (separable max). */
function dilate(m: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const h = new Uint8Array(m.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (let d = Math.max(0, x - r); d <= Math.min(width - 1, x + r) && !v; d++) v = m[y * width + d];
      h[y * width + x] = v;
    }
  }
  const out = new Uint8Array(m.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (let d = Math.max(0, y - r); d <= Math.min(height - 1, y + r) && !v; d++) v = h[d * width + x];
      out[y * width + x] = v;
    }
  }
  return out;
}

/** Quality of one segmentation against a binary (0 / non-0) ground-truth mask. */
export function slicQuality(rgb: Uint8Array, mask: Uint8Array, width: number, height: number, res: SlicResult): SlicQuality {
  const n = width * height;
  const { labels, count } = res;
  const gtEdges = labelEdges(mask, width, height);
  const spEdges = labelEdges(labels, width, height);
  const near = dilate(spEdges, width, height, 1);
  let gt = 0;
  let hit0 = 0;
  let hit1 = 0;
  for (let p = 0; p < n; p++) {
    if (!gtEdges[p]) continue;
    gt++;
    hit0 += spEdges[p];
    hit1 += near[p];
  }
  const fg = new Int32Array(count);
  const all = new Int32Array(count);
  const sums = new Float64Array(count * 3);
  const mean = [0, 0, 0];
  for (let p = 0; p < n; p++) {
    const s = labels[p];
    all[s]++;
    if (mask[p]) fg[s]++;
    for (let c = 0; c < 3; c++) {
      sums[s * 3 + c] += rgb[p * 3 + c];
      mean[c] += rgb[p * 3 + c];
    }
  }
  for (let c = 0; c < 3; c++) mean[c] /= n;
  let leak = 0;
  let explained = 0;
  for (let s = 0; s < count; s++) {
    leak += Math.min(fg[s], all[s] - fg[s]);
    for (let c = 0; c < 3; c++) explained += all[s] * (sums[s * 3 + c] / all[s] - mean[c]) ** 2;
  }
  let total = 0;
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) total += (rgb[p * 3 + c] - mean[c]) ** 2;
  return {
    boundaryRecall0: gt > 0 ? hit0 / gt : 1,
    boundaryRecall1: gt > 0 ? hit1 / gt : 1,
    underSegmentation: leak / n,
    explainedVariation: total > 0 ? explained / total : 1,
    count,
  };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  requireShared('davis');
  const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
  const segments = Number(argValue('segments', '12000'));
  const iterations = argValue('iterations');
  const impl = argValue('impl');
  const slic: SlicFn = impl ? (await import(pathToFileURL(resolve(impl)).href)).slic : currentSlic;
  const opts: SlicOptions = {
    segments,
    ...(iterations ? { iterations: Number(iterations) } : {}),
    ...(hasFlag('textbook') ? { multiscale: false } : {}),
  };
  console.log(`# SLIC quality, ${impl ?? 'src/ops/slic.ts'}, ${JSON.stringify(opts)}, ${machine()}`);
  const totals = { boundaryRecall0: 0, boundaryRecall1: 0, underSegmentation: 0, explainedVariation: 0, count: 0 };
  let frames = 0;
  for (const seq of sequences) {
    const d = await openDavis(davisRoot, seq);
    const n = d.frames.info.frameCount as number;
    const { width, height } = d.frames.info;
    const seqTotals = { boundaryRecall0: 0, boundaryRecall1: 0, underSegmentation: 0, explainedVariation: 0, count: 0 };
    const picks = [0, 1, 2, 3].map((q) => Math.floor((q * n) / 4));
    for (const t of picks) {
      const frame = await d.frames.frame(t);
      const mask = (await d.annotations.read(t)).data;
      const q = slicQuality(frame.data, mask, width, height, slic(frame.data, width, height, opts));
      for (const key of Object.keys(totals) as (keyof SlicQuality)[]) {
        totals[key] += q[key];
        seqTotals[key] += q[key];
      }
      frames++;
    }
    await d.frames.close();
    const m = picks.length;
    console.log(
      `${seq.padEnd(16)} BR0 ${(seqTotals.boundaryRecall0 / m).toFixed(4)}  BR1 ${(seqTotals.boundaryRecall1 / m).toFixed(4)}  UE ${(seqTotals.underSegmentation / m).toFixed(5)}  ` +
        `EV ${(seqTotals.explainedVariation / m).toFixed(4)}  K ${(seqTotals.count / m).toFixed(0)}`,
    );
  }
  console.log(
    `${'mean'.padEnd(16)} BR0 ${(totals.boundaryRecall0 / frames).toFixed(4)}  BR1 ${(totals.boundaryRecall1 / frames).toFixed(4)}  UE ${(totals.underSegmentation / frames).toFixed(5)}  ` +
      `EV ${(totals.explainedVariation / frames).toFixed(4)}  K ${(totals.count / frames).toFixed(0)}  (${frames} frames)`,
  );
}
