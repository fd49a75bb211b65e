/**
 * Switchable temporal propagation network (TPN / STPN; Liu et al., ECCV 2018; ANCHORS §4) as a
 * vprop engine, for colour, HDR and masks.
 *
 * Per target frame, from the previous frame of the pass (its given or predicted property):
 *   F  = computeFlow(guide, target)          backward flow target → guide (DIS or Farnebäck)
 *   x  = warp(property_guide, F)             the guide's property aligned to the target (border replicated)
 *   gk = warp(guidance_guide, F)             and its guidance image; valid = where F stays inside
 *   gates, code, feat = front(guidance_target, gk, x, valid)   ONNX (the guidance U-Net)
 *   h  = propagate4(code, gates)             the 4-direction 3-way scan, in TypeScript
 *   y  = back(h, x, feat)                    ONNX: x + a residual
 * Properties: colour = Lab (a, b) / 100 with guidance L / 100; HDR = log(H + 0.01) with guidance
 * LDR RGB / 255 (then blended with the LDR frame where it is well exposed); masks = one logit per
 * object (|4| at a key-frame's one-hot), objects as a batch, merged by soft aggregation.
 * Training, data and the choices behind this split: training/README.md and
 * training/vprop_train/stpn.py.
 */
import { throwIfAborted } from '../../core/errors.js';
import type { PropertyMap, RgbFrame } from '../../core/types.js';
import { rgbToLab } from '../../formats/color.js';
import { previousAndKeyframe } from '../../memory/policy.js';
import type { OnnxModel } from '../../models/session.js';
import { loadModel } from '../../models/session.js';
import { BUNDLED_MODELS, bundledModelPath } from '../../models/weights.js';
import { propagate4 } from '../../ops/linear-scan.js';
import { fitWithin, resizeBilinearPlanar } from '../../ops/resize.js';
import { warpBilinear } from '../../ops/warp.js';
import { blendLdrIntoProperty } from '../../tasks/hdr/ldr.js';
import { keepUnchanged } from '../static-fallback.js';
import type { Engine, EngineRegistration } from '../types.js';
import { cachedFlow, workingFrame } from '../working-frames.js';

export interface StpnOptions {
  /**
   * The model: a bundled name ('stpn-color', 'stpn-hdr'; no mask model is bundled yet) or a path prefix
   * `PREFIX` of `PREFIX-front.onnx` and `PREFIX-back.onnx`. Default: the bundled model of the task.
   */
  readonly model?: string;
  /** Optical-flow backend (default 'auto': DIS when the native addon loads, else Farnebäck). */
  readonly flow?: 'auto' | 'dis' | 'farneback';
  /** DIS preset (default 'medium'). */
  readonly preset?: 'fast' | 'medium';
  /** Align the guide's property along the flow before the scan (default true; false = plain TPN input). */
  readonly warp?: boolean;
  /** Run the network (default true); false = the flow-aligned guide property alone (the ablation baseline). */
  readonly network?: boolean;
  /**
   * HDR: put the LDR frame's own measurement into each prediction where it is well exposed
   * (`blendLdrIntoProperty`, the seed's LDR blending) before it guides the next frame: 'blend'
   * (default) or 'none'.
   */
  readonly ldr?: 'blend' | 'none';
  /**
   * Longest side the network runs at (frames, guides and properties are resized to fit, the result
   * is resized back bilinearly). Default 432: the models are trained on DAVIS at 427x240, and both
   * the flow magnitudes and the image structures the gates respond to scale with resolution.
   * 0 = the session's working size, unchanged.
   */
  readonly maxSize?: number;
  /**
   * Colour/HDR: where the frame is unchanged from the pass's key-frame or the previous frame (3x3
   * mean |ΔY| up to this many grey levels, fading out at 3x), keep that frame's value (0 = off).
   * Default 5, the bilateral engine's: re-estimating a static region can only drift from the
   * key-frame, and on a static camera STPN fell below the copy floor without it.
   */
  readonly keepStatic?: number;
  /** ONNX Runtime intra-op threads. */
  readonly threads?: number;
}

