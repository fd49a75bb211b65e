/**
 * Dumps the training data of VPN's learned mask stages (training/vprop_train/train_vpn.py): for
 * DAVIS-2016 dev sequences at 854x480, the bilateral engine's SLIC superpixels of every frame, and
 * for every frame t ≥ 1 what the learned stages take as input, the guides' unaries filtered onto
 * t's superpixels by the two lattices (`FilteredUnaries` a, b: Λa on unaries decayed by 0.5^age, Λb
 * undecayed, 9 previous frames). The guides' unaries are those of stage 0 (BNN-Identity run from
 * frame 0's mask), as VPN's staged training and inference use them (ANCHORS §3.1 "staged quirk").
 * Resumable: finished sequences are skipped; each is written under a temporary name and renamed.
 *
 *   node --import tsx scripts/export-vpn-data.ts [--sequences a,b] [--out training/data-cache/vpn/stage0]
 *
 * Layout (`<out>/<sequence>/`, raw little-endian arrays, frame-major):
 *   meta.json     { sequence, width, height, frames, counts: superpixels per frame, inputs }
 *   labels.u16    frames x height x width   superpixel id per pixel
 *   features.f32  per frame 6 x count       raw VPN features (Y, Cb, Cr, x, y, t) per superpixel
 *   fa.f32, fb.f32  per frame 2 x count     filtered unaries (background, object); frame 0 has count 0
 *   gt.u8         frames x height x width   ground truth (1 = object)
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { argValue, DEV_SEQUENCES, davisRoot, projectRoot, requireShared } from '../bench/common.js';
import type { PropertyMap } from '../src/core/types.js';
import { KEY } from '../src/engines/bilateral/frame-features.js';
import { createBilateralParts, identityHead } from '../src/engines/bilateral/index.js';
import type { EngineContext, Guide } from '../src/engines/types.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { smear } from '../src/ops/superpixel-features.js';
import { labelsToProbabilities } from '../src/tasks/maps.js';
import { openDavis } from '../src/video/davis.js';
import { Chunks, finish } from './training-dump.js';

requireShared('davis');
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const outRoot = resolve(argValue('out') ?? join(projectRoot, 'training', 'data-cache', 'vpn', 'stage0'));
mkdirSync(outRoot, { recursive: true });

for (const seq of sequences) {
  const dest = join(outRoot, seq);
  if (existsSync(join(dest, 'meta.json'))) {
    console.log(`${seq}: done already`);
    continue;
  }
  const started = performance.now();
  const d = await openDavis(davisRoot, seq);
  const T = d.frames.info.frameCount as number;
  const { width, height } = d.frames.info;
  const n = width * height;
  const parts = createBilateralParts({});
  const features = new BoundedFeatureStore({ maxFrames: 14 });
  const ctxFor = (t: number): EngineContext => ({
    task: 'mask',
    layout: { kind: 'mask', objects: [1] } as unknown as EngineContext['layout'],
    features,
    resultKey: `p:${t}`,
    direction: 1,
  });
  const guides: Guide[] = [];
  const labels = new Chunks();
  const feats = new Chunks();
  const fa = new Chunks();
  const fb = new Chunks();
  const gt = new Chunks();
  const counts: number[] = [];
  for (let t = 0; t < T; t++) {
    const frame = await d.frames.frame(t);
    const mask = await d.annotations.read(t);
    const g = new Uint8Array(n);
    for (let i = 0; i < n; i++) g[i] = mask.data[i] > 0 ? 1 : 0;
    gt.push(g);
    if (t === 0) guides.push({ index: 0, frame, property: labelsToProbabilities({ width, height, data: g }, 2), isKeyframe: true, key: 'key0' });
    const ctx = ctxFor(t);
    let count: number;
    let spLabels: Int32Array;
    let spFeatures: Float32Array;
    if (t === 0) {
      // Frame 0 is only a guide: nothing to learn from it.
      count = 0;
      spLabels = new Int32Array(n);
      spFeatures = new Float32Array(0);

    } else {
      const filtered = parts.filteredUnaries({ index: t, frame }, guides.slice(-9), ctx);
      const sp = filtered.points.sp as { labels: Int32Array; count: number; features: Float32Array };
      count = sp.count;
      spLabels = sp.labels;
      spFeatures = sp.features;
      fa.push(filtered.a);
      fb.push(filtered.b);
      // The unary this frame hands to later frames: stage 0's.
      const unary = identityHead(filtered).probs;
      features.set(t, KEY.unary(ctx.resultKey), unary);
      const property: PropertyMap = { width, height, channels: 2, data: smear(sp.labels, unary, 2, n) };
      guides.push({ index: t, frame, property, isKeyframe: false, key: ctx.resultKey });
    }
    counts.push(count);
    const l16 = new Uint16Array(n);
    for (let i = 0; i < n; i++) l16[i] = spLabels[i];
    labels.push(l16);
    feats.push(spFeatures);
  }
  const tmp = `${dest}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  labels.write(join(tmp, 'labels.u16'));
  feats.write(join(tmp, 'features.f32'));
  fa.write(join(tmp, 'fa.f32'));
  fb.write(join(tmp, 'fb.f32'));
  gt.write(join(tmp, 'gt.u8'));
  finish(tmp, dest, { sequence: seq, width, height, frames: T, counts, inputs: 'stage-0 (BNN-Identity) unaries' });
  await d.frames.close();
  console.log(`${seq}: ${T} frames, ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
