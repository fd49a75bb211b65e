/**
 * GRFP (flowgru) accuracy: does fusing a per-frame estimate with the flow-warped recurrent state
 * beat the per-frame estimate itself? On held-apart synthetic scenes and on DAVIS-2016 dev-10.
 *
 *   node --import tsx bench/grfp.ts [--suite synth|davis|all] [--weights init,trained]
 *        [--flows dis,farneback] [--scenes 6] [--first-seed 9000] [--frames 30] [--size 256x192]
 *        [--variants labels-exact,labels-shared,masks] [--davis-inputs sim,bilateral]
 *        [--sequences a,b] [--fold-models same|sim|bilateral] [--json out.json]
 *
 * Every mode runs the shipped path: a session (`openVideo`) with the flowgru engine, given the
 * per-frame estimates as its `perFrame` option (flow and warping in TypeScript, the STGRU cell in
 * ONNX Runtime); flows are shared between the sessions of one clip (they depend on the frames only).
 * Modes:
 * - perframe   the per-frame input x_t alone (argmax)
 * - grfp-w5    GRFP's protocol (ANCHORS §8.3): no ground truth anywhere (a session without
 *              key-frames, window 5); for each frame t the cell runs over frames t-4..t starting
 *              from softmax(x_{t-4})
 * - grfp-seq   no ground truth, no window; the recurrence runs over the whole clip from softmax(x_0)
 * - kf-fwd     key-frame 0's ground truth as the initial state, forward (the engine in a session)
 * - kf-both    key-frames 0 and T-1, forward and backward passes merged by temporal distance
 *              (synthetic only; DAVIS-2016's protocol gives frame 0 alone)
 * - kf-both-gate  the same, each pass also weighted by the product of its reset gates (the
 *              engine's `confidence: 'gate'`)
 * Frames scored: 1..T-2 (never a key-frame). Synthetic: mIoU over all scored frames of all scenes,
 * temporal consistency (TC) along the exact backward flow, occluded pixels excluded; masks also
 * mean J per object. DAVIS: J and F (2016 protocol) at 854x480 from probabilities computed at
 * 427x240 (bilinear upsampling, as the session does), TC at 427x240 along DIS flow (the same flow
 * the DIS runs warp with, so their TC is favoured; the Farneback runs are independent of it), with
 * the ground truth's TC as the ceiling.
 * Weights: 'trained' = the bundled models (src/models/weights), for DAVIS the fold models
 * training/models/grfp-mask-davis-fold{A,B}.onnx (input sim) and
 * grfp-mask-davis-bilateral-fold{A,B}.onnx (input bilateral), each trained on synthetic scenes and
 * the other fold with the same kind of per-frame input, never on the sequences it scores;
 * 'init' = the stated initialisation (training/models/grfp-*-init.onnx).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabelImage, PropertyMap, RgbFrame } from '../src/core/types.js';
import { davisSimSeed, simulatePerFrame, synthSimSeed } from '../src/engines/flowgru/simulate.js';
import { BoundedFeatureStore, type FeatureStore } from '../src/memory/features.js';
import { evaluateSequence2016, jaccard } from '../src/metrics/davis.js';
import { confusion, meanIoU, temporalConsistency } from '../src/metrics/labels.js';
import { bundledModelPath, loadModel, type OnnxModel } from '../src/models/index.js';
import { computeFlow } from '../src/ops/flow.js';
import { resizeBilinearInterleavedU8, resizeBilinearPlanar, resizeNearestU8 } from '../src/ops/resize.js';
import { openVideo } from '../src/session/open.js';
import { memoryStores, type SessionStores } from '../src/session/stores.js';
import { createScene } from '../src/synth/index.js';
import { probabilitiesToLabels } from '../src/tasks/maps.js';
import { hash3 } from '../src/util/rng.js';
import { openDavis } from '../src/video/davis.js';
import { sourceFromRenderer } from '../src/video/memory.js';
import { argValue, DEV_SEQUENCES, davisRoot, FOLD_A, machine, projectRoot } from './common.js';

type FlowName = 'dis' | 'farneback';
type Mode = 'perframe' | 'grfp-w5' | 'grfp-seq' | 'kf-fwd' | 'kf-both' | 'kf-both-gate';

const suite = argValue('suite', 'all') as string;
const weightsList = (argValue('weights', 'init,trained') as string).split(',');
const flows = (argValue('flows', 'dis,farneback') as string).split(',') as FlowName[];
for (const f of flows) if (f !== 'dis' && f !== 'farneback') throw new Error(`--flows: unknown backend ${f} (dis, farneback)`);
const nScenes = Number(argValue('scenes', '6'));
const firstSeed = Number(argValue('first-seed', '9000'));
const nFrames = Number(argValue('frames', '30'));
const [SW, SH] = (argValue('size', '256x192') as string).split('x').map(Number);
const variants = (argValue('variants', 'labels-exact,labels-shared,masks') as string).split(',');
const davisInputs = (argValue('davis-inputs', 'sim,bilateral') as string).split(',');
const sequences = (argValue('sequences') ?? DEV_SEQUENCES.join(',')).split(',');
// DAVIS fold models: 'same' (default) = trained with the kind of per-frame input they are scored
// on; 'sim' or 'bilateral' = always those (to see what training on the other engine's output buys).
const foldModels = argValue('fold-models', 'same') as string;
const cacheDir = join(projectRoot, 'training', 'data-cache');

const results: Array<Record<string, unknown>> = [];
const log = (s: string) => console.log(s);

// ------------------------------------------------------------------------------------------------
// Models

const modelCache = new Map<string, Promise<OnnxModel>>();
function model(path: string): Promise<OnnxModel> {
  let m = modelCache.get(path);
  if (!m) {
    m = loadModel(path, { threads: 2 });
    modelCache.set(path, m);
  }
  return m;
}
const initPath = (file: string) => join(projectRoot, 'training', 'models', file.replace('.onnx', '-init.onnx'));
async function modelPath(variant: string, weights: string, davisFold?: 'A' | 'B', davisInput?: string): Promise<string> {
  const file =
    variant === 'labels-exact'
      ? 'grfp-labels-exact-c6.onnx'
      : variant === 'labels-shared'
        ? 'grfp-labels-shared.onnx'
        : 'grfp-mask-shared.onnx';
  if (weights === 'init') return initPath(file);
  // DAVIS: the fold model trained with the same kind of per-frame input (sim: corrupted ground
  // truth; bilateral: the bilateral engine's output) on the other fold.
  if (davisFold)
    return join(
      projectRoot,
      'training',
      'models',
      `grfp-mask-davis-${davisInput === 'bilateral' ? 'bilateral-' : ''}fold${davisFold}.onnx`,
    );
  return bundledModelPath(file);
}

// ------------------------------------------------------------------------------------------------
// One clip through every mode, each mode a session with the flowgru engine

interface Clip {
  /** Distinguishes clips in the shared flow store. */
  key: string;
  task: 'mask' | 'labels';
  rgb: RgbFrame[];
  gt: LabelImage[];
  C: number;
  perFrame: Float32Array[];
}