/** |logit| of a key-frame's one-hot mask channel (training used the same). */
export const MASK_LOGIT = 4;

/** A probability as a logit clamped to ±MASK_LOGIT (the property the mask scan carries). */
export function maskLogit(p: number): number {
  const q = Math.min(1 - 1e-6, Math.max(1e-6, p));
  return Math.max(-MASK_LOGIT, Math.min(MASK_LOGIT, Math.log(q / (1 - q))));
}

export const stpnEngine: EngineRegistration = {
  name: 'stpn',
  description:
    'switchable temporal propagation (TPN/STPN): a guidance U-Net emits the gates of a 4-direction linear scan that carries the flow-aligned previous property to the frame (colour, HDR, masks)',
  tasks: ['color', 'hdr', 'mask'],
  options: {
    model: {
      type: 'string',
      description:
        "bundled model ('stpn-color', 'stpn-hdr'; none for masks yet) or a path prefix of PREFIX-front.onnx / PREFIX-back.onnx (default: the task's)",
    },
    flow: { type: 'enum', values: ['auto', 'dis', 'farneback'], default: 'auto', description: 'optical-flow backend' },
    preset: { type: 'enum', values: ['fast', 'medium'], default: 'medium', description: 'DIS preset' },
    warp: { type: 'boolean', default: true, description: "align the guide's property along the flow before the scan" },
    network: { type: 'boolean', default: true, description: 'run the network (false: the flow-aligned guide property alone, an ablation)' },
    ldr: {
      type: 'enum',
      values: ['blend', 'none'],
      default: 'blend',
      description: "HDR: blend the LDR frame's measurement where it is well exposed into each prediction",
    },
    maxSize: {
      type: 'number',
      integer: true,
      min: 0,
      default: 432,
      description: 'longest side the network runs at (0 = the working size); the models train at 427x240',
    },
    keepStatic: {
      type: 'number',
      min: 0,
      default: 5,
      description:
        "colour/HDR: where the frame is unchanged from the key-frame or the previous frame (3x3 mean |ΔY| up to this many grey levels, fading out at 3x), keep that frame's value (0 = off)",
    },
    threads: { type: 'number', integer: true, min: 1, affectsResult: false, description: 'ONNX Runtime intra-op threads' },
  },
  create: ({ values, signature }) => createStpnEngine(values as StpnOptions, signature),
};

interface LoadedModel {
  front: OnnxModel;
  back: OnnxModel;
  hidden: number;
  guideChannels: number;
  propertyChannels: number;
}

const PROPERTY_CHANNELS: Record<string, number> = { color: 2, hdr: 3, mask: 1 };
const GUIDE_CHANNELS: Record<string, number> = { color: 1, hdr: 3, mask: 3 };

