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
 * Stage 2 (`--stage1-models PREFIX`, e.g. vpn-mask): the inputs of a second stage instead, the
 * guides' stage-1 unaries filtered onto t (as the `vpn` engine with `stage1` computes them: stage 1
 * runs on every frame's stage-0 filtered unaries, its output averaged over the superpixels is what
 * the frame hands on; key-frame 0 hands on its mask). No leakage: the stage-2 model that scores
 * fold X is trained on the other fold's sequences with the stage-1 model that also scores fold X
 * (trained on those same sequences: in-sample, as VPN trained stage 2 on its stage-1 training
 * outputs), so each sequence is run with the OTHER fold's stage-1 model, and the dump is named by
 * that model: `<out>/stage1-foldA/<seq>` holds the fold-B sequences run with PREFIX-foldA (default
 * `--out training/data-cache/vpn`). `--stage1-fold same` runs each sequence with its own fold's
 * model instead (held-out stage-1 outputs, for evaluation), into `stage1-foldA-heldout/<fold-A seq>`.
 * `--threads N`: ONNX Runtime threads of the stage-1 spatial CNN.
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
import { argValue, DEV_SEQUENCES, davisRoot, FOLD_A, projectRoot, requireShared } from '../bench/common.js';
import type { PropertyMap } from '../src/core/types.js';
import { KEY } from '../src/engines/bilateral/frame-features.js';
import { createBilateralParts, identityHead } from '../src/engines/bilateral/index.js';
import type { EngineContext, Guide } from '../src/engines/types.js';
import { runMaskStage, STAGE1, stageUnary } from '../src/engines/vpn/index.js';
import { VpnMaskNet } from '../src/engines/vpn/network.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { smear } from '../src/ops/superpixel-features.js';
import { labelsToProbabilities } from '../src/tasks/maps.js';
import { openDavis } from '../src/video/davis.js';
import { Chunks, finish } from './training-dump.js';

requireShared('davis');
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const stage1Prefix = argValue('stage1-models');
const stage1Fold = argValue('stage1-fold') ?? 'other';
const threads = argValue('threads');
if (stage1Fold !== 'other' && stage1Fold !== 'same') throw new Error(`--stage1-fold: 'other' or 'same', not '${stage1Fold}'`);
const outRoot = resolve(argValue('out') ?? join(projectRoot, 'training', 'data-cache', 'vpn', stage1Prefix ? '' : 'stage0'));

/** The stage-1 model a sequence is run with (the other fold's, or its own with `--stage1-fold same`) and its fold letter. */
const stage1For = (seq: string): { path: string; fold: 'A' | 'B' } => {
  const inA = FOLD_A.includes(seq);
  const fold = inA === (stage1Fold === 'same') ? 'A' : 'B';
  return { path: join(projectRoot, 'training', 'models', `${stage1Prefix}-fold${fold}`), fold };
};

for (const seq of sequences) {
  const stage1 = stage1Prefix ? stage1For(seq) : undefined;
  const dest = stage1
    ? join(outRoot, `stage1-fold${stage1.fold}${stage1Fold === 'same' ? '-heldout' : ''}`, seq)
    : join(outRoot, seq);
  mkdirSync(join(dest, '..'), { recursive: true });
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
  const net = stage1 ? await VpnMaskNet.load(stage1.path, { threads: threads ? Number(threads) : undefined }) : undefined;
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
      // The unary this frame hands to later frames: stage 0's.
      const unary = identityHead(filtered).probs;
      features.set(t, KEY.unary(ctx.resultKey), unary);
      if (net) {
        // Stage 1 on the stage-0 inputs; what it hands on (its superpixel means) filtered onto t.
        const p1 = await runMaskStage(net, filtered, width, height);
        features.set(t, KEY.unary(ctx.resultKey + STAGE1), stageUnary(sp.labels, sp.count, p1, 2));
        const filtered1 = parts.filteredUnaries({ index: t, frame }, guides.slice(-9), ctx, STAGE1);
        fa.push(filtered1.a);
        fb.push(filtered1.b);
      } else {
        fa.push(filtered.a);
        fb.push(filtered.b);
      }
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
  const inputs = stage1
    ? `stage-1 unaries (${stage1.path.slice(projectRoot.length + 1)} run on stage-0 unaries)`
    : 'stage-0 (BNN-Identity) unaries';
  finish(tmp, dest, { sequence: seq, width, height, frames: T, counts, inputs });
  await net?.release();
  await d.frames.close();
  console.log(`${seq}: ${T} frames, ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
