/**
 * Speed of the bilateral mask engine at 854x480 with one object: ms per frame split into
 * superpixels (SLIC + features), lattice (build + splat + slice, both scale sets) and the rest,
 * for the superpixel and pixel variants (median over frames), and peak RSS while propagating
 * through a long synthetic video (sampled every 100 frames: must stay flat).
 *
 *   node --import tsx bench/bilateral-speed.ts [--frames 30] [--long 1000] [--long-size 320x240]
 */
import { createBilateralEngine } from '../src/engines/bilateral/index.js';
import { bilateralFilter } from '../src/ops/lattice.js';
import { createSlicWorkspace, slic } from '../src/ops/slic.js';
import { superpixelVpnFeatures } from '../src/ops/superpixel-features.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { argValue, machine, median } from './common.js';

const frames = Number(argValue('frames', '30'));
const longFrames = Number(argValue('long', '1000'));
const [lw, lh] = (argValue('long-size', '320x240') as string).split('x').map(Number);
console.log(`# bilateral engine speed, ${machine()}, ${new Date().toISOString()}`);

// Component timing on a synthetic 854x480 video (one object), 9 guide frames as in VPN.
const scene = createScene({ seed: 3, width: 854, height: 480, frames: frames + 10, objects: 1 });
const ws = createSlicWorkspace(854, 480);
const spTimes: number[] = [];
const latTimes: number[] = [];
const sps = [];
for (let t = 0; t < 10; t++) {
  const f = scene.render(t).rgb;
  const { labels, count } = slic(f.data, 854, 480, { segments: 12000, workspace: ws });
  sps.push({ count, features: superpixelVpnFeatures(f.data, 854, 480, labels, count, t) });
}
for (let t = 10; t < 10 + frames; t++) {
  const f = scene.render(t).rgb;
  const t0 = performance.now();
  const { labels, count } = slic(f.data, 854, 480, { segments: 12000, workspace: ws });
  const feat = superpixelVpnFeatures(f.data, 854, 480, labels, count, t);
  const t1 = performance.now();
  const inputs = sps.slice(-9);
  const nIn = inputs.reduce((s, p) => s + p.count, 0);
  const inF = new Float32Array(6 * nIn);
  let off = 0;
  for (const p of inputs) {
    for (let j = 0; j < 6; j++) inF.set(p.features.subarray(j * p.count, (j + 1) * p.count), j * nIn + off);
    off += p.count;
  }
  const vals = new Float32Array(2 * nIn).fill(0.5);
  bilateralFilter(inF, nIn, feat, count, 6, vals, 2);
  bilateralFilter(inF, nIn, feat, count, 6, vals, 2);
  const t2 = performance.now();
  spTimes.push(t1 - t0);
  latTimes.push(t2 - t1);
  sps.push({ count, features: feat });
}
console.log(
  `superpixel variant components: superpixels ${median(spTimes).toFixed(0)} ms, lattice (2 scale sets) ${median(latTimes).toFixed(0)} ms per frame`,
);

// End-to-end per-frame time through the session, each variant.
for (const variant of ['superpixel', 'pixel'] as const) {
  const src = sceneFrameSource(scene);
  const s = new PropagationSession(src, { task: 'mask', engine: createBilateralEngine({ variant }), memoryFrames: 12 });
  s.addKeyframe(0, { mask: scene.render(0).labels });
  const times: number[] = [];
  let last = performance.now();
  for await (const r of s.propagate({ direction: 'forward' })) {
    const now = performance.now();
    if (!r.isKeyframe) times.push(now - last);
    last = now;
  }
  await s.dispose();
  const ms = median(times.slice(2));
  console.log(
    `${variant} variant end to end: ${ms.toFixed(0)} ms/frame (${(1000 / ms).toFixed(2)} fps), median over ${times.length - 2} frames`,
  );
}

// Peak RSS over a long synthetic video.
{
  const long = createScene({ seed: 5, width: lw, height: lh, frames: longFrames, objects: 1 });
  const s = new PropagationSession(sceneFrameSource(long), { task: 'mask', engine: createBilateralEngine(), memoryFrames: 12 });
  s.addKeyframe(0, { mask: long.render(0).labels });
  const samples: string[] = [];
  let first = 0;
  let peak = 0;
  const t0 = performance.now();
  for await (const r of s.propagate({ direction: 'forward' })) {
    if (r.index > 0 && r.index % 100 === 0) {
      const rss = process.memoryUsage().rss / 2 ** 20;
      if (!first) first = rss;
      peak = Math.max(peak, rss);
      samples.push(`${r.index}:${rss.toFixed(0)}`);
    }
  }
  await s.dispose();
  console.log(
    `long run ${longFrames} frames ${lw}x${lh} in ${((performance.now() - t0) / 1000).toFixed(0)} s; RSS MiB ${samples.join(' ')}; growth after frame 100: ${(peak - first).toFixed(0)} MiB`,
  );
}
