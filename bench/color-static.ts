/**
 * Colour on a static-camera clip: no colour engine may fall below the copy floor there.
 * `../shared/data/video/vtest.avi` (768x576, fixed surveillance camera, small moving pedestrians),
 * first 100 frames turned grey (luma), frame 0 given in colour, propagated forward; clean RGB PSNR
 * of frames 1..99 against the original colour frames, per engine (and engine option sets).
 *
 *   node --import tsx bench/color-static.ts [--frames 100] [--engines copy,bilateral,bilateral:keepStatic=0,stpn]
 *        [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { getEngineRegistration } from '../src/engines/index.js';
import { psnr } from '../src/metrics/color.js';
import { openVideo } from '../src/session/open.js';
import { openSource } from '../src/video/open.js';
import { argValue, greySource, machine, parseEngineSpec, requireShared } from './common.js';

const path = requireShared('video/vtest.avi');
const frames = Number(argValue('frames', '100'));
const engines = (argValue('engines', 'copy,bilateral,bilateral:keepStatic=0') as string).split(',');
console.log(`# colour on a static shot (vtest.avi, first ${frames} frames, frame 0 in colour), ${machine()}, ${new Date().toISOString()}`);

const rows: Array<{ engine: string; psnr: number; first10: number; last10: number; seconds: number }> = [];
for (const spec of engines) {
  const { name, options: engineOptions } = parseEngineSpec(spec);
  try {
    getEngineRegistration(name);
  } catch {
    console.log(`${spec}: not registered, skipped`);
    continue;
  }
  const src = await openSource(path);
  const session = await openVideo(greySource(src), { task: 'color', engine: name, engineOptions, memoryFrames: 4 });
  session.addKeyframe(0, { color: await src.frame(0) });
  const scores: number[] = [];
  const started = performance.now();
  for await (const r of session.propagate({ direction: 'forward', to: frames - 1 })) {
    if (r.index === 0) continue;
    scores.push(psnr((r.rgb as { data: Uint8Array }).data, (await src.frame(r.index)).data));
  }
  const seconds = (performance.now() - started) / 1000;
  await session.dispose(false);
  await src.close();
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const row = { engine: spec, psnr: mean(scores), first10: mean(scores.slice(0, 10)), last10: mean(scores.slice(-10)), seconds };
  rows.push(row);
  console.log(
    `${spec.padEnd(28)} PSNR ${row.psnr.toFixed(2)} dB (frames 1-10 ${row.first10.toFixed(2)}, last 10 ${row.last10.toFixed(2)}), ${seconds.toFixed(0)} s`,
  );
}
const out = argValue('json');
if (out) writeFileSync(out, JSON.stringify({ machine: machine(), date: new Date().toISOString(), frames, rows }, null, 2));
