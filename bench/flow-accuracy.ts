/**
 * Optical-flow accuracy: end-point error (EPE) of every available backend against ground-truth
 * motion, on
 * - synthetic scenes (`src/synth`, exact backward flow; occluded pixels and a 4 px border excluded),
 * - the rendered HDR sequence `../shared/data/hdr/beachball` (8 frames, multi-view EXR with
 *   `forward.<view>.u/v` motion vectors), when ../shared is present.
 *
 *   node --import tsx bench/flow-accuracy.ts [--scenes 4] [--pairs 8] [--size 854x480] [--view left]
 *        [--beachball-scale 1,0.5] [--json out.json]
 *
 * Reported per backend: mean EPE (px), the outlier rate (EPE > 3 px and > 5% of the true motion,
 * KITTI's Fl), and the mean true motion for scale.
 *
 * Beachball: what the motion vectors mean had to be measured, because the files do not say. The
 * ball is the only object (alpha > 0 on it, 0 elsewhere) and each file's data window follows it
 * through (and out of) a 2048x1556 display window; frames are placed on a canvas covering the union
 * of the data windows. Compared
 * with the ball's silhouette (alpha centroid) displacement between consecutive files, the vectors
 * are (a) y-up (v > 0 moves up the image), (b) a velocity, not the displacement to the next file:
 * u is 42.0 on every frame while the ball moves 105.1 px right between files, and v changes sign
 * as the ball bounces. The ground truth used here is therefore
 *   dx = s_x · u_t(p),   dy = −s_y · (v_t(p) + (v̄_{t+1} − v̄_t) / 2)
 * (the vertical velocity averaged over the interval by the ball's mean change of v̄), with the two
 * scalars s_x, s_y fitted by least squares to the silhouette displacements of all 7 pairs. The fit's
 * residual (printed) bounds how well this ground truth describes the files: EPE figures below a
 * few pixels cannot be resolved on this sequence. Scored: pixels with alpha_t ≥ 0.99 whose
 * target lies inside the frame. Frames are tone-mapped to 8-bit sRGB with one exposure for the
 * whole sequence (the ball's 99th luminance percentile in frame 1 → 1.0).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RgbFrame } from '../src/core/types.js';
import { linearToSrgb, rec709Luminance } from '../src/formats/color.js';
import { readExrChannels } from '../src/formats/exr.js';
import { rgbToPlanar } from '../src/models/tensor.js';
import { computeFlow, type FlowOptions, flowBackends } from '../src/ops/flow.js';
import { resizeBilinearInterleavedU8, resizeBilinearPlanar } from '../src/ops/resize.js';
import { warpBilinear } from '../src/ops/warp.js';
import { createScene } from '../src/synth/index.js';
import { argValue, machine, sharedData } from './common.js';

const nScenes = Number(argValue('scenes', '4'));
const nPairs = Number(argValue('pairs', '8'));
const [SW, SH] = (argValue('size', '854x480') as string).split('x').map(Number);
const view = argValue('view', 'left') as string;
const beachScales = (argValue('beachball-scale', '1,0.5') as string).split(',').map(Number);

interface Row {
  data: string;
  backend: string;
  pairs: number;
  pixels: number;
  epe: number;
  outliers: number;
  meanMotion: number;
  msPerPair: number;
}

interface Accumulator {
  epe: number;
  outliers: number;
  motion: number;
  count: number;
  ms: number;
  pairs: number;
}

/** Adds the EPE of `flow` against `truth` (both planar dy, dx) over pixels where `use(i)`. */
function accumulate(acc: Accumulator, flow: Float32Array, truth: Float32Array, n: number, use: (i: number) => boolean): void {
  for (let i = 0; i < n; i++) {
    if (!use(i)) continue;
    const ty = truth[i];
    const tx = truth[n + i];
    const e = Math.hypot(flow[i] - ty, flow[n + i] - tx);
    const m = Math.hypot(ty, tx);
    acc.epe += e;
    acc.motion += m;
    if (e > 3 && e > 0.05 * m) acc.outliers++;
    acc.count++;
  }
}

