/**
 * Gated recurrent flow propagation (GRFP; Nilsson & Sminchisescu, CVPR 2018; ANCHORS §8) as a
 * vprop engine, for masks and semantic labels.
 *
 * Each target frame fuses two estimates with the STGRU cell (cell.ts): the previous frame's
 * estimate warped along the optical flow (gated by the flow's photometric error) and a per-frame
 * estimate x_t supplied by the `perFrame` option (a static segmenter's probabilities, label PNGs
 * via `perFrameFromFolder`, or another engine's output). A key-frame's given map enters as the
 * recurrent state (its one-hot map is softmax(h) of that frame).
 *
 * - Direction: the session runs the engine forward from a key-frame and, for 'backward' / 'both',
 *   backward from the next one (the flow is then from the target to the later guide frame); 'both'
 *   merges the two passes with the session's temporal-distance weights (`confidence: 'gate'`
 *   additionally weights each pass by how much of its recurrent state survived the reset gates).
 * - `window` (GRFP's evaluation protocol, §8.3): the recurrence restarts at most `window - 1`
 *   frames before the target from the per-frame estimate there, unless a key-frame is nearer, so
 *   errors cannot travel further than the window. Default: unbounded (the state runs from the key-frame).
 * - Model: an ONNX file from training/ (`exact` cell for a fixed class count, or the
 *   channel-agnostic `shared` cell); defaults to the bundled mask or label model.
 */
import { throwIfAborted } from '../../core/errors.js';
import { hashOf } from '../../core/hash.js';
import type { PropertyMap, RgbFrame } from '../../core/types.js';
import { previous } from '../../memory/policy.js';
import type { OnnxModel } from '../../models/session.js';
import { loadModel } from '../../models/session.js';
import { bundledModelPath } from '../../models/weights.js';
import { resizeBilinearPlanar } from '../../ops/resize.js';
import { padChannels } from '../../tasks/maps.js';
import type { ChannelLayout } from '../../tasks/types.js';
import type { Engine, EngineContext, EngineRegistration, Guide } from '../types.js';
import { type CellInfo, describeCell, type FlowBackendOption, StepCache, stgruStep } from './cell.js';
import { PER_FRAME_OPTIONS, type PerFrameFn } from './per-frame.js';

export { type CellInfo, describeCell, type FlowBackendOption, StepCache, type StepOptions, type StepResult, stgruStep } from './cell.js';
export { type FolderPerFrameOptions, PER_FRAME_OPTIONS, type PerFrameFn, perFrameFromFolder } from './per-frame.js';

export interface FlowGruOptions {
  /** The per-frame estimates x_t: probabilities for frame `index`. */
  readonly perFrame?: PerFrameFn;
  /**
   * Alternative to `perFrame` (e.g. from the CLI): a folder with one file per frame, label PNGs or
   * `.npy` probabilities / scores (see `perFrameFromFolder`).
   */
  readonly perFrameDir?: string;
  /** `perFrameDir`, floating-point `.npy` maps: 'auto' (default), 'probabilities' or 'logits'. */
  readonly perFrameValues?: 'auto' | 'probabilities' | 'logits';
  /** `perFrameDir`: probability of the labelled class (default 0.9). */
  readonly perFrameConfidence?: number;
  /** `perFrameDir`: channel count of its label maps (default: the key-frames' channel count, at least 2). */
  readonly perFrameChannels?: number;
  /**
   * The STGRU: an ONNX path, its bytes, a loaded model, or a bundled name ('grfp-mask',
   * 'grfp-labels', 'grfp-labels-c6'). Default: 'grfp-mask' for masks, 'grfp-labels' for labels.
   */
  readonly model?: string | Uint8Array | OnnxModel;
  /** Optical-flow backend (default 'auto': DIS when the native addon loads, else Farnebäck). */
  readonly flow?: FlowBackendOption;
  /** DIS preset (default 'medium'). */
  readonly preset?: 'fast' | 'medium';
  /** GRFP window length T (>= 2); default unbounded. */
  readonly window?: number;
  /** Floor of per-frame probabilities before taking logs (default 1e-4). */
  readonly floor?: number;
  /**
   * Per-pixel confidence attached to each prediction, used by the session's 'both' merge:
   * 'none' (default; temporal weights only) or 'gate' (product of the reset gates along the
   * pass, times the per-step gate at key-frame distance; 1 where the key-frame's state survived).
   */
  readonly confidence?: 'none' | 'gate';
  /** ONNX Runtime intra-op threads. */
  readonly threads?: number;
}

