/**
 * Colour propagation on DAVIS, VPN protocol (ANCHORS §1.5): the dev sequences that are in VPN's
 * colour split, frames 0..24, frame 0's colour given, the others grey; output = ground-truth luma Y
 * (PIL YCbCr) + predicted Cb, Cr; PSNR on RGB per frame, averaged per sequence (frame 0 included),
 * in the clean mode and in VPN's contrast-stretch mode, beside the grey and copy-chroma baselines.
 * Then key-frames every K frames on all dev sequences (both directions, clean, key-frames excluded).
 *
 *   node --import tsx bench/color-vpn.ts [--engine bilateral] [--keyframes 10,20] [--keyframes-only] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import type { PropertyMap } from '../src/core/types.js';
import { createEngine } from '../src/engines/index.js';
import { pilRgbToYcbcr } from '../src/formats/color.js';
import { psnr, vpnComposeOutput } from '../src/metrics/color.js';
import { openVideo } from '../src/session/open.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, DEV_SEQUENCES, davisRoot, greySource, hasFlag, machine, requireShared } from './common.js';

requireShared('davis');
const VPN_VAL_IN_DEV = ['blackswan', 'bmx-trees', 'breakdance', 'dog', 'kite-surf'];
const MAX_FRAMES = 25;
const engineName = argValue('engine', 'bilateral') as string;
const intervals = (argValue('keyframes', '10,20') as string).split(',').filter(Boolean).map(Number);

/** Chroma property in VPN units: (Cb, Cr)/255 − 0.5, planar. The engine propagates any 2-channel map. */
function chromaProperty(ycc: Uint8Array, width: number, height: number): PropertyMap {
  const n = width * height;
  const data = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    data[i] = ycc[i * 3 + 1] / 255 - 0.5;
    data[n + i] = ycc[i * 3 + 2] / 255 - 0.5;
  }
  return { width, height, channels: 2, data };
}

function compose(ycc: Uint8Array, chroma: Float32Array, n: number, stretch: boolean): Uint8Array {
  const Y = new Float32Array(n);
  const cb = new Float32Array(n);
  const cr = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    Y[i] = ycc[i * 3];
    cb[i] = (chroma[i] + 0.5) * 255;
    cr[i] = (chroma[n + i] + 0.5) * 255;
  }
  return vpnComposeOutput(Y, cb, cr, n, { contrastStretch: stretch });
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const results: Record<string, unknown> = { engine: engineName, machine: machine(), date: new Date().toISOString() };

console.log(`# colour, VPN protocol, ${engineName}, ${machine()}, ${new Date().toISOString()}`);
console.log('sequence          grey   copy0  engine | stretched: copy0  engine');
const protocolRows: Record<string, Record<string, number>> = {};
for (const seq of hasFlag('keyframes-only') ? [] : VPN_VAL_IN_DEV) {
  const d = await openDavis(davisRoot, seq);
  const { width, height } = d.frames.info;
  const n = width * height;
  const gt: Uint8Array[] = [];
  const ycc: Uint8Array[] = [];
  for (let t = 0; t < MAX_FRAMES; t++) {
    gt.push((await d.frames.frame(t)).data);
    ycc.push(pilRgbToYcbcr(gt[t], n));
  }
  const key = chromaProperty(ycc[0], width, height);
  const session = await openVideo(greySource(d.frames), { task: 'color', engine: createEngine(engineName), memoryFrames: 4 });
  session.addKeyframe(0, { property: key });
  const pred: Float32Array[] = [key.data];
  for await (const r of session.propagate({ direction: 'forward', to: MAX_FRAMES - 1 })) if (!r.isKeyframe) pred[r.index] = r.property.data;
  await session.dispose();
  const grey = new Float32Array(2 * n); // chroma 0 = Cb = Cr = 127.5 → rounds to 128
  const score = (chroma: (t: number) => Float32Array, stretch: boolean) =>
    mean(gt.map((g, t) => psnr(compose(ycc[t], chroma(t), n, stretch), g)));
  const row = {
    grey: score(() => grey, false),
    copy: score(() => key.data, false),
    engine: score((t) => pred[t], false),
    copyStretched: score(() => key.data, true),
    engineStretched: score((t) => pred[t], true),
  };
  protocolRows[seq] = row;
  console.log(
    `${seq.padEnd(16)} ${row.grey.toFixed(2).padStart(6)} ${row.copy.toFixed(2).padStart(7)} ${row.engine.toFixed(2).padStart(7)} |            ${row.copyStretched.toFixed(2).padStart(6)} ${row.engineStretched.toFixed(2).padStart(7)}`,
  );
}
const avg = (k: string) => mean(Object.values(protocolRows).map((r) => r[k]));
if (!hasFlag('keyframes-only'))
  console.log(
    `${'mean'.padEnd(16)} ${avg('grey').toFixed(2).padStart(6)} ${avg('copy').toFixed(2).padStart(7)} ${avg('engine').toFixed(2).padStart(7)} |            ${avg('copyStretched').toFixed(2).padStart(6)} ${avg('engineStretched').toFixed(2).padStart(7)}`,
  );
results.vpnProtocol = protocolRows;

// Key-frames every K frames, all dev sequences, all frames; both directions; clean PSNR on non-key frames.
for (const K of intervals) {
  console.log(`\n# key-frames every ${K} frames (both directions), clean PSNR over non-key frames`);
  console.log('sequence          copy   engine');
  const rows: Record<string, { copy: number; engine: number }> = {};
  for (const seq of DEV_SEQUENCES) {
    const d = await openDavis(davisRoot, seq);
    const { width, height } = d.frames.info;
    const n = width * height;
    const N = d.frames.info.frameCount as number;
    const out: Record<string, number> = {};
    for (const name of ['copy', engineName]) {
      const session = await openVideo(greySource(d.frames), { task: 'color', engine: createEngine(name), memoryFrames: 4 });
      const yccs = new Map<number, Uint8Array>();
      for (let k = 0; k < N; k += K) {
        const ycc = pilRgbToYcbcr((await d.frames.frame(k)).data, n);
        session.addKeyframe(k, { property: chromaProperty(ycc, width, height) });
      }
      const scores: number[] = [];
      for await (const r of session.propagate({ direction: 'both' })) {
        if (r.isKeyframe) continue;
        const g = (await d.frames.frame(r.index)).data;
        let ycc = yccs.get(r.index);
        if (!ycc) ycc = pilRgbToYcbcr(g, n);
        scores.push(psnr(compose(ycc, r.property.data, n, false), g));
      }
      await session.dispose(false); // the frames serve the next engine too
      out[name] = mean(scores);
    }
    rows[seq] = { copy: out.copy, engine: out[engineName] };
    console.log(`${seq.padEnd(16)} ${out.copy.toFixed(2).padStart(6)} ${out[engineName].toFixed(2).padStart(7)}`);
  }
  console.log(
    `${'mean'.padEnd(16)} ${mean(Object.values(rows).map((r) => r.copy))
      .toFixed(2)
      .padStart(6)} ${mean(Object.values(rows).map((r) => r.engine))
      .toFixed(2)
      .padStart(7)}`,
  );
  results[`keyframesEvery${K}`] = rows;
}
const jsonOut = argValue('json');
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
