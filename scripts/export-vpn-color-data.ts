/**
 * Dumps the training data of VPN's learned colour stage (training/vprop_train/train_vpn.py
 * --task color): DAVIS-2016 dev sequences made grey, frame 0 given in colour (Lab chroma, what a
 * user gives), propagated by the bilateral engine (BNN-Identity, stage 0: 3 previous frames, 300k
 * sampled input points, the static fall-back on); for every other frame t = 1, 3, 5, ... below
 * `--max-frames`, what the learned stage takes as input: the 3 previous stage-0 chroma maps
 * filtered onto every pixel of t over (Y, x, y, t) (`FilteredValues`, before the static fall-back),
 * with the frame's luma and the true chroma. Resumable per sequence (temporary name, renamed).
 *
 *   node --import tsx scripts/export-vpn-color-data.ts [--sequences a,b] [--max-frames 40]
 *        [--out training/data-cache/vpn/color-stage0]
 *
 * Layout (`<out>/<sequence>/`, raw little-endian, frame-major over the dumped frames):
 *   meta.json   { sequence, width, height, frames: [t, ...], units }
 *   luma.u8     frames x height x width       the grey frame (= its luma)
 *   filtered.i16  frames x 2 x height x width  filtered chroma, Lab (a, b) / 100 x 10000
 *   support.u8  frames x height x width       filter support x 255
 *   truth.i16   frames x 2 x height x width   true chroma, same units
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { argValue, DEV_SEQUENCES, davisRoot, greySource, projectRoot, requireShared } from '../bench/common.js';
import type { PropertyMap } from '../src/core/types.js';
import { createBilateralParts } from '../src/engines/bilateral/index.js';
import type { EngineContext, Guide } from '../src/engines/types.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { colorToProperty } from '../src/tasks/color/index.js';
import { openDavis } from '../src/video/davis.js';
import { Chunks, finish, quantProb } from './training-dump.js';

requireShared('davis');
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const maxFrames = Number(argValue('max-frames') ?? 40);
const outRoot = resolve(argValue('out') ?? join(projectRoot, 'training', 'data-cache', 'vpn', 'color-stage0'));
mkdirSync(outRoot, { recursive: true });

/** Chroma (Lab ab) → int16 of ab / 100 x 10000. */
function quantise(ab: Float32Array): Int16Array {
  const q = new Int16Array(ab.length);
  for (let i = 0; i < ab.length; i++) q[i] = Math.max(-32768, Math.min(32767, Math.round(ab[i] * 100)));
  return q;
}

for (const seq of sequences) {
  const dest = join(outRoot, seq);
  if (existsSync(join(dest, 'meta.json'))) {
    console.log(`${seq}: done already`);
    continue;
  }
  const started = performance.now();
  const d = await openDavis(davisRoot, seq);
  const grey = greySource(d.frames);
  const T = Math.min(maxFrames, d.frames.info.frameCount as number);
  const { width, height } = d.frames.info;
  const n = width * height;
  const parts = createBilateralParts({});
  const features = new BoundedFeatureStore({ maxFrames: 8 });
  const guides: Guide[] = [];
  const luma = new Chunks();
  const filtered = new Chunks();
  const support = new Chunks();
  const truth = new Chunks();
  const dumped: number[] = [];
  for (let t = 0; t < T; t++) {
    const frame = await grey.frame(t);
    const colour = await d.frames.frame(t);
    if (t === 0) {
      guides.push({ index: 0, frame, property: colorToProperty(colour), isKeyframe: true, key: 'key0' });
      continue;
    }
    const ctx: EngineContext = {
      task: 'color',
      layout: { kind: 'values' } as unknown as EngineContext['layout'],
      features,
      resultKey: `p:${t}`,
      direction: 1,
    };
    const f = parts.filteredValues({ index: t, frame }, guides.slice(-3), ctx);
    if (t % 2 === 1) {
      const y = new Uint8Array(n);
      for (let i = 0; i < n; i++) y[i] = frame.data[i * 3];
      luma.push(y);
      filtered.push(quantise(f.values));
      support.push(quantProb(f.support));
      truth.push(quantise(colorToProperty(colour).data));
      dumped.push(t);
    }
    // Stage 0's prediction (the bilateral engine's exactly) guides the next frames.
    const stage0 = f.values.slice();
    parts.keepStaticValues(stage0, f.support, 2, frame, [guides[0], ...guides.slice(-3)], f.nearest);
    const property: PropertyMap = { width, height, channels: 2, data: stage0 };
    guides.push({ index: t, frame, property, isKeyframe: false, key: ctx.resultKey });
  }
  const tmp = `${dest}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  luma.write(join(tmp, 'luma.u8'));
  filtered.write(join(tmp, 'filtered.i16'));
  support.write(join(tmp, 'support.u8'));
  truth.write(join(tmp, 'truth.i16'));
  finish(tmp, dest, { sequence: seq, width, height, frames: dumped, units: 'Lab (a, b) / 100 x 10000, int16' });
  await d.frames.close();
  console.log(`${seq}: ${dumped.length} frames dumped of ${T}, ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
