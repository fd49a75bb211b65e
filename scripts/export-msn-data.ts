/**
 * Dumps MSN selector training data (training/vprop_train/train_msn.py) made by running an engine:
 * for DAVIS-2016 dev sequences, the engine first propagates frame 0's property forward with its own
 * guide policy (the candidates' maps are what a selector sees at run time); then for target frames
 * t (every `--every` frames) it predicts t again from each of up to `--candidates` earlier frames
 * alone (frame 0 with its given property, t − 1, and evenly spaced others) and scores each
 * prediction against the ground truth: J (IoU) for masks; for colour (the video grey, frame 0 in
 * colour, as bench/color-vpn.ts) the VPN protocol's clean PSNR. Resumable: finished sequences are
 * skipped; each is written under a temporary name and renamed.
 *
 *   node --import tsx scripts/export-msn-data.ts davis --engine bilateral[:opt=val] [--task mask|color]
 *        [--fold-models PREFIX] [--max-frames N] [--sequences a,b] [--every 3] [--candidates 12]
 *        [--out training/data-cache/msn]
 *
 * `--fold-models stpn-color` gives each sequence the model of training/models that never saw it
 * (PREFIX-foldA for fold A, …), as the benches do.
 *
 * Layout (`<out>/<task>-<engine>/<sequence>/`):
 *   features.npy   T x 96 x 10 x 20  selector features of every frame (memory/msn.ts selectorFeatures;
 *                                     of the grey frames for colour, what the selector sees at run time)
 *   reference.npy  1 x 96 x 10 x 20  frame 0 (masks: with its mask, background blacked out)
 *   pairs.json     { sequence, engine, task, metric, frames, own: the metric of the engine's own run
 *                    per frame, pairs: [[t, candidate, metric], ...] }
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PropertyMap, RgbFrame } from '../src/core/types.js';
import { createEngine } from '../src/engines/index.js';
import type { Guide } from '../src/engines/types.js';
import { pilRgbToYcbcr } from '../src/formats/color.js';
import { encodeNpy } from '../src/formats/npy.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { foreground, MSN_GRID, selectorFeatures } from '../src/memory/msn.js';
import { jaccard } from '../src/metrics/davis.js';
import { Backbone } from '../src/models/backbone.js';
import { openVideo } from '../src/session/open.js';
import { colorToProperty } from '../src/tasks/color/index.js';
import { probabilitiesToLabels } from '../src/tasks/maps.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, davisRoot, DEV_SEQUENCES, foldModel, projectRoot, greySource, parseEngineSpec, requireShared, vpnCleanPsnr } from '../bench/common.js';

requireShared('davis');
const spec = argValue('engine', 'bilateral') as string;
const { name: engineName, options } = parseEngineSpec(spec);
const task = argValue('task', 'mask') as string;
if (task !== 'mask' && task !== 'color') throw new Error(`--task must be mask or color, got ${task}`);
const foldModels = argValue('fold-models');
const maxFrames = Number(argValue('max-frames', '100000'));
const every = Number(argValue('every', '3'));
const maxCandidates = Number(argValue('candidates', '12'));
const out = resolve(argValue('out', join(projectRoot, 'training', 'data-cache', 'msn')) as string);
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const setDir = join(out, `${task}-${spec.replace(/[:=,]/g, '-')}`);
mkdirSync(setDir, { recursive: true });
const backbone = await Backbone.load();

/** Up to `m` earlier frames of t: 0, t − 1 and evenly spaced ones between. */
function candidatesOf(t: number, m: number): number[] {
  if (t <= m) return Array.from({ length: t }, (_, i) => i);
  const out = new Set([0, t - 1]);
  for (let k = 1; out.size < m; k++) out.add(Math.round((k * (t - 1)) / (m - 1)));
  return [...out].sort((a, b) => a - b);
}

const optionsFor = (seq: string) => (foldModels ? { ...options, model: foldModel(foldModels, seq) } : options);