/**
 * A feature store whose optical flows live in a store shared by every session over one clip (a
 * flow depends on the two frames and the backend only, and the engine keys it so); everything
 * else (per-frame estimates, images) stays with the session.
 */
class SharedFlowStore implements FeatureStore {
  private readonly own = new BoundedFeatureStore();
  constructor(private readonly shared: BoundedFeatureStore) {}
  private pick(key: string): BoundedFeatureStore {
    return key.startsWith('flowgru:flow') ? this.shared : this.own;
  }
  get<T>(index: number, key: string): T | undefined {
    return this.pick(key).get<T>(index, key);
  }
  set<T>(index: number, key: string, value: T): T {
    return this.pick(key).set(index, key, value);
  }
  getOrCompute<T>(index: number, key: string, compute: () => T): T {
    return this.pick(key).getOrCompute(index, key, compute);
  }
  get bytes(): number {
    return this.own.bytes + this.shared.bytes;
  }
  clear(): void {
    this.own.clear();
  }
}

const flowStores = new Map<string, BoundedFeatureStore>();
function storesFor(clip: Clip): SessionStores {
  let shared = flowStores.get(clip.key);
  if (!shared) {
    shared = new BoundedFeatureStore({ maxBytes: 4 * 2 ** 30, maxFrames: Number.POSITIVE_INFINITY });
    flowStores.set(clip.key, shared);
  }
  const base = memoryStores();
  const features = new SharedFlowStore(shared);
  return { results: (name) => base.results(name), features: () => features, dispose: () => base.dispose() };
}

