/**
 * Memory selection cost (issue 11): what MSN adds per target frame for a pool of n candidates
 * (n = 10, 50, 200), once the pool's projections are computed (each frame's backbone + embed run
 * once, when it first enters the pool, reported separately), and the scorer's memory. Reference
 * timed alternately in the same process: a 3x3 box filter over an 854x480 planar RGB frame.
 *
 *   node --import tsx bench/msn.bench.ts [--selector PREFIX] [--runs 5] [--sequence cows]
 *
 * PREFIX: a selector pair PREFIX-embed.onnx / PREFIX-head.onnx (default: the bundled msn-mask, else
 * training/models/msn-mask-foldA). Frames: a DAVIS sequence (repeated to 200 frames), else
 * synthetic frames at 854x480.
 */
import { existsSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { PropertyMap, RgbFrame } from '../src/core/types.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { MsnScorer } from '../src/memory/msn.js';
import type { GuideCandidate, ScoringContext } from '../src/memory/policy.js';
import { rgbToPlanar } from '../src/models/tensor.js';
import { createScene } from '../src/synth/index.js';
import { decodeImageRgb } from '../src/video/folder.js';
import { argValue, box3, davisRoot, machine, median, projectRoot } from './common.js';

const runs = Number(argValue('runs', '5'));
const sequence = argValue('sequence', 'cows') as string;
const POOLS = [10, 50, 200];

const bundled = join(projectRoot, 'src', 'models', 'weights', 'msn-mask');
const prefix =
  argValue('selector') ?? (existsSync(`${bundled}-embed.onnx`) ? bundled : join(projectRoot, 'training', 'models', 'msn-mask-foldA'));

async function loadFrames(n: number): Promise<{ frames: RgbFrame[]; what: string }> {
  const dir = join(davisRoot, 'JPEGImages', '480p', sequence);
  if (existsSync(dir)) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.jpg'))
      .sort();
    const distinct = await Promise.all(files.slice(0, n).map((f) => decodeImageRgb(join(dir, f))));
    return {
      frames: Array.from({ length: n }, (_, i) => distinct[i % distinct.length]),
      what: `DAVIS ${sequence} 480p (${distinct.length} frames, repeated)`,
    };
  }
  const scene = createScene({ seed: 3, width: 854, height: 480, frames: 20, objects: 2 });
  const distinct = Array.from({ length: 20 }, (_, t) => scene.render(t).rgb);
  return { frames: Array.from({ length: n }, (_, i) => distinct[i % 20]), what: 'synthetic scene (no ../shared/data/davis)' };
}

const { frames, what } = await loadFrames(Math.max(...POOLS) + 1);
const { width: W, height: H } = frames[0];
console.log(`# MSN selection cost, ${machine()}, load ${loadavg()[0].toFixed(1)}, ${new Date().toISOString()}`);
console.log(`# selector ${prefix}; frames: ${what}, ${W}x${H}; median of ${runs} runs`);
const scorer = await MsnScorer.load('mask', { prefix, threads: 2 });
const planar = rgbToPlanar(frames[0]);
const keyMask: PropertyMap = { width: W, height: H, channels: 2, data: new Float32Array(2 * W * H).fill(0.5) };
const features = new BoundedFeatureStore();
const ctxFor = (target: number): ScoringContext => ({
  target: { index: target, frame: frames[target] },
  frame: async (i) => frames[i],
  property: async () => keyMask,
  features,
});
const pool = (n: number): GuideCandidate[] => Array.from({ length: n }, (_, i) => ({ index: i, isKeyframe: i === 0, order: i }));

// Projections of every frame (what a pool pays once per frame).
const heap0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
let started = performance.now();
await scorer.score(pool(Math.max(...POOLS)), ctxFor(Math.max(...POOLS)));
const perFrame = (performance.now() - started) / (Math.max(...POOLS) + 1);
const heap1 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
console.log(`first entry of a frame (resize, backbone, embed): ${perFrame.toFixed(1)} ms/frame (includes one scoring of 200)`);
console.log(
  `memory held for a pool of 200: ${((heap1 - heap0) / 2 ** 20).toFixed(0)} MiB (projections ${((200 * 3 * scorer.projected * 200 * 4) / 2 ** 20).toFixed(0)} MiB)`,
);

const boxTimes: number[] = [];
console.log('\n| pool n | scoring ms/target | ms per candidate | x box filter 854x480 |');
console.log('|---:|---:|---:|---:|');
for (const n of POOLS) {
  const times: number[] = [];
  for (let r = 0; r <= runs; r++) {
    started = performance.now();
    box3(planar, 3, W, H);
    const box = performance.now() - started;
    // The target is frame n (already projected): the cost of one scoring with a warm pool.
    started = performance.now();
    await scorer.score(pool(n), ctxFor(n));
    const t = performance.now() - started;
    if (r > 0) {
      times.push(t);
      boxTimes.push(box);
    }
  }
  const m = median(times);
  console.log(`| ${n} | ${m.toFixed(1)} | ${(m / n).toFixed(2)} | ${(m / median(boxTimes)).toFixed(1)} |`);
}
console.log(`\nbox filter: ${median(boxTimes).toFixed(1)} ms`);
await scorer.release();
