/**
 * Colour propagation on DAVIS, VPN protocol (ANCHORS §1.5): the dev sequences that are in VPN's
 * colour split, frames 0..24, frame 0's colour given, the others grey; output = ground-truth luma Y
 * (PIL YCbCr) + predicted Cb, Cr; PSNR on RGB per frame, averaged per sequence (frame 0 included),
 * in the clean mode and in VPN's contrast-stretch mode, beside the grey and copy-chroma baselines.
 * Then key-frames every K frames on all dev sequences (both directions, clean, key-frames excluded),
 * with the style energy: per frame, the variance of the predicted chroma (Cb, Cr over the pixels)
 * over the ground truth's, by distance to the nearest key-frame (the STPN paper's claim: it stays
 * near 1 far from the key-frame, where averaging engines wash colours out).
 *
 *   node --import tsx bench/color-vpn.ts [--engines bilateral,stpn] [--keyframes 10,20,40] [--keyframes-only]
 *        [--protocol-only] [--sequences a,b] [--json out.json]
 *        [--memory selected --top-k K [--pool-cap N] [--joint] --msn PREFIX]
 *
 * `--memory selected` gives every engine but copy MSN guide selection (bench/common.ts MemoryFlags:
 * fold selectors `training/models/PREFIX-fold{A,B}`, default PREFIX msn-color).
 *
 * Engines and their key-frames: `copy` and `bilateral` get VPN's chroma units as a ready property
 * ((Cb, Cr)/255 − 0.5; the engines average any 2-channel map), the form every figure of this bench
 * before issue 9 used. Learned engines (`stpn`, `stpn:variant=btpn`, `vpn`) get the key-frame in colour
 * (`{ color }`, Lab chroma, what a user gives) and their RGB results are read back as Cb, Cr.
 * `ENGINE@colour` forces the colour form for any engine. Learned engines are scored 2-fold: fold A
 * (blackswan, bmx-trees, breakdance, camel, car-roundabout) by `training/models/<prefix>-foldA`
 * (trained on fold B and stills), fold B by `-foldB`; `stpn:variant=btpn` uses the BTPN models, `vpn`
 * the `vpn-color` fold models (trained on the other fold's sequences).
 */
import { writeFileSync } from 'node:fs';
import type { PropertyMap } from '../src/core/types.js';
import { getEngineRegistration } from '../src/engines/index.js';
import { pilRgbToYcbcr } from '../src/formats/color.js';
import { psnr, vpnComposeOutput } from '../src/metrics/color.js';
import { openVideo } from '../src/session/open.js';
import { openDavis } from '../src/video/davis.js';
import {
  argValue,
  DEV_SEQUENCES,
  davisRoot,
  foldModel,
  greySource,
  hasFlag,
  MemoryFlags,
  machine,
  parseEngineSpec,
  requireShared,
  stpnColorFoldOptions,
  VPN_VAL_IN_DEV,
} from './common.js';

requireShared('davis');
const MAX_FRAMES = 25;
const engineSpecs = (argValue('engines') ?? argValue('engine', 'bilateral') ?? 'bilateral').split(',');
const intervals = (argValue('keyframes', '10,20') as string).split(',').filter(Boolean).map(Number);
const only = argValue('sequences')?.split(',');

interface EngineSpec {
  label: string;
  name: string;
  options: Record<string, string>;
  colourForm: boolean;
  /** Learned: model per fold. */
  foldModels: boolean;
}

function parseSpec(spec: string): EngineSpec {
  const { name: head, options } = parseEngineSpec(spec);
  const forced = head.endsWith('@colour');
  const name = forced ? head.slice(0, -'@colour'.length) : head;
  getEngineRegistration(name); // an unknown engine is an error before anything runs
  const learned = name === 'stpn' || name === 'vpn';
  return { label: spec, name, options, colourForm: forced || learned, foldModels: learned };
}

const engines = engineSpecs.map(parseSpec);
const memoryFlags = new MemoryFlags('color');

/** Engine options for a sequence: learned engines get the fold model that never saw it. */
function optionsFor(e: EngineSpec, seq: string): Record<string, string> {
  if (!e.foldModels || e.options.model) return e.options;
  return e.name === 'vpn' ? { ...e.options, model: foldModel('vpn-color', seq) } : stpnColorFoldOptions(e.options, seq);
}

/** Chroma property in VPN units: (Cb, Cr)/255 − 0.5, planar. */
function chromaProperty(ycc: Uint8Array, width: number, height: number): PropertyMap {
  const n = width * height;
  const data = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    data[i] = ycc[i * 3 + 1] / 255 - 0.5;
    data[n + i] = ycc[i * 3 + 2] / 255 - 0.5;
  }
  return { width, height, channels: 2, data };
}

