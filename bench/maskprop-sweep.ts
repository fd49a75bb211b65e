/**
 * The maskprop engine under several option sets on DAVIS-2016 dev-10 (frame 0 given, forward, the
 * davis-masks protocol), sharing per-frame work between the sets: one feature store per sequence
 * holds the frames, flows and backbone features that do not depend on the options, so each extra
 * option set costs only its fusion (and appearance fits). Prints J / F / decay per sequence and
 * the means over dev fold A (blackswan, bmx-trees, breakdance, camel, car-roundabout), fold B
 * (cows, dog, goat, kite-surf, parkour) and all ten, plus the engine's time split.
 *
 *   node --import tsx bench/maskprop-sweep.ts --configs "appearance=false;weight=0.5;fusion=gate" \
 *        [--sequences blackswan,dog] [--refine crf] [--json out.json]
 *
 * Each config is `key=value,key=value` (maskprop options); configs are separated by ';'.
 */
import { writeFileSync } from 'node:fs';
import { parseOptions } from '../src/core/options.js';
import { createMaskPropEngine, type MaskPropOptions, type MaskPropTimings, maskpropEngine } from '../src/engines/maskprop/index.js';
import { BoundedFeatureStore, type FeatureStore } from '../src/memory/features.js';
import { evaluateSequence2016, type ObjectResult } from '../src/metrics/davis.js';
import { PropagationSession } from '../src/session/session.js';
import { MemoryResultStore, type SessionStores } from '../src/session/stores.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, DEV_SEQUENCES, davisRoot, FOLD_A, machine, requireShared } from './common.js';

requireShared('davis');
const configs = (argValue('configs', '') as string).split(';').map((c) => c.trim());
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const refine = argValue('refine', 'none') as string;
const parse = (c: string) =>
  parseOptions('engine maskprop', maskpropEngine.options, Object.fromEntries(c ? c.split(',').map((kv) => kv.split('=')) : []));

/** Frame-only values shared across configs; each session's predictions (`maskprop:prob:`) kept apart. */
function routed(shared: FeatureStore, own: FeatureStore): FeatureStore {
  const pick = (key: string) => (key.startsWith('maskprop:prob:') ? own : shared);
  return {
    get: (i, k) => pick(k).get(i, k),
    set: (i, k, v, o) => pick(k).set(i, k, v, o),
    getOrCompute: (i, k, f, o) => pick(k).getOrCompute(i, k, f, o),
    get bytes() {
      return shared.bytes + own.bytes;
    },
    clear: () => own.clear(),
  };
}

console.log(`# maskprop sweep${refine !== 'none' ? ` + ${refine}` : ''}, ${machine()}, ${new Date().toISOString()}`);
const results: Record<string, ObjectResult[]> = {};
const times: Record<string, MaskPropTimings> = {};
for (const seq of sequences) {
  const d = await openDavis(davisRoot, seq);
  const n = d.frames.info.frameCount as number;
  const { width, height } = d.frames.info;
  const gts: Uint8Array[] = [];
  for (let t = 0; t < n; t++) gts.push((await d.annotations.read(t)).data);
  const key = await d.annotations.read(0);
  await d.frames.close();
  const shared = new BoundedFeatureStore({ maxFrames: n + 2, maxBytes: 3 * 2 ** 30 });
  for (const c of configs) {
    const timings = (times[c] ??= { backbone: 0, flow: 0, appearance: 0, network: 0, total: 0, fit: 0, frames: 0 });
    const { values, signature } = parse(c);
    const engine = createMaskPropEngine({ ...(values as MaskPropOptions), timings }, signature);
    const own = new BoundedFeatureStore({ maxFrames: 8 });
    const results_ = new Map<string, MemoryResultStore>();
    const stores: SessionStores = {
      results: (name) => {
        let s = results_.get(name);
        if (!s) results_.set(name, (s = new MemoryResultStore()));
        return s;
      },
      features: () => routed(shared, own),
      dispose: () => own.clear(),
    };
    const src = (await openDavis(davisRoot, seq)).frames;
    const session = new PropagationSession(src, { task: 'mask', engine, stores, refine });
    session.addKeyframe(0, { mask: key });
    const preds: Array<Uint8Array | undefined> = new Array(n);
    for await (const r of session.propagate({ direction: 'forward' })) preds[r.index] = r.labels?.data;
    await session.dispose();
    const e = evaluateSequence2016(preds, gts, width, height, { name: seq });
    (results[c] ??= []).push(e);
    console.log(
      `${seq.padEnd(15)} [${c || 'defaults'}] J ${e.J.mean.toFixed(3)} F ${e.F.mean.toFixed(3)} J-decay ${e.J.decay.toFixed(3)} F-decay ${e.F.decay.toFixed(3)}`,
    );
  }
  shared.clear();
}
const mean = (es: ObjectResult[], f: (e: ObjectResult) => number) =>
  es.length ? es.reduce((a, e) => a + f(e), 0) / es.length : Number.NaN;
console.log('\nconfig | fold A J / F | fold B J / F | all J / F / J-decay / F-decay | ms/frame backbone, flow, appearance, total');
for (const c of configs) {
  const es = results[c];
  const a = es.filter((e) => FOLD_A.includes(e.sequence));
  const b = es.filter((e) => !FOLD_A.includes(e.sequence));
  const t = times[c];
  const per = (v: number) => (v / Math.max(1, t.frames)).toFixed(0);
  console.log(
    `${c || 'defaults'} | ${mean(a, (e) => e.J.mean).toFixed(3)} / ${mean(a, (e) => e.F.mean).toFixed(3)} | ${mean(b, (e) => e.J.mean).toFixed(3)} / ${mean(b, (e) => e.F.mean).toFixed(3)} | ${mean(es, (e) => e.J.mean).toFixed(3)} / ${mean(es, (e) => e.F.mean).toFixed(3)} / ${mean(es, (e) => e.J.decay).toFixed(3)} / ${mean(es, (e) => e.F.decay).toFixed(3)} | ${per(t.backbone)}, ${per(t.flow)}, ${per(t.appearance)}, ${per(t.total)}`,
  );
}
const out = argValue('json');
if (out)
  writeFileSync(out, JSON.stringify({ configs, refine, machine: machine(), date: new Date().toISOString(), results, times }, null, 2));
