/**
 * Mask engines on held-apart synthetic multi-object scenes (DAVIS-2017 protocol, issue 10): J&F
 * over all objects, and re-detection — the IoU of the object that leaves the image and comes back
 * (object 1, `exitObjects` 1) over the frames after its return. Scenes use seeds 9000+ (the
 * propagation network trained on synthetic seeds 1000–1023; GRFP's scenes are 1000+ and 5000+).
 *
 *   node --import tsx bench/maskprop-synth.ts [--scenes 6] [--size 320x240] [--frames 48] [--objects 3]
 *        [--engines "maskprop:model=none;maskprop;bilateral"]
 */
import { createEngine } from '../src/engines/index.js';
import { aggregate2017, evaluateSequence2017 } from '../src/metrics/davis.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { argValue, machine, parseEngineSpec } from './common.js';

const scenes = Number(argValue('scenes', '6'));
const [W, H] = (argValue('size', '320x240') as string).split('x').map(Number);
const frames = Number(argValue('frames', '48'));
const objects = Number(argValue('objects', '3'));
const specs = (argValue('engines', 'maskprop:model=none;maskprop;bilateral') as string).split(';');

function iou(a: Uint8Array, b: Uint8Array, id: number): number {
  let i = 0;
  let u = 0;
  for (let p = 0; p < a.length; p++) {
    const x = a[p] === id;
    const y = b[p] === id;
    if (x && y) i++;
    if (x || y) u++;
  }
  return u ? i / u : 1;
}

console.log(
  `# ${scenes} synthetic scenes (seeds 9000+), ${W}x${H}, ${frames} frames, ${objects} objects, ${machine()}, ${new Date().toISOString()}`,
);
console.log('| engine | J&F (2017) | J | F | re-detection IoU after the return | scenes with an exit |');
console.log('|---|---|---|---|---|---|');
for (const spec of specs) {
  const { name, options } = parseEngineSpec(spec);
  const jf: number[] = [];
  const js: number[] = [];
  const fs: number[] = [];
  const redetect: number[] = [];
  for (let k = 0; k < scenes; k++) {
    const scene = createScene({ seed: 9000 + k, width: W, height: H, frames, objects });
    const gts = Array.from({ length: frames }, (_, t) => scene.render(t).labels.data);
    const session = new PropagationSession(sceneFrameSource(scene), { task: 'mask', engine: createEngine(name, options) });
    session.addKeyframe(0, { mask: scene.render(0).labels });
    const preds: Uint8Array[] = [];
    for await (const r of session.propagate({ direction: 'forward' })) preds[r.index] = r.labels?.data as Uint8Array;
    await session.dispose();
    const agg = aggregate2017(evaluateSequence2017(preds, gts, W, H));
    jf.push(agg.JF);
    js.push(agg.J.mean);
    fs.push(agg.F.mean);
    const pixels = gts.map((g) => g.reduce((a, v) => a + (v === 1 ? 1 : 0), 0));
    const gone = pixels.findIndex((v, t) => t > 0 && v === 0);
    const back = gone > 0 ? pixels.findIndex((v, t) => t > gone && v > pixels[0] / 2) : -1;
    if (back > gone && gone > 0) {
      let s = 0;
      for (let t = back; t < frames; t++) s += iou(preds[t], gts[t], 1);
      redetect.push(s / (frames - back));
    }
  }
  const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : Number.NaN);
  console.log(
    `| ${spec} | ${mean(jf).toFixed(3)} | ${mean(js).toFixed(3)} | ${mean(fs).toFixed(3)} | ${mean(redetect).toFixed(3)} | ${redetect.length} of ${scenes} |`,
  );
}
