/**
 * Mask propagation (issue 10; ANCHORS §6: MaskTrack / "Mask Propagation Network") as a vprop
 * engine for masks with any number of objects.
 *
 * Per target frame t, from the previous frame g of the pass (given or predicted), at a working
 * size of at most `maxSize` on the longer side (the result is resized back bilinearly):
 *   F     = computeFlow(g, t)                      backward flow t → g (DIS or Farnebäck)
 *   w_k   = warp(p_k(g), F)                        object k's probability carried to t (zeros
 *                                                   outside the frame: an object may leave)
 *   zw_k  = clamp(logit(w_k), ±L)                  L = 4 (STPN's |logit| of a one-hot key-frame)
 *   za_k  = clamp(x_t·β_k, ±L)                     the appearance model's logit (appearance.ts):
 *                                                   logistic regression on frozen MobileNetV2
 *                                                   s8 + s16 features, fitted at `fit` on the
 *                                                   key-frames, upsampled from the stride-8 cells
 *   fusion 'sum':  z_k = zw_k + weight · za_k      (a product of experts)
 *   fusion 'gate': z_k = c · zw_k + (1 − c) · za_k with c the soft forward-backward consistency
 *                  of the flow (ops/flow.ts `flowConsistency`; a second, forward flow g → t)
 *   re-detection:  when Σ w_k < redetect · (object k's key-frame area), the object is lost and
 *                  z_k = za_k inside the largest connected component of cells with za_k > 0 if that
 *                  component covers at least that area too, else −L (absent)
 *   p     = soft aggregation of z                  STM's multi-object merge (ANCHORS §5.4; the values
 *                                                   of stpn's `softAggregate`)
 * With `appearance: false` (and `model: 'none'`) the engine is the warp-only baseline (z_k = zw_k).
 * Propagation network (`model`, propnet.ts; MaskTrack's refinement): per object, a region around
 * the coarse probability, frame and probability cropped and resized, a small U-Net's logits pasted
 * back (absent outside the region). `netInput: 'warped'` (default) refines w_k and the appearance
 * logit is added to the net's (z_k = zn_k + weight · za_k); `'fused'` refines σ(z_k) after the
 * fusion above. `model: 'none'` leaves the network out (with `appearance: false`: the warp-only
 * baseline).
 * `update > 0`: every `update` frames of a pass, the cells of the prediction that are confident
 * (cell mean > 0.9 or < 0.1) join a bounded memory (the last 3 such frames, weighted together as
 * much as the key-frames) and each model is refitted from its current β (3 Newton steps). The
 * memory is per direction and restarts at each pass's key-frame (so it assumes the frames of a
 * pass are predicted in order, as the session does).
 * Defaults ('sum', weight 1, redetect 0.1, update 0, the bundled network on the warped probability)
 * and what each part buys on DAVIS-2016 dev-10: bench/RESULTS.md, "maskprop (issue 10)" sections.
 *
 * The probabilities of a prediction are kept in the feature store at the working size under its
 * result key, so the next frame warps them without a resize round trip.
 */
import { throwIfAborted } from '../../core/errors.js';
import type { PropertyMap, RgbFrame } from '../../core/types.js';
import type { FeatureStore } from '../../memory/features.js';
import { previous } from '../../memory/policy.js';
import { Backbone, type BackboneFeatures, cachedBackboneFeatures } from '../../models/backbone.js';
import { rgbToPlanar } from '../../models/tensor.js';
import { bundledModelPath } from '../../models/weights.js';
import { flowConsistency } from '../../ops/flow.js';
import { fitWithin, resizeBilinearPlanar } from '../../ops/resize.js';
import { warpBilinear } from '../../ops/warp.js';
import { MASK_LOGIT, maskLogit, softAggregate } from '../stpn/index.js';
import type { Engine, EngineRegistration, FitContext, Guide } from '../types.js';
import { cachedFlow, workingFrame } from '../working-frames.js';
import {
  balancedWeights,
  type CellFeatures,
  cellFeatures,
  cellsToPixels,
  cellTargets,
  concatSets,
  design,
  fitObject,
  largestPositiveComponent,
  type ObjectModel,
  type Standardiser,
  scoreCells,
  standardiserOf,
  type TrainingSet,
} from './appearance.js';
import { PropNet } from './propnet.js';