async function runModes(clip: Clip, m: OnnxModel, flow: FlowName, modes: readonly Mode[]): Promise<Map<Mode, Float32Array[]>> {
  const T = clip.rgb.length;
  const { C } = clip;
  const W = clip.rgb[0].width;
  const H = clip.rgb[0].height;
  const out = new Map<Mode, Float32Array[]>();
  for (const mode of modes) {
    if (mode === 'perframe') {
      out.set(mode, clip.perFrame);
      continue;
    }
    const session = await openVideo(
      sourceFromRenderer(T, (t) => clip.rgb[t]),
      {
        task: clip.task,
        engine: 'flowgru',
        engineOptions: {
          perFrame: async (t: number): Promise<PropertyMap> => ({ width: W, height: H, channels: C, data: clip.perFrame[t] }),
          model: m,
          flow,
          window: mode === 'grfp-w5' ? 5 : undefined,
          confidence: mode === 'kf-both-gate' ? 'gate' : 'none',
        },
        stores: storesFor(clip),
        // Every channel from the start: the objects (or classes) of the clip, whether or not frame 0 shows them.
        objects: clip.task === 'mask' ? Array.from({ length: C - 1 }, (_, k) => k + 1) : undefined,
        classes: clip.task === 'labels' ? C : undefined,
        allowEmpty: true,
      },
    );
    const keyframes = mode === 'kf-fwd' ? [0] : mode === 'kf-both' || mode === 'kf-both-gate' ? [0, T - 1] : [];
    for (const k of keyframes) session.addKeyframe(k, clip.task === 'mask' ? { mask: clip.gt[k] } : { labels: clip.gt[k] });
    const maps: Float32Array[] = new Array(T);
    for await (const r of session.propagate({ direction: keyframes.length > 1 ? 'both' : 'forward' })) {
      if (r.property.channels !== C) throw new Error(`${clip.key} ${mode}: ${r.property.channels} channels, expected ${C}`);
      maps[r.index] = r.property.data;
    }
    await session.dispose();
    out.set(mode, maps);
  }
  return out;
}

const argmax = (p: Float32Array, C: number, W: number, H: number) =>
  probabilitiesToLabels({ width: W, height: H, channels: C, data: p }).data;

// ------------------------------------------------------------------------------------------------
// Synthetic suite

interface Acc {
  conf: Float64Array;
  tcAgree: number;
  tcCount: number;
  jSum: number;
  jCount: number;
}

