/**
 * Dumps GRFP training data from the TypeScript side into a cache that training/vprop_train/data.py
 * reads (git-ignored; default training/data-cache/). Resumable: finished clips are skipped; each
 * clip directory is written under a temporary name and renamed when complete.
 *
 *   node --import tsx scripts/export-grfp-data.ts synth [--out DIR] [--count 48] [--first-seed 1000]
 *        [--frames 30] [--size 256x192] [--flow dis]
 *   node --import tsx scripts/export-grfp-data.ts davis [--out DIR] [--size 427x240]
 *        [--estimates sim,bilateral] [--sequences a,b] [--flow dis]
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
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hash3 } from '../src/util/rng.js';
import { createScene } from '../src/synth/index.js';
import { davisSimSeed, simulatePerFrame, synthSimSeed } from '../src/engines/flowgru/simulate.js';
import { computeFlow } from '../src/ops/flow.js';
import { resizeBilinearInterleavedU8, resizeBilinearPlanar, resizeNearestU8 } from '../src/ops/resize.js';
import { openDavis, listDavisSequences } from '../src/video/davis.js';
import { createBilateralEngine } from '../src/engines/bilateral/index.js';
import { PropagationSession } from '../src/session/session.js';
import type { RgbFrame } from '../src/video/types.js';

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
class Chunks {
  parts: Uint8Array[] = [];
  push(a: ArrayBufferView): void {
    this.parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice());
  }
  write(path: string): void {
    writeFileSync(path, Buffer.concat(this.parts));
  }
}

const planar = (f: RgbFrame): Uint8Array => {
  const n = f.width * f.height;
  const o = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) o[c * n + i] = f.data[i * 3 + c];
  return o;
};
const quantFlow = (flow: Float32Array): Int16Array => Int16Array.from(flow, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 64))));
const quantProb = (p: Float32Array): Uint8Array => Uint8Array.from(p, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));

function finish(tmp: string, dir: string, meta: Record<string, unknown>): void {
  writeFileSync(join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

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
        const session = new PropagationSession(d.frames, { task: 'mask', engine: createBilateralEngine({}), maxInternalSize: Math.max(sw, sh), memoryFrames: 4 });
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

if (mode === 'synth') await synth();
else if (mode === 'davis') await davis();
else {
  console.error('usage: export-grfp-data.ts synth|davis [options] (see the file header)');
  process.exit(2);
}