export function createStpnEngine(options: StpnOptions = {}, signature = 'stpn'): Engine {
  const models = new Map<string, Promise<LoadedModel>>();
  const modelFor = (task: string): Promise<LoadedModel> => {
    const spec = options.model ?? `stpn-${task}`;
    let p = models.get(spec);
    if (!p) {
      p = (async () => {
        const bundled = !/[\\/]/.test(spec);
        if (bundled && !BUNDLED_MODELS.some((b) => b.name === `${spec}-front`))
          throw new Error(
            `stpn: no bundled model "${spec}" (bundled: ${BUNDLED_MODELS.filter(
              (b) => b.name.startsWith('stpn-') && b.name.endsWith('-front'),
            )
              .map((b) => b.name.slice(0, -'-front'.length))
              .join(', ')}); train one with \`vprop train stpn\` and pass model=PREFIX`,
          );
        const path = async (part: 'front' | 'back') => (bundled ? bundledModelPath(`${spec}-${part}`) : `${spec}-${part}.onnx`);
        const front = await loadModel(await path('front'), { threads: options.threads, name: `stpn ${spec} front` });
        const back = await loadModel(await path('back'), { threads: options.threads, name: `stpn ${spec} back` });
        const meta = front.metadata.props;
        if (meta['vprop.model'] !== 'stpn-front' || back.metadata.props['vprop.model'] !== 'stpn-back')
          throw new Error(`${spec}: not an STPN model pair (vprop.model ${meta['vprop.model']}, ${back.metadata.props['vprop.model']})`);
        if (meta['vprop.task'] !== task) throw new Error(`${spec}: a model for the ${meta['vprop.task']} task, not ${task}`);
        return {
          front,
          back,
          hidden: Number(meta['vprop.hidden']),
          guideChannels: GUIDE_CHANNELS[task],
          propertyChannels: PROPERTY_CHANNELS[task],
        };
      })();
      models.set(spec, p);
    }
    return p;
  };

  return {
    name: 'stpn',
    tasks: stpnEngine.tasks,
    // The previous frame guides; the pass's key-frame rides along for the static fall-back only.
    guides: previousAndKeyframe(1),
    signature,
    needsKeyframes: true,
    async predict(target, guides, ctx): Promise<PropertyMap> {
      if (ctx.task !== 'color' && ctx.task !== 'hdr' && ctx.task !== 'mask') throw new Error(`stpn: the ${ctx.task} task is not supported`);
      const g = guides[0];
      if (!g) throw new Error('stpn: no guide frame');
      const full = { width: target.frame.width, height: target.frame.height };
      const size = fitWithin(full.width, full.height, options.maxSize === 0 ? undefined : (options.maxSize ?? 432));
      const { width: W, height: H } = size;
      const targetFrame = workingFrame(ctx.features, target.index, target.frame, W, H);
      const guideFrame = workingFrame(ctx.features, g.index, g.frame, W, H);
      const guideProperty =
        g.property.width === W && g.property.height === H
          ? g.property.data
          : resizeBilinearPlanar(g.property.data, g.property.channels, g.property.width, g.property.height, W, H);
      const m = options.network === false ? undefined : await modelFor(ctx.task);
      const flow =
        options.warp === false
          ? undefined
          : await cachedFlow(ctx.features, g.index, target.index, guideFrame, targetFrame, {
              backend: options.flow ?? 'auto',
              preset: options.preset ?? 'medium',
            });
      // Border values replicated: a camera pan extends the edge instead of leaving a hole.
      const align = (planes: Float32Array, C: number) => (flow ? warpBilinear(planes, C, H, W, flow, 'replicate') : planes);
      const valid = flow ? insideMask(flow, W, H) : new Float32Array(W * H).fill(1);
      const guideT = ctx.features.getOrCompute(target.index, `stpn:guide:${ctx.task}:${W}x${H}`, () => guidance(ctx.task, targetFrame));
      const guideG = ctx.features.getOrCompute(g.index, `stpn:guide:${ctx.task}:${W}x${H}`, () => guidance(ctx.task, guideFrame));
      const gk = align(guideG, GUIDE_CHANNELS[ctx.task]);
      // Objects (masks) run as a batch of one-channel properties.
      let x: Float32Array;
      let batch: number;
      const n = W * H;
      if (ctx.task === 'mask') {
        batch = g.property.channels - 1;
        x = new Float32Array(batch * n);
        for (let k = 0; k < batch; k++) {
          const p = guideProperty.subarray((k + 1) * n, (k + 2) * n);
          const logit = x.subarray(k * n, (k + 1) * n);
          for (let i = 0; i < n; i++) logit[i] = maskLogit(p[i]);
        }
        x = align(x, batch);
      } else {
        batch = 1;
        const scale = ctx.task === 'color' ? 0.01 : 1;
        x = align(
          guideProperty.map((v) => v * scale),
          PROPERTY_CHANNELS[ctx.task],
        );
      }
      throwIfAborted(ctx.signal);
      const y = m ? await runModel(m, guideT, gk, x, valid, batch, W, H) : x;
      let out: PropertyMap;
      if (ctx.task === 'mask') out = { width: W, height: H, channels: batch + 1, data: softAggregate(y, batch, n) };
      else {
        const scale = ctx.task === 'color' ? 100 : 1;
        out = { width: W, height: H, channels: PROPERTY_CHANNELS[ctx.task], data: y.map((v) => v * scale) };
      }
      if (W !== full.width || H !== full.height) {
        out = { ...full, channels: out.channels, data: resizeBilinearPlanar(out.data, out.channels, W, H, full.width, full.height) };
      }
      const keepStatic = options.keepStatic ?? 5;
      if (ctx.task !== 'mask' && keepStatic > 0) {
        const key = guides.find((c) => c.isKeyframe);
        // Only where the flow says the pixel stayed put: equal luma alone also matches a
        // textureless region the camera moves across (measured: −1.2 dB on blackswan without it).
        const still = flow ? stillness(flow, W, H, full.width, full.height) : undefined;
        keepUnchanged(out.data, undefined, out.channels, target.frame, key && key !== g ? [key, g] : [g], keepStatic, still);
      }
      // HDR: the LDR frame measures the radiance wherever it is well exposed; the recurrence then
      // carries measured values rather than drifting ones.
      return ctx.task === 'hdr' && (options.ldr ?? 'blend') === 'blend' ? blendLdrIntoProperty(out, target.frame).result : out;
    },
    async dispose() {
      for (const p of models.values()) {
        try {
          const m = await p;
          await m.front.release();
          await m.back.release();
        } catch {
          // a model that failed to load has nothing to release
        }
      }
      models.clear();
    },
  };
}