const configs: Array<{ label: string; opts: FlowOptions }> = [];
for (const b of await flowBackends()) {
  console.log(`backend ${b.name}: ${b.available ? 'available' : 'unavailable'} (${b.detail})`);
  if (!b.available) continue;
  if (b.name === 'dis') {
    configs.push({ label: 'dis fast', opts: { backend: 'dis', preset: 'fast' } });
    configs.push({ label: 'dis medium', opts: { backend: 'dis', preset: 'medium' } });
  } else configs.push({ label: 'farneback', opts: { backend: 'farneback' } });
}
const rows: Row[] = [];
const newAcc = (): Accumulator => ({ epe: 0, outliers: 0, motion: 0, count: 0, ms: 0, pairs: 0 });
const finish = (data: string, label: string, a: Accumulator) => {
  const row: Row = {
    data,
    backend: label,
    pairs: a.pairs,
    pixels: a.count,
    epe: a.epe / a.count,
    outliers: a.outliers / a.count,
    meanMotion: a.motion / a.count,
    msPerPair: a.ms / a.pairs,
  };
  rows.push(row);
  console.log(
    `| ${data} | ${label} | ${row.epe.toFixed(3)} | ${(100 * row.outliers).toFixed(2)}% | ${row.meanMotion.toFixed(2)} | ${row.pairs} | ${row.msPerPair.toFixed(0)} |`,
  );
};
const header = () => {
  console.log('| data | backend | EPE (px) | outliers (Fl) | mean true motion (px) | pairs | ms / pair |');
  console.log('|---|---|---|---|---|---|---|');
};

async function timedFlow(prev: RgbFrame, cur: RgbFrame, opts: FlowOptions, acc: Accumulator): Promise<Float32Array> {
  const t0 = performance.now();
  const { flow } = await computeFlow(prev, cur, opts);
  acc.ms += performance.now() - t0;
  acc.pairs++;
  return flow;
}

// ------------------------------------------------------------------------------------------------
// Synthetic scenes: backward flow t → t−1, exact, occlusion excluded.

async function synthetic(): Promise<void> {
  console.log(
    `\n## Synthetic scenes: ${nScenes} scenes (seeds 7000..${7000 + nScenes - 1}) x ${nPairs} pairs, ${SW}x${SH}, backward flow t → t−1, occluded pixels and a 4 px border excluded`,
  );
  header();
  const accs = configs.map(newAcc);
  for (let k = 0; k < nScenes; k++) {
    const scene = createScene({ seed: 7000 + k, width: SW, height: SH, frames: nPairs + 1, objects: 4, speed: 1 + 0.5 * k });
    let prev = scene.render(0);
    for (let t = 1; t <= nPairs; t++) {
      const cur = scene.render(t);
      const n = SW * SH;
      const use = (i: number) => {
        const x = i % SW;
        const y = (i - x) / SW;
        return cur.occlusion[i] === 0 && x >= 4 && y >= 4 && x < SW - 4 && y < SH - 4;
      };
      for (let c = 0; c < configs.length; c++)
        accumulate(accs[c], await timedFlow(prev.rgb, cur.rgb, configs[c].opts, accs[c]), cur.flow, n, use);
      prev = cur;
    }
  }
  for (let c = 0; c < configs.length; c++) finish(`synthetic ${SW}x${SH}`, configs[c].label, accs[c]);
}

// ------------------------------------------------------------------------------------------------
// Beachball

/** Mean |a − warp(b, flow)| over the used pixels and channels (8-bit units). */
function photometricError(a: RgbFrame, b: RgbFrame, flow: Float32Array, use: (i: number) => boolean): number {
  const { width: w, height: h } = a;
  const n = w * h;
  const warped = warpBilinear(rgbToPlanar(b), 3, h, w, flow, 'replicate');
  let e = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!use(i)) continue;
    for (let c = 0; c < 3; c++) e += Math.abs(a.data[3 * i + c] - warped[c * n + i]);
    count += 3;
  }
  return e / count;
}

