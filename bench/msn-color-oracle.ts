/**
 * How much a guide selector could gain for colour (issue 11's oracle gap): VPN protocol (the dev
 * sequences of VPN's colour split, frames 0..24, frame 0 in colour, the others grey). Each engine
 * first propagates with its own guide policy; then every third frame t is predicted again from each
 * earlier frame alone (frame 0 with its true colour, the others with the chroma the engine's own
 * run gave them) and scored by clean PSNR (ground-truth luma + predicted Cb, Cr; ANCHORS §1.5).
 * Rows: the engine's own run, the previous frame alone, frame 0 alone, and the oracle (the best
 * single candidate by ground truth) — the ceiling of any top-1 selector.
 *
 *   node --import tsx bench/msn-color-oracle.ts [--engines stpn,bilateral] [--sequences a,b] [--json out.json]
 *
 * `stpn` is scored 2-fold like bench/color-vpn.ts (fold A by the model trained on fold B, …);
 * every engine gets the key-frame in colour (Lab chroma) and returns Lab chroma.
 */
import { writeFileSync } from 'node:fs';
import type { PropertyMap, RgbFrame } from '../src/core/types.js';
import { createEngine } from '../src/engines/index.js';
import type { Guide } from '../src/engines/types.js';
import { pilRgbToYcbcr } from '../src/formats/color.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { openVideo } from '../src/session/open.js';
import { colorToProperty } from '../src/tasks/color/index.js';
import { openDavis } from '../src/video/davis.js';
import {
  argValue,
  davisRoot,
  greySource,
  machine,
  parseEngineSpec,
  requireShared,
  stpnColorFoldOptions,
  VPN_VAL_IN_DEV,
  vpnCleanPsnr,
} from './common.js';

requireShared('davis');
const MAX_FRAMES = 25;
const EVERY = 3;
const engineSpecs = (argValue('engines') ?? 'stpn,bilateral').split(',');
const sequences = (argValue('sequences') ?? VPN_VAL_IN_DEV.join(',')).split(',');

function optionsFor(name: string, options: Record<string, string>, seq: string): Record<string, string> {
  return name !== 'stpn' || options.network === 'false' ? options : stpnColorFoldOptions(options, seq);
}

const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
const results: Record<string, Record<string, Record<string, number>>> = {};
console.log(`# colour guide oracle, VPN protocol, engines ${engineSpecs.join(', ')}, ${machine()}, ${new Date().toISOString()}`);
console.log('engine / sequence            own   previous  frame 0    oracle   (mean clean PSNR over targets 2, 5, .., 23)');
for (const spec of engineSpecs) {
  const { name, options } = parseEngineSpec(spec);
  results[spec] = {};
  for (const seq of sequences) {
    const d = await openDavis(davisRoot, seq);
    const truth: RgbFrame[] = [];
    for (let t = 0; t < MAX_FRAMES; t++) truth.push(await d.frames.frame(t));
    const truthYcc = truth.map((f) => pilRgbToYcbcr(f.data, f.width * f.height));
    const greyFrames = greySource(d.frames);
    const grey: RgbFrame[] = [];
    for (let t = 0; t < MAX_FRAMES; t++) grey.push(await greyFrames.frame(t));
    // 1. The engine's own run.
    const session = await openVideo(greyFrames, {
      task: 'color',
      engine: name,
      engineOptions: optionsFor(name, options, seq),
      memoryFrames: 4,
    });
    session.addKeyframe(0, { color: truth[0] });
    const own: PropertyMap[] = new Array(MAX_FRAMES);
    own[0] = colorToProperty(truth[0]);
    for await (const r of session.propagate({ direction: 'forward', to: MAX_FRAMES - 1 })) if (!r.isKeyframe) own[r.index] = r.property;
    await session.dispose();
    await d.frames.close();
    // 2. Every earlier frame alone as the guide of the sampled targets.
    const engine = createEngine(name, optionsFor(name, options, seq));
    const layout = { channels: 2 };
    const store = new BoundedFeatureStore({ maxFrames: 64, maxBytes: 4 * 2 ** 30 });
    const guide = (i: number): Guide => ({ index: i, frame: grey[i], property: own[i], isKeyframe: i === 0, key: `own:${i}` });
    await engine.fit?.([guide(0)], { task: 'color', layout, features: store });
    const rows = { own: [] as number[], previous: [] as number[], first: [] as number[], oracle: [] as number[] };
    for (let t = 2; t < MAX_FRAMES - 1; t += EVERY) {
      const byCandidate: number[] = [];
      for (let i = 0; i < t; i++) {
        const q = await engine.predict({ index: t, frame: grey[t] }, [guide(i)], {
          task: 'color',
          layout,
          features: store,
          resultKey: `oracle:${t}:${i}`,
          direction: 1,
        });
        byCandidate.push(vpnCleanPsnr(q, grey[t], truth[t], truthYcc[t]));
      }
      rows.own.push(vpnCleanPsnr(own[t], grey[t], truth[t], truthYcc[t]));
      rows.previous.push(byCandidate[t - 1]);
      rows.first.push(byCandidate[0]);
      rows.oracle.push(Math.max(...byCandidate));
    }
    await engine.dispose?.();
    const row = { own: mean(rows.own), previous: mean(rows.previous), first: mean(rows.first), oracle: mean(rows.oracle) };
    results[spec][seq] = row;
    console.log(
      `${`${spec} / ${seq}`.padEnd(26)} ${row.own.toFixed(2).padStart(7)} ${row.previous.toFixed(2).padStart(9)} ${row.first.toFixed(2).padStart(8)} ${row.oracle.toFixed(2).padStart(9)}`,
    );
  }
  const all = Object.values(results[spec]);
  const avg = (k: 'own' | 'previous' | 'first' | 'oracle') => mean(all.map((r) => r[k])).toFixed(2);
  console.log(
    `${`${spec} / mean`.padEnd(26)} ${avg('own').padStart(7)} ${avg('previous').padStart(9)} ${avg('first').padStart(8)} ${avg('oracle').padStart(9)}`,
  );
}
const jsonPath = argValue('json');
if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ machine: machine(), date: new Date().toISOString(), results }, null, 1));
process.exit(0);
