/**
 * Speed of the maskprop engine at 854x480 (a DAVIS-2016 sequence, one object), each option set in
 * its own session on this thread (nothing shared, no worker pool): ms per frame split into backbone
 * (ONNX MobileNetV2), optical flow, appearance model (cell features, scoring, updates) and the rest
 * (warp, fusion, soft aggregation, resizing; total − the others), the whole session step (median of
 * the progress-event intervals: frame decode, result labels), and the `fit` time.
 *
 *   node --import tsx bench/maskprop-speed.ts [--sequence blackswan] [--frames 30] \
 *        [--configs "appearance=false;weight=1;fusion=gate"] [--long 1000 [--long-size 320x240]]
 *
 * `--long N`: first, memory (RSS every 100 frames) while the engine with its defaults propagates a
 * synthetic video of N frames (the session's bounded feature store; as bench/bilateral-speed.ts).
 */
import { parseOptions } from '../src/core/options.js';
import { createMaskPropEngine, type MaskPropOptions, type MaskPropTimings, maskpropEngine } from '../src/engines/maskprop/index.js';
import { PropagationSession } from '../src/session/session.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, davisRoot, longRunMemory, machine, median, requireShared } from './common.js';

requireShared('davis');
const seq = argValue('sequence', 'blackswan') as string;
const frames = Number(argValue('frames', '30'));
const longFrames = Number(argValue('long', '0'));
if (longFrames > 0) {
  const [lw, lh] = (argValue('long-size', '320x240') as string).split('x').map(Number);
  console.log(`long run (defaults): ${await longRunMemory(createMaskPropEngine(), longFrames, lw, lh)}`);
}

const configs = (argValue('configs', 'appearance=false;weight=1;fusion=gate') as string).split(';').map((c) => c.trim());
console.log(`# maskprop speed, ${seq} frames 0..${frames}, ${machine()}, ${new Date().toISOString()}`);
console.log('config | step median ms | backbone | flow | appearance | network | rest (warp, fusion, resize) | engine total | fit ms');
for (const c of configs) {
  const { values, signature } = parseOptions(
    'engine maskprop',
    maskpropEngine.options,
    Object.fromEntries(c ? c.split(',').map((kv) => kv.split('=')) : []),
  );
  const timings: MaskPropTimings = { backbone: 0, flow: 0, appearance: 0, network: 0, total: 0, fit: 0, frames: 0 };
  const d = await openDavis(davisRoot, seq);
  const stamps: number[] = [];
  const session = new PropagationSession(d.frames, {
    task: 'mask',
    engine: createMaskPropEngine({ ...(values as MaskPropOptions), timings }, signature),
    onProgress: () => stamps.push(performance.now()),
  });
  session.addKeyframe(0, { mask: await d.annotations.read(0) });
  for await (const _ of session.propagate({ direction: 'forward', to: frames })) void _;
  await session.dispose();
  const steps = stamps.slice(2).map((t, i) => t - stamps[i + 1]);
  const per = (v: number) => (v / Math.max(1, timings.frames)).toFixed(0);
  const rest = timings.total - timings.backbone - timings.flow - timings.appearance - timings.network;
  console.log(
    `${c || 'defaults'} | ${median(steps).toFixed(0)} | ${per(timings.backbone)} | ${per(timings.flow)} | ${per(timings.appearance)} | ${per(timings.network)} | ${per(rest)} | ${per(timings.total)} | ${timings.fit.toFixed(0)}`,
  );
}