const isModel = (v: unknown): v is OnnxModel => typeof v === 'object' && v !== null && 'run' in v && 'source' in v;

export const flowgruEngine: EngineRegistration = {
  name: 'flowgru',
  description:
    "GRFP: a convolutional GRU gated by the optical flow's photometric error fuses the flow-warped previous estimate with a per-frame estimate (needs perFrame / perFrameDir; runs without key-frames too)",
  tasks: ['mask', 'labels'],
  needsKeyframes: false,
  options: {
    ...PER_FRAME_OPTIONS,
    perFrameConfidence: {
      type: 'number',
      min: 1e-6,
      max: 1,
      default: 0.9,
      description: 'probability given to the labelled class of a label map',
    },
    perFrameChannels: {
      type: 'number',
      integer: true,
      min: 2,
      description: "channel count of the folder's label maps (default: the key-frames' layout)",
    },
    model: {
      type: 'value',
      accepts: 'an ONNX path, a bundled model name, ONNX bytes or a loaded model',
      check: (v) => typeof v === 'string' || v instanceof Uint8Array || isModel(v),
      signature: (v) => (typeof v === 'string' ? v : v instanceof Uint8Array ? hashOf(v) : isModel(v) ? v.source : 'model'),
      description: "the STGRU cell (default: the bundled 'grfp-mask' or 'grfp-labels')",
    },
    flow: {
      type: 'enum',
      values: ['auto', 'dis', 'farneback'],
      default: 'auto',
      description: 'optical-flow backend (auto: DIS when the native addon loads)',
    },
    preset: { type: 'enum', values: ['fast', 'medium'], default: 'medium', description: 'DIS preset' },
    window: {
      type: 'number',
      integer: true,
      min: 2,
      description: "GRFP's window length T (default: unbounded, the state runs from the key-frame)",
    },
    floor: { type: 'number', min: 0, max: 0.5, default: 1e-4, description: 'floor of per-frame probabilities before the log' },
    confidence: {
      type: 'enum',
      values: ['none', 'gate'],
      default: 'none',
      description: "per-pixel confidence for the 'both' merge: none, or the product of reset gates",
    },
    threads: { type: 'number', integer: true, min: 1, affectsResult: false, description: 'ONNX Runtime intra-op threads' },
  },
  create: ({ values, signature }) => createFlowGruEngine(values as FlowGruOptions, signature),
};

