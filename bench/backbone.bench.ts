/**
 * Backbone speed (issue 10): `Backbone.extractFeatures` (the bundled MobileNetV2 trunk, s4/s8/s16)
 * per 854x480 frame with 2 ONNX Runtime threads, beside two references timed alternately in the
 * same process on the same frames: the frame's conversion to planar float (a copy) and a 3x3 box
 * filter over the planar RGB (plain TypeScript, one thread).
 *
 *   node --import tsx bench/backbone.bench.ts [--runs 7] [--sequence blackswan] [--threads 2]
 *
 * Frames: the first --runs + 1 frames of a DAVIS sequence (../shared/data), else synthetic scene
 * frames at 854x480. Reported: median over --runs (one warm-up dropped).
 */
import { existsSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { RgbFrame } from '../src/core/types.js';
import { Backbone } from '../src/models/backbone.js';
import { rgbToPlanar } from '../src/models/tensor.js';
import { createScene } from '../src/synth/index.js';
import { decodeImageRgb } from '../src/video/folder.js';
import { argValue, box3, davisRoot, machine, median } from './common.js';

const runs = Number(argValue('runs', '7'));
const sequence = argValue('sequence', 'blackswan') as string;
const threads = Number(argValue('threads', '2'));

async function loadFrames(n: number): Promise<{ frames: RgbFrame[]; what: string }> {
  const dir = join(davisRoot, 'JPEGImages', '480p', sequence);
  if (existsSync(dir)) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, n);
    return { frames: await Promise.all(files.map((f) => decodeImageRgb(join(dir, f)))), what: `DAVIS ${sequence} 480p` };
  }
  const scene = createScene({ seed: 3, width: 854, height: 480, frames: n, objects: 2 });
  return { frames: Array.from({ length: n }, (_, t) => scene.render(t).rgb), what: 'synthetic scene (no ../shared/data/davis)' };
}

const { frames, what } = await loadFrames(runs + 1);
const { width: W, height: H } = frames[0];
console.log(`# Backbone speed, ${machine()}, load ${loadavg()[0].toFixed(1)}, ${new Date().toISOString()}`);
console.log(`frames: ${what}, ${W}x${H}; ONNX Runtime threads: ${threads}`);
const backbone = await Backbone.load({ threads });
const tBackbone: number[] = [];
const tCopy: number[] = [];
const tBox: number[] = [];
let sink = 0;
for (let r = 0; r <= runs; r++) {
  const f = frames[r % frames.length];
  let t0 = performance.now();
  const feats = await backbone.extractFeatures(f);
  const tb = performance.now() - t0;
  t0 = performance.now();
  const planar = rgbToPlanar(f);
  const tc = performance.now() - t0;
  t0 = performance.now();
  sink += box3(planar, 3, W, H)[W * 7 + 11];
  const tx = performance.now() - t0;
  sink += feats.s16.data[0];
  if (r === 0) {
    console.log(
      `outputs: s4 ${feats.s4.channels}x${feats.s4.height}x${feats.s4.width}, s8 ${feats.s8.channels}x${feats.s8.height}x${feats.s8.width}, s16 ${feats.s16.channels}x${feats.s16.height}x${feats.s16.width}`,
    );
    continue;
  }
  tBackbone.push(tb);
  tCopy.push(tc);
  tBox.push(tx);
}
await backbone.release();
const mb = median(tBackbone);
const mc = median(tCopy);
const mx = median(tBox);
console.log(`\n| step (${W}x${H}) | ms/frame (median of ${runs}) | vs 3x3 box filter |`);
console.log('|---|---:|---:|');
console.log(`| backbone extractFeatures (pad, ONNX s4/s8/s16, crop) | ${mb.toFixed(1)} | ${(mb / mx).toFixed(1)}x |`);
console.log(`| RGB -> planar float copy | ${mc.toFixed(1)} | ${(mc / mx).toFixed(2)}x |`);
console.log(`| 3x3 box filter, planar RGB (TypeScript) | ${mx.toFixed(1)} | 1x |`);
if (Number.isNaN(sink)) console.log('(unreachable: keeps the work observable)');
