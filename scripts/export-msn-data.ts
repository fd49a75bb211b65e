/**
 * Dumps MSN selector training data (training/vprop_train/train_msn.py) made by running an engine:
 * for DAVIS-2016 dev sequences, the engine first propagates frame 0's mask forward with its own
 * guide policy (the candidates' maps are what a selector sees at run time); then for target frames
 * t (every `--every` frames) it predicts t again from each of up to `--candidates` earlier frames
 * alone (frame 0 with its given mask, t − 1, and evenly spaced others) and scores each prediction
 * by J (IoU) against the ground truth. Resumable: finished sequences are skipped; each is written
 * under a temporary name and renamed.
 *
 *   node --import tsx scripts/export-msn-data.ts davis --engine bilateral[:opt=val] [--sequences a,b]
 *        [--every 3] [--candidates 12] [--out training/data-cache/msn]
 *
 * Layout (`<out>/mask-<engine>/<sequence>/`):
 *   features.npy   T x 96 x 10 x 20  selector features of every frame (memory/msn.ts selectorFeatures)
 *   reference.npy  1 x 96 x 10 x 20  frame 0 with its mask (background blacked out)
 *   pairs.json     { sequence, engine, frames, ownJ: J of the engine's own run per frame,
 *                    pairs: [[t, candidate, J], ...] }
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PropertyMap, RgbFrame } from '../src/core/types.js';
import { createEngine } from '../src/engines/index.js';
import type { Guide } from '../src/engines/types.js';
import { encodeNpy } from '../src/formats/npy.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { foreground, MSN_GRID, selectorFeatures } from '../src/memory/msn.js';
import { jaccard } from '../src/metrics/davis.js';
import { Backbone } from '../src/models/backbone.js';
import { openVideo } from '../src/session/open.js';
import { probabilitiesToLabels } from '../src/tasks/maps.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, DEV_SEQUENCES, davisRoot, parseEngineSpec, projectRoot, requireShared } from '../bench/common.js';

requireShared('davis');
const spec = argValue('engine', 'bilateral') as string;
const { name: engineName, options } = parseEngineSpec(spec);
const every = Number(argValue('every', '3'));
const maxCandidates = Number(argValue('candidates', '12'));
const out = resolve(argValue('out', join(projectRoot, 'training', 'data-cache', 'msn')) as string);
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const setDir = join(out, `mask-${spec.replace(/[:=,]/g, '-')}`);
mkdirSync(setDir, { recursive: true });
const backbone = await Backbone.load();

/** Up to `m` earlier frames of t: 0, t − 1 and evenly spaced ones between. */
function candidatesOf(t: number, m: number): number[] {
  if (t <= m) return Array.from({ length: t }, (_, i) => i);
  const out = new Set([0, t - 1]);
  for (let k = 1; out.size < m; k++) out.add(Math.round((k * (t - 1)) / (m - 1)));
  return [...out].sort((a, b) => a - b);
}


for (const seq of sequences) {
  const dir = join(setDir, seq);
  if (existsSync(join(dir, 'pairs.json'))) continue;
  const started = performance.now();
  const d = await openDavis(davisRoot, seq);
  const n = d.frames.info.frameCount as number;
  const { width, height } = d.frames.info;
  const gts: Uint8Array[] = [];
  for (let t = 0; t < n; t++) gts.push((await d.annotations.read(t)).data);
  const frames: RgbFrame[] = [];
  for (let t = 0; t < n; t++) frames.push(await d.frames.frame(t));
  // 1. The engine's own run (its default guide policy).
  const session = await openVideo(d.frames, { task: 'mask', engine: createEngine(engineName, options), memoryFrames: 12 });
  session.addKeyframe(0, { mask: await d.annotations.read(0) });
  const maps: PropertyMap[] = new Array(n);
  for await (const r of session.propagate({ direction: 'forward' })) maps[r.index] = r.property;
  await session.dispose();
  const ownJ = maps.map((m, t) => jaccard(probabilitiesToLabels(m).data, gts[t], width, height));
  // 2. Selector features.
  const features = new Float32Array(n * MSN_GRID.channels * MSN_GRID.height * MSN_GRID.width);
  for (let t = 0; t < n; t++) features.set(await selectorFeatures(backbone, frames[t]), t * MSN_GRID.channels * MSN_GRID.height * MSN_GRID.width);
  const reference = await selectorFeatures(backbone, frames[0], foreground(maps[0]));
  // 3. Every candidate alone, for the sampled targets.
  const engine = createEngine(engineName, options);
  const layout = { channels: maps[0].channels, objectIds: [1] };
  const store = new BoundedFeatureStore({ maxFrames: 256, maxBytes: 8 * 2 ** 30 });
  const guide = (i: number): Guide => ({ index: i, frame: frames[i], property: maps[i], isKeyframe: i === 0, key: `own:${i}` });
  await engine.fit?.([guide(0)], { task: 'mask', layout, features: store });
  const pairs: Array<[number, number, number]> = [];
  for (let t = 2; t < n - 1; t += every) {
    for (const i of candidatesOf(t, maxCandidates)) {
      const q = await engine.predict({ index: t, frame: frames[t] }, [guide(i)], {
        task: 'mask',
        layout,
        features: store,
        resultKey: `msn:${t}:${i}`,
        direction: 1,
      });
      pairs.push([t, i, Number(jaccard(probabilitiesToLabels(q).data, gts[t], width, height).toFixed(5))]);
    }
  }
  await engine.dispose?.();
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'features.npy'), encodeNpy(features, [n, MSN_GRID.channels, MSN_GRID.height, MSN_GRID.width]));
  writeFileSync(join(tmp, 'reference.npy'), encodeNpy(reference, [1, MSN_GRID.channels, MSN_GRID.height, MSN_GRID.width]));
  writeFileSync(
    join(tmp, 'pairs.json'),
    JSON.stringify({ sequence: seq, engine: spec, frames: n, every, candidates: maxCandidates, ownJ: ownJ.map((j) => Number(j.toFixed(5))), pairs }),
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  console.log(
    `${seq}: ${n} frames, ${pairs.length} pairs, own J ${mean(ownJ.slice(1, -1)).toFixed(3)}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}
await backbone.release();
process.exit(0);
