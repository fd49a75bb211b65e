/**
 * STPN speed (issue 9): per-frame time of the `stpn` engine at 854x480 on DAVIS frames for each task
 * that has a model, beside the `copy` engine on the same frames in the same process (the floor: a
 * session's reading, conversion and writing with no propagation work), and the scan alone in
 * TypeScript against the same scan as an ONNX graph (issue 9: "the whole thing in ONNX if the scan
 * exports efficiently; measure both and keep the faster").
 *
 *   node --import tsx bench/stpn.bench.ts [--frames 12] [--runs 3] [--sequence blackswan]
 *        [--models color=PREFIX,mask=PREFIX,hdr=PREFIX] [--scan-onnx FILE]
 *
 * Models default to the bundled ones; a task without a model is skipped with a message.
 * `--scan-onnx FILE`: the scan exported by `training/vprop_train/export_scan_onnx.py` (its C, H, W
 * are read from the file); the two are run on the same smooth random gates, checked to agree,
 * timed alternately (median of --runs). Engine rows: median over --runs of the mean time per
 * propagated frame (frames 1..--frames, forward from frame 0), after one warm-up frame.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { LabelImage, RgbFrame, Task } from '../src/core/types.js';
import { createCopyEngine } from '../src/engines/copy/index.js';
import { createStpnEngine } from '../src/engines/stpn/index.js';
import type { Engine } from '../src/engines/types.js';
import { loadModel } from '../src/models/index.js';
import { propagate4 } from '../src/ops/linear-scan.js';
import { PropagationSession } from '../src/session/session.js';
import { ldrToRadiance } from '../src/tasks/hdr/ldr.js';
import { Rng } from '../src/util/rng.js';
import { openDavis } from '../src/video/davis.js';
import { sourceFromFrames } from '../src/video/memory.js';
import { argValue, davisRoot, machine, median, requireShared } from './common.js';

requireShared('davis');
const frames = Number(argValue('frames', '12'));
const runs = Number(argValue('runs', '3'));
const sequence = argValue('sequence', 'blackswan') as string;
const modelArgs = Object.fromEntries(
  (argValue('models') ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);

console.log(`# STPN speed, ${machine()}, load ${loadavg()[0].toFixed(1)}, ${new Date().toISOString()}`);

const scanFile = argValue('scan-onnx');
if (scanFile) {
  const model = await loadModel(scanFile, { threads: availableParallelism() });
  const xInfo = model.inputs.find((i) => i.name === 'x');
  if (!xInfo) throw new Error(`${scanFile}: no input "x"`);
  const [, C, H, W] = xInfo.shape as number[];
  const rng = new Rng(7);
  const rand = () => rng.next();
  const x = Float32Array.from({ length: C * H * W }, () => rand() - 0.5);
  // Smooth gates like a network's: per plane a low-frequency pattern, about a third normalised.
  const gates = new Float32Array(12 * C * H * W);
  for (let p = 0; p < 12 * C; p++) {
    const [fx, fy, off] = [0.01 + 0.05 * rand(), 0.01 + 0.05 * rand(), rand() - 0.5];
    for (let y = 0; y < H; y++) for (let q = 0; q < W; q++) gates[(p * H + y) * W + q] = 0.45 * (off + Math.sin(fx * q) * Math.cos(fy * y));
  }
  const ts: number[] = [];
  const ort: number[] = [];
  let diff = 0;
  for (let r = 0; r <= runs; r++) {
    let t0 = performance.now();
    const a = propagate4(x, gates, C, H, W).out;
    const tTs = performance.now() - t0;
    t0 = performance.now();
    const b = (await model.run({ x: { data: x, dims: [1, C, H, W] }, gates: { data: gates, dims: [1, 12 * C, H, W] } })).out.data;
    const tOrt = performance.now() - t0;
    if (r > 0) {
      ts.push(tTs);
      ort.push(tOrt);
    }
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  await model.release();
  console.log(`\n## scan, C=${C} at ${W}x${H} (the engine's size for 854x480 at maxSize 432)`);
  console.log(`TypeScript propagate4   ${median(ts).toFixed(1)} ms`);
  console.log(
    `ONNX graph (ORT, ${availableParallelism()} threads) ${median(ort).toFixed(1)} ms  (${(median(ort) / median(ts)).toFixed(1)}x TypeScript)`,
  );
  console.log(`max |difference| ${diff.toExponential(2)}`);
}

const d = await openDavis(davisRoot, sequence);
const rgb: RgbFrame[] = [];
for (let t = 0; t <= frames; t++) rgb.push(await d.frames.frame(t));
const { width, height } = rgb[0];
const mask: LabelImage = await d.annotations.read(0);

async function timePerFrame(task: Task, engine: Engine): Promise<number> {
  // HDR: a stand-in key-frame, the frame inverse-tone-mapped (the values do not change the cost).
  const key = task === 'mask' ? { mask } : task === 'hdr' ? { radiance: ldrToRadiance(rgb[0], 0.25) } : { color: rgb[0] };
  const s = new PropagationSession(sourceFromFrames(rgb), { task, engine });
  s.addKeyframe(0, key);
  let t0 = 0;
  let n = 0;
  for await (const r of s.propagate({ direction: 'forward' })) {
    if (r.index === 1)
      t0 = performance.now(); // frame 1 loads the models and warms up
    else if (r.index > 1) n++;
  }
  const per = (performance.now() - t0) / n;
  await s.dispose();
  return per;
}

console.log(`\n## engine, ${sequence} ${width}x${height}, frames 2..${frames} (median of ${runs})`);
console.log('task    stpn ms/frame   copy ms/frame   stpn - copy');
for (const task of ['color', 'mask', 'hdr'] as const) {
  const model = modelArgs[task];
  const stpnRuns: number[] = [];
  const copyRuns: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      copyRuns.push(await timePerFrame(task, createCopyEngine()));
      stpnRuns.push(await timePerFrame(task, createStpnEngine({ ...(model ? { model } : {}), threads: availableParallelism() })));
    }
  } catch (err) {
    console.log(`${task.padEnd(7)} skipped: ${(err as Error).message}`);
    continue;
  }
  const a = median(stpnRuns);
  const b = median(copyRuns);
  console.log(`${task.padEnd(7)} ${a.toFixed(0).padStart(13)} ${b.toFixed(0).padStart(15)} ${(a - b).toFixed(0).padStart(13)}`);
}