async function synthSuite(): Promise<void> {
  const synthModes: Mode[] = ['perframe', 'grfp-w5', 'grfp-seq', 'kf-fwd', 'kf-both', 'kf-both-gate'];
  log(
    `\n## Synthetic: ${nScenes} held-apart scenes (seeds ${firstSeed}..${firstSeed + nScenes - 1}), ${SW}x${SH}, ${nFrames} frames; frames 1..${nFrames - 2} scored`,
  );
  for (const variant of variants) {
    const task = variant.startsWith('labels') ? 'labels' : 'masks';
    for (const flow of flows) {
      for (const weights of weightsList) {
        const path = await modelPath(variant, weights);
        if (!existsSync(path)) {
          log(`(skipped ${variant}/${weights}: ${path} missing)`);
          continue;
        }
        const m = await model(path);
        const acc = new Map<Mode, Acc>();
        let gtAgree = 0;
        let gtCount = 0;
        const started = performance.now();
        for (let k = 0; k < nScenes; k++) {
          const seed = firstSeed + k;
          const objects = 2 + (hash3(seed, 1, 0) % 5);
          const speed = 0.7 + ((hash3(seed, 2, 0) % 1000) / 1000) * 1.5;
          const scene = createScene({ seed, width: SW, height: SH, frames: nFrames, objects, classes: 6, speed });
          const frames = Array.from({ length: nFrames }, (_, t) => scene.render(t));
          const C = task === 'labels' ? 6 : objects + 1;
          const gt = frames.map((f) => (task === 'labels' ? f.classes : f.labels));
          const perFrame = gt.map((g, t) => simulatePerFrame(g, C, t, { seed: synthSimSeed(seed, task) }).data);
          const rgb = frames.map((f) => f.rgb);
          const maps = await runModes(
            { key: `scene${seed}`, task: task === 'labels' ? 'labels' : 'mask', rgb, gt, C, perFrame },
            m,
            flow,
            synthModes,
          );
          for (const [mode, ps] of maps) {
            const K = task === 'labels' ? 6 : 7; // masks: up to 6 objects + background
            let a = acc.get(mode);
            if (!a) {
              a = { conf: new Float64Array(K * K), tcAgree: 0, tcCount: 0, jSum: 0, jCount: 0 };
              acc.set(mode, a);
            }
            let prevLabels: Uint8Array | undefined;
            for (let t = 1; t <= nFrames - 2; t++) {
              const lab = argmax(ps[t], C, SW, SH);
              confusion(lab, gt[t].data, K, 255, a.conf);
              if (task === 'masks') {
                for (let o = 1; o < C; o++) {
                  a.jSum += jaccard(
                    lab.map((v) => (v === o ? 1 : 0)),
                    gt[t].data.map((v) => (v === o ? 1 : 0)),
                    SW,
                    SH,
                  );
                  a.jCount++;
                }
              }
              if (prevLabels) {
                const valid = frames[t].occlusion.map((v) => 1 - v);
                const tc = temporalConsistency(prevLabels, lab, frames[t].flow, SW, SH, { valid });
                a.tcAgree += tc.agree;
                a.tcCount += tc.counted;
                if (mode === 'perframe') {
                  const g = temporalConsistency(gt[t - 1].data, gt[t].data, frames[t].flow, SW, SH, { valid });
                  gtAgree += g.agree;
                  gtCount += g.counted;
                }
              }
              prevLabels = lab;
            }
          }
        }
        const secs = (performance.now() - started) / 1000;
        log(`\n### ${variant} (${task}), flow ${flow}, ${weights} weights (${path.replace(`${projectRoot}/`, '')}), ${secs.toFixed(0)} s`);
        log(`| mode | mIoU | TC | ${task === 'masks' ? 'J (per object) |' : ''}`);
        log(`|---|---|---|${task === 'masks' ? '---|' : ''}`);
        for (const [mode, a] of acc) {
          const K = Math.round(Math.sqrt(a.conf.length));
          const row = {
            suite: 'synth',
            variant,
            task,
            flow,
            weights,
            mode,
            mIoU: meanIoU(a.conf, K),
            tc: a.tcAgree / a.tcCount,
            J: a.jCount ? a.jSum / a.jCount : undefined,
          };
          results.push(row);
          log(`| ${mode} | ${row.mIoU.toFixed(4)} | ${row.tc.toFixed(4)} | ${row.J !== undefined ? `${row.J.toFixed(4)} |` : ''}`);
        }
        log(`| ground truth | 1 | ${(gtAgree / gtCount).toFixed(4)} |${task === 'masks' ? ' 1 |' : ''}`);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------
// DAVIS suite

async function davisSuite(): Promise<void> {
  if (!existsSync(davisRoot)) {
    log('(DAVIS suite skipped: ../shared/data/davis is absent)');
    return;
  }
  const davisModes: Mode[] = ['perframe', 'grfp-w5', 'grfp-seq', 'kf-fwd'];
  const WW = 427;
  const HH = 240;
  log(`\n## DAVIS-2016 dev-10 (${sequences.length} sequences), work size ${WW}x${HH}, J/F at 854x480, frames 1..N-2 scored`);
  // Per sequence: frames, ground truth, TC flow (DIS at full size), computed once.
  interface Seq {
    name: string;
    rgb: RgbFrame[];
    gtSmall: LabelImage[];
    gtFull: Uint8Array[];
    /** DIS flow t → t-1 at the work size, int16 × 64 (memory). */
    tcFlow: Int16Array[];
    W0: number;
    H0: number;
  }
  const seqs: Seq[] = [];
  for (const name of sequences) {
    const d = await openDavis(davisRoot, name);
    const T = d.frames.info.frameCount as number;
    const { width: W0, height: H0 } = d.frames.info;
    const rgb: RgbFrame[] = [];
    const gtSmall: LabelImage[] = [];
    const gtFull: Uint8Array[] = [];
    const tcFlow: Int16Array[] = [];
    for (let t = 0; t < T; t++) {
      const f = await d.frames.frame(t);
      rgb.push({ width: WW, height: HH, data: resizeBilinearInterleavedU8(f.data, 3, W0, H0, WW, HH) });
      const m = await d.annotations.read(t);
      gtFull.push(m.data);
      gtSmall.push({ width: WW, height: HH, data: resizeNearestU8(m.data, W0, H0, WW, HH) });
      tcFlow.push(
        t > 0
          ? Int16Array.from((await computeFlow(rgb[t - 1], rgb[t], { backend: 'dis' })).flow, (v) => Math.round(v * 64))
          : new Int16Array(0),
      );
    }
    seqs.push({ name, rgb, gtSmall, gtFull, tcFlow, W0, H0 });
  }
  for (const flow of flows) {
    flowStores.clear();
    for (const input of davisInputs) {
      const perFrameMemo = new Map<string, Float32Array[]>();
      for (const weights of weightsList) {
        const perMode = new Map<Mode, { J: number[]; F: number[]; agree: number; count: number }>();
        let gtAgree = 0;
        let gtCount = 0;
        let skipped = '';
        const started = performance.now();
        for (const s of seqs) {
          const fold = FOLD_A.includes(s.name) ? 'A' : 'B';
          const path = await modelPath(
            'masks',
            weights,
            weights === 'trained' ? fold : undefined,
            foldModels === 'same' ? input : foldModels,
          );
          if (!existsSync(path)) {
            skipped = `${path} missing`;
            break;
          }
          const T = s.rgb.length;
          let perFrame: Float32Array[] | undefined = perFrameMemo.get(s.name);
          if (perFrame) {
            // computed for the previous weights
          } else if (input === 'sim') perFrame = s.gtSmall.map((g, t) => simulatePerFrame(g, 2, t, { seed: davisSimSeed(s.name) }).data);
          else {
            const file = join(cacheDir, 'davis', s.name, `est-${input}.u8`);
            if (!existsSync(file)) {
              skipped = `${file} missing (scripts/export-grfp-data.ts davis --estimates ${input})`;
              break;
            }
            const bytes = readFileSync(file);
            perFrame = Array.from({ length: T }, (_, t) =>
              Float32Array.from(bytes.subarray(t * 2 * WW * HH, (t + 1) * 2 * WW * HH), (v) => v / 255),
            );
          }
          perFrameMemo.set(s.name, perFrame);
          const maps = await runModes(
            { key: s.name, task: 'mask', rgb: s.rgb, gt: s.gtSmall, C: 2, perFrame },
            await model(path),
            flow,
            davisModes,
          );
          for (const [mode, ps] of maps) {
            let a = perMode.get(mode);
            if (!a) {
              a = { J: [], F: [], agree: 0, count: 0 };
              perMode.set(mode, a);
            }
            const preds: Array<Uint8Array | undefined> = [];
            let prevLabels: Uint8Array | undefined;
            for (let t = 0; t < T; t++) {
              preds.push(argmax(resizeBilinearPlanar(ps[t], 2, WW, HH, s.W0, s.H0), 2, s.W0, s.H0));
              const lab = argmax(ps[t], 2, WW, HH);
              if (t >= 2 && t <= T - 2 && prevLabels) {
                const fl = Float32Array.from(s.tcFlow[t], (v) => v / 64);
                const tc = temporalConsistency(prevLabels, lab, fl, WW, HH);
                a.agree += tc.agree;
                a.count += tc.counted;
                if (mode === 'perframe') {
                  const g = temporalConsistency(s.gtSmall[t - 1].data, s.gtSmall[t].data, fl, WW, HH);
                  gtAgree += g.agree;
                  gtCount += g.counted;
                }
              }
              prevLabels = lab;
            }
            const e = evaluateSequence2016(preds, s.gtFull, s.W0, s.H0, { name: s.name });
            a.J.push(e.J.mean);
            a.F.push(e.F.mean);
          }
        }
        if (skipped) {
          log(`(skipped DAVIS input ${input}, ${weights}: ${skipped})`);
          continue;
        }
        const secs = (performance.now() - started) / 1000;
        const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
        log(
          `\n### DAVIS, per-frame input ${input}, flow ${flow}, ${weights} weights${weights === 'trained' ? ` (2-fold: each sequence scored by the model trained without its fold, on ${foldModels === 'same' ? input : foldModels} per-frame input)` : ''}, ${secs.toFixed(0)} s`,
        );
        log('| mode | J mean | F mean | J&F | TC (DIS flow, 427x240) |');
        log('|---|---|---|---|---|');
        for (const [mode, a] of perMode) {
          const row = { suite: 'davis', input, flow, weights, mode, J: mean(a.J), F: mean(a.F), tc: a.agree / a.count, perSequenceJ: a.J };
          results.push(row);
          log(`| ${mode} | ${row.J.toFixed(4)} | ${row.F.toFixed(4)} | ${((row.J + row.F) / 2).toFixed(4)} | ${row.tc.toFixed(4)} |`);
        }
        log(`| ground truth | 1 | 1 | 1 | ${(gtAgree / gtCount).toFixed(4)} |`);
      }
    }
  }
}

log(`# GRFP / flowgru bench, ${machine()}, ${new Date().toISOString()}`);
if (suite === 'synth' || suite === 'all') await synthSuite();
if (suite === 'davis' || suite === 'all') await davisSuite();
const out = argValue('json');
if (out)
  writeFileSync(out, JSON.stringify({ machine: machine(), date: new Date().toISOString(), argv: process.argv.slice(2), results }, null, 1));
for (const m of modelCache.values()) await (await m).release();