/** VPN chroma units of an RGB result (a colour-form engine's output). */
function chromaOfRgb(rgb: Uint8Array, n: number): Float32Array {
  const ycc = pilRgbToYcbcr(rgb, n);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[i] = ycc[i * 3 + 1] / 255 - 0.5;
    out[n + i] = ycc[i * 3 + 2] / 255 - 0.5;
  }
  return out;
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

/** Variance of the two chroma planes together (VPN units). */
function chromaVariance(chroma: Float32Array, n: number): number {
  let s = 0;
  let s2 = 0;
  for (let c = 0; c < 2; c++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += chroma[c * n + i];
    m /= n;
    for (let i = 0; i < n; i++) {
      const d = chroma[c * n + i] - m;
      s2 += d * d;
    }
    s += n;
  }
  return s2 / s;
}

/** Chroma of every propagated frame of one run (a session of one engine on a grey video). */
async function runEngine(
  e: EngineSpec,
  seq: string,
  keys: number[],
  direction: 'forward' | 'both',
  to: number | undefined,
): Promise<Map<number, Float32Array>> {
  const d = await openDavis(davisRoot, seq);
  const { width, height } = d.frames.info;
  const n = width * height;
  const session = await openVideo(greySource(d.frames), {
    task: 'color',
    engine: e.name,
    engineOptions: optionsFor(e, seq),
    memoryFrames: 4,
    // The copy baseline keeps its own policy (the nearest key-frame's chroma).
    guides: e.name === 'copy' ? undefined : await memoryFlags.guidesFor(seq),
  });
  for (const k of keys) {
    const f = await d.frames.frame(k);
    session.addKeyframe(k, e.colourForm ? { color: f } : { property: chromaProperty(pilRgbToYcbcr(f.data, n), width, height) });
  }
  const out = new Map<number, Float32Array>();
  for await (const r of session.propagate({ direction, to })) {
    if (r.isKeyframe) continue;
    out.set(r.index, e.colourForm ? chromaOfRgb((r.rgb as { data: Uint8Array }).data, n) : r.property.data);
  }
  await session.dispose();
  return out;
}

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
const results: Record<string, unknown> = {
  engines: engineSpecs,
  memory: memoryFlags.describe().trim() || 'previous',
  machine: machine(),
  date: new Date().toISOString(),
};
console.log(`# colour on DAVIS dev, engines ${engineSpecs.join(', ')}${memoryFlags.describe()}, ${machine()}, ${new Date().toISOString()}`);

if (!hasFlag('keyframes-only')) {
  console.log('\n## VPN protocol (frames 0..24, frame 0 in colour): clean PSNR | stretched PSNR');
  console.log(
    `sequence          grey   copy0  ${engines.map((e) => e.label.padStart(12)).join(' ')} | copy0  ${engines.map((e) => e.label.padStart(12)).join(' ')}`,
  );
  const rows: Record<string, Record<string, number>> = {};
  for (const seq of VPN_VAL_IN_DEV.filter((s) => !only || only.includes(s))) {
    const d = await openDavis(davisRoot, seq);
    const { width, height } = d.frames.info;
    const n = width * height;
    const gt: Uint8Array[] = [];
    const ycc: Uint8Array[] = [];
    for (let t = 0; t < MAX_FRAMES; t++) {
      gt.push((await d.frames.frame(t)).data);
      ycc.push(pilRgbToYcbcr(gt[t], n));
    }
    await d.frames.close();
    const key = chromaProperty(ycc[0], width, height).data;
    const grey = new Float32Array(2 * n); // chroma 0 = Cb = Cr = 127.5 → rounds to 128
    const score = (chroma: (t: number) => Float32Array, stretch: boolean) =>
      mean(gt.map((g, t) => psnr(compose(ycc[t], chroma(t), n, stretch), g)));
    const row: Record<string, number> = {
      grey: score(() => grey, false),
      copy: score(() => key, false),
      copyStretched: score(() => key, true),
    };
    for (const e of engines) {
      const pred = await runEngine(e, seq, [0], 'forward', MAX_FRAMES - 1);
      const at = (t: number) => (t === 0 ? key : (pred.get(t) as Float32Array));
      row[e.label] = score(at, false);
      row[`${e.label} stretched`] = score(at, true);
    }
    rows[seq] = row;
    console.log(
      `${seq.padEnd(16)} ${row.grey.toFixed(2).padStart(6)} ${row.copy.toFixed(2).padStart(7)} ${engines.map((e) => row[e.label].toFixed(2).padStart(12)).join(' ')} | ${row.copyStretched.toFixed(2).padStart(6)} ${engines.map((e) => row[`${e.label} stretched`].toFixed(2).padStart(12)).join(' ')}`,
    );
  }
  const avg = (k: string) => mean(Object.values(rows).map((r) => r[k]));
  console.log(
    `${'mean'.padEnd(16)} ${avg('grey').toFixed(2).padStart(6)} ${avg('copy').toFixed(2).padStart(7)} ${engines.map((e) => avg(e.label).toFixed(2).padStart(12)).join(' ')} | ${avg('copyStretched').toFixed(2).padStart(6)} ${engines.map((e) => avg(`${e.label} stretched`).toFixed(2).padStart(12)).join(' ')}`,
  );
  results.vpnProtocol = rows;
}