export interface MaskPropOptions {
  /** Fuse the online appearance model (default true); false with `model: 'none'` = the warp-only baseline. */
  readonly appearance?: boolean;
  /** How the appearance logit is fused with the warped one: 'sum' (default) or 'gate'. */
  readonly fusion?: 'sum' | 'gate';
  /** Weight of the appearance logit in the 'sum' fusion (default 1: the best J&F over DAVIS dev-10, bench/RESULTS.md). */
  readonly weight?: number;
  /** Lost-object threshold as a fraction of the key-frame area (default 0.1; 0 = no re-detection). */
  readonly redetect?: number;
  /** Refit the appearance model with confident predictions every this many frames (default 0 = never). */
  readonly update?: number;
  /** L2 penalty of the appearance model (default 0.01; features are standardised). */
  readonly lambda?: number;
  /** Optical-flow backend (default 'auto': DIS when the native addon loads, else Farnebäck). */
  readonly flow?: 'auto' | 'dis' | 'farneback';
  /** DIS preset (default 'medium'). */
  readonly preset?: 'fast' | 'medium';
  /** Longest side of the working size for flow, backbone and fusion (default 480; 0 = the session's). */
  readonly maxSize?: number;
  /**
   * Propagation network: a bundled model (default 'maskprop-propnet'), a path prefix of
   * PREFIX.onnx, or 'none'.
   */
  readonly model?: string;
  /** What the network refines: the warped probability (default 'warped') or the fused one. */
  readonly netInput?: 'fused' | 'warped';
  /** ONNX Runtime intra-op threads of the backbone and the network. */
  readonly threads?: number;
  /** When given, time spent is added here (milliseconds), for benchmarks. */
  readonly timings?: MaskPropTimings;
}

/** Cumulative time per stage of the maskprop engine (milliseconds). */
export interface MaskPropTimings {
  /** Backbone features (ONNX MobileNetV2) of targets and key-frames. */
  backbone: number;
  /** Optical flow (one backward flow per frame; plus a forward one for the 'gate' fusion). */
  flow: number;
  /** Appearance model: fitting at `fit` and online updates, cell features, scoring. */
  appearance: number;
  /** Propagation network: crops, ONNX, paste. */
  network: number;
  /** Whole predict() calls (fusion and resizing = total − backbone − flow − appearance − network). */
  total: number;
  /** Whole fit() calls (key-frame backbone features included; not part of `total`). */
  fit: number;
  frames: number;
}

export const maskpropEngine: EngineRegistration = {
  name: 'maskprop',
  description:
    'mask propagation (MaskTrack-style): the previous mask warped along DIS flow and refined by a propagation network on a region crop, fused with an online appearance model on MobileNetV2 features fitted to the key-frames, re-detection of lost objects, soft aggregation',
  tasks: ['mask'],
  options: {
    appearance: {
      type: 'boolean',
      default: true,
      description: "fuse the online appearance model (false with model 'none': the warp-only baseline)",
    },
    fusion: {
      type: 'enum',
      values: ['sum', 'gate'],
      default: 'sum',
      description: 'sum: warped logit + weight x appearance logit; gate: blend by the flow forward-backward consistency',
    },
    weight: { type: 'number', min: 0, default: 1, description: "weight of the appearance logit in the 'sum' fusion" },
    redetect: {
      type: 'number',
      min: 0,
      max: 1,
      default: 0.1,
      description: 'an object whose warped area falls below this fraction of its key-frame area is re-found by appearance (0 = off)',
    },
    update: {
      type: 'number',
      integer: true,
      min: 0,
      default: 0,
      description: 'refit the appearance model with confident predictions every this many frames (0 = never)',
    },
    lambda: { type: 'number', min: 0, default: 0.01, description: 'L2 penalty of the appearance model (standardised features)' },
    flow: { type: 'enum', values: ['auto', 'dis', 'farneback'], default: 'auto', description: 'optical-flow backend' },
    preset: { type: 'enum', values: ['fast', 'medium'], default: 'medium', description: 'DIS preset' },
    maxSize: {
      type: 'number',
      integer: true,
      min: 0,
      default: 480,
      description: 'longest side of the working size for flow, backbone and fusion (0 = the session working size; else >= 16)',
    },
    model: {
      type: 'string',
      default: 'maskprop-propnet',
      description: "propagation network: bundled 'maskprop-propnet', a path prefix of PREFIX.onnx, or 'none'",
    },
    netInput: {
      type: 'enum',
      values: ['warped', 'fused'],
      default: 'warped',
      description: 'what the network refines: the warped probability (the appearance logit is added after), or the fused one',
    },
    threads: { type: 'number', integer: true, min: 1, affectsResult: false, description: 'ONNX Runtime intra-op threads' },
    timings: {
      type: 'value',
      accepts: 'a MaskPropTimings object',
      check: (v) => typeof v === 'object' && v !== null,
      affectsResult: false,
      description: 'accumulates time per stage (benchmarks)',
    },
  },
  create: ({ values, signature }) => createMaskPropEngine(values as MaskPropOptions, signature),
};

