/**
 * Learned VPN (Jampani et al. CVPR 2017): the bilateral engine's lattice front end with VPN's
 * trained stage on top (network.ts).
 * - mask (ANCHORS §3.1): SLIC superpixels, the guides' unaries filtered by Λa with decay and Λb
 *   without; BCLs 2→32, within-frame BCLs 64→32, 1x1 mix, spatial CNN, normalize.
 * - color (§3.3): the 3 previous frames' chroma filtered onto every pixel over (Y, x, y, t) from
 *   300k sampled points; BCL 2→32, within-frame BCL 32→32 over the target's pixels, 1x1, spatial
 *   CNN, 1x1; then the bilateral engine's static fall-back (`keepStatic`). A separate engine rather than an option of `bilateral` because it needs ONNX
 * Runtime and model weights (the browser build carries `bilateral` alone) and because its results
 * differ in kind: `bilateral` is the training-free BNN-Identity.
 *
 * What predicted frames hand on as guides (`inputs`):
 * - 'stage0' (default, as VPN's released inference): every frame's stage-0 (BNN-Identity) unary
 *   or chroma, computed alongside, so each frame is predicted from stage-0 results and errors of
 *   the learned stage do not feed back; a stage trained on stage-0 inputs sees the same at run time.
 * - 'own': the learned stage's own output (masks: superpixel-averaged; recurrent).
 * Key-frames always hand on their given mask. Several objects: the 2-channel stage runs once per
 * object on (rest, object) and the objects' probabilities are merged by soft aggregation (§5.4).
 *
 * Two stages (masks, option `stage1` = the stage-1 model; VPN's staged inference, §3.1): every
 * frame runs stage 1 on the guides' unaries as above, its output averaged over the superpixels is
 * what the frame hands on to stage 2 (feature-store key `KEY.unary(resultKey + STAGE1)`), and
 * `model` (stage 2) filters the guides' stage-1 unaries onto the target and gives the result.
 * Key-frames hand on their one-hot mask to both stages.
 */
import type { PropertyMap, RgbFrame } from '../../core/types.js';
import { bundledModelPath } from '../../models/weights.js';
import { smear, superpixelMeans } from '../../ops/superpixel-features.js';
import { KEY } from '../bilateral/frame-features.js';
import { createBilateralParts, type FilteredUnaries, identityHead, normaliseColumns } from '../bilateral/index.js';
import { PER_FRAME_OPTIONS, type PerFrameFn, perFrameFromFolder } from '../flowgru/per-frame.js';
import { maskLogit, softAggregate } from '../stpn/index.js';
import type { Engine, EngineContext, EngineRegistration, Guide } from '../types.js';
import { VpnColorNet, VpnMaskNet } from './network.js';

export interface VpnOptions {
  /** Bundled model name ('vpn-mask', 'vpn-color') or a path (PREFIX or PREFIX.onnx). Default: the task's. */
  readonly model?: string;
  /** Unaries the guides hand on: 'stage0' (VPN's staged inference) or 'own'. */
  readonly inputs?: 'stage0' | 'own';
  /**
   * Masks: the stage-1 model (name or path as `model`); `model` is then stage 2, run on the guides'
   * stage-1 unaries (VPN's staged inference). Default none (one stage).
   */
  readonly stage1?: string;
  readonly superpixels?: number;
  readonly previousFrames?: number;
  readonly decay?: number;
  /** Colour: input points per target frame (default 300,000, VPN). */
  readonly colorSamples?: number;
  /** Colour: the bilateral engine's static fall-back in grey levels (default 5; 0 = off). */
  readonly keepStatic?: number;
  /** Masks, models that fuse per-frame probabilities: the estimates (another engine's output, a segmenter's). */
  readonly perFrame?: PerFrameFn;
  /** Alternative to `perFrame`: a folder of label PNGs or `.npy` (C, H, W) probabilities (flowgru's `perFrameFromFolder`). */
  readonly perFrameDir?: string;
  /** `perFrameDir`, floating-point `.npy` maps: 'auto' (default), 'probabilities' or 'logits'. */
  readonly perFrameValues?: 'auto' | 'probabilities' | 'logits';
  /** ONNX Runtime intra-op threads for the spatial CNN. */
  readonly threads?: number;
}

