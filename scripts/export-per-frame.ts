/**
 * Per-frame estimates for engines that take them (`vpn` and `flowgru`: `perFrameDir`, the CLI's
 * `--per-frame DIR`): runs an engine forward from frame 0's mask on DAVIS-2016 dev sequences and
 * writes every frame's probabilities as `<out>/<sequence>/<frame, 5 digits>.npy` (C x H x W,
 * float16). Resumable: finished sequences are skipped; each is written under a temporary name and
 * renamed.
 *
 *   node --import tsx scripts/export-per-frame.ts [--engine maskprop[:opt=val]] [--sequences a,b]
 *        [--fold-models PREFIX] [--out training/data-cache/per-frame/ENGINE]
 *
 * `--fold-models PREFIX`: the engine's `model` is `training/models/PREFIX-fold{A,B}`, the fold model
 * that never saw the sequence (as bench/davis-masks.ts).
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { argValue, DEV_SEQUENCES, davisRoot, foldModel, parseEngineSpec, projectRoot, requireShared } from '../bench/common.js';
import { createEngine } from '../src/engines/index.js';
import { encodeNpy } from '../src/formats/npy.js';
import { openVideo } from '../src/session/open.js';
import { openDavis } from '../src/video/davis.js';

requireShared('davis');
const spec = argValue('engine', 'maskprop') as string;
const { name, options } = parseEngineSpec(spec);
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const foldModels = argValue('fold-models');
const outRoot = resolve(argValue('out') ?? join(projectRoot, 'training', 'data-cache', 'per-frame', name));
mkdirSync(outRoot, { recursive: true });

for (const seq of sequences) {
  const dest = join(outRoot, seq);
  if (existsSync(dest)) {
    console.log(`${seq}: done already`);
    continue;
  }
  const started = performance.now();
  const tmp = `${dest}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const d = await openDavis(davisRoot, seq);
  const session = await openVideo(d.frames, { task: 'mask', engine: createEngine(name, foldModels ? { ...options, model: foldModel(foldModels, seq) } : options), memoryFrames: 12 });
  const key = await d.annotations.read(0);
  session.addKeyframe(0, { mask: key });
  const write = (index: number, p: { channels: number; height: number; width: number; data: Float32Array }) =>
    writeFileSync(join(tmp, `${String(index).padStart(5, '0')}.npy`), encodeNpy(p.data, [p.channels, p.height, p.width], '<f2'));
  let frames = 0;
  for await (const r of session.propagate({ direction: 'forward' })) {
    write(r.index, r.property);
    frames++;
  }
  await session.dispose();
  renameSync(tmp, dest);
  console.log(`${seq}: ${frames} frames, ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
