/**
 * DenseCRF tuned on the dev folds (issue 10, ANCHORS §6.4): a grid over the appearance kernel
 * (bilateral sxy, srgb, compat; the smoothness kernel and 5 iterations as pydensecrf's demo) run
 * on an engine's saved probabilities (scripts/export-per-frame.ts; the CRF is a post-process, it
 * does not feed the propagation, so saved probabilities give the same results as `--refine crf`).
 *
 * For each fold, the setting is chosen on the OTHER fold (every `--every`-th frame of frames
 * 1..T-2, best mean of J and F; "no CRF" is a candidate, so the CRF is applied only where it
 * helped on the other fold) and the fold is then scored on all frames 1..T-2 by the official
 * DAVIS-2016 evaluation (ANCHORS §1.3; J, F, J decay) without CRF, with the untuned demo setting
 * (sxy 80, srgb 13, compat 10) and with the tuned one.
 *
 *   node --import tsx bench/crf-tune.ts --per-frame-root training/data-cache/per-frame/maskprop \
 *        [--every 8] [--sxy 30,50,80] [--srgb 5,10,15] [--compat 3,5,10] [--json out.json]
 *   … --no-crf   scores the saved probabilities alone (the engine's figures, no tuning)
 *   … --fold A|B  one fold only (run the two in parallel)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PropertyMap, RgbFrame } from '../src/core/types.js';
import { readNpy } from '../src/formats/npy.js';
import { boundaryF, evaluateSequence2016, jaccard } from '../src/metrics/davis.js';
import { probabilitiesToLabels } from '../src/tasks/maps.js';
import { type CrfSettings, refineWithCrf } from '../src/tasks/refine.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, DEV_SEQUENCES, davisRoot, FOLD_A, hasFlag, machine, requireShared } from './common.js';

requireShared('davis');
const root = argValue('per-frame-root');
if (!root) throw new Error('crf-tune: give --per-frame-root DIR (made by scripts/export-per-frame.ts)');
const every = Number(argValue('every', '8'));
const noCrf = hasFlag('no-crf');
const list = (name: string, fallback: string) => (argValue(name, fallback) as string).split(',').map(Number);
const grid: CrfSettings[] = [];
for (const sxy of list('sxy', '30,50,80'))
  for (const srgb of list('srgb', '5,10,15'))
    for (const compat of list('compat', '3,5,10')) grid.push({ bilateral: { sxy, srgb, compat } });
const DEMO: CrfSettings = { bilateral: { sxy: 80, srgb: 13, compat: 10 } };
const label = (s: CrfSettings | null) => (s ? `sxy ${s.bilateral?.sxy} srgb ${s.bilateral?.srgb} w ${s.bilateral?.compat}` : 'no CRF');

interface Frame {
  seq: string;
  t: number;
  frame: RgbFrame;
  prob: PropertyMap;
  gt: Uint8Array;
}

async function loadFrames(seq: string, pick: (t: number, T: number) => boolean): Promise<Frame[]> {
  const d = await openDavis(davisRoot, seq);
  const T = d.frames.info.frameCount as number;
  const out: Frame[] = [];
  for (let t = 1; t < T - 1; t++) {
    if (!pick(t, T)) continue;
    const npy = await readNpy(join(root as string, seq, `${String(t).padStart(5, '0')}.npy`));
    const [C, H, W] = npy.shape;
    const frame = (await d.frames.frame(t)) as RgbFrame;
    const gt = (await d.annotations.read(t)).data;
    out.push({ seq, t, frame, prob: { width: W, height: H, channels: C, data: Float32Array.from(npy.data) }, gt });
  }
  return out;
}

function labels(f: Frame, s: CrfSettings | null): Uint8Array {
  const p = s ? refineWithCrf(f.prob, f.frame, s) : f.prob;
  // The session's argmax, every object channel mapped to 1 (DAVIS-2016 has one object).
  return probabilitiesToLabels(
    p,
    Uint8Array.from({ length: p.channels }, (_, c) => (c > 0 ? 1 : 0)),
  ).data;
}

function score(f: Frame, s: CrfSettings | null): { J: number; F: number } {
  const pred = labels(f, s);
  const gt = f.gt.map((v) => (v > 0 ? 1 : 0));
  const { width: W, height: H } = f.prob;
  return { J: jaccard(pred, gt, W, H), F: boundaryF(pred, gt, W, H).F };
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
console.log(`# DenseCRF tuned per fold on ${root}, ${machine()}, ${new Date().toISOString()}`);
console.log(`# grid: ${grid.length} settings, tuning frames every ${every}; smoothness kernel sxy 3 compat 3, 5 iterations`);
const report: Record<string, unknown> = {};
const rows: string[] = [];
const folds = argValue('fold') ? [argValue('fold') as string] : ['A', 'B'];
for (const fold of folds) {
  const scored = DEV_SEQUENCES.filter((s) => FOLD_A.includes(s) === (fold === 'A'));
  const tuneOn = DEV_SEQUENCES.filter((s) => !scored.includes(s));
  const tuning: Frame[] = [];
  if (!noCrf) for (const seq of tuneOn) tuning.push(...(await loadFrames(seq, (t) => t % every === 0)));
  let best: { s: CrfSettings; v: number } | undefined;
  const sweep: Array<{ setting: string; J: number; F: number }> = [];
  for (const s of noCrf ? [] : grid) {
    const r = tuning.map((f) => score(f, s));
    const J = mean(r.map((x) => x.J));
    const F = mean(r.map((x) => x.F));
    sweep.push({ setting: label(s), J, F });
    if (!best || (J + F) / 2 > best.v) best = { s, v: (J + F) / 2 };
  }
  const none = mean(tuning.map((f) => score(f, null)).map((x) => (x.J + x.F) / 2));
  // "Applied where it helps": no CRF is a candidate too; when no setting beats it on the tuning
  // frames, the fold is scored without CRF.
  const chosen = best && best.v > none ? best.s : null;
  if (best)
    console.log(
      `fold ${fold}: tuned on ${tuneOn.join(', ')} (${tuning.length} frames): ${label(chosen)} (best setting ${label(best.s)}: J&F ${best.v.toFixed(4)}; no CRF ${none.toFixed(4)})`,
    );
  for (const seq of scored) {
    // The official DAVIS-2016 evaluation (frames 1..T-2; J, F and their decay), as bench/davis-masks.ts.
    const frames = await loadFrames(seq, () => true);
    const T = frames.length + 2;
    const gts: Uint8Array[] = new Array(T).fill(new Uint8Array(frames[0].gt.length));
    for (const f of frames) gts[f.t] = f.gt.map((v) => (v > 0 ? 1 : 0));
    const res: Record<string, { J: number; F: number; decayJ: number }> = {};
    const settings: Array<[string, CrfSettings | null]> = noCrf
      ? [['none', null]]
      : [
          ['none', null],
          ['demo', DEMO],
          ['tuned', chosen],
        ];
    for (const [name, s] of settings) {
      const preds: Uint8Array[] = [...gts];
      for (const f of frames) preds[f.t] = labels(f, s);
      const r = evaluateSequence2016(preds, gts, frames[0].prob.width, frames[0].prob.height, { name: seq });
      res[name] = { J: r.J.mean, F: r.F.mean, decayJ: r.J.decay };
    }
    report[seq] = { fold, setting: label(chosen), ...res };
    const cell = (k: string) => (res[k] ? `${res[k].J.toFixed(3)} / ${res[k].F.toFixed(3)} / ${res[k].decayJ.toFixed(3)}` : '—');
    const row = `| ${seq} | ${fold} | ${cell('none')} | ${cell('demo')} | ${cell('tuned')} |`;
    rows.push(row);
    console.log(row);
  }
  report[`sweep-${fold}`] = sweep;
}
const seqs = DEV_SEQUENCES.filter((s) => report[s]).map((s) => report[s] as Record<string, { J: number; F: number; decayJ: number }>);
const m = (k: string, q: 'J' | 'F' | 'decayJ') => (seqs[0][k] ? mean(seqs.map((r) => r[k][q])).toFixed(3) : '—');
console.log('| sequence | fold | no CRF: J / F / J decay | demo CRF | tuned CRF |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
const all = (k: string) => (seqs[0][k] ? `${m(k, 'J')} / ${m(k, 'F')} / ${m(k, 'decayJ')}` : '—');
console.log(`| **mean** | | ${all('none')} | ${all('demo')} | ${all('tuned')} |`);
const json = argValue('json');
if (json) writeFileSync(json, JSON.stringify(report, null, 1));