export const vpnEngine: EngineRegistration = {
  name: 'vpn',
  description:
    "learned VPN: the bilateral engine's lattice filtering of the guides' unaries (SLIC superpixels) or chroma (pixels), then VPN's trained bilateral layers, 1x1 mixing and spatial CNN",
  tasks: ['mask', 'color'],
  preference: { mask: 5, color: 5 },
  options: {
    model: { type: 'string', description: "bundled model ('vpn-mask', 'vpn-color'; default the task's) or a path prefix of PREFIX.onnx" },
    inputs: {
      type: 'enum',
      values: ['stage0', 'own'],
      default: 'stage0',
      description: "unaries predicted frames hand on: stage 0's (BNN-Identity, as VPN) or the learned stage's own",
    },
    stage1: {
      type: 'string',
      description:
        "masks: the stage-1 model (as model); model is then stage 2, run on the guides' stage-1 unaries (VPN's staged inference)",
    },
    superpixels: { type: 'number', integer: true, min: 16, default: 12000, description: 'masks: superpixels per frame at 854x480' },
    previousFrames: {
      type: 'number',
      integer: true,
      min: 1,
      description: 'earlier frames used as inputs (default 9 for masks, 3 for colour, as VPN)',
    },
    decay: { type: 'number', min: 0, max: 1, default: 0.5, description: 'masks: unary decay per frame of age on the first scale set' },
    colorSamples: { type: 'number', integer: true, min: 1, default: 300_000, description: 'colour: input points per target frame' },
    keepStatic: {
      type: 'number',
      min: 0,
      default: 5,
      description:
        "colour: the bilateral engine's static fall-back (keep the nearest guide's chroma where the frame is unchanged; 0 = off)",
    },
    ...PER_FRAME_OPTIONS,
    threads: { type: 'number', integer: true, min: 1, affectsResult: false, description: 'ONNX Runtime intra-op threads' },
  },
  create: ({ values, signature }) => createVpnEngine(values as VpnOptions, signature),
};

/** (rest, object k) planes of planar C x n probabilities. */
function objectPlanes(p: Float32Array, k: number, C: number, n: number): Float32Array {
  const out = new Float32Array(2 * n);
  for (let c = 0; c < C; c++) {
    const dst = c === k ? n : 0;
    for (let i = 0; i < n; i++) out[dst + i] += p[c * n + i];
  }
  return out;
}

/** Feature-store suffix of the unaries a frame hands on to stage 2 (`KEY.unary(resultKey + STAGE1)`). */
export const STAGE1 = '#stage1';

/** A stage's per-pixel probabilities (planar C x pixels) as the unary its frame hands on: superpixel means, normalised. */
export function stageUnary(labels: Int32Array, count: number, probs: Float32Array, C: number): Float32Array {
  const u = superpixelMeans(labels, count, probs, C);
  normaliseColumns(u, C, count);
  return u;
}

/**
 * One mask stage on filtered unaries: per-pixel probabilities (planar C x width*height). C = 2
 * directly; more channels: once per object on (rest, object), merged by soft aggregation.
 */
export async function runMaskStage(
  net: VpnMaskNet,
  filtered: FilteredUnaries,
  width: number,
  height: number,
  perFrame?: Float32Array,
): Promise<Float32Array> {
  const { C } = filtered;
  const n = width * height;
  if (C === 2) return net.predict(filtered, width, height, perFrame);
  const K = C - 1;
  const z = new Float32Array(K * n);
  for (let k = 1; k <= K; k++) {
    const pfk = perFrame ? objectPlanes(perFrame, k, C, n) : undefined;
    const p = await net.predict(objectView(filtered, k), width, height, pfk);
    for (let i = 0; i < n; i++) z[(k - 1) * n + i] = maskLogit(p[n + i]);
  }
  return softAggregate(z, K, n);
}

/** The 2-channel (rest, object k) view of C-channel filtered unaries. */
function objectView(f: FilteredUnaries, k: number): FilteredUnaries {
  const n = f.points.count;
  return { a: objectPlanes(f.a, k, f.C, n), b: objectPlanes(f.b, k, f.C, n), C: 2, points: f.points };
}