export function createFlowGruEngine(options: FlowGruOptions = {}, signature = 'flowgru'): Engine {
  const window = options.window;
  if (window !== undefined && (!Number.isInteger(window) || window < 2))
    throw new RangeError(`flowgru: window must be an integer >= 2, got ${window}`);
  const flow = options.flow ?? 'auto';
  if (!['auto', 'dis', 'farneback'].includes(flow)) throw new RangeError(`flowgru: unknown flow backend "${flow}" (auto, dis, farneback)`);
  const confidenceMode = options.confidence ?? 'none';
  if (confidenceMode !== 'none' && confidenceMode !== 'gate')
    throw new RangeError(`flowgru: confidence must be none or gate, got ${String(confidenceMode)}`);
  const stepOpts = { flow, preset: options.preset ?? 'medium', floor: options.floor ?? 1e-4 } as const;

  const models = new Map<string, Promise<{ model: OnnxModel; info: CellInfo; owned: boolean }>>();
  let perFrameFn: Promise<PerFrameFn> | undefined;

  const modelFor = (task: 'mask' | 'labels') => {
    const spec = options.model ?? (task === 'mask' ? 'grfp-mask' : 'grfp-labels');
    const key = typeof spec === 'string' ? spec : 'given';
    let p = models.get(key);
    if (!p) {
      p = (async () => {
        if (typeof spec === 'object' && !(spec instanceof Uint8Array)) return { model: spec, info: describeCell(spec), owned: false };
        let source: string | Uint8Array = spec;
        if (typeof spec === 'string' && !/[\\/]|\.onnx$/i.test(spec)) source = await bundledModelPath(spec);
        const model = await loadModel(source, { threads: options.threads, name: 'flowgru model' });
        return { model, info: describeCell(model), owned: true };
      })();
      models.set(key, p);
    }
    return p;
  };

  /** The per-frame estimate at the frame's size, renormalised, at its own channel count (kept per frame in the feature store). */
  const perFrameRaw = async (index: number, frame: RgbFrame, ctx: EngineContext): Promise<{ data: Float32Array; channels: number }> => {
    const key = 'flowgru:per-frame';
    const hit = ctx.features.get<{ data: Float32Array; channels: number }>(index, key);
    if (hit) return hit;
    if (!perFrameFn) {
      perFrameFn = options.perFrame
        ? Promise.resolve(options.perFrame)
        : import('./per-frame.js').then((m) =>
            m.perFrameFromFolder(options.perFrameDir as string, options.perFrameChannels ?? 2, {
              confidence: options.perFrameConfidence,
              values: options.perFrameValues,
            }),
          );
    }
    const layout: ChannelLayout = options.perFrameChannels
      ? { ...ctx.layout, channels: Math.max(ctx.layout.channels, options.perFrameChannels) }
      : ctx.layout;
    const p = await (await perFrameFn)(index, frame, layout);
    return ctx.features.set(index, key, { data: normalisePerFrame(p, frame, index), channels: p.channels });
  };
  const perFrameOf = async (index: number, frame: RgbFrame, C: number, ctx: EngineContext): Promise<Float32Array> => {
    const q = await perFrameRaw(index, frame, ctx);
    if (q.channels > C)
      throw new RangeError(`flowgru: per-frame estimate of frame ${index} has ${q.channels} channels, expected at most ${C}`);
    return padChannels({ width: frame.width, height: frame.height, channels: q.channels, data: q.data }, C).data;
  };

  const engine: Engine = {
    name: 'flowgru',
    tasks: flowgruEngine.tasks,
    guides: previous(window === undefined ? 1 : window - 1),
    signature,
    needsKeyframes: false,
    async predict(target, guides: readonly Guide[], ctx: EngineContext): Promise<PropertyMap> {
      if (ctx.task !== 'mask' && ctx.task !== 'labels') throw new Error(`flowgru: the ${ctx.task} task is not supported (mask, labels)`);
      if (!options.perFrame && !options.perFrameDir) {
        // Checked here rather than at creation, so that `createEngine('flowgru', {})` can list the engine's tasks.
        throw new Error(
          'flowgru: needs per-frame estimates: the perFrame option (a function) or perFrameDir (a folder of label PNGs or .npy maps)',
        );
      }
      const { width: W, height: H } = target.frame;
      const n = W * H;
      const cache = new StepCache(ctx.features);
      // Channels: the layout's (the session widens maps to every object of any key-frame) or the
      // per-frame estimator's, whichever is larger; a class absent from a key-frame has probability 0 there.
      const C = Math.max(
        ctx.layout.channels,
        guides[0]?.property.channels ?? 0,
        (await perFrameRaw(target.index, target.frame, ctx)).channels,
      );
      const { model, info } = await modelFor(ctx.task);
      if (info.kind === 'exact' && info.classes !== C) {
        throw new Error(
          `flowgru: model ${model.source} is an exact STGRU for ${info.classes} classes, but the maps have ${C} channels (use a shared-cell model)`,
        );
      }
      if (guides.length === 0) {
        // No key-frame and no earlier frame (GRFP's protocol starts here): the per-frame estimate itself.
        return { width: W, height: H, channels: C, data: await perFrameOf(target.index, target.frame, C, ctx) };
      }
      const stateOf = (g: Guide) => padChannels(g.property, C).data;
      for (const g of guides) {
        if (g.property.width !== W || g.property.height !== H)
          throw new RangeError(`flowgru: guide ${g.index} is ${g.property.width}x${g.property.height}, target ${W}x${H}`);
      }
      // The chain of frames the recurrence runs over, oldest first, ending at the target.
      let start: { index: number; frame: RgbFrame; probabilities: Float32Array; gate: Float32Array | undefined };
      let chain: Guide[];
      if (window === undefined) {
        const g = guides[0];
        start = { index: g.index, frame: g.frame, probabilities: stateOf(g), gate: gateOf(g) };
        chain = [];
      } else {
        const k = guides.findIndex((g) => g.isKeyframe);
        const used = k >= 0 ? guides.slice(0, k + 1) : guides.slice(0, window - 1);
        const first = used[used.length - 1];
        start = {
          index: first.index,
          frame: first.frame,
          probabilities: first.isKeyframe ? stateOf(first) : await perFrameOf(first.index, first.frame, C, ctx),
          gate: first.isKeyframe ? undefined : new Float32Array(n),
        };
        chain = used.slice(0, -1).reverse();
      }
      let prev = start;
      let gate = start.gate;
      const steps: Array<{ index: number; frame: RgbFrame }> = [...chain.map((g) => ({ index: g.index, frame: g.frame })), target];
      let result: Float32Array = prev.probabilities;
      for (const s of steps) {
        throwIfAborted(ctx.signal);
        const q = await perFrameOf(s.index, s.frame, C, ctx);
        const r = await stgruStep(model, prev, { index: s.index, frame: s.frame, perFrame: q }, C, stepOpts, cache);
        result = r.probabilities;
        if (confidenceMode === 'gate') {
          const next = new Float32Array(n);
          for (let i = 0; i < n; i++) next[i] = (gate ? gate[i] : 1) * r.reset[i];
          gate = next;
        }
        prev = { index: s.index, frame: s.frame, probabilities: result, gate };
      }
      return { width: W, height: H, channels: C, data: result, confidence: confidenceMode === 'gate' ? gate : undefined };
    },
    async dispose() {
      for (const p of models.values()) {
        try {
          const m = await p;
          if (m.owned) await m.model.release();
        } catch {
          // a model that failed to load has nothing to release
        }
      }
      models.clear();
    },
  };

  /** The gate product carried by a guide: its confidence (1 at a key-frame). */
  function gateOf(g: Guide): Float32Array | undefined {
    if (confidenceMode !== 'gate' || g.isKeyframe) return undefined;
    return g.property.confidence;
  }

  return engine;
}

/**
 * Per-frame map → probabilities at the frame's size and the map's own channel count: resized
 * bilinearly if needed, renormalised per pixel (uniform where a pixel sums to 0).
 */
function normalisePerFrame(p: PropertyMap, frame: RgbFrame, index: number): Float32Array {
  const { width: W, height: H } = frame;
  const n = W * H;
  const C = p.channels;
  let data = p.data;
  if (data.length !== C * p.width * p.height)
    throw new RangeError(`flowgru: per-frame estimate of frame ${index} has ${data.length} values for ${C}x${p.height}x${p.width}`);
  data = p.width !== W || p.height !== H ? resizeBilinearPlanar(data, C, p.width, p.height, W, H) : data.slice();
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < C; c++) {
      const v = data[c * n + i];
      if (!(v >= 0)) throw new RangeError(`flowgru: per-frame estimate of frame ${index} has a negative or NaN probability at pixel ${i}`);
      s += v;
    }
    if (s > 0) for (let c = 0; c < C; c++) data[c * n + i] /= s;
    else for (let c = 0; c < C; c++) data[c * n + i] = 1 / C;
  }
  return data;
}