for (const seq of sequences) {
  const dir = join(setDir, seq);
  if (existsSync(join(dir, 'pairs.json'))) continue;
  const started = performance.now();
  const d = await openDavis(davisRoot, seq);
  const n = Math.min(d.frames.info.frameCount as number, maxFrames);
  const { width, height } = d.frames.info;
  const truth: RgbFrame[] = [];
  for (let t = 0; t < n; t++) truth.push(await d.frames.frame(t));
  const source = task === 'color' ? greySource(d.frames) : d.frames;
  /** The frames the engine and the selector see (grey for colour). */
  const frames: RgbFrame[] = [];
  for (let t = 0; t < n; t++) frames.push(task === 'color' ? await source.frame(t) : truth[t]);
  let metric: (map: PropertyMap, t: number) => number;
  if (task === 'mask') {
    const gts: Uint8Array[] = [];
    for (let t = 0; t < n; t++) gts.push((await d.annotations.read(t)).data);
    metric = (map, t) => jaccard(probabilitiesToLabels(map).data, gts[t], width, height);
  } else {
    const truthYcc = truth.map((f) => pilRgbToYcbcr(f.data, width * height));
    metric = (map, t) => vpnCleanPsnr(map, frames[t], truth[t], truthYcc[t]);
  }
  // 1. The engine's own run (its default guide policy).
  const session = await openVideo(source, { task, engine: createEngine(engineName, optionsFor(seq)), memoryFrames: 12 });
  session.addKeyframe(0, task === 'mask' ? { mask: await d.annotations.read(0) } : { color: truth[0] });
  const maps: PropertyMap[] = new Array(n);
  if (task === 'color') maps[0] = colorToProperty(truth[0]);
  for await (const r of session.propagate({ direction: 'forward', to: n - 1 })) if (!maps[r.index]) maps[r.index] = r.property;
  await session.dispose();
  const own = maps.map((m, t) => metric(m, t));
  // 2. Selector features.
  const features = new Float32Array(n * MSN_GRID.channels * MSN_GRID.height * MSN_GRID.width);
  for (let t = 0; t < n; t++) features.set(await selectorFeatures(backbone, frames[t]), t * MSN_GRID.channels * MSN_GRID.height * MSN_GRID.width);
  const reference = await selectorFeatures(backbone, frames[0], task === 'mask' ? foreground(maps[0]) : undefined);
  // 3. Every candidate alone, for the sampled targets.
  const engine = createEngine(engineName, optionsFor(seq));
  const layout = task === 'mask' ? { channels: maps[0].channels, objectIds: [1] } : { channels: maps[0].channels };
  const store = new BoundedFeatureStore({ maxFrames: 256, maxBytes: 8 * 2 ** 30 });
  const guide = (i: number): Guide => ({ index: i, frame: frames[i], property: maps[i], isKeyframe: i === 0, key: `own:${i}` });
  await engine.fit?.([guide(0)], { task, layout, features: store });
  const pairs: Array<[number, number, number]> = [];
  for (let t = 2; t < n - 1; t += every) {
    for (const i of candidatesOf(t, maxCandidates)) {
      const q = await engine.predict({ index: t, frame: frames[t] }, [guide(i)], {
        task,
        layout,
        features: store,
        resultKey: `msn:${t}:${i}`,
        direction: 1,
      });
      pairs.push([t, i, Number(metric(q, t).toFixed(5))]);
    }
  }
  await engine.dispose?.();
  await d.frames.close();
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'features.npy'), encodeNpy(features, [n, MSN_GRID.channels, MSN_GRID.height, MSN_GRID.width]));
  writeFileSync(join(tmp, 'reference.npy'), encodeNpy(reference, [1, MSN_GRID.channels, MSN_GRID.height, MSN_GRID.width]));
  writeFileSync(
    join(tmp, 'pairs.json'),
    JSON.stringify({
      sequence: seq,
      engine: spec,
      task,
      metric: task === 'mask' ? 'J' : 'clean PSNR (dB)',
      frames: n,
      every,
      candidates: maxCandidates,
      own: own.map((j) => Number(j.toFixed(5))),
      pairs,
    }),
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  console.log(
    `${seq}: ${n} frames, ${pairs.length} pairs, own ${task === 'mask' ? 'J' : 'PSNR'} ${mean(own.slice(1, -1)).toFixed(3)}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}
await backbone.release();
process.exit(0);