if (!hasFlag('protocol-only')) {
  const all = [
    { label: 'copy', name: 'copy', options: {}, colourForm: false, foldModels: false } as EngineSpec,
    ...engines.filter((e) => e.label !== 'copy'),
  ];
  for (const K of intervals) {
    console.log(
      `\n## key-frames every ${K} frames (both directions): clean PSNR over non-key frames; style energy (predicted / true chroma variance) by distance to the nearest key-frame`,
    );
    const buckets = distanceBuckets(K);
    console.log(`sequence          ${all.map((e) => e.label.padStart(12)).join(' ')}`);
    const rows: Record<string, Record<string, number>> = {};
    const energy: Record<string, number[][]> = Object.fromEntries(all.map((e) => [e.label, buckets.map(() => [])]));
    const psnrByDistance: Record<string, number[][]> = Object.fromEntries(all.map((e) => [e.label, buckets.map(() => [])]));
    for (const seq of DEV_SEQUENCES.filter((s) => !only || only.includes(s))) {
      const d = await openDavis(davisRoot, seq);
      const { width, height } = d.frames.info;
      const n = width * height;
      const N = d.frames.info.frameCount as number;
      const keys: number[] = [];
      for (let k = 0; k < N; k += K) keys.push(k);
      const truth = new Map<number, { ycc: Uint8Array; rgb: Uint8Array; variance: number }>();
      for (let t = 0; t < N; t++) {
        if (keys.includes(t)) continue;
        const rgb = (await d.frames.frame(t)).data;
        const ycc = pilRgbToYcbcr(rgb, n);
        truth.set(t, { ycc, rgb, variance: chromaVariance(chromaProperty(ycc, width, height).data, n) });
      }
      await d.frames.close();
      const row: Record<string, number> = {};
      for (const e of all) {
        const pred = await runEngine(e, seq, keys, 'both', undefined);
        const scores: number[] = [];
        for (const [t, gt] of truth) {
          const chroma = pred.get(t);
          if (!chroma) throw new Error(`${e.label} ${seq}: no result for frame ${t}`);
          const p = psnr(compose(gt.ycc, chroma, n, false), gt.rgb);
          scores.push(p);
          const dist = Math.min(...keys.map((k) => Math.abs(k - t)));
          const b = buckets.findIndex(([lo, hi]) => dist >= lo && dist <= hi);
          if (b >= 0) {
            energy[e.label][b].push(chromaVariance(chroma, n) / Math.max(gt.variance, 1e-9));
            psnrByDistance[e.label][b].push(p);
          }
        }
        row[e.label] = mean(scores);
      }
      rows[seq] = row;
      console.log(`${seq.padEnd(16)} ${all.map((e) => row[e.label].toFixed(2).padStart(12)).join(' ')}`);
    }
    console.log(
      `${'mean'.padEnd(16)} ${all
        .map((e) =>
          mean(Object.values(rows).map((r) => r[e.label]))
            .toFixed(2)
            .padStart(12),
        )
        .join(' ')}`,
    );
    console.log(`distance to key  ${all.map((e) => e.label.padStart(22)).join(' ')}   (PSNR dB / style energy)`);
    buckets.forEach(([lo, hi], b) => {
      console.log(
        `${`${lo}-${hi}`.padEnd(16)} ${all.map((e) => `${mean(psnrByDistance[e.label][b]).toFixed(2)} / ${mean(energy[e.label][b]).toFixed(3)}`.padStart(22)).join(' ')}`,
      );
    });
    results[`keyframesEvery${K}`] = {
      rows,
      buckets,
      styleEnergy: Object.fromEntries(all.map((e) => [e.label, energy[e.label].map(mean)])),
      psnrByDistance: Object.fromEntries(all.map((e) => [e.label, psnrByDistance[e.label].map(mean)])),
    };
  }
}

/** Distance ranges for the style-energy table: thirds of 1..K/2. */
function distanceBuckets(K: number): Array<[number, number]> {
  const far = Math.floor(K / 2);
  const a = Math.max(1, Math.round(far / 3));
  const b = Math.max(a + 1, Math.round((2 * far) / 3));
  return [
    [1, a],
    [a + 1, b],
    [b + 1, far],
  ];
}

const jsonOut = argValue('json');
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