/** Loaded backbones shared by every maskprop engine of the process, by working size and threads. */
const backbones = new Map<string, Promise<Backbone>>();
function backboneFor(maxSize: number | undefined, threads: number | undefined): Promise<Backbone> {
  const key = `${maxSize ?? 'full'}:${threads ?? ''}`;
  let p = backbones.get(key);
  if (!p) {
    p = Backbone.load({ maxSize, threads });
    p.catch(() => backbones.delete(key));
    backbones.set(key, p);
  }
  return p;
}

interface Fitted {
  readonly st: Standardiser;
  /** Per object (channel k + 1): the model, or undefined when no key-frame shows the object. */
  readonly models: Array<ObjectModel | undefined>;
  /** Per object: its key-frame training set (kept for refits). */
  readonly sets: Array<TrainingSet | undefined>;
  /** Per object: its largest key-frame area in working-size pixels. */
  readonly areas: Float64Array;
}

interface PassState {
  models: Array<ObjectModel | undefined>;
  memory: TrainingSet[][];
  count: number;
}

export function createMaskPropEngine(options: MaskPropOptions = {}, signature = 'maskprop'): Engine {
  const appearanceOn = options.appearance ?? true;
  const fusion = options.fusion ?? 'sum';
  const weight = options.weight ?? 1;
  const redetect = options.redetect ?? 0.1;
  const update = options.update ?? 0;
  const lambda = options.lambda ?? 0.01;
  const backend = options.flow ?? 'auto';
  const preset = options.preset ?? 'medium';
  const maxSize = options.maxSize ?? 480;
  if (maxSize !== 0 && maxSize < 16) throw new RangeError(`maskprop: maxSize must be 0 or >= 16, got ${maxSize}`);
  const timings = options.timings;
  const L = MASK_LOGIT;
  let fitted: Fitted | undefined;
  const passes = new Map<number, PassState>();

  const modelSpec = options.model ?? 'maskprop-propnet';
  const netInput = options.netInput ?? 'warped';
  let net: Promise<PropNet> | undefined;
  const networkOf = (): Promise<PropNet> | undefined => {
    if (modelSpec === 'none') return undefined;
    if (!net) {
      net = (async () => {
        const path = /[\\/]/.test(modelSpec) || modelSpec.endsWith('.onnx') ? modelSpec : await bundledModelPath(modelSpec);
        return PropNet.load(path, { threads: options.threads });
      })();
      net.catch(() => {
        net = undefined;
      });
    }
    return net;
  };
  const refined = async (frame: RgbFrame, coarse: Float32Array, K: number, W: number, H: number): Promise<Float32Array> => {
    const m = await (networkOf() as Promise<PropNet>);
    return timed('network', () => m.refine(rgbToPlanar(frame), coarse, K, W, H, L));
  };

  const timed = async <T>(stage: 'backbone' | 'flow' | 'appearance' | 'network', f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      if (timings) timings[stage] += performance.now() - t0;
    }
  };

  const sizeOf = (w: number, h: number) => fitWithin(w, h, maxSize === 0 ? undefined : maxSize);

  const features = async (index: number, frame: RgbFrame, store: FeatureStore): Promise<BackboneFeatures> => {
    const bb = await backboneFor(maxSize === 0 ? undefined : Math.max(16, maxSize), options.threads);
    const key = bb.key;
    if (store.get(index, key)) return cachedBackboneFeatures(store, index, frame, bb);
    return timed('backbone', () => cachedBackboneFeatures(store, index, frame, bb));
  };

  const cellsOf = async (index: number, frame: RgbFrame, store: FeatureStore): Promise<CellFeatures> => {
    const f = await features(index, frame, store);
    const key = `maskprop:cells:${f.inputWidth}x${f.inputHeight}`;
    const hit = store.get<{ cols: number; rows: number; data: Float32Array }>(index, key);
    if (hit) return hit;
    return store.set(index, key, cellFeatures(f), { spill: true });
  };

  const flowOf = (from: number, to: number, a: RgbFrame, b: RgbFrame, direction: 'backward' | 'forward', store: FeatureStore) =>
    // Backward: on the target's grid (target `to` → guide `from`); forward: guide → target.
    cachedFlow(store, from, to, a, b, { backend, preset, direction }, (compute) => timed('flow', compute));

  const workingProbabilities = (g: Guide, K: number, W: number, H: number, store: FeatureStore): Float32Array => {
    const hit = store.get<Float32Array>(g.index, probKey(g.key, W, H));
    if (hit && hit.length === (K + 1) * W * H) return hit;
    const p = g.property;
    const data = p.width === W && p.height === H ? p.data : resizeBilinearPlanar(p.data, p.channels, p.width, p.height, W, H);
    if (p.channels === K + 1) return data;
    // Fewer channels than the layout (objects added later): missing objects are absent.
    const out = new Float32Array((K + 1) * W * H);
    out.set(data.subarray(0, Math.min(data.length, out.length)));
    return out;
  };

  const passState = (direction: 1 | -1, restart: boolean): PassState | undefined => {
    if (!fitted) return undefined;
    let s = passes.get(direction);
    if (!s || restart) {
      s = { models: [...fitted.models], memory: fitted.models.map(() => []), count: 0 };
      passes.set(direction, s);
    }
    return s;
  };

  const fitModels = async (keyframes: readonly Guide[], ctx: FitContext): Promise<void> => {
    passes.clear();
    fitted = undefined;
    if (ctx.task !== 'mask') throw new Error(`maskprop: the ${ctx.task} task is not supported`);
    if (!appearanceOn || keyframes.length === 0) return;
    const K = ctx.layout.channels - 1;
    const cells: CellFeatures[] = [];
    const targets: Float32Array[][] = [];
    const areas = new Float64Array(K);
    for (const kf of keyframes) {
      throwIfAborted(ctx.signal);
      const { width: W, height: H } = sizeOf(kf.frame.width, kf.frame.height);
      const c = await cellsOf(kf.index, kf.frame, ctx.features);
      cells.push(c);
      const p = workingProbabilities(kf, K, W, H, ctx.features);
      const n = W * H;
      const perObject: Float32Array[] = [];
      for (let k = 0; k < K; k++) {
        const plane = p.subarray((k + 1) * n, (k + 2) * n);
        let area = 0;
        for (let i = 0; i < n; i++) area += plane[i];
        areas[k] = Math.max(areas[k], area);
        perObject.push(cellTargets(plane, W, H, c.cols, c.rows));
      }
      targets.push(perObject);
    }
    await timed('appearance', () => {
      const st = standardiserOf(cells);
      const X = cells.map((c) => design(c, st));
      const models: Array<ObjectModel | undefined> = [];
      const sets: Array<TrainingSet | undefined> = [];
      for (let k = 0; k < K; k++) {
        const set = concatSets(
          cells.map((c, f) => {
            const y = targets[f][k];
            return { X: X[f], y, w: balancedWeights(y), n: c.cols * c.rows };
          }),
        );
        sets.push(set);
        models.push(fitObject(set, lambda));
      }
      fitted = { st, models, sets, areas };
    });
  };

  return {
    name: 'maskprop',
    tasks: maskpropEngine.tasks,
    guides: previous(1),
    signature,
    needsKeyframes: true,

    async fit(keyframes, ctx) {
      const started = performance.now();
      try {
        await fitModels(keyframes, ctx);
      } finally {
        if (timings) timings.fit += performance.now() - started;
      }
    },

    async predict(target, guides, ctx): Promise<PropertyMap> {
      if (ctx.task !== 'mask') throw new Error(`maskprop: the ${ctx.task} task is not supported`);
      const g = guides[0];
      if (!g) throw new Error('maskprop: no guide frame');
      const t0 = performance.now();
      const full = { width: target.frame.width, height: target.frame.height };
      const { width: W, height: H } = sizeOf(full.width, full.height);
      const n = W * H;
      const K = ctx.layout.channels - 1;
      const store = ctx.features;
      const tf = workingFrame(store, target.index, target.frame, W, H);
      const gf = workingFrame(store, g.index, g.frame, W, H);
      const prev = workingProbabilities(g, K, W, H, store);
      const flow = await flowOf(g.index, target.index, gf, tf, 'backward', store);
      const warped = warpBilinear(prev.subarray(n), K, H, W, flow, 'zeros');
      throwIfAborted(ctx.signal);

      const hasNet = modelSpec !== 'none';
      let z: Float32Array;
      if (hasNet && netInput === 'warped') z = await refined(tf, warped, K, W, H);
      else {
        z = new Float32Array(K * n);
        for (let i = 0; i < K * n; i++) z[i] = maskLogit(warped[i]);
      }

      const state = appearanceOn ? passState(ctx.direction, g.isKeyframe) : undefined;
      if (state && fitted) {
        const fit = fitted;
        const cells = await cellsOf(target.index, target.frame, store);
        let consistency: Float32Array | undefined;
        if (fusion === 'gate') {
          const forward = await flowOf(g.index, target.index, gf, tf, 'forward', store);
          // flowConsistency wants the reverse flow on the guide's grid: the forward flow g → t.
          consistency = flowConsistency(flow, forward, H, W, { mode: 'soft' });
        }
        await timed('appearance', () => {
          const X = design(cells, fit.st);
          const m = cells.cols * cells.rows;
          for (let k = 0; k < K; k++) {
            const model = state.models[k];
            const zk = z.subarray(k * n, (k + 1) * n);
            if (!model) continue;
            const sc = scoreCells(X, m, model);
            for (let i = 0; i < m; i++) sc[i] = Math.max(-L, Math.min(L, sc[i]));
            let mass = 0;
            const wk = warped.subarray(k * n, (k + 1) * n);
            for (let i = 0; i < n; i++) mass += wk[i];
            const ref = fit.areas[k];
            if (redetect > 0 && ref > 0 && mass < redetect * ref) {
              // Lost: re-find the object by appearance alone, as one connected blob of positive cells.
              const comp = largestPositiveComponent(sc, cells.cols, cells.rows);
              const pixelsPerCell = (W * H) / m;
              if (comp.cells * pixelsPerCell >= redetect * ref) {
                for (let i = 0; i < m; i++) if (!comp.mask[i]) sc[i] = -L;
                zk.set(cellsToPixels(sc, cells.cols, cells.rows, W, H));
              } else zk.fill(-L);
              continue;
            }
            const za = cellsToPixels(sc, cells.cols, cells.rows, W, H);
            if (consistency) for (let i = 0; i < n; i++) zk[i] = consistency[i] * zk[i] + (1 - consistency[i]) * za[i];
            else for (let i = 0; i < n; i++) zk[i] += weight * za[i];
          }
        });
      }
      throwIfAborted(ctx.signal);
      if (hasNet && netInput === 'fused') {
        const coarse = new Float32Array(K * n);
        for (let i = 0; i < K * n; i++) coarse[i] = 1 / (1 + Math.exp(-z[i]));
        z = await refined(tf, coarse, K, W, H);
      }
      const probs = softAggregate(z, K, n);
      store.set(target.index, probKey(ctx.resultKey, W, H), probs);

      if (state && fitted && update > 0 && ++state.count % update === 0) {
        const fit = fitted;
        await timed('appearance', async () => {
          const cells = await cellsOf(target.index, target.frame, store);
          const X = design(cells, fit.st);
          const m = cells.cols * cells.rows;
          for (let k = 0; k < K; k++) {
            const kfSet = fit.sets[k];
            const model = state.models[k];
            if (!kfSet || !model) continue;
            const y = cellTargets(probs.subarray((k + 1) * n, (k + 2) * n), W, H, cells.cols, cells.rows);
            const sure = new Uint8Array(m);
            for (let i = 0; i < m; i++) sure[i] = y[i] > 0.9 || y[i] < 0.1 ? 1 : 0;
            const w = balancedWeights(y, sure);
            const mem = state.memory[k];
            mem.push({ X, y, w, n: m });
            if (mem.length > 3) mem.shift();
            // The memory weighs as much as the key-frames together.
            const share = kfSet.n / mem.reduce((a, s) => a + s.n, 0);
            const scaled = mem.map((s) => ({ ...s, w: s.w.map((v) => v * share) }));
            state.models[k] = fitObject(concatSets([kfSet, ...scaled]), lambda, model.beta, 3) ?? model;
          }
        });
      }

      let out: PropertyMap = { width: W, height: H, channels: K + 1, data: probs };
      if (W !== full.width || H !== full.height)
        out = { ...full, channels: K + 1, data: resizeBilinearPlanar(probs, K + 1, W, H, full.width, full.height) };
      if (timings) {
        timings.total += performance.now() - t0;
        timings.frames++;
      }
      return out;
    },

    dispose() {
      fitted = undefined;
      passes.clear();
      const m = net;
      net = undefined;
      m?.then((x) => x.release()).catch(() => {});
    },
  };
}

function probKey(resultKey: string, W: number, H: number): string {
  return `maskprop:prob:${resultKey}:${W}x${H}`;
}