/** The guidance planes of a frame in the model's units (colour: L / 100; HDR and masks: RGB / 255). */
function guidance(task: string, frame: RgbFrame): Float32Array {
  const n = frame.width * frame.height;
  if (task === 'color') {
    const lab = rgbToLab(frame.data, n);
    const L = new Float32Array(n);
    for (let i = 0; i < n; i++) L[i] = lab[i] / 100;
    return L;
  }
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = frame.data[3 * i + c] / 255;
  return out;
}

/**
 * front → scan → back on a batch of `batch` properties sharing one guidance pair, at the frame size
 * padded (edge replicate) to multiples of 8 for the U-Net; returns `batch x P x H x W`.
 */
async function runModel(
  m: LoadedModel,
  guideT: Float32Array,
  guideK: Float32Array,
  x: Float32Array,
  valid: Float32Array,
  batch: number,
  W: number,
  H: number,
): Promise<Float32Array> {
  const Wp = Math.ceil(W / 8) * 8;
  const Hp = Math.ceil(H / 8) * 8;
  const G = m.guideChannels;
  const P = m.propertyChannels;
  const gt = repeat(pad(guideT, G, H, W, Hp, Wp), batch);
  const gk = repeat(pad(guideK, G, H, W, Hp, Wp), batch);
  const xp = pad(x, batch * P, H, W, Hp, Wp);
  const vp = repeat(pad(valid, 1, H, W, Hp, Wp), batch);
  const dims = (c: number) => [batch, c, Hp, Wp];
  const front = await m.front.run({
    guide_t: { data: gt, dims: dims(G) },
    guide_kw: { data: gk, dims: dims(G) },
    x: { data: xp, dims: dims(P) },
    valid: { data: vp, dims: dims(1) },
  });
  const hidden = m.hidden;
  const H2 = Hp / 2;
  const W2 = Wp / 2;
  const per = hidden * H2 * W2;
  const scanned = new Float32Array(batch * per);
  for (let b = 0; b < batch; b++) {
    propagate4(
      front.code.data.subarray(b * per, (b + 1) * per),
      front.gates.data.subarray(b * 12 * per, (b + 1) * 12 * per),
      hidden,
      H2,
      W2,
      {
        out: scanned.subarray(b * per, (b + 1) * per),
      },
    );
  }
  const back = await m.back.run({
    h: { data: scanned, dims: [batch, hidden, H2, W2] },
    x: { data: xp, dims: dims(P) },
    feat: front.feat,
  });
  return crop(back.y.data, batch * P, Hp, Wp, H, W);
}

