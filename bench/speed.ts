/**
 * Issue 13's speed report in one command, for the bilateral engine at 854x480:
 *
 * 1. Masks end to end through the CLI (`vprop propagate DAVIS::seq --engine bilateral`, frame 0's
 *    annotation, both directions = forward here, results written as PNG, no video) on DAVIS dev
 *    sequences, with `--workers 0` (everything on one thread) and with the worker pool
 *    (`--workers N`), frames/s from the process's wall time, and the ratio.
 * 2. The stage split in-process (superpixels, lattice, rest) without and with the pool.
 * 3. One object against three on a synthetic 854x480 scene (the lattice is shared; only the value
 *    channels grow).
 * 4. Colour (300k samples, d = 4) through the CLI with the pool, frames/s.
 * 5. The SLIC / 3x3 box-filter ratio (bench/slic.bench.ts) and the lattice against native C++
 *    (bench/lattice-native.ts), run as child processes.
 *
 * The load average is printed before and after: on a shared machine the absolute figures move, the
 * ratios (measured alternately in the same command) much less.
 *
 *   node --import tsx bench/speed.ts [--sequences blackswan,cows] [--workers 1] [--frames 40] [--skip slic,lattice]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BilateralTimings, createBilateralEngine } from '../src/engines/bilateral/index.js';
import { defaultWorkerCount } from '../src/session/node-pool.js';
import { openVideo } from '../src/session/open.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { argValue, davisRoot, machine, median, projectRoot, requireShared } from './common.js';

const sequences = (argValue('sequences', 'blackswan,cows,dog') as string).split(',');
const workers = Number(argValue('workers', String(Math.max(1, defaultWorkerCount()))));
const frames = Number(argValue('frames', '40'));
const skip = new Set((argValue('skip', '') as string).split(',').filter(Boolean));
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
console.log(`# speed (issue 13), ${machine()}, ${new Date().toISOString()}; load average ${load()}`);

/** One CLI run; frames/s over the process's wall time and the summary's own figure. */
function cli(args: string[]): { wallFps: number; fps: number; frames: number } {
  const out = mkdtempSync(join(tmpdir(), 'vprop-speed-'));
  try {
    const started = performance.now();
    const r = spawnSync(
      process.execPath,
      [join(projectRoot, 'bin', 'vprop.js'), 'propagate', ...args, '--out', out, '--no-video', '--json', '-q'],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      },
    );
    const wall = (performance.now() - started) / 1000;
    if (r.status !== 0) throw new Error(`vprop propagate ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
    const summary = JSON.parse(r.stdout);
    const s = Array.isArray(summary) ? summary[0] : summary;
    return { wallFps: s.framesComputed / wall, fps: s.framesPerSecond, frames: s.framesComputed };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// 1. Masks through the CLI, alternating 0 workers and the pool per sequence.
if (!skip.has('cli')) {
  requireShared('davis');
  console.log(`\n## masks through the CLI (bilateral, DAVIS at 854x480, frame 0's mask), --workers 0 vs --workers ${workers}\n`);
  console.log('| sequence | frames | fps, 0 workers (wall / engine) | fps, pool (wall / engine) | pool / none (wall) |');
  console.log('|---|---|---|---|---|');
  const ratios: number[] = [];
  for (const seq of sequences) {
    const src = `${davisRoot}::${seq}`;
    const base = ['--engine', 'bilateral', '--direction', 'forward', src];
    const one = cli([...base, '--workers', '0']);
    const pooled = cli([...base, '--workers', String(workers)]);
    ratios.push(pooled.wallFps / one.wallFps);
    console.log(
      `| ${seq} | ${one.frames} | ${one.wallFps.toFixed(2)} / ${one.fps.toFixed(2)} | ${pooled.wallFps.toFixed(2)} / ${pooled.fps.toFixed(2)} | ${(pooled.wallFps / one.wallFps).toFixed(2)} |`,
    );
  }
  console.log(`\nmedian pool / none: ${median(ratios).toFixed(2)}; load average ${load()}`);
}

/** ms per frame (median of frame-to-frame times after the first 2) through an in-process session. */
async function sessionSpeed(objects: number, pool: number, task: 'mask' | 'color') {
  const scene = createScene({ seed: 3, width: 854, height: 480, frames: frames + 1, objects });
  const timings: BilateralTimings = { superpixels: 0, lattice: 0, total: 0, frames: 0 };
  const stamps: number[] = [];
  const s = await openVideo(sceneFrameSource(scene), {
    task,
    engine: createBilateralEngine({ timings }),
    workers: pool,
    onProgress: () => stamps.push(performance.now()),
  });
  if (task === 'mask') s.addKeyframe(0, { mask: scene.render(0).labels });
  else s.addKeyframe(0, { color: scene.render(0).rgb });
  for await (const _ of s.propagate({ direction: 'forward' })) void _;
  await s.dispose();
  const steps = stamps.slice(1).map((t, i) => t - stamps[i]);
  const ms = median(steps.slice(2));
  const n = Math.max(1, timings.frames);
  return {
    ms,
    superpixels: timings.superpixels / n,
    lattice: timings.lattice / n,
    engine: timings.total / n,
  };
}

// 2 and 3. Stage split and 1 vs 3 objects, in-process on a synthetic scene.
if (!skip.has('session')) {
  console.log(`\n## in-process, synthetic 854x480 scene, ${frames} frames (ms/frame, median)\n`);
  console.log('| task | objects | workers | ms/frame | fps | superpixels on the main thread | lattice | engine total |');
  console.log('|---|---|---|---|---|---|---|---|');
  const rows: Record<string, number> = {};
  for (const [task, objects] of [
    ['mask', 1],
    ['mask', 3],
    ['color', 1],
  ] as const) {
    for (const w of [0, workers]) {
      const r = await sessionSpeed(objects, w, task);
      rows[`${task}${objects}:${w}`] = r.ms;
      console.log(
        `| ${task} | ${objects} | ${w} | ${r.ms.toFixed(0)} | ${(1000 / r.ms).toFixed(2)} | ${r.superpixels.toFixed(0)} | ${r.lattice.toFixed(0)} | ${r.engine.toFixed(0)} |`,
      );
    }
  }
  console.log(
    `\n3 objects / 1 object: ${(rows['mask3:0'] / rows['mask1:0']).toFixed(2)} (0 workers), ${(rows[`mask3:${workers}`] / rows[`mask1:${workers}`]).toFixed(2)} (pool); load average ${load()}`,
  );
}

// 5. The kernels' own benches.
for (const [name, script] of [
  ['slic', 'slic.bench.ts'],
  ['lattice', 'lattice-native.ts'],
] as const) {
  if (skip.has(name)) continue;
  console.log(`\n## ${script}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', script)], { encoding: 'utf8', stdio: 'inherit' });
  if (r.status !== 0) console.log(`${script} exited with ${r.status}`);
}
console.log(`\nload average at the end ${load()}`);
