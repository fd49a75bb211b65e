/**
 * Speed and memory of the learned VPN stages (engine `vpn`) beside the training-free BNN-Identity
 * they extend (engine `bilateral`), at 854x480 on a DAVIS-2016 sequence, one session each on this
 * thread (no worker pool), masks (frame 0's mask given) and colour (the grey video, frame 0 in
 * colour): the median of the per-frame session steps (progress-event intervals), the ratio
 * vpn / bilateral of those medians (same command, same frames), and the largest resident set size
 * seen during the session.
 *
 *   node --import tsx bench/vpn-speed.ts [--sequence blackswan] [--frames 20] [--mask-model PREFIX] [--color-model PREFIX]
 *
 * Models default to the fold models that never saw the sequence (training/models/vpn-{mask,color}-fold{A,B}).
 */
import type { Task } from '../src/core/types.js';
import { createBilateralEngine } from '../src/engines/bilateral/index.js';
import type { Engine } from '../src/engines/types.js';
import { createVpnEngine } from '../src/engines/vpn/index.js';
import { PropagationSession } from '../src/session/session.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, davisRoot, foldModel, greySource, machine, median, requireShared } from './common.js';

requireShared('davis');
const seq = argValue('sequence', 'blackswan') as string;
const frames = Number(argValue('frames', '20'));
const maskModel = argValue('mask-model') ?? foldModel('vpn-mask', seq);
const colorModel = argValue('color-model') ?? foldModel('vpn-color', seq);

async function measure(task: Task, engine: Engine): Promise<{ step: number; rssMiB: number }> {
  const d = await openDavis(davisRoot, seq);
  const stamps: number[] = [];
  let rss = process.memoryUsage().rss;
  const source = task === 'color' ? greySource(d.frames) : d.frames;
  const session = new PropagationSession(source, {
    task,
    engine,
    onProgress: () => {
      stamps.push(performance.now());
      rss = Math.max(rss, process.memoryUsage().rss);
    },
  });
  if (task === 'color') session.addKeyframe(0, { color: await d.frames.frame(0) });
  else session.addKeyframe(0, { mask: await d.annotations.read(0) });
  for await (const _ of session.propagate({ direction: 'forward', to: frames })) void _;
  await session.dispose();
  const steps = stamps.slice(2).map((t, i) => t - stamps[i + 1]);
  return { step: median(steps), rssMiB: rss / 2 ** 20 };
}

console.log(`# vpn vs bilateral speed, ${seq} frames 0..${frames - 1} at 854x480, ${machine()}, ${new Date().toISOString()}`);
console.log('task | bilateral ms/frame | vpn ms/frame | ratio vpn/bilateral | peak RSS MiB bilateral / vpn');
for (const task of ['mask', 'color'] as const) {
  const bil = await measure(task, createBilateralEngine());
  const vpn = await measure(task, createVpnEngine({ model: task === 'mask' ? maskModel : colorModel }));
  console.log(
    `${task} | ${bil.step.toFixed(0)} | ${vpn.step.toFixed(0)} | ${(vpn.step / bil.step).toFixed(2)} | ${bil.rssMiB.toFixed(0)} / ${vpn.rssMiB.toFixed(0)}`,
  );
}