interface BeachFrame {
  /** Linear RGB premultiplied by alpha, planar 3 x H x W, display window. */
  rgb: Float32Array;
  alpha: Float32Array;
  u: Float32Array;
  v: Float32Array;
}

async function beachball(): Promise<void> {
  const dir = join(sharedData, 'hdr', 'beachball');
  if (!existsSync(dir)) {
    console.log('\n(beachball skipped: ../shared/data/hdr/beachball is absent)');
    return;
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.exr'))
    .sort();
  const pre = view === 'right' ? '' : `${view}.`; // the file's default view is "right"
  const names = [`${pre}R`, `${pre}G`, `${pre}B`, `${pre}A`, `forward.${view}.u`, `forward.${view}.v`];
  const images = [];
  for (const f of files) images.push(await readExrChannels(join(dir, f), names));
  // The canvas: the union of the data windows (the ball leaves the display window at the right).
  const x0 = Math.min(...images.map((i) => i.dataWindow.xMin));
  const y0 = Math.min(...images.map((i) => i.dataWindow.yMin));
  const W = Math.max(...images.map((i) => i.dataWindow.xMax)) - x0 + 1;
  const H = Math.max(...images.map((i) => i.dataWindow.yMax)) - y0 + 1;
  const frames: BeachFrame[] = images.map((img) => {
    const planes = Array.from({ length: 6 }, () => new Float32Array(W * H));
    const { width: w, height: h } = img;
    for (let y = 0; y < h; y++) {
      const Y = y + img.dataWindow.yMin - y0;
      for (let x = 0; x < w; x++) {
        const X = x + img.dataWindow.xMin - x0;
        for (let c = 0; c < 6; c++) planes[c][Y * W + X] = img.data[(c * h + y) * w + x];
      }
    }
    const rgb = new Float32Array(3 * W * H);
    for (let c = 0; c < 3; c++) rgb.set(planes[c], c * W * H);
    return { rgb, alpha: planes[3], u: planes[4], v: planes[5] };
  });
  const n = W * H;
  // Silhouette centroids and mean vectors over the ball.
  const stats = frames.map((f) => {
    let a = 0;
    let cx = 0;
    let cy = 0;
    let su = 0;
    let sv = 0;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const al = f.alpha[i];
      a += al;
      cx += al * (i % W);
      cy += al * Math.floor(i / W);
      if (al >= 0.99) {
        su += f.u[i];
        sv += f.v[i];
        m++;
      }
    }
    return { cx: cx / a, cy: cy / a, u: su / m, v: sv / m };
  });
  // Least-squares scales: move_x ≈ s_x · ū_t, move_y ≈ −s_y · (v̄_t + v̄_{t+1}) / 2.
  let nx = 0;
  let dx = 0;
  let ny = 0;
  let dy = 0;
  const T = frames.length;
  for (let t = 0; t + 1 < T; t++) {
    const mx = stats[t + 1].cx - stats[t].cx;
    const my = stats[t + 1].cy - stats[t].cy;
    const px = stats[t].u;
    const py = -(stats[t].v + stats[t + 1].v) / 2;
    nx += mx * px;
    dx += px * px;
    ny += my * py;
    dy += py * py;
  }
  const sx = nx / dx;
  const sy = ny / dy;
  let resid = 0;
  for (let t = 0; t + 1 < T; t++) {
    const mx = stats[t + 1].cx - stats[t].cx;
    const my = stats[t + 1].cy - stats[t].cy;
    resid = Math.max(resid, Math.hypot(mx - sx * stats[t].u, my + (sy * (stats[t].v + stats[t + 1].v)) / 2));
  }
  console.log(
    `\n## Beachball (${files.length} frames, view ${view}, canvas ${W}x${H} = union of the data windows): vectors → displacement: s_x = ${sx.toFixed(3)}, s_y = ${sy.toFixed(3)} (y up), largest silhouette residual ${resid.toFixed(2)} px`,
  );
  // One exposure for the sequence: the ball's 99th luminance percentile in frame 0 → 1.
  const lum: number[] = [];
  for (let i = 0; i < n; i++) {
    if (frames[0].alpha[i] >= 0.99) lum.push(rec709Luminance(frames[0].rgb[i], frames[0].rgb[n + i], frames[0].rgb[2 * n + i]));
  }
  lum.sort((a, b) => a - b);
  const exposure = 1 / lum[Math.floor(0.99 * (lum.length - 1))];
  const srgb = (v: number) => Math.round(255 * linearToSrgb(Math.min(1, Math.max(0, v * exposure))));
  const toRgb = (f: BeachFrame): RgbFrame => {
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[3 * i + c] = srgb(f.rgb[c * n + i]);
    return { width: W, height: H, data };
  };
  const rgb = frames.map(toRgb);
  for (const scale of beachScales) {
    const w = Math.round(W * scale);
    const h = Math.round(H * scale);
    console.log(`\n### beachball at ${w}x${h} (scale ${scale}), forward flow t → t+1`);
    header();
    const accs = configs.map(newAcc);
    const photo = new Array(configs.length + 1).fill(0);
    for (let t = 0; t + 1 < T; t++) {
      const f = frames[t];
      const dvy = (stats[t + 1].v - stats[t].v) / 2;
      const truthFull = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        truthFull[i] = -sy * (f.v[i] + dvy);
        truthFull[n + i] = sx * f.u[i];
      }
      const resized = (fr: RgbFrame): RgbFrame =>
        scale === 1 ? fr : { width: w, height: h, data: resizeBilinearInterleavedU8(fr.data, 3, W, H, w, h) };
      const truth = scale === 1 ? truthFull : resizeBilinearPlanar(truthFull, 2, W, H, w, h).map((v) => v * scale);
      const alpha = scale === 1 ? f.alpha : resizeBilinearPlanar(f.alpha, 1, W, H, w, h);
      const m = w * h;
      const use = (i: number) => {
        if (alpha[i] < 0.99) return false;
        const x = (i % w) + truth[m + i];
        const y = Math.floor(i / w) + truth[i];
        return x >= 0 && y >= 0 && x <= w - 1 && y <= h - 1;
      };
      // Forward flow t → t+1 on frame t's grid: computeFlow(prev = t+1, cur = t) in its backward sense.
      const next = resized(rgb[t + 1]);
      const cur = resized(rgb[t]);
      photo[0] += photometricError(cur, next, truth, use);
      for (let c = 0; c < configs.length; c++) {
        const flow = await timedFlow(next, cur, configs[c].opts, accs[c]);
        accumulate(accs[c], flow, truth, m, use);
        photo[c + 1] += photometricError(cur, next, flow, use);
      }
    }
    for (let c = 0; c < configs.length; c++) finish(`beachball ${w}x${h}`, configs[c].label, accs[c]);
    // Sanity check of the ground truth itself: frame t+1 warped back along a flow should match frame t.
    const labels = ['ground truth', ...configs.map((c) => c.label)];
    console.log(
      `photometric error |I_t − warp(I_t+1, flow)| (8-bit, scored pixels): ${labels.map((l, i) => `${l} ${(photo[i] / (T - 1)).toFixed(2)}`).join(', ')}`,
    );
  }
}

console.log(`# optical-flow accuracy, ${machine()}, ${new Date().toISOString()}`);
await synthetic();
await beachball();
const out = argValue('json');
if (out) writeFileSync(out, JSON.stringify({ machine: machine(), date: new Date().toISOString(), rows }, null, 1));