export function createVpnEngine(options: VpnOptions = {}, signature = 'vpn'): Engine {
  const parts = createBilateralParts(
    {
      variant: 'superpixel',
      superpixels: options.superpixels,
      previousFrames: options.previousFrames,
      decay: options.decay,
      colorSamples: options.colorSamples,
      keepStatic: options.keepStatic,
    },
    signature,
  );
  const nets = new Map<string, Promise<VpnMaskNet | VpnColorNet>>();
  const modelFor = <T extends VpnMaskNet | VpnColorNet>(task: 'mask' | 'color', spec = options.model ?? `vpn-${task}`): Promise<T> => {
    let net = nets.get(spec);
    if (!net) {
      net = (async () => {
        const path = /[\\/]/.test(spec) || spec.endsWith('.onnx') ? spec : await bundledModelPath(spec);
        return task === 'mask' ? VpnMaskNet.load(path, { threads: options.threads }) : VpnColorNet.load(path, { threads: options.threads });
      })();
      nets.set(spec, net);
      net.catch(() => nets.delete(spec));
    }
    return net as Promise<T>;
  };
  const inputs = options.inputs ?? 'stage0';
  let perFrameFn: Promise<PerFrameFn> | undefined;
  /** Per-frame probabilities (C channels at the frame size) for a model that fuses them. */
  const perFrameOf = async (
    target: { index: number; frame: RgbFrame },
    ctx: EngineContext,
    C: number,
    source: string,
  ): Promise<Float32Array> => {
    if (!perFrameFn) {
      if (options.perFrame) perFrameFn = Promise.resolve(options.perFrame);
      else if (options.perFrameDir) perFrameFn = perFrameFromFolder(options.perFrameDir, C, { values: options.perFrameValues ?? 'auto' });
      else throw new Error(`vpn: the model ${source} fuses per-frame estimates; give perFrame or perFrameDir (CLI --per-frame DIR)`);
    }
    const p = await (await perFrameFn)(target.index, target.frame, ctx.layout);
    if (p.width !== target.frame.width || p.height !== target.frame.height || p.channels !== C)
      throw new Error(
        `vpn: the per-frame estimate of frame ${target.index} is ${p.width}x${p.height} with ${p.channels} channels, expected ${target.frame.width}x${target.frame.height} with ${C}`,
      );
    return p.data;
  };

  const predict = async (
    target: { index: number; frame: RgbFrame },
    guides: readonly Guide[],
    ctx: EngineContext,
  ): Promise<PropertyMap> => {
    const filtered = parts.filteredUnaries(target, guides, ctx);
    const sp = filtered.points.sp;
    if (!sp) throw new Error('vpn: superpixel points expected');
    const { width, height } = target.frame;
    const n = width * height;
    const { C } = filtered;
    let pf: Float32Array | undefined;
    const perFrameFor = async (net: VpnMaskNet) => (net.perFrame ? (pf ??= await perFrameOf(target, ctx, C, net.source)) : undefined);
    let probs: Float32Array;
    if (options.stage1 === undefined) {
      const m = await modelFor<VpnMaskNet>('mask');
      probs = await runMaskStage(m, filtered, width, height, await perFrameFor(m));
    } else {
      // Stage 1 on the guides' stage-0 (or own) unaries; its superpixel unary is what this frame
      // hands on to stage 2, which filters the guides' stage-1 unaries.
      const [m1, m2] = await Promise.all([modelFor<VpnMaskNet>('mask', options.stage1), modelFor<VpnMaskNet>('mask')]);
      const p1 = await runMaskStage(m1, filtered, width, height, await perFrameFor(m1));
      ctx.features.set(target.index, KEY.unary(ctx.resultKey + STAGE1), stageUnary(sp.labels, sp.count, p1, C));
      const filtered1 = parts.filteredUnaries(target, guides, ctx, STAGE1);
      probs = await runMaskStage(m2, filtered1, width, height, await perFrameFor(m2));
    }
    const stage0 = identityHead(filtered);
    // 'stage0': later frames read this frame's BNN-Identity unary. 'own': nothing is stored, and the
    // bilateral front end averages this prediction over the superpixels when the frame guides.
    if (inputs === 'stage0') ctx.features.set(target.index, KEY.unary(ctx.resultKey), stage0.probs);
    return { width, height, channels: C, data: probs, confidence: smear(sp.labels, stage0.support, 1, n) };
  };

  const predictColor = async (
    target: { index: number; frame: RgbFrame },
    guides: readonly Guide[],
    ctx: EngineContext,
  ): Promise<PropertyMap> => {
    const f = parts.filteredValues(target, guides, ctx);
    if (f.C !== 2) throw new RangeError(`vpn: colour guides have ${f.C} channels, expected 2 (Lab a, b)`);
    const m = await modelFor<VpnColorNet>('color');
    const { width, height } = target.frame;
    if (inputs === 'stage0') {
      const stage0 = f.values.slice();
      parts.keepStaticValues(stage0, f.support, 2, target.frame, guides, f.nearest);
      parts.rememberValues(ctx.features, target.index, target.frame, ctx.resultKey, stage0, 2);
    }
    const ab = await m.predict(f.values, f.lattice, width, height);
    parts.keepStaticValues(ab, f.support, 2, target.frame, guides, f.nearest);
    return { width, height, channels: 2, data: ab, confidence: f.support };
  };

  const base = parts.engine;
  return {
    name: 'vpn',
    tasks: vpnEngine.tasks,
    guides: base.guides,
    signature,
    needsKeyframes: true,
    prepare: base.prepare,
    async predict(target, guides, ctx) {
      if (guides.length === 0) throw new Error('vpn engine: no guide frames');
      if (ctx.task === 'color') {
        if (options.stage1 !== undefined) throw new Error('vpn: stage1 (a second stage) is for masks; the colour task has one stage');
        return predictColor(target, guides, ctx);
      }
      if (ctx.task !== 'mask') throw new Error(`vpn: the ${ctx.task} task is not supported (mask, color)`);
      return predict(target, guides, ctx);
    },
    async dispose() {
      for (const net of nets.values()) await (await net.catch(() => undefined))?.release();
      nets.clear();
    },
  };
}