/**
 * Per pixel of the full frame, how sure the flow (planar dy, dx at W x H) is that the pixel did not
 * move: 1 up to 0.5 px, 0 from 1 px (a still camera's DIS flow is noise of a few tenths of a
 * pixel), linear between; resized bilinearly to the full size.
 */
function stillness(flow: Float32Array, W: number, H: number, fullW: number, fullH: number): Float32Array {
  const n = W * H;
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) s[i] = Math.min(1, Math.max(0, 2 - 2 * Math.hypot(flow[i], flow[n + i])));
  return W === fullW && H === fullH ? s : resizeBilinearPlanar(s, 1, W, H, fullW, fullH);
}

/** 1 where the flow's source point lies inside the frame (as the training's `inside`), else 0. */
function insideMask(flow: Float32Array, W: number, H: number): Float32Array {
  const n = W * H;
  const out = new Float32Array(n);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const sy = y + flow[i];
      const sx = x + flow[n + i];
      out[i] = sy >= 0 && sy <= H - 1 && sx >= 0 && sx <= W - 1 ? 1 : 0;
    }
  }
  return out;
}

function pad(src: Float32Array, C: number, H: number, W: number, Hp: number, Wp: number): Float32Array {
  if (H === Hp && W === Wp) return src;
  const out = new Float32Array(C * Hp * Wp);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < Hp; y++) {
      const sy = Math.min(y, H - 1);
      for (let x = 0; x < Wp; x++) out[(c * Hp + y) * Wp + x] = src[(c * H + sy) * W + Math.min(x, W - 1)];
    }
  }
  return out;
}

function crop(src: Float32Array, C: number, Hp: number, Wp: number, H: number, W: number): Float32Array {
  if (H === Hp && W === Wp) return src;
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) out.set(src.subarray((c * Hp + y) * Wp, (c * Hp + y) * Wp + W), (c * H + y) * W);
  return out;
}

function repeat(a: Float32Array, times: number): Float32Array {
  if (times === 1) return a;
  const out = new Float32Array(a.length * times);
  for (let k = 0; k < times; k++) out.set(a, k * a.length);
  return out;
}

const ODDS_MIN = 1e-7 / (1 - 1e-7);
const ODDS_MAX = (1 - 1e-7) / 1e-7;

/**
 * Objects' logits → K+1 probabilities by soft aggregation (STM's rule, ANCHORS §5.4; each
 * probability clamped to [1e-7, 1 − 1e-7] before its odds) with one exp per object and pixel and
 * no per-pixel allocation: p_k = σ(z_k) has odds e^{z_k}; background Π(1 − p_k); odds normalised
 * over the K + 1 channels. `logits` is planar `K x n`; returns planar `(K + 1) x n`.
 */
export function softAggregate(logits: Float32Array, K: number, n: number): Float32Array {
  const out = new Float32Array((K + 1) * n);
  const odds = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    let bg = 1;
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(logits[k * n + i]);
      bg /= 1 + e;
      const o = Math.max(ODDS_MIN, Math.min(e, ODDS_MAX));
      odds[k] = o;
      sum += o;
    }
    const q = Math.max(1e-7, Math.min(bg, 1 - 1e-7));
    const ob = q / (1 - q);
    sum += ob;
    out[i] = ob / sum;
    for (let k = 0; k < K; k++) out[(k + 1) * n + i] = odds[k] / sum;
  }
  return out;
}
