/**
 * Speed of the bilateral mask engine at 854x480 with one object, through the session: ms per frame
 * split into superpixels (SLIC + features), lattice (builds, splats, vertex matching, slices) and the
 * rest (engine bookkeeping, smearing, session, frame rendering), for the superpixel and pixel
 * variants; and RSS while propagating through a long synthetic video (sampled every 100 frames:
 * must stay flat). The long run goes first so earlier allocations do not mask its growth.
 *
 *   node --import tsx bench/bilateral-speed.ts [--frames 40] [--long 1000] [--long-size 320x240]
 */
import { type BilateralTimings, createBilateralEngine } from '../src/engines/bilateral/index.js';
import { openVideo } from '../src/session/open.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { argValue, longRunMemory, machine, median } from './common.js';

const frames = Number(argValue('frames', '40'));
const longFrames = Number(argValue('long', '1000'));
const [lw, lh] = (argValue('long-size', '320x240') as string).split('x').map(Number);
console.log(`# bilateral engine speed, ${machine()}, ${new Date().toISOString()}`);

// Memory over a long synthetic video.
console.log(`long run: ${await longRunMemory(createBilateralEngine(), longFrames, lw, lh)}`);

// Per-frame time at 854x480, one object, through the session (frame times from progress events).
const scene = createScene({ seed: 3, width: 854, height: 480, frames: frames + 1, objects: 1 });
for (const variant of ['superpixel', 'pixel'] as const) {
  const timings: BilateralTimings = { superpixels: 0, lattice: 0, total: 0, frames: 0 };
  const stamps: number[] = [];
  const s = await openVideo(sceneFrameSource(scene), {
    task: 'mask',
    engine: createBilateralEngine({ variant, timings }),
    memoryFrames: 12,
    // On this thread only: the stage split is what the engine itself spends (bench/speed.ts measures the pool).
    workers: 0,
    onProgress: () => stamps.push(performance.now()),
  });
  s.addKeyframe(0, { mask: scene.render(0).labels });
  const t0 = performance.now();
  for await (const _ of s.propagate({ direction: 'forward' })) void _;
  await s.dispose();
  const steps = stamps.slice(1).map((t, i) => t - stamps[i]);
  const ms = median(steps.slice(2));
  const n = timings.frames;
  const rest = (timings.total - timings.superpixels - timings.lattice) / n;
  console.log(
    `${variant} variant: ${ms.toFixed(0)} ms/frame median (${(1000 / ms).toFixed(2)} fps) over ${steps.length - 2} frames; ` +
      `per frame: superpixels ${(timings.superpixels / n).toFixed(0)} ms, lattice ${(timings.lattice / n).toFixed(0)} ms, rest of engine ${rest.toFixed(0)} ms, ` +
      `outside the engine (decode/render, session) ${(ms - timings.total / n).toFixed(0)} ms; whole run ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
