/**
 * Dumps GRFP training data from the TypeScript side into a cache that training/vprop_train/data.py
 * reads (git-ignored; default training/data-cache/). Resumable: finished clips are skipped; each
 * clip directory is written under a temporary name and renamed when complete.
 *
 *   node --import tsx scripts/export-grfp-data.ts synth [--out DIR] [--count 48] [--first-seed 1000]
 *        [--frames 30] [--size 256x192] [--flow dis]
 *   node --import tsx scripts/export-grfp-data.ts davis [--out DIR] [--size 427x240]
 *        [--estimates sim,bilateral] [--sequences a,b] [--flow dis]
 *   node --import tsx scripts/export-grfp-data.ts video SOURCE --labels DIR [--out DIR] [--set video]
 *        [--name NAME] [--size WxH] [--from N] [--to N] [--channels C] [--estimates KIND=DIR,...]
 *        [--flow dis]
 *     SOURCE: a video file (ffmpeg) or an image folder; --labels: label PNGs (palette index or grey
 *     value = object / class id) named by frame number, one for every frame from..to; --estimates:
 *     per-frame estimates of a static predictor or another engine, folders of label PNGs or .npy
 *     probabilities (see src/engines/flowgru/per-frame.ts). Without --estimates the clip gets 'sim'
 *     estimates (simulatePerFrame of the labels). The clip is a 'masks' clip (objects.u8); pass
 *     `--target classes` to store the labels as classes.u8 for --task labels.
 *
 * Clip layout (`<out>/<set>/<name>/`), all arrays row-major, frame-major:
 *   meta.json        { width, height, frames, classes?, objects, ... , files }
 *   rgb.u8           T x 3 x H x W   planar RGB 0..255
 *   classes.u8       T x H x W       semantic class ids (synthetic only)
 *   objects.u8       T x H x W       object ids (0 = background)
 *   flow.i16         T x 2 x H x W   backward flow t → t−1 (dy, dx) × 64, rounded; frame 0 zeros
 *   est-<kind>.u8    T x C x H x W   per-frame probabilities × 255, rounded
 *     synthetic: est-labels (C = classes, simulated), est-masks (C = K+1, simulated)
 *     DAVIS:     est-sim (corrupted ground truth, simulatePerFrame), est-bilateral (the bilateral
 *                engine propagated forward from frame 0's mask)
 *     video:     est-<KIND> from the given folders, or est-sim
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parseKeyframeSpec } from '../src/tasks/files.js';
import { InputError } from '../src/core/errors.js';
import { perFrameFromFolder } from '../src/engines/flowgru/per-frame.js';
import { readLabelPng } from '../src/formats/png.js';
import { openSource } from '../src/video/open.js';
import { hash3 } from '../src/util/rng.js';
import { createScene } from '../src/synth/index.js';
import { davisSimSeed, simulatePerFrame, synthSimSeed } from '../src/engines/flowgru/simulate.js';
import { computeFlow } from '../src/ops/flow.js';
import { resizeBilinearInterleavedU8, resizeBilinearPlanar, resizeNearestU8 } from '../src/ops/resize.js';
import { openDavis, listDavisSequences } from '../src/video/davis.js';
import { createBilateralEngine } from '../src/engines/bilateral/index.js';
import { openVideo } from '../src/session/open.js';
import type { RgbFrame } from '../src/core/types.js';
import { Chunks, finish, planar, quantFlow, quantProb } from './training-dump.js';

const argv = process.argv.slice(2);
const mode = argv[0];
const arg = (name: string, fallback?: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const projectRoot = resolve(import.meta.dirname, '..');
const out = resolve(arg('out', join(projectRoot, 'training', 'data-cache')) as string);
const flowBackend = (arg('flow', 'dis') as 'dis' | 'farneback' | 'auto');
const [sw, sh] = (arg('size', mode === 'davis' ? '427x240' : '256x192') as string).split('x').map(Number);

/** Growable list of chunks written as one file. */
async function synth(): Promise<void> {
  const count = Number(arg('count', '48'));
  const first = Number(arg('first-seed', '1000'));
  const frames = Number(arg('frames', '30'));
  const set = arg('set', 'synth') as string;
  mkdirSync(join(out, set), { recursive: true });
  for (let k = 0; k < count; k++) {
    const seed = first + k;
    const name = `scene-${seed}`;
    const dir = join(out, set, name);
    if (existsSync(join(dir, 'meta.json'))) continue;
    const started = performance.now();
    // Variety: 2..6 objects, speed 0.7..2.2 (larger motions than the default), always 6 classes.
    const objects = 2 + (hash3(seed, 1, 0) % 5);
    const speed = 0.7 + ((hash3(seed, 2, 0) % 1000) / 1000) * 1.5;
    const scene = createScene({ seed, width: sw, height: sh, frames, objects, classes: 6, speed });
    const C = scene.info.classes;
    const tmp = `${dir}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const rgb = new Chunks();
    const classes = new Chunks();
    const objs = new Chunks();
    const flow = new Chunks();
    const estL = new Chunks();
    const estM = new Chunks();
    let prev: RgbFrame | undefined;
    for (let t = 0; t < frames; t++) {
      const f = scene.render(t);
      rgb.push(planar(f.rgb));
      classes.push(f.classes.data);
      objs.push(f.labels.data);
      flow.push(prev ? quantFlow((await computeFlow(prev, f.rgb, { backend: flowBackend })).flow) : new Int16Array(2 * sw * sh));
      estL.push(quantProb(simulatePerFrame(f.classes, C, t, { seed: synthSimSeed(seed, 'labels') }).data));
      estM.push(quantProb(simulatePerFrame(f.labels, objects + 1, t, { seed: synthSimSeed(seed, 'masks') }).data));
      prev = f.rgb;
    }
    rgb.write(join(tmp, 'rgb.u8'));
    classes.write(join(tmp, 'classes.u8'));
    objs.write(join(tmp, 'objects.u8'));
    flow.write(join(tmp, 'flow.i16'));
    estL.write(join(tmp, 'est-labels.u8'));
    estM.write(join(tmp, 'est-masks.u8'));
    finish(tmp, dir, {
      source: 'synthetic',
      seed,
      width: sw,
      height: sh,
      frames,
      classes: C,
      objects,
      speed,
      flow: flowBackend,
      estimates: { labels: { channels: C, kind: 'simulated' }, masks: { channels: objects + 1, kind: 'simulated' } },
    });
    console.log(`${name}: ${objects} objects, speed ${speed.toFixed(2)}, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

async function davis(): Promise<void> {
  const root = resolve(projectRoot, '..', 'shared', 'data', 'davis');
  const kinds = (arg('estimates', 'sim') as string).split(',');
  const seqs = arg('sequences')?.split(',') ?? (await listDavisSequences(root));
  const set = arg('set', 'davis') as string;
  mkdirSync(join(out, set), { recursive: true });
  for (const seq of seqs) {
    const dir = join(out, set, seq);
    const started = performance.now();
    const d = await openDavis(root, seq);
    const T = d.frames.info.frameCount as number;
    const { width: W0, height: H0 } = d.frames.info;
    const have = existsSync(join(dir, 'meta.json'));
    const tmp = `${dir}.partial`;
    if (!have) {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      const rgb = new Chunks();
      const objs = new Chunks();
      const flow = new Chunks();
      let prev: RgbFrame | undefined;
      for (let t = 0; t < T; t++) {
        const f0 = await d.frames.frame(t);
        const f: RgbFrame = { width: sw, height: sh, data: resizeBilinearInterleavedU8(f0.data, 3, W0, H0, sw, sh) };
        const m = await d.annotations.read(t);
        rgb.push(planar(f));
        objs.push(resizeNearestU8(m.data, W0, H0, sw, sh));
        flow.push(prev ? quantFlow((await computeFlow(prev, f, { backend: flowBackend })).flow) : new Int16Array(2 * sw * sh));
        prev = f;
      }
      rgb.write(join(tmp, 'rgb.u8'));
      objs.write(join(tmp, 'objects.u8'));
      flow.write(join(tmp, 'flow.i16'));
      finish(tmp, dir, { source: 'davis-2016', sequence: seq, width: sw, height: sh, frames: T, objects: 1, flow: flowBackend, estimates: {} });
    }
    const metaPath = join(dir, 'meta.json');
    const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    for (const kind of kinds) {
      if (meta.estimates[kind]) continue;
      const est = new Chunks();
      if (kind === 'sim') {
        for (let t = 0; t < T; t++) {
          const m = await d.annotations.read(t);
          const small = { width: sw, height: sh, data: resizeNearestU8(m.data, W0, H0, sw, sh) };
          est.push(quantProb(simulatePerFrame(small, 2, t, { seed: davisSimSeed(seq) }).data));
        }
        meta.estimates.sim = { channels: 2, kind: 'simulated: corrupted ground truth (simulatePerFrame), seed from the sequence name' };
      } else if (kind === 'bilateral') {
        const session = await openVideo(d.frames, { task: 'mask', engine: createBilateralEngine({}), maxInternalSize: Math.max(sw, sh), memoryFrames: 4 });
        session.addKeyframe(0, { mask: await d.annotations.read(0) });
        for await (const r of session.propagate({ direction: 'forward' })) {
          const p = r.property;
          est.push(quantProb(resizeBilinearPlanar(p.data, 2, p.width, p.height, sw, sh).subarray(0, 2 * sw * sh)));
        }
        await session.dispose(false);
        meta.estimates.bilateral = { channels: 2, kind: 'bilateral engine (superpixel BNN-Identity) propagated forward from the frame-0 mask, at the cache size' };
      } else throw new Error(`unknown estimate kind ${kind} (sim, bilateral)`);
      est.write(join(dir, `est-${kind}.u8.partial`));
      renameSync(join(dir, `est-${kind}.u8.partial`), join(dir, `est-${kind}.u8`));
      writeFileSync(`${metaPath}.partial`, `${JSON.stringify(meta, null, 1)}\n`);
      renameSync(`${metaPath}.partial`, metaPath);
    }
    console.log(`${seq}: ${T} frames, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** Label PNGs of a folder by the number in their names (the `--keyframes DIR` convention). */
async function labelFiles(dir: string): Promise<Map<number, string>> {
  if (!existsSync(dir)) throw new InputError(dir, 'cannot list label PNGs (no such folder)');
  const files = (await parseKeyframeSpec(dir)).filter((k) => extname(k.file).toLowerCase() === '.png');
  if (files.length === 0) throw new InputError(dir, 'contains no label PNGs named by frame number');
  return new Map(files.map((k) => [k.index, k.file]));
}

async function video(): Promise<void> {
  const spec = argv[1];
  const labelsDir = arg('labels');
  if (!spec || spec.startsWith('--') || !labelsDir) {
    console.error('usage: export-grfp-data.ts video SOURCE --labels DIR [options] (see the file header)');
    process.exit(2);
  }
  const source = await openSource(spec);
  const { width: W0, height: H0 } = source.info;
  const size = arg('size');
  const [vw, vh] = size ? size.split('x').map(Number) : [W0, H0];
  const from = Number(arg('from', '0'));
  const count = source.info.frameCount;
  const to = Number(arg('to', count !== undefined ? String(count - 1) : ''));
  if (!Number.isInteger(from) || !Number.isInteger(to) || to < from + 1)
    throw new InputError(spec, `frames ${from}..${to}: need --from < --to (and --to for a source of unknown length)`);
  const T = to - from + 1;
  const target = arg('target', 'objects') as string;
  if (target !== 'objects' && target !== 'classes') throw new InputError('--target', `must be objects or classes, not ${target}`);
  const files = await labelFiles(labelsDir);
  const missing = [];
  for (let t = from; t <= to; t++) if (!files.has(t)) missing.push(t);
  if (missing.length) throw new InputError(labelsDir, `no label PNG for frame(s) ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`);
  const name = arg('name', basename(spec).replace(/\.[^.]+$/, '')) as string;
  const set = arg('set', 'video') as string;
  const dir = join(out, set, name);
  if (existsSync(join(dir, 'meta.json'))) {
    console.log(`${name}: already exported (${dir})`);
    return;
  }
  const started = performance.now();
  // Labels at the clip size; the channel count is the largest id + 1 unless given.
  const labels: Uint8Array[] = [];
  let maxId = 0;
  for (let t = from; t <= to; t++) {
    const file = files.get(t) as string;
    const l = await readLabelPng(file);
    if (l.width !== W0 || l.height !== H0) throw new InputError(file, `labels are ${l.width}x${l.height} but the frames are ${W0}x${H0}`);
    const small = l.width === vw && l.height === vh ? l.data : resizeNearestU8(l.data, W0, H0, vw, vh);
    for (const v of small) if (v > maxId) maxId = v;
    labels.push(small);
  }
  const C = Number(arg('channels', String(Math.max(2, maxId + 1))));
  if (!Number.isInteger(C) || C <= maxId) throw new InputError('--channels', `${C} channels cannot hold label id ${maxId}`);
  const kinds = (arg('estimates') ?? '').split(',').filter((k) => k.length > 0);
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const rgb = new Chunks();
  const flow = new Chunks();
  const frames: RgbFrame[] = [];
  let prev: RgbFrame | undefined;
  for (let t = from; t <= to; t++) {
    const f0 = await source.frame(t);
    const f: RgbFrame = f0.width === vw && f0.height === vh ? f0 : { width: vw, height: vh, data: resizeBilinearInterleavedU8(f0.data, 3, W0, H0, vw, vh) };
    frames.push(f);
    rgb.push(planar(f));
    flow.push(prev ? quantFlow((await computeFlow(prev, f, { backend: flowBackend })).flow) : new Int16Array(2 * vw * vh));
    prev = f;
  }
  await source.close();
  rgb.write(join(tmp, 'rgb.u8'));
  flow.write(join(tmp, 'flow.i16'));
  const tgt = new Chunks();
  for (const l of labels) tgt.push(l);
  tgt.write(join(tmp, target === 'objects' ? 'objects.u8' : 'classes.u8'));
  const estimates: Record<string, { channels: number; kind: string }> = {};
  if (kinds.length === 0) {
    const est = new Chunks();
    for (let t = 0; t < T; t++) est.push(quantProb(simulatePerFrame({ width: vw, height: vh, data: labels[t] }, C, t, { seed: hash3(T, C, 7) }).data));
    est.write(join(tmp, 'est-sim.u8'));
    estimates.sim = { channels: C, kind: 'simulated: corrupted labels (simulatePerFrame)' };
  }
  for (const spec of kinds) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new InputError('--estimates', `"${spec}" is not KIND=DIR`);
    const kind = spec.slice(0, eq);
    const estDir = spec.slice(eq + 1);
    const fn = await perFrameFromFolder(estDir, C);
    const est = new Chunks();
    for (let t = 0; t < T; t++) {
      const p = await fn(from + t, frames[t]);
      if (p.channels > C) throw new InputError(estDir, `frame ${from + t}: ${p.channels} channels, but the labels have ${C}`);
      let data = p.width === vw && p.height === vh ? p.data : resizeBilinearPlanar(p.data, p.channels, p.width, p.height, vw, vh);
      if (p.channels < C) {
        const wide = new Float32Array(C * vw * vh);
        wide.set(data);
        data = wide;
      }
      est.push(quantProb(data));
    }
    est.write(join(tmp, `est-${kind}.u8`));
    estimates[kind] = { channels: C, kind: `per-frame estimates from ${estDir}` };
  }
  finish(tmp, dir, { source: 'video', origin: source.info.origin, from, to, width: vw, height: vh, frames: T, channels: C, target, flow: flowBackend, estimates });
  console.log(`${name}: ${T} frames, ${C} channels, ${((performance.now() - started) / 1000).toFixed(1)} s → ${dir}`);
}

if (mode === 'synth') await synth();
else if (mode === 'davis') await davis();
else if (mode === 'video') await video();
else {
  console.error('usage: export-grfp-data.ts synth|davis|video [options] (see the file header)');
  process.exit(2);
}
