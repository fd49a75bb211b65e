/**
 * DAVIS-2016 dev-10, official semi-supervised protocol: frame 0's mask given, every other frame
 * predicted, J and F on frames 1..N-2 (ANCHORS §1.3), per sequence and averaged over sequences.
 *
 *   node --import tsx bench/davis-masks.ts --engine bilateral[:option=value...] [--refine crf] [--variant pixel]
 *        [--sequences blackswan,dog] [--fold-models stpn-mask] [--per-frame-root DIR] [--json out.json]
 *
 * Memory selection (MSN): `--memory selected --top-k K [--pool-cap N] [--joint] --msn PREFIX` scores
 * guides with the selector pair `training/models/PREFIX-fold{A,B}` (fold rule as below; `--msn
 * bundled` for the bundled one) and propagates from the top K (an ensemble merged n-way, or with
 * `--joint` one prediction from the K guides).
 *
 * `--fold-models PREFIX` (learned engines): fold A (blackswan, bmx-trees, breakdance, camel,
 * car-roundabout) is scored with `training/models/PREFIX-foldA` (trained on fold B), fold B with
 * `-foldB`, so no sequence is scored by a model that saw it. `--per-frame-root DIR` gives engines
 * that take per-frame estimates (vpn, flowgru) `perFrameDir` = DIR/<sequence> (scripts/export-per-frame.ts).
 * `--fold-stage1 PREFIX` (vpn's second stage): option `stage1` = the same fold's `PREFIX-fold{A,B}`
 * (with `--fold-models vpn-mask-s2 --fold-stage1 vpn-mask`, fold A runs vpn-mask-foldA then
 * vpn-mask-s2-foldA, both trained on fold B).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../src/engines/index.js';
import { aggregate2016, evaluateSequence2016, type ObjectResult } from '../src/metrics/davis.js';
import { openVideo } from '../src/session/open.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, DEV_SEQUENCES, davisRoot, foldModel, hasFlag, MemoryFlags, machine, parseEngineSpec, requireShared } from './common.js';

requireShared('davis');
const engineSpec = argValue('engine', 'bilateral') as string;
const { name: engineName, options: specOptions } = parseEngineSpec(engineSpec);
const refine = argValue('refine', 'none');
const variant = argValue('variant');
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
const engineOptions: Record<string, unknown> = { ...specOptions, ...(variant ? { variant } : {}) };
const foldModels = argValue('fold-models');
const perFrameRoot = argValue('per-frame-root');
const foldStage1 = argValue('fold-stage1');
const optionsFor = (seq: string) => ({
  ...engineOptions,
  ...(foldModels ? { model: foldModel(foldModels, seq) } : {}),
  ...(foldStage1 ? { stage1: foldModel(foldStage1, seq) } : {}),
  ...(perFrameRoot ? { perFrameDir: join(perFrameRoot, seq) } : {}),
});

const memoryFlags = new MemoryFlags('mask');

const entries: ObjectResult[] = [];
const timing: Record<string, number> = {};
console.log(
  `# ${engineSpec}${variant ? ` (${variant})` : ''}${foldModels ? ` (fold models ${foldModels}-fold{A,B})` : ''}${foldStage1 ? ` (stage 1 ${foldStage1}-fold{A,B})` : ''}${refine === 'crf' ? ' + CRF' : ''}${memoryFlags.describe()} on DAVIS-2016 dev, ${machine()}, ${new Date().toISOString()}`,
);
for (const seq of sequences) {
  const d = await openDavis(davisRoot, seq);
  const n = d.frames.info.frameCount as number;
  const { width, height } = d.frames.info;
  const session = await openVideo(d.frames, {
    task: 'mask',
    engine: createEngine(engineName, optionsFor(seq)),
    memoryFrames: 12,
    refine,
    guides: await memoryFlags.guidesFor(seq),
  });
  session.addKeyframe(0, { mask: await d.annotations.read(0) });
  const preds: Array<Uint8Array | undefined> = new Array(n);
  const started = performance.now();
  for await (const r of session.propagate({ direction: 'forward' })) {
    preds[r.index] = r.labels!.data;
  }
  const seconds = (performance.now() - started) / 1000;
  await session.dispose();
  const gts: Uint8Array[] = [];
  for (let t = 0; t < n; t++) gts.push((await d.annotations.read(t)).data);
  const e = evaluateSequence2016(preds, gts, width, height, { name: seq });
  entries.push(e);
  timing[seq] = ((n - 1) * 1000) / (seconds * 1000);
  console.log(
    `${seq.padEnd(16)} J ${e.J.mean.toFixed(3)}  F ${e.F.mean.toFixed(3)}  J-decay ${e.J.decay.toFixed(3)}  F-decay ${e.F.decay.toFixed(3)}  ${timing[seq].toFixed(2)} fps`,
  );
}
const s = aggregate2016(entries);
console.log(
  `${'mean'.padEnd(16)} J ${s.J.mean.toFixed(3)}  F ${s.F.mean.toFixed(3)}  J-decay ${s.J.decay.toFixed(3)}  F-decay ${s.F.decay.toFixed(3)}  J&F ${s.JF.toFixed(3)}`,
);
const out = argValue('json');
if (out)
  writeFileSync(
    out,
    JSON.stringify(
      {
        engine: engineSpec,
        variant,
        refine,
        foldModels,
        foldStage1,
        memory: memoryFlags.memory,
        topK: memoryFlags.topK,
        poolCap: memoryFlags.poolCap,
        msn: memoryFlags.memory === 'selected' ? memoryFlags.msn : undefined,
        machine: machine(),
        date: new Date().toISOString(),
        summary: s,
        entries,
        fps: timing,
      },
      null,
      2,
    ),
  );
if (hasFlag('quiet')) process.exit(0);
